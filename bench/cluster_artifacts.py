#!/usr/bin/env python3
"""Artifact throughput: one layer of --mb MB (incompressible) moves client ->
broker (upload, SHA-256 verified) and broker -> worker (download, verified,
extracted, then a job runs). Times each leg separately: the upload with no
worker connected (the job waits in the broker's queue once its layer is in),
then the worker's fetch + extraction + a trivial job.

usage: bench/cluster_artifacts.py [--mb 200] [--bin-dir BUILD/bin]
"""
import argparse
import io
import json
import os
import pathlib
import sys
import tarfile
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
# cluster_util lives with the cluster tests and imports testlib from tests/.
sys.path[:0] = [str(HERE.parent / "tests" / "cluster"), str(HERE.parent / "tests")]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=int, default=200)
    ap.add_argument("--bin-dir", default=os.environ.get("MAEL_BIN_DIR", str(HERE.parent / "build" / "bin")))
    args = ap.parse_args()
    import cluster_util  # noqa: E402
    cluster_util.BIN_DIR = pathlib.Path(args.bin_dir)

    with tempfile.TemporaryDirectory(prefix="mael-bench-") as tmp:
        tmp = pathlib.Path(tmp)
        busybox = cluster_util.make_busybox_tar(tmp / "busybox.tar")
        big = tmp / "big.tar"
        size = args.mb * 1000 * 1000
        with tarfile.open(big, "w") as tar:
            ti = tarfile.TarInfo("data/blob")
            ti.size = size
            with open("/dev/urandom", "rb") as rnd:
                tar.addfile(ti, io.BufferedReader(rnd, buffer_size=1 << 20))
        tar_bytes = big.stat().st_size
        job = cluster_util.bb_job(busybox, "true")
        job["layers"].append({"tar": str(big)})
        c = cluster_util.Cluster(tmp)
        try:
            c.start_broker("--cache-size", f"{4 * args.mb} MB")
            t0 = time.monotonic()
            client = c.start_client([job])
            cluster_util.wait_for(lambda: c.status()["queued"] == 1, timeout=600, what="upload")
            upload = time.monotonic() - t0
            t1 = time.monotonic()
            c.start_worker(slots=1)
            out, _ = client.p.communicate(timeout=600)
            fetch_run = time.monotonic() - t1
            assert client.p.returncode == 0, client.log_text()
            assert '"result": "exited"' in out or '"result":"exited"' in out, out
            # The same layer again: already cached on broker and worker.
            t2 = time.monotonic()
            rc, _, err = c.client([job])
            cached = time.monotonic() - t2
            assert rc == 0, err
        finally:
            c.close()
    mb = tar_bytes / 1e6
    print(json.dumps({"layer_mb": round(mb, 1), "client_to_broker_s": round(upload, 2),
                      "client_to_broker_mb_per_s": round(mb / upload, 1),
                      "broker_to_worker_fetch_extract_run_s": round(fetch_run, 2),
                      "broker_to_worker_mb_per_s_incl_extract": round(mb / fetch_run, 1),
                      "cached_rerun_s": round(cached, 2)}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
