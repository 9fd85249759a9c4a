"""A worker runs the broker's jobs but does not trust the broker with its host: bind mounts and
network = "local" run only as far as the worker's own configuration allows (allow-bind-mounts,
allow-local-network). A fake broker (mael-rogue-peer) sends such jobs to a real worker."""
import json
import socket
import threading

import pytest

from cluster_util import APPLETS, Proc, bb_job, bin_path, make_busybox_tar, wait_for


@pytest.fixture(scope="module")
def nc_tar(tmp_path_factory):
    return make_busybox_tar(tmp_path_factory.mktemp("nc") / "busybox-nc.tar", APPLETS + ("nc",))


def from_fake_broker(cluster, tmp_path, layer, job, *worker_args):
    """Runs `job` on a real worker through a fake broker; returns (events, worker)."""
    job_file, port_file = tmp_path / "job.json", tmp_path / "port"
    job_file.write_text(json.dumps(job) + "\n")
    fake = Proc([bin_path("mael-rogue-peer"), "broker", "--port-file", str(port_file), "--layer", str(layer),
                 "--job", str(job_file)], tmp_path / "fake-broker.log")
    cluster.procs.append(fake)
    port = wait_for(lambda: port_file.exists() and port_file.read_text().strip(), what="the fake broker's port")
    worker = cluster.start_worker(1, f"127.0.0.1:{port}", None, "victim", *worker_args)
    out, _ = fake.p.communicate(timeout=120)
    return [json.loads(l) for l in out.splitlines()], worker


def test_a_fake_broker_cannot_bind_mount_the_workers_host(cluster, busybox_tar, tmp_path):
    host_dir = tmp_path / "worker-host-dir"
    host_dir.mkdir()
    job = {"program": "sh", "arguments": ["-c", "echo pwned > /tmp/proof"], "environment": ["PATH=/bin"],
           "mounts": [{"type": "bind", "mount_point": "/tmp", "local_path": str(host_dir)}]}
    events, worker = from_fake_broker(cluster, tmp_path, busybox_tar, job)
    assert events[0] == {"event": "hello", "name": "victim", "bind_mount_roots": [], "local_network": False}
    done = [e for e in events if e["event"] == "done"]
    assert done and done[0]["result"] == "error", events
    assert done[0]["error"] == ("worker victim does not run jobs with bind mounts from the broker (its "
                                "allow-bind-mounts is empty)")
    assert not (host_dir / "proof").exists()
    assert "refused job 7 from the broker: worker victim does not run jobs with bind mounts" in worker.log_text()


