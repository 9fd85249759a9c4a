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

from cluster_util import (NetnsHost, Proc, bin_path, broker_token_args, container_processes, free_port,  # noqa: E402
                          http_status, make_certs, make_tokens, netns_available, wait_for)
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


def start_sleepers(cluster, runner, marker, count):
    """A broker, one worker with two slots and a client sending it `count` `sleep MARKER` jobs; returns
    the client once two of them run."""
    cluster.start_broker()
    cluster.start_worker(slots=2)
    cluster.wait_workers(1)
    run = start_run(cluster, runner, [job("sleep", marker) for _ in range(count)], "--broker", cluster.address)
    wait_for(lambda: http_status(cluster)["running"] == 2, what="two jobs running")
    return run


def test_client_killed_leaves_no_jobs_on_workers(cluster, runner):
    marker = "3011"
    run = start_sleepers(cluster, runner, marker, 5)
    run.kill(signal.SIGKILL)
    wait_for(lambda: (lambda s: s["running"] + s["assigned"] + s["queued"] == 0 and not s["clients"])(
        http_status(cluster)), what="the broker to drop the client's jobs")
    wait_for(lambda: not container_processes(f"sleep {marker}"), what="the containers to die")
    assert cluster.status()["running"] == 0  # maelstrom-admin agrees


def test_interrupted_client_cancels_its_cluster_jobs(cluster, runner):
    marker = "3013"
    run = start_sleepers(cluster, runner, marker, 4)
    run.kill(signal.SIGINT)
    assert run.p.wait(timeout=60) == 128 + signal.SIGINT
    assert "interrupted: every job was stopped" in run.log_text()
    s = http_status(cluster)
    assert s["running"] + s["assigned"] + s["queued"] == 0, s
    wait_for(lambda: not container_processes(f"sleep {marker}"), what="the containers to die")


def broker_gone_line(run):
    """The one line maelstrom-run printed after losing its broker (and nothing else)."""
    lines = run.log_text().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


@pytest.mark.parametrize("how", ["admin", "sigterm", "sigkill"])
def test_broker_going_away_mid_run_is_one_line_naming_it(cluster, runner, how):
    cluster.start_broker()
    worker = cluster.start_worker(slots=2)
    cluster.wait_workers(1)
    marker = {"admin": "3021", "sigterm": "3022", "sigkill": "3023"}[how]
    # Two running, two assigned to the worker, two queued at the broker.
    run = start_run(cluster, runner, [job("sleep", marker) for _ in range(6)], "--broker", cluster.address)
    wait_for(lambda: (lambda s: s["running"] == 2 and s["queued"] == 2)(http_status(cluster)),
             what="two jobs running and two queued")
    if how == "admin":
        r = subprocess.run([bin_path("maelstrom-admin"), "--broker", cluster.address, "stop"], capture_output=True,
                           text=True, timeout=60, env=cluster.env())
        assert r.returncode == 0, r.stderr
    else:
        cluster.broker.kill(signal.SIGTERM if how == "sigterm" else signal.SIGKILL)
    out, _ = run.p.communicate(timeout=60)  # a hang guard, not a speed test
    assert run.p.returncode == 1
    assert out == ""
    line = broker_gone_line(run)
    if how == "sigkill":
        assert line.startswith(f"error: lost connection to broker at {cluster.address}: it went away"), line
    else:
        assert line.startswith(f"error: broker at {cluster.address} stopped ("), line
        assert ("maelstrom-admin stop from 127.0.0.1" if how == "admin" else "(SIGTERM)") in line, line
        assert cluster.broker.p.wait(timeout=30) == 0
        assert worker.p.wait(timeout=30) == 0  # the broker sent its workers home
    assert "cancelled" not in line
    # Nothing left running: the worker killed its containers (stopping, or on losing the broker).
    wait_for(lambda: not container_processes(f"sleep {marker}"), what="the containers to die")


