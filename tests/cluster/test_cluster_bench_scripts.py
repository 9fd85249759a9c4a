"""The cluster benchmarks run as bench/CLUSTER.md says, from a fresh clone (no PYTHONPATH), here with
tiny sizes."""
import json
import os
import subprocess

from cluster_util import BIN_DIR, ROOT


def run_bench(script, *args, cwd):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "MAEL_BIN_DIR")}
    r = subprocess.run([str(ROOT / "bench" / script), "--bin-dir", str(BIN_DIR), *args], capture_output=True,
                       text=True, timeout=300, env=env, cwd=cwd)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout[r.stdout.index("{"):])


def test_scheduling_benchmark_runs_as_documented(tmp_path):
    report = run_bench("cluster_sched.py", "--jobs", "20", "--workers", "1", "--slots", "2", "--fake-runner",
                       cwd=tmp_path)
    assert report["auth"] == "certs" and report["failed_jobs"] == 0 and report["jobs"] == 20, report


def test_flood_benchmark_runs_as_documented(tmp_path):
    report = run_bench("cluster_flood.py", "--connections", "30", "--per-address", "10", "--runs", "1",
                       cwd=tmp_path)
    assert report["held_when_they_ended"] == 30 and report["broker_connections"]["refused"] == 0, report
