"""Every benchmark command the docs give (bench/*.md, README.md) runs as written from a fresh
clone: the script is committed executable, starts with no PYTHONPATH or other setup, answers
--help, and the cluster ones (quick at a tiny size) run end to end."""
import os
import re
import subprocess

import pytest

from testlib import BIN_DIR, ROOT, bin_path

DOCS = sorted((ROOT / "bench").glob("*.md")) + [ROOT / "README.md"]


def documented_scripts():
    """bench/NAME.sh and bench/NAME.py named inside `code spans` of the docs."""
    found = set()
    for doc in DOCS:
        for span in re.findall(r"`([^`\n]+)`", doc.read_text()):
            found.update(re.findall(r"\bbench/[\w.-]+\.(?:sh|py)\b", span))
    return sorted(found)


def clean_env():
    """As in a fresh shell: nothing that would let a broken import path pass."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "MAEL_BIN_DIR")}
    return env


def test_the_docs_name_the_scripts_we_check():
    assert {"bench/cargo_bench.sh", "bench/cluster_sched.py", "bench/cluster_artifacts.py",
            "bench/image_pull.sh", "bench/tool_start.sh", "bench/exec_vs_fork.py"} <= set(documented_scripts())


@pytest.mark.parametrize("script", documented_scripts())
def test_documented_script_is_committed_executable_and_answers_help(script):
    staged = subprocess.run(["git", "ls-files", "-s", script], cwd=ROOT, capture_output=True, text=True)
    if staged.returncode == 0 and staged.stdout:  # in a git checkout: what a clone gets
        assert staged.stdout.split()[0] == "100755", f"{script} is not committed executable: {staged.stdout}"
    assert (ROOT / script).read_text().startswith("#!"), f"{script} has no #! line"
    r = subprocess.run([str(ROOT / script), "--help"], cwd=ROOT, env=clean_env(), capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.strip(), r.stderr


# The cluster benchmarks, at a tiny size, in the form bench/CLUSTER.md gives them.
@pytest.mark.parametrize("command", [
    ["bench/cluster_sched.py", "--jobs", "6", "--workers", "1", "--slots", "2", "--fake-runner"],
    ["bench/cluster_artifacts.py", "--mb", "1"],
])
def test_cluster_benchmark_runs_at_a_tiny_size(command):
    bin_path("maelstrom-broker")
    r = subprocess.run(command + ["--bin-dir", str(BIN_DIR)], cwd=ROOT, env=clean_env(), capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
