"""Faults: workers, clients and brokers that die or stop answering, and bad input."""
import hashlib
import json
import signal
import socket
import subprocess

from cluster_util import bb_job, bin_path, container_processes, tar_of, wait_for


def worker_running(cluster, name):
    for w in cluster.status()["workers"]:
        if w["name"] == name:
            return w["running"]
    return 0


def test_worker_killed_mid_run_jobs_still_complete(cluster, busybox_tar):
    cluster.start_broker()
    victim = cluster.start_worker(slots=2, name="victim")
    cluster.wait_workers(1)
    client = cluster.start_client([bb_job(busybox_tar, "sh", "-c", f"sleep 1; echo done {i}") for i in range(8)])
    wait_for(lambda: worker_running(cluster, "victim") > 0, what="jobs running on the victim")
    cluster.start_worker(slots=2, name="survivor")
    victim.kill(signal.SIGKILL)
    out, _ = client.p.communicate(timeout=120)
    assert client.p.returncode == 0, client.log_text()
    results = [json.loads(line) for line in out.splitlines() if '"index"' in line]
    assert sorted(r["stdout"] for r in results) == sorted(f"done {i}\n" for i in range(8)), results
    assert all(r["result"] == "exited" and r["code"] == 0 for r in results)
    assert "worker" in cluster.broker.log_text() and "disconnected" in cluster.broker.log_text()


def test_silent_worker_dropped_after_heartbeat_timeout(cluster, busybox_tar):
    cluster.start_broker("--heartbeat-timeout", "2s")
    frozen = cluster.start_worker(slots=1, name="frozen")
    cluster.wait_workers(1)
    client = cluster.start_client([bb_job(busybox_tar, "sh", "-c", "sleep 1; echo ran")])
    wait_for(lambda: worker_running(cluster, "frozen") == 1, what="the job running on the frozen worker")
    frozen.kill(signal.SIGSTOP)
    try:
        cluster.start_worker(slots=1, name="alive")
        out, _ = client.p.communicate(timeout=120)
        assert client.p.returncode == 0, client.log_text()
        result = [json.loads(line) for line in out.splitlines() if '"index"' in line][0]
        assert result["stdout"] == "ran\n"
        assert any("(alive)" in s for s in result["states"]), result
        assert "frozen) sent no heartbeat" in cluster.broker.log_text()
    finally:
        frozen.kill(signal.SIGCONT)
    # Thawed, it notices the dropped connection and reconnects.
    cluster.wait_workers(2, timeout=60)


def test_client_killed_mid_run_leaves_no_jobs_running(cluster, busybox_tar):
    cluster.start_broker()
    cluster.start_worker(slots=2)
    cluster.wait_workers(1)
    marker = "3007"
    client = cluster.start_client([bb_job(busybox_tar, "sleep", marker) for _ in range(5)])
    wait_for(lambda: cluster.status()["running"] == 2, what="two jobs running")
    # (Running from the broker's view comes a moment before the program's execve.)
    wait_for(lambda: len(container_processes(f"sleep {marker}")) == 2, what="two containers")
    client.kill(signal.SIGKILL)
    wait_for(lambda: (lambda s: s["running"] == 0 and s["assigned"] == 0 and s["queued"] == 0)(cluster.status()),
             what="the broker to drop the client's jobs")
    wait_for(lambda: not container_processes(f"sleep {marker}"), what="the containers to die")


def test_broker_gone_gives_clients_a_clear_error(cluster, busybox_tar):
    cluster.start_broker()
    client = cluster.start_client([bb_job(busybox_tar, "echo", "never")])
    wait_for(lambda: cluster.status()["queued"] == 1, what="job queued")
    cluster.broker.kill(signal.SIGKILL)
    out, _ = client.p.communicate(timeout=60)
    assert client.p.returncode == 1
    assert "lost connection to broker at" in client.log_text()
    result = [json.loads(line) for line in out.splitlines() if '"index"' in line][0]
    assert result["result"] == "error" and "lost connection to broker" in result["error"]


