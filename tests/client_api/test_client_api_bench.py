"""bench/client_api.py, as bench/CLIENT.md gives it, at a tiny size."""
import subprocess

from testlib import BIN_DIR, ROOT, bin_path


def test_client_benchmark_runs_at_a_tiny_size():
    bin_path("maelstrom-client")
    r = subprocess.run([str(ROOT / "bench" / "client_api.py"), "--jobs", "5", "--rounds", "1", "--bin-dir",
                        str(BIN_DIR)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "5 jobs, 2 slots, median of 1 rounds"
    assert [l.split()[0] for l in lines[1:4]] == ["fork+exec", "maelstrom-run", "maelstrom-client"]
