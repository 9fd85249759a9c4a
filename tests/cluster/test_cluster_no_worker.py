"""A client whose broker has no worker says so, `maelstrom-admin status` shows it, and the broker's
no-worker-timeout ends the wait with a clear error."""
import json
import pathlib
import subprocess
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

from cluster_util import Proc, bin_path, wait_for  # noqa: E402
from testlib import Runner, job  # noqa: E402


@pytest.fixture
def runner(tmp_path):
    return Runner(tmp_path / "client")


def test_with_no_worker_the_client_says_so_and_the_wait_ends(cluster, runner):
    cluster.start_broker("--no-worker-timeout", "2s")
    r = runner.run([job("echo", "never")], "--broker", cluster.address, timeout=60)
    assert r.returncode == 1 and r.stdout == ""
    lines = r.stderr.splitlines()
    assert lines[0] == (f"warning: broker at {cluster.address} has no workers: jobs wait until one connects (the "
                        "broker fails them after 2 s without one)"), lines
    assert len(lines) == 2 and lines[1].endswith(
        "system error: no worker has been connected to the broker for 2 s (its no-worker-timeout): start "
        "maelstrom-worker with --broker pointing at it, or check the workers' logs"), lines
    assert "failing the queued jobs: no worker has been connected" in cluster.broker.log_text()


def test_admin_status_shows_clients_waiting_for_a_worker_until_one_comes(cluster, runner):
    cluster.start_broker()
    f = runner.tmp / "jobs.json"
    f.write_text(json.dumps(job("echo", "served late")))
    client = Proc([bin_path("maelstrom-run"), "--broker", cluster.address, "--file", str(f)], runner.tmp / "run.log",
                  env=runner.env())
    cluster.procs.append(client)
    wait_for(lambda: cluster.status()["queued"] == 1, what="the job queued")

    def admin_status():
        r = subprocess.run([bin_path("maelstrom-admin"), "-b", cluster.address, "status"], capture_output=True,
                           text=True, timeout=30, env=cluster.env())
        assert r.returncode == 0, r.stderr
        return r.stdout

    out = admin_status()
    assert "\nno workers for " in out and "s: queued jobs wait for one (they fail after 120 s without one: " \
        "no-worker-timeout)\n" in out, out
    client_line = [l for l in out.splitlines() if l.startswith("  client ")]
    assert len(client_line) == 1 and "0 waiting for artifacts, 1 queued, 0 running, 0 completed (waiting: the broker " \
        "has no workers)" in client_line[0], out
    wait_for(lambda: "has no workers" in client.log_text(), what="the client to say it")
    cluster.start_worker(1)
    out, _ = client.p.communicate(timeout=120)
    assert client.p.returncode == 0 and out == "served late\n", client.log_text()
    assert "no workers" not in admin_status()