def test_broker_gone_stops_reading_more_jobs(cluster, runner):
    """With jobs still coming on stdin, maelstrom-run ends once the broker is gone."""
    cluster.start_broker()  # no workers: the first job stays queued
    p = subprocess.Popen([bin_path("maelstrom-run"), "--broker", cluster.address], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=runner.env(),
                         cwd=runner.tmp)
    try:
        p.stdin.write(json.dumps(job("echo", "never")) + "\n")
        p.stdin.flush()
        wait_for(lambda: http_status(cluster)["queued"] == 1, what="the job queued")
        cluster.broker.kill(signal.SIGKILL)
        cluster.broker.p.wait()
        try:
            p.stdin.write(json.dumps(job("echo", "never either")) + "\n")
            p.stdin.flush()
        except BrokenPipeError:
            pass  # it already noticed the broker was gone and exited: what this test wants
        p.wait(timeout=60)  # with its stdin still open
        err = p.stderr.read()
    finally:
        try:
            p.stdin.close()
        except BrokenPipeError:
            pass
        p.stdout.close()
        p.stderr.close()
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 1
    lines = err.splitlines()
    # Said first: the job waits for a worker the broker does not have.
    assert len(lines) == 2 and lines[0].startswith(f"warning: broker at {cluster.address} has no workers"), lines
    assert lines[1].startswith(f"error: lost connection to broker at {cluster.address}"), lines


def test_malformed_spec_is_one_line_and_broker_keeps_serving(cluster, runner):
    cluster.start_broker()
    cluster.start_worker(slots=1)
    cluster.wait_workers(1)
    bad = runner.tmp / "bad.json"
    bad.write_text(json.dumps(job("echo", "first")) + '\n{"program": "echo", "layers": [}\n')
    r = subprocess.run([bin_path("maelstrom-run"), "--broker", cluster.address, "--file", str(bad)],
                       capture_output=True, text=True, timeout=120, env=runner.env(), cwd=runner.tmp)
    assert r.returncode == 1
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "bad.json" in lines[0], lines
    wait_for(lambda: (lambda s: not s["clients"] and s["queued"] + s["assigned"] + s["running"] == 0)(
        http_status(cluster)), what="the client gone and nothing left")
    r = runner.run([job("echo", "after")], "--broker", cluster.address)
    assert r.returncode == 0 and r.stdout == "after\n", r.stderr


def test_tls_and_token(cluster, runner, tmp_path):
    certs = make_certs(tmp_path / "certs")
    tokens = make_tokens(tmp_path / "tokens")
    cluster.start_broker("--tls-cert", str(certs / "broker.pem"), "--tls-key", str(certs / "broker.key"),
                         *broker_token_args(tokens))
    trust = ["--tls-ca", str(certs / "ca.pem")]
    cluster.admin_tls = trust + ["--token-file", str(tokens["admin"])]
    cluster.http_auth = {"ca": certs / "ca.pem", "token": tokens["admin"].read_text().strip()}
    cluster.start_worker(2, None, None, None, *trust, "--token-file", str(tokens["worker"]))
    cluster.wait_workers(1)
    r = runner.run([job("echo", "secure")], "--broker", cluster.address, *trust, "--token-file", str(tokens["client"]))
    assert r.returncode == 0 and r.stdout == "secure\n", r.stderr
    # The same through the environment, as a user would set it once.
    r = runner.run([job("echo", "env")], env={"MAELSTROM_BROKER": cluster.address,
                                              "MAELSTROM_TLS_CA": str(certs / "ca.pem"),
                                              "MAELSTROM_RUN_TOKEN_FILE": str(tokens["client"])})
    assert r.returncode == 0 and r.stdout == "env\n", r.stderr
    for args, why in (([], None), (trust, "--token-file"),
                      (trust + ["--token-file", str(tokens["worker"])], "not the client role")):
        r = runner.run([job("echo", "intruder")], "--broker", cluster.address, *args, timeout=60)
        assert r.returncode == 1, r.stderr
        lines = r.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"error: cannot connect to broker at {cluster.address}"), lines
        if why:
            assert why in lines[0]
        assert r.stdout == ""
    assert http_status(cluster)["completed"] == 2  # the status page: TLS and the admin token, as the RPC port


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
