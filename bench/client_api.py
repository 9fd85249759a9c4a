#!/usr/bin/env python3
"""What the client API costs per job: the same trivial jobs (busybox `true` in a container of
two layers) run through maelstrom-client from Python, through maelstrom-run, and as bare
fork+exec of the same program without a container, in one run, with the same number of slots.

    bench/client_api.py [--jobs 1000] [--slots 2] [--rounds 3] [--bin-dir build/bin] [--in-flight N]

Each round runs them one after another; each prints the median over rounds of the wall
time from starting the tool (maelstrom-client or maelstrom-run) to the last job's end, per job.
Both tools share one cache directory, whose layers a warm-up run built first. The Python side
sends every RunJob at once, then reads the streams in order (grpcio runs the calls meanwhile); a
fourth run keeps at most --in-flight calls open (default 2 x slots), as a client that submits
as slots free up would.
Needs grpcio and grpcio-tools (scripts/setup.sh installs them).
"""
import argparse
import concurrent.futures
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
BUSYBOX = "/bin/busybox"


def stubs(tmp):
    from grpc_tools import protoc
    rc = protoc.main(["protoc", f"-I{ROOT / 'proto'}", f"--python_out={tmp}", f"--grpc_python_out={tmp}",
                      str(ROOT / "proto" / "items.proto")])
    if rc != 0:
        sys.exit("protoc failed on proto/items.proto")
    sys.path.insert(0, str(tmp))
    import items_pb2
    import items_pb2_grpc
    return items_pb2, items_pb2_grpc


def bare(jobs, slots):
    t0 = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(slots) as pool:
        codes = list(pool.map(lambda _: subprocess.run([BUSYBOX, "true"]).returncode, range(jobs)))
    assert not any(codes)
    return time.monotonic() - t0


def with_run(bin_dir, jobs, slots, cache, tmp, env):
    spec = {"layers": [{"paths": [BUSYBOX]}, {"symlinks": [{"link": "/bin/true", "target": "busybox"}]}],
            "program": "/bin/true"}
    f = tmp / f"jobs-{jobs}.json"
    f.write_text("\n".join(json.dumps(spec) for _ in range(jobs)) + "\n")
    t0 = time.monotonic()
    r = subprocess.run([str(bin_dir / "maelstrom-run"), "--slots", str(slots), "--cache-root", str(cache),
                        "--file", str(f)], capture_output=True, text=True, env=env, cwd=tmp)
    elapsed = time.monotonic() - t0
    if r.returncode != 0:
        sys.exit(f"maelstrom-run failed: {r.stderr}")
    return elapsed


def with_client(pb, grpc_stubs, bin_dir, jobs, slots, cache, tmp, env, in_flight=0):
    import grpc
    spec = pb.JobSpec(program="/bin/true", container=pb.ContainerSpec(layers=[
        pb.LayerSpec(paths=pb.PathsLayer(paths=[BUSYBOX])),
        pb.LayerSpec(symlinks=pb.SymlinksLayer(symlinks=[pb.SymlinkSpec(link="/bin/true", target="busybox")]))]))
    req = pb.RunJobRequest(spec=spec)
    t0 = time.monotonic()
    proc = subprocess.Popen([str(bin_dir / "maelstrom-client")], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, env=env, cwd=tmp)
    name = proc.stdout.readline().decode().strip()
    channel = grpc.insecure_channel(f"unix-abstract:{name}")
    stub = grpc_stubs.ClientProcessStub(channel)
    stub.Start(pb.StartRequest(project_dir=str(tmp).encode(), cache_dir=str(cache).encode(), slots=slots))
    def check(last):
        if last.completed.result.outcome.completed.exited != 0 or last.completed.result.HasField("error"):
            sys.exit(f"a job failed: {last}")

    if in_flight <= 0:
        streams = [stub.RunJob(req) for _ in range(jobs)]
        for s in streams:
            check(list(s)[-1])
    else:
        # `in_flight` threads, each running its share of the jobs one after another: at most
        # that many calls are open at once (grpcio's cost per call grows with the open calls).
        def share(n):
            for _ in range(n):
                check(list(stub.RunJob(req))[-1])
        counts = [jobs // in_flight + (1 if i < jobs % in_flight else 0) for i in range(in_flight)]
        with concurrent.futures.ThreadPoolExecutor(in_flight) as pool:
            for f in [pool.submit(share, n) for n in counts]:
                f.result()
    elapsed = time.monotonic() - t0
    stub.Stop(pb.Void())
    channel.close()
    proc.wait()
    return elapsed


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--jobs", type=int, default=1000)
    p.add_argument("--slots", type=int, default=2)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--bin-dir", type=pathlib.Path, default=ROOT / "build" / "bin")
    p.add_argument("--in-flight", type=int, default=None,
                   help="also run the client with at most this many RunJob calls open at once "
                        "(threads each running their share one after another); default 2 x slots, "
                        "0 leaves that run out")
    a = p.parse_args()
    a.bin_dir = a.bin_dir.resolve()
    with tempfile.TemporaryDirectory(prefix="mael-bench-client-") as t:
        tmp = pathlib.Path(t)
        pb, grpc_stubs = stubs(tmp)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MAELSTROM_", "XDG_"))}
        env.update(HOME=str(tmp), XDG_CACHE_HOME=str(tmp / "xdg"))
        cache = tmp / "cache"
        with_run(a.bin_dir, 1, a.slots, cache, tmp, env)  # warm-up: the layers are built once
        with_client(pb, grpc_stubs, a.bin_dir, 1, a.slots, cache, tmp, env)
        in_flight = 2 * a.slots if a.in_flight is None else a.in_flight
        windowed = f"maelstrom-client, {in_flight} open"
        times = {"fork+exec": [], "maelstrom-run": [], "maelstrom-client": []}
        if in_flight > 0:
            times[windowed] = []
        for _ in range(a.rounds):
            times["fork+exec"].append(bare(a.jobs, a.slots))
            times["maelstrom-run"].append(with_run(a.bin_dir, a.jobs, a.slots, cache, tmp, env))
            times["maelstrom-client"].append(with_client(pb, grpc_stubs, a.bin_dir, a.jobs, a.slots, cache, tmp,
                                                         env))
            if in_flight > 0:
                times[windowed].append(with_client(pb, grpc_stubs, a.bin_dir, a.jobs, a.slots, cache, tmp, env,
                                                   in_flight))
        per_job = {k: statistics.median(v) / a.jobs * 1000 for k, v in times.items()}
        print(f"{a.jobs} jobs, {a.slots} slots, median of {a.rounds} rounds")
        for k, ms in per_job.items():
            print(f"  {k:26} {ms:7.3f} ms per job   ({a.jobs / (ms * a.jobs / 1000):7.1f} jobs/s)")
        for k in per_job:
            if k.startswith("maelstrom-client"):
                extra = (per_job[k] / per_job["maelstrom-run"] - 1) * 100
                print(f"  {k} vs maelstrom-run: {extra:+.1f} % per job")


if __name__ == "__main__":
    main()
