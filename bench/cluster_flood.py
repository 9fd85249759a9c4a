#!/usr/bin/env python3
"""The broker's time to serve a legitimate client while idle connections are held open.

A broker with role certificates (mutual TLS) and one worker, all on this machine. A client
(mael-test-client with the client certificate: start, TLS handshake, session, one `true` job,
exit) is timed --runs times before, during and after a flood of --connections idle TCP
connections (opened from 127.0.0.2 and up, --per-address each, that never start the TLS
handshake), which the broker holds for its handshake-timeout (set to 120 s here so that they stay
for the whole measurement). Loopback only.

usage: bench/cluster_flood.py [--connections 2000] [--per-address 100] [--runs 20] [--bin-dir BUILD/bin]
"""
import argparse
import json
import os
import pathlib
import statistics
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent / "tests" / "cluster"), str(HERE.parent / "tests")]


def cpu_seconds(pid):
    fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def loadavg():
    return float(pathlib.Path("/proc/loadavg").read_text().split()[0])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--connections", type=int, default=2000)
    ap.add_argument("--per-address", type=int, default=100, help="at most the broker's max-connections-per-peer")
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--bin-dir", default=os.environ.get("MAEL_BIN_DIR", str(HERE.parent / "build" / "bin")))
    args = ap.parse_args()
    os.environ["MAEL_BIN_DIR"] = args.bin_dir
    import cluster_util  # noqa: E402  (reads MAEL_BIN_DIR)
    cluster_util.BIN_DIR = pathlib.Path(args.bin_dir)

    with tempfile.TemporaryDirectory(prefix="mael-bench-") as tmp:
        tmp = pathlib.Path(tmp)
        layer = cluster_util.make_busybox_tar(tmp / "busybox.tar")
        certs = cluster_util.make_certs(tmp / "certs")
        client = cluster_util.cert_args(certs, "client")
        c = cluster_util.Cluster(tmp)
        c.admin_tls = cluster_util.cert_args(certs, "admin")
        socks = []
        try:
            c.start_broker(*cluster_util.broker_cert_args(certs), "--handshake-timeout", "120s",
                           "--max-connections-per-peer", str(args.per_address))
            c.start_worker(2, None, None, None, *cluster_util.cert_args(certs, "worker"))
            c.wait_workers(1)
            pid = c.broker.p.pid

            def timed_runs():
                times = []
                for _ in range(args.runs):
                    t0 = time.monotonic()
                    rc, _, err = c.client([cluster_util.bb_job(layer, "true")], *client)
                    times.append(time.monotonic() - t0)
                    assert rc == 0, err
                return times

            timed_runs()  # warm: the layer in both caches
            load0 = loadavg()
            before = timed_runs()
            t0 = time.monotonic()
            for i in range((args.connections + args.per_address - 1) // args.per_address):
                n = min(args.per_address, args.connections - len(socks))
                socks += cluster_util.flood(c.port, n, f"127.0.0.{2 + i}", payload=b"")
            open_time = time.monotonic() - t0
            held_before = cluster_util.still_open(socks)
            fds = len(os.listdir(f"/proc/{pid}/fd"))
            cpu0 = cpu_seconds(pid)
            during = timed_runs()
            cpu_during = cpu_seconds(pid) - cpu0
            held_after = cluster_util.still_open(socks)
            connections = c.status()["connections"]
            for s in socks:
                s.close()
            socks = []
            after = timed_runs()
            load1 = loadavg()
        finally:
            for s in socks:
                s.close()
            c.close()

    def summary(times):
        times = sorted(times)
        return {"median_ms": round(1000 * statistics.median(times), 1),
                "p90_ms": round(1000 * times[int(0.9 * (len(times) - 1))], 1), "max_ms": round(1000 * times[-1], 1)}

    print(json.dumps({
        "idle_connections": args.connections, "held_when_the_runs_began": held_before,
        "held_when_they_ended": held_after, "seconds_to_open_them": round(open_time, 2),
        "broker_open_files_while_held": fds, "broker_connections": connections,
        "client_before": summary(before), "client_during": summary(during), "client_after": summary(after),
        "broker_cpu_s_during_runs": round(cpu_during, 2), "runs_per_phase": args.runs,
        "loadavg_1min_before_after": [load0, load1]}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
