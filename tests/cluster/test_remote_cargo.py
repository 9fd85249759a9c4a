"""`cargo maelstrom --broker`: the fixture workspace's tests run on a real
broker and workers and end the same way as in a standalone run."""
import pathlib
import shutil
import subprocess
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

from cluster_util import Proc, bin_path as cluster_bin, http_status, wait_for  # noqa: E402
from cargo_util import CARGO_FIXTURE, cargo_env, status_of  # noqa: E402
from testlib import bin_path  # noqa: E402

FIXTURE = CARGO_FIXTURE

pytestmark = pytest.mark.skipif(shutil.which("cargo") is None, reason="cargo is not installed")


def prepared_workspace(tmp_path):
    """A copy of the fixture workspace with its tests built, and the environment to run cargo in."""
    home = tmp_path / "home"
    home.mkdir()
    ws = shutil.copytree(FIXTURE, tmp_path / "ws", ignore=shutil.ignore_patterns("target"))
    env = cargo_env(home)
    subprocess.run(["cargo", "test", "--no-run", "--offline", "-q"], cwd=ws, env=env, check=True,
                   capture_output=True, timeout=600)
    return ws, env


def test_cargo_maelstrom_with_broker_matches_standalone(cluster, tmp_path):
    bin_path("cargo-maelstrom")
    ws, env = prepared_workspace(tmp_path)

    def cargo_maelstrom(*args):
        return subprocess.run(["cargo", "maelstrom", "--ui", "simple", *args], cwd=ws, env=env,
                              capture_output=True, text=True, timeout=300)

    standalone = cargo_maelstrom()
    cluster.start_broker()
    cluster.start_worker(slots=2, name="w1")
    cluster.start_worker(slots=2, name="w2")
    cluster.wait_workers(2)
    remote = cargo_maelstrom("--broker", cluster.address)
    results = status_of(remote.stdout)
    assert results == status_of(standalone.stdout), (remote.stdout, remote.stderr)
    assert remote.returncode == standalone.returncode, remote.stderr
    assert results["gamma tests::panics"] == "FAIL" and results["alpha tests::adds"] == "OK"
    # Every test that ran went through the broker (none needs the client's machine).
    ran = sum(1 for s in results.values() if s != "IGNORED")
    assert http_status(cluster)["completed"] == ran, http_status(cluster)


def test_cargo_maelstrom_names_the_broker_that_stopped(cluster, tmp_path):
    bin_path("cargo-maelstrom")
    ws, env = prepared_workspace(tmp_path)
    cluster.start_broker()  # no workers: the tests wait in the queue
    run = Proc(["cargo", "maelstrom", "--ui", "simple", "--broker", cluster.address], tmp_path / "cargo.log", env=env,
               cwd=ws)
    cluster.procs.append(run)
    wait_for(lambda: http_status(cluster)["queued"] > 0, timeout=120, what="tests queued at the broker")
    r = subprocess.run([cluster_bin("maelstrom-admin"), "--broker", cluster.address, "stop"], capture_output=True,
                       text=True, timeout=60, env=cluster.env())
    assert r.returncode == 0, r.stderr
    out, _ = run.p.communicate(timeout=120)  # a hang guard, not a speed test
    assert run.p.returncode != 0
    stopped = f"broker at {cluster.address} stopped (maelstrom-admin stop from 127.0.0.1"
    errors = [line for line in run.log_text().splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith(f"error: {stopped}"), run.log_text()
    assert "cancelled" not in out + run.log_text()
    # Every test that was waiting says why it did not run.
    assert stopped in out
