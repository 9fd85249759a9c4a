"""The broker cannot be wedged by connections that never authenticate: it raises its open-file
limit, bounds connections per peer and in all, closes those that do not finish the handshake or
start a call in time, and serves legitimate peers during and after a flood. Loopback only: the
flood comes from other loopback addresses (127.0.0.2 and up), in bounded numbers."""
import os
import re

from cluster_util import bb_job, flood, still_open, wait_for


def open_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def test_a_flood_of_idle_connections_does_not_wedge_a_broker_short_of_files(cluster, busybox_tar):
    # 256 open files, as on a small system: 400 idle connections from one address, then 100
    # more from each of three others, wedged the broker for good.
    cluster.start_broker("--handshake-timeout", "3s", "--max-connections-per-peer", "50",
                         wrap=["prlimit", "--nofile=256:256"])
    cluster.start_worker(1)
    cluster.wait_workers(1)
    pid = cluster.broker.p.pid
    socks = []
    try:
        socks += flood(cluster.port, 400, "127.0.0.2")
        # One address keeps at most max-connections-per-peer; the rest are cut at once.
        wait_for(lambda: still_open(socks) <= 50, what="the connections over the per-peer limit cut")
        for i in (3, 4, 5):
            socks += flood(cluster.port, 100, f"127.0.0.{i}")
        # While they are open, a legitimate client is served (the oldest idle connections make room).
        rc, results, err = cluster.client([bb_job(busybox_tar, "echo", "during")])
        assert rc == 0 and results[0]["stdout"] == "during\n", err
        assert still_open(socks) > 0, "the flood was still on"
        assert open_fds(pid) < 256
        # None of them finished the handshake: the broker closes them itself.
        wait_for(lambda: still_open(socks) == 0, timeout=60, what="the broker to close the idle connections")
    finally:
        for s in socks:
            s.close()
    rc, results, err = cluster.client([bb_job(busybox_tar, "echo", "after")])
    assert rc == 0 and results[0]["stdout"] == "after\n", err
    assert len(cluster.status()["workers"]) == 1  # the worker's session went through it all
    connections = cluster.status()["connections"]
    assert connections["max"] == 96 and connections["refused"] >= 350 and connections["dropped"] > 0, connections
    log = cluster.broker.log_text()
    turned_away = re.findall(r"turned away (\d+) connections? over the limits \(the last: (.*)\)", log)
    assert sum(int(n) for n, _ in turned_away) == connections["refused"] + connections["dropped"], log
    assert len(turned_away) <= 30, "at most a line a second"
    assert re.search(r"refused one from 127\.0\.0\.[2-5]: over max-connections-per-peer \(50\)", log), log
    assert "max-connections 4096 lowered to" in log and "by the open-file limit (256)" in log


def test_the_broker_raises_its_open_file_limit(cluster):
    cluster.start_broker(wrap=["prlimit", "--nofile=256:4096"])
    limits = open(f"/proc/{cluster.broker.p.pid}/limits").read()
    assert re.search(r"Max open files\s+4096\s+4096", limits), limits


def test_a_limit_too_low_for_any_connections_is_a_clear_error(cluster):
    import subprocess
    from cluster_util import bin_path
    r = subprocess.run(["prlimit", "--nofile=64:64", bin_path("maelstrom-broker"), "--port", "0", "--cache-root",
                        str(cluster.tmp / "c")], capture_output=True, text=True, timeout=30, env=cluster.env())
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    assert r.returncode == 1 and len(lines) == 1, r.stderr
    assert lines[0].startswith("error: the open-file limit (64) leaves room for only 0 connections: raise it to at "
                               "least"), lines[0]
    assert "ulimit -n" in lines[0]
