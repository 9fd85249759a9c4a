#!/usr/bin/env python3
"""Cluster scheduling efficiency: N jobs sleeping 50-500 ms (a skewed mix: most
short, a few long) over W workers x S slots, all on this machine, with real
containers. Reports ideal makespan / measured (ideal = max(total work / slots,
longest job), a lower bound no scheduler can beat) and the broker's CPU time
and peak memory.

Peers authenticate with role certificates (mutual TLS, as docs/cluster.md sets up a
shared cluster) unless --auth none; the broker's connection and upload limits are on.

usage: bench/cluster_sched.py [--jobs 5000] [--workers 8] [--slots 4] [--fake-runner]
       [--auth certs|none] [--worker-arg=--prepared-containers=N] [--bin-dir BUILD/bin]
"""
import argparse
import json
import os
import pathlib
import random
import resource
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent / "tests" / "cluster"), str(HERE.parent / "tests")]


def proc_cpu_seconds(pid):
    fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_tree_cpu_seconds(pid):
    """CPU of a process plus its reaped children (a worker's containers)."""
    fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def loadavg():
    return float(pathlib.Path("/proc/loadavg").read_text().split()[0])


def proc_peak_rss_mb(pid):
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def durations(n, seed=42):
    """Skewed: 70% 50-100 ms, 20% 100-300 ms, 10% 300-500 ms."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        r = rng.random()
        lo, hi = (50, 100) if r < 0.7 else (100, 300) if r < 0.9 else (300, 500)
        out.append(rng.randint(lo, hi))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--jobs", type=int, default=5000)
    ap.add_argument("--workers", type=int, default=8)
    ap.add_argument("--slots", type=int, default=4)
    ap.add_argument("--fake-runner", action="store_true",
                    help="workers sleep without containers: measures the scheduler and protocol alone")
    ap.add_argument("--worker-arg", action="append", default=[],
                    help="extra maelstrom-worker argument (e.g. --worker-arg=--prepared-containers=2)")
    ap.add_argument("--auth", choices=["certs", "none"], default="certs",
                    help="certs: mutual TLS with a certificate per role (the default); none: no authentication")
    ap.add_argument("--bin-dir", default=os.environ.get("MAEL_BIN_DIR", str(HERE.parent / "build" / "bin")))
    args = ap.parse_args()
    os.environ["MAEL_BIN_DIR"] = args.bin_dir
    import cluster_util  # noqa: E402  (reads MAEL_BIN_DIR)
    cluster_util.BIN_DIR = pathlib.Path(args.bin_dir)

    with tempfile.TemporaryDirectory(prefix="mael-bench-") as tmp:
        tmp = pathlib.Path(tmp)
        layer = cluster_util.make_busybox_tar(tmp / "busybox.tar")
        c = cluster_util.Cluster(tmp)
        broker_args, worker_args, client_args = [], [], []
        if args.auth == "certs":
            certs = cluster_util.make_certs(tmp / "certs")
            broker_args = cluster_util.broker_cert_args(certs)
            worker_args = cluster_util.cert_args(certs, "worker")
            client_args = cluster_util.cert_args(certs, "client")
            c.admin_tls = cluster_util.cert_args(certs, "admin")
        try:
            c.start_broker(*broker_args)
            for _ in range(args.workers):
                c.start_worker(args.slots, None, None, None, *(["--fake-runner"] if args.fake_runner else []),
                               *worker_args, *args.worker_arg)
            c.wait_workers(args.workers, timeout=120)
            ds = durations(args.jobs)
            jobs = [cluster_util.bb_job(layer, "sleep", f"{d / 1000:.3f}", estimated_ms=d) for d in ds]
            # Warm the layer into every worker's cache first, so the run measures scheduling.
            rc, _, err = c.client([cluster_util.bb_job(layer, "true") for _ in range(args.workers * args.slots * 2)],
                                  *client_args)
            assert rc == 0, err
            pid = c.broker.p.pid
            worker_pids = [p.p.pid for p in c.procs if p is not c.broker]
            load0 = loadavg()
            cpu0 = proc_cpu_seconds(pid)
            wcpu0 = sum(proc_tree_cpu_seconds(p) for p in worker_pids)
            ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
            t0 = time.monotonic()
            rc, results, err = c.client(jobs, "--summary", *client_args, timeout=3600)
            measured = time.monotonic() - t0
            ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            client_cpu = ru1.ru_utime + ru1.ru_stime - ru0.ru_utime - ru0.ru_stime
            cpu = proc_cpu_seconds(pid) - cpu0
            wcpu = sum(proc_tree_cpu_seconds(p) for p in worker_pids) - wcpu0
            rss = proc_peak_rss_mb(pid)
            load1 = loadavg()
        finally:
            c.close()
    assert rc == 0, err
    bad = [r for r in results.values() if r["result"] != "exited" or r["code"] != 0]
    # Time each job spent beyond its sleep (container setup, exec, teardown), as the worker measured it.
    overhead = sorted(results[i]["duration_s"] - ds[i] / 1000 for i in results if "duration_s" in results[i])
    slot_time = sum(results[i]["duration_s"] for i in results)
    slots = args.workers * args.slots
    ideal = max(sum(ds) / 1000 / slots, max(ds) / 1000)
    report = {"runner": "fake (no containers)" if args.fake_runner else "containers", "auth": args.auth,
              "jobs": args.jobs, "workers": args.workers, "slots_per_worker": args.slots,
              "total_work_s": round(sum(ds) / 1000, 2), "ideal_makespan_s": round(ideal, 2),
              "measured_makespan_s": round(measured, 2), "efficiency": round(ideal / measured, 3),
              "efficiency_vs_measured_job_times": round(max(slot_time / slots, max(ds) / 1000) / measured, 3),
              "median_job_overhead_ms": round(1000 * overhead[len(overhead) // 2], 1) if overhead else None,
              "failed_jobs": len(bad), "broker_cpu_s": round(cpu, 2), "broker_peak_rss_mb": round(rss, 1),
              "workers_cpu_s": round(wcpu, 2), "client_cpu_s": round(client_cpu, 2), "loadavg_1min_before_after": [load0, load1]}
    print(json.dumps(report, indent=2))
    if bad:
        print("first failure:", json.dumps(bad[0])[:500], file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