class Listener:
    """A TCP listener on this host's loopback that records what connections send (and hangs up)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.received, self.stop_flag = [], threading.Event()
        self.t = threading.Thread(target=self.serve)
        self.t.start()

    def serve(self):
        while not self.stop_flag.is_set():
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            with conn:
                conn.settimeout(10)
                self.received.append(conn.recv(100))

    def close(self):
        self.stop_flag.set()
        self.t.join()
        self.sock.close()
        return self.received


def test_a_fake_broker_cannot_use_the_workers_network(cluster, nc_tar, tmp_path):
    listener = Listener()
    try:
        job = {"program": "sh", "arguments": ["-c", f"echo pwned | nc 127.0.0.1 {listener.port}"],
               "environment": ["PATH=/bin"], "network": "local"}
        events, _ = from_fake_broker(cluster, tmp_path, nc_tar, job)
    finally:
        received = listener.close()
    assert received == []  # nothing reached this host's loopback
    done = [e for e in events if e["event"] == "done"]
    assert done and done[0]["result"] == "error", events
    assert "does not run jobs with network = \"local\" from the broker (its allow-local-network is off)" in \
        done[0]["error"]


def test_a_bind_mount_through_a_link_out_of_the_allowed_directory_is_refused(cluster, busybox_tar, tmp_path):
    allowed, secret = tmp_path / "allowed", tmp_path / "secret"
    allowed.mkdir()
    secret.mkdir()
    (allowed / "escape").symlink_to(secret)
    job = {"program": "sh", "arguments": ["-c", "echo pwned > /tmp/proof"], "environment": ["PATH=/bin"],
           "mounts": [{"type": "bind", "mount_point": "/tmp", "local_path": str(allowed / "escape")}]}
    events, _ = from_fake_broker(cluster, tmp_path, busybox_tar, job, "--allow-bind-mounts", str(allowed))
    assert events[0]["bind_mount_roots"] == [str(allowed)]
    done = [e for e in events if e["event"] == "done"][0]
    assert done["result"] == "error"
    assert done["error"] == (f"worker victim does not bind-mount {allowed / 'escape'} from the broker: it is not under "
                             "its allow-bind-mounts")
    assert not (secret / "proof").exists()


def test_workers_that_allow_local_features_get_such_jobs_and_the_others_refuse_them(cluster, busybox_tar,
                                                                                   nc_tar, tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "data.txt").write_text("from the worker's host\n")
    cluster.start_broker()
    cluster.start_worker(2, None, None, "plain")
    cluster.start_worker(1, None, None, "open", "--allow-bind-mounts", str(shared), "--allow-local-network")
    cluster.wait_workers(2)
    listener = Listener()
    try:
        jobs = [
            bb_job(busybox_tar, "cat", "/tmp/data.txt",
                   mounts=[{"type": "bind", "mount_point": "/tmp", "local_path": str(shared)}]),
            {"layers": [{"tar": str(nc_tar)}], "program": "sh",
             "arguments": ["-c", f"echo hi | nc 127.0.0.1 {listener.port}"], "environment": ["PATH=/bin"],
             "network": "local"},
            bb_job(busybox_tar, "true",
                   mounts=[{"type": "bind", "mount_point": "/tmp", "local_path": str(tmp_path)}]),
            # Under the allowed directory as written, outside it once the link is followed: only the
            # worker can tell, and its refusal reaches the client.
            bb_job(busybox_tar, "true",
                   mounts=[{"type": "bind", "mount_point": "/tmp", "local_path": str(shared / "out")}]),
        ]
        (shared / "out").symlink_to(tmp_path)
        rc, results, err = cluster.client(jobs)
    finally:
        received = listener.close()
    assert received == [b"hi\n"]
    assert rc == 0, err
    def ran_on(r):
        return [s.split("(")[1][:-1] for s in r["states"] if s.startswith("worker ")]

    assert results[0]["stdout"] == "from the worker's host\n" and ran_on(results[0]) == ["open"], results[0]
    assert results[1]["result"] == "exited" and results[1]["code"] == 0 and ran_on(results[1]) == ["open"], results[1]
    assert results[2]["result"] == "error" and results[2]["error"].startswith("no worker runs this job"), results[2]
    assert results[3]["result"] == "error"
    assert results[3]["error"] == f"worker open does not bind-mount {shared / 'out'} from the broker: it is not " \
                                  "under its allow-bind-mounts"


@pytest.mark.parametrize("value,why", [("relative/dir", "is not an absolute path"),
                                       ("/no/such/dir", "is not a directory on this host")])
def test_allow_bind_mounts_must_name_host_directories(cluster, value, why):
    import subprocess
    r = subprocess.run([bin_path("maelstrom-worker"), "--broker", "127.0.0.1:1", "--allow-bind-mounts", value,
                        "--cache-root", str(cluster.tmp / "w")], capture_output=True, text=True, timeout=30,
                       env=cluster.env())
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    assert r.returncode == 1 and len(lines) == 1, r.stderr
    assert lines[0] == f"error: allow-bind-mounts: '{value}' {why}: " + (
        "give host directories" if "absolute" in why else "create it or leave it out"), lines


def test_jobs_no_remaining_worker_allows_fail_after_the_no_worker_timeout(cluster, busybox_tar):
    import signal
    cluster.start_broker("--no-worker-timeout", "2s")
    open_worker = cluster.start_worker(1, None, None, "open", "--allow-local-network")
    cluster.start_worker(1, None, None, "plain")
    cluster.wait_workers(2)
    client = cluster.start_client([bb_job(busybox_tar, "sleep", "60", network="local") for _ in range(3)])
    wait_for(lambda: cluster.status()["running"] == 1, what="a job running on the worker that allows it")
    open_worker.kill(signal.SIGKILL)
    out, _ = client.p.communicate(timeout=120)
    results = [json.loads(l) for l in out.splitlines() if '"index"' in l]
    assert len(results) == 3 and all(r["result"] == "error" for r in results), results
    assert all(r["error"].startswith("no connected worker has run this job for 2 s (its no-worker-timeout): it has "
                                     "bind mounts or network = \"local\"") for r in results), results
