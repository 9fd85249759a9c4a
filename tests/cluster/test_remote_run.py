"""maelstrom-run --broker: jobs go to a real broker and workers (separate
processes, workers on other "hosts" when network namespaces are available),
and results match a standalone run of the same file."""
import json
import os
import pathlib
import signal
import subprocess
import sys
import threading
import time

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

from cluster_util import (NetnsHost, Proc, bin_path, container_processes, free_port, http_status,  # noqa: E402
                          make_certs, netns_available, wait_for)
from testlib import Runner, job  # noqa: E402


@pytest.fixture
def runner(tmp_path):
    return Runner(tmp_path / "client")


def start_run(cluster, runner, jobs, *args):
    """maelstrom-run in the background (its stdout is a pipe: read it with communicate)."""
    f = runner.tmp / f"jobs-{time.monotonic_ns()}.json"
    f.write_text("\n".join(json.dumps(j) for j in jobs))
    p = Proc([bin_path("maelstrom-run"), "--file", str(f), *args], runner.tmp / f"run-{time.monotonic_ns()}.log",
             env=runner.env())
    cluster.procs.append(p)
    return p


def outcome(r):
    """What a run printed, independent of completion order."""
    return r.returncode, sorted(r.stdout.splitlines()), sorted(r.stderr.splitlines())


def worker_running(cluster, name):
    return sum(w["running"] for w in http_status(cluster)["workers"] if w["name"] == name)


class Sampler:
    """Polls the broker's status in a thread, recording which workers ran jobs."""

    def __init__(self, cluster):
        self.cluster, self.busy, self.stop_flag = cluster, set(), threading.Event()
        self.t = threading.Thread(target=self.loop, daemon=True)
        self.t.start()

    def loop(self):
        while not self.stop_flag.is_set():
            try:
                for w in http_status(self.cluster)["workers"]:
                    if w["running"]:
                        self.busy.add(w["name"])
            except OSError:
                pass
            time.sleep(0.05)

    def stop(self):
        self.stop_flag.set()
        self.t.join()
        return self.busy


@pytest.fixture
def hosts():
    """Makes NetnsHosts (removed at teardown), or None when this machine cannot."""
    made = []
    ok = netns_available()

    def make():
        if not ok:
            return None
        made.append(NetnsHost(16 + len(made), f"{os.getpid() % 100000}x{len(made)}"))
        return made[-1]

    yield make
    for h in made:
        h.remove()


def test_batch_on_two_workers_matches_standalone(cluster, runner, hosts):
    cluster.start_broker()
    for name in ("host-a", "host-b"):
        h = hosts()
        broker = f"{h.host_addr}:{cluster.port}" if h else None
        cluster.start_worker(2, broker, h.ns if h else None, name)
    cluster.wait_workers(2)
    jobs = [job("sh", "-c", f"sleep 0.3; echo out {i}; echo err {i} >&2; exit {1 if i % 3 else 0}") for i in range(12)]
    jobs.append(job("sh", "-c", "cat /etc/missing"))  # a failure with stderr
    standalone = runner.run(jobs)
    sampler = Sampler(cluster)
    remote = runner.run(jobs, "--broker", cluster.address)
    busy = sampler.stop()
    assert outcome(remote) == outcome(standalone), (remote.stderr, standalone.stderr)
    assert remote.returncode != 0 and "out 11" in remote.stdout
    assert busy == {"host-a", "host-b"}, busy
    assert http_status(cluster)["completed"] == len(jobs)


def test_bind_mount_and_local_network_jobs_run_locally(cluster, runner):
    cluster.start_broker()  # no workers at all: a job sent there would wait forever
    shared = runner.tmp / "shared"
    shared.mkdir(parents=True)
    (shared / "f.txt").write_text("from the host\n")
    jobs = [job("cat", "/mnt/f.txt", mounts=[{"type": "bind", "mount_point": "/mnt", "local_path": "shared"}]),
            job("echo", "local network", network="local")]
    r = runner.run(jobs, "--broker", cluster.address, timeout=60)
    assert r.returncode == 0, r.stderr
    assert sorted(r.stdout.splitlines()) == ["from the host", "local network"]
    s = http_status(cluster)
    assert s["completed"] == 0 and s["queued"] == 0 and len(s["clients"]) == 0


def test_worker_killed_mid_run_and_late_worker(cluster, runner):
    cluster.start_broker()
    victim = cluster.start_worker(slots=2, name="victim")
    cluster.wait_workers(1)
    jobs = [job("sh", "-c", f"sleep 1; echo done {i}") for i in range(6)]
    run = start_run(cluster, runner, jobs, "--broker", cluster.address)
    wait_for(lambda: worker_running(cluster, "victim") > 0, what="jobs running on the victim")
    victim.kill(signal.SIGKILL)
    victim.p.wait()
    # No worker left: the jobs wait in the queue until one comes.
    wait_for(lambda: (lambda s: not s["workers"] and s["queued"] == 6 - s["completed"])(http_status(cluster)),
             what="all jobs queued again")
    cluster.start_worker(slots=3, name="late")
    out, _ = run.p.communicate(timeout=120)
    assert run.p.returncode == 0, run.log_text()
    assert sorted(out.splitlines()) == sorted(f"done {i}" for i in range(6))