def test_worker_reconnects_when_broker_returns(cluster, busybox_tar):
    cluster.start_broker()
    port = cluster.port
    w = cluster.start_worker(slots=1)
    cluster.wait_workers(1)
    cluster.broker.kill(signal.SIGKILL)
    cluster.broker.p.wait()
    wait_for(lambda: "lost connection to broker" in w.log_text(), what="the worker to notice")
    cluster.start_broker("--port", str(port))
    assert cluster.port == port
    cluster.wait_workers(1, timeout=60)
    rc, results, err = cluster.client([bb_job(busybox_tar, "echo", "back")])
    assert rc == 0, err
    assert results[0]["stdout"] == "back\n"
    assert w.alive()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_broker(cluster, busybox_tar):
    addr = f"127.0.0.1:{free_port()}"
    rc, _, err = cluster.client([bb_job(busybox_tar, "true")], broker=addr)
    assert rc == 1
    assert f"error: cannot connect to broker at {addr}" in err
    w = cluster.start_worker(broker=addr)
    wait_for(lambda: f"cannot connect to broker at {addr}" in w.log_text(), what="the worker's complaint")
    assert w.alive()  # keeps retrying with backoff


def test_wrong_protocol_version_refused_on_both_sides(cluster, busybox_tar):
    cluster.start_broker()
    rc, _, err = cluster.client([bb_job(busybox_tar, "true")], "--protocol-version", "99")
    assert rc == 1 and "protocol version mismatch" in err, err
    w = cluster.start_worker(1, None, None, None, "--protocol-version", "99")
    assert w.p.wait(timeout=30) == 1
    assert "protocol version mismatch" in w.log_text()
    admin = [bin_path("maelstrom-admin"), "--broker", cluster.address, "--protocol-version", "99"]
    for cmd in ("status", "stop"):
        r = subprocess.run(admin + [cmd], capture_output=True, text=True, timeout=60, env=cluster.env())
        assert r.returncode == 1 and r.stdout == "", r.stderr
        assert r.stderr.splitlines() == [f"error: broker at {cluster.address}: protocol version mismatch: the broker "
                                         "speaks version 2, this admin tool speaks version 99; run the same Maelstrom "
                                         "release on broker, workers and clients"], r.stderr
    assert cluster.broker.alive()  # the refused stop did not stop it
    log = cluster.broker.log_text()
    assert log.count("protocol version mismatch") == 4, log
    assert "refused status request from 127.0.0.1" in log and "refused stop request from 127.0.0.1" in log
    cluster.start_worker(slots=1)
    rc, results, err = cluster.client([bb_job(busybox_tar, "echo", "served")])
    assert rc == 0, err
    assert results[0]["stdout"] == "served\n"


def test_malformed_spec_and_digest_mismatch(cluster, busybox_tar, tmp_path):
    cluster.start_broker()
    cluster.start_worker(slots=1)
    # Client side: not JSON.
    bad = tmp_path / "bad.json"
    bad.write_text("{not json\n")
    r = subprocess.run([bin_path("mael-test-client"), "--broker", cluster.address, "--jobs", str(bad)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "malformed job spec" in r.stderr
    # Broker side: an empty program, and a layer whose bytes do not match its digest.
    liar = tar_of(tmp_path / "liar.tar", {"x": b"these bytes"})
    wrong = hashlib.sha256(b"other bytes").hexdigest()
    rc, results, err = cluster.client([
        bb_job(busybox_tar, ""),
        {"layers": [{"tar": str(liar), "digest": wrong}], "program": "true"},
        bb_job(busybox_tar, "echo", "fine"),
    ])
    assert rc == 0, err
    assert results[0]["result"] == "error" and "malformed job: the program is empty" in results[0]["error"]
    assert results[1]["result"] == "error" and "does not match its digest" in results[1]["error"]
    assert results[2]["stdout"] == "fine\n"
    assert "does not match its digest" in cluster.broker.log_text()