def test_client_killed_leaves_no_jobs_on_workers(cluster, runner):
    cluster.start_broker()
    cluster.start_worker(slots=2)
    cluster.wait_workers(1)
    marker = "3011"
    run = start_run(cluster, runner, [job("sleep", marker) for _ in range(5)], "--broker", cluster.address)
    wait_for(lambda: http_status(cluster)["running"] == 2, what="two jobs running")
    run.kill(signal.SIGKILL)
    wait_for(lambda: (lambda s: s["running"] + s["assigned"] + s["queued"] == 0 and not s["clients"])(
        http_status(cluster)), what="the broker to drop the client's jobs")
    wait_for(lambda: not container_processes(f"sleep {marker}"), what="the containers to die")
    assert cluster.status()["running"] == 0  # maelstrom-admin agrees


def test_interrupted_client_cancels_its_cluster_jobs(cluster, runner):
    cluster.start_broker()
    cluster.start_worker(slots=2)
    cluster.wait_workers(1)
    marker = "3013"
    run = start_run(cluster, runner, [job("sleep", marker) for _ in range(4)], "--broker", cluster.address)
    wait_for(lambda: http_status(cluster)["running"] == 2, what="two jobs running")
    run.kill(signal.SIGINT)
    assert run.p.wait(timeout=60) == 128 + signal.SIGINT
    assert "interrupted: every job was stopped" in run.log_text()
    s = http_status(cluster)
    assert s["running"] + s["assigned"] + s["queued"] == 0, s
    wait_for(lambda: not container_processes(f"sleep {marker}"), what="the containers to die")


def test_broker_killed_mid_run_ends_jobs_with_clear_error(cluster, runner):
    cluster.start_broker()  # no workers: the jobs stay queued
    run = start_run(cluster, runner, [job("echo", "never") for _ in range(3)], "--broker", cluster.address)
    wait_for(lambda: http_status(cluster)["queued"] == 3, what="jobs queued")
    cluster.broker.kill(signal.SIGKILL)
    out, _ = run.p.communicate(timeout=60)
    assert run.p.returncode != 0
    assert out == ""
    assert f"lost connection to broker at {cluster.address}" in run.log_text()


def test_tls_and_token(cluster, runner, tmp_path):
    certs = make_certs(tmp_path / "certs")
    token = tmp_path / "token"
    token.write_text("open sesame\n")
    cluster.start_broker("--tls-cert", str(certs / "broker.pem"), "--tls-key", str(certs / "broker.key"),
                         "--token-file", str(token))
    trust = ["--tls-ca", str(certs / "ca.pem")]
    cluster.admin_tls = trust + ["--token-file", str(token)]
    cluster.start_worker(2, None, None, None, *trust, "--token-file", str(token))
    cluster.wait_workers(1)
    r = runner.run([job("echo", "secure")], "--broker", cluster.address, *trust, "--token-file", str(token))
    assert r.returncode == 0 and r.stdout == "secure\n", r.stderr
    # The same through the environment, as a user would set it once.
    r = runner.run([job("echo", "env")], env={"MAELSTROM_BROKER": cluster.address,
                                              "MAELSTROM_TLS_CA": str(certs / "ca.pem"),
                                              "MAELSTROM_RUN_TOKEN_FILE": str(token)})
    assert r.returncode == 0 and r.stdout == "env\n", r.stderr
    for args, why in (([], None), (trust, "--token-file")):
        r = runner.run([job("echo", "intruder")], "--broker", cluster.address, *args, timeout=60)
        assert r.returncode == 1, r.stderr
        lines = r.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"error: cannot connect to broker at {cluster.address}"), lines
        if why:
            assert why in lines[0]
        assert r.stdout == ""
    assert http_status(cluster)["completed"] == 2  # the status page is plain HTTP


def test_unreachable_broker_is_one_line_error(runner):
    addr = f"127.0.0.1:{free_port()}"
    r = runner.run([job("echo", "never")], "--broker", addr, timeout=30)
    assert r.returncode == 1
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: cannot connect to broker at {addr}"), lines
    assert "check --broker" in lines[0]
    assert r.stdout == ""


def test_print_config_shows_broker_options(runner):
    r = runner.run(None, "-P", "--broker", "broker.example:9000", "--tls-ca", "/ca.pem")
    assert r.returncode == 0, r.stderr
    assert 'broker = "broker.example:9000"' in r.stdout
    assert 'tls-ca = "/ca.pem"' in r.stdout
    assert "token-file" in r.stdout
