"""Workers and clients on other "hosts": network namespaces joined to this one
by veth pairs with documentation addresses (TEST-NET-2, 198.51.100.0/24) that
the test creates and removes. The test refuses to run if this machine already
uses any address or route in that range (machines on TEST-NET-1 exist)."""
import itertools
import json
import os
import signal

import pytest

from cluster_util import NETNS_SUBNET, NetnsHost, bb_job, netns_available, wait_for

_counter = itertools.count()


@pytest.fixture
def hosts():
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root")
    if not netns_available():
        pytest.skip(f"{NETNS_SUBNET}.0/24 is already in use on this machine; not touching it")
    made = []

    def make():
        made.append(NetnsHost(len(made), f"{os.getpid() % 100000}x{next(_counter)}"))
        return made[-1]

    yield make
    for h in made:
        h.remove()


def test_workers_and_client_on_other_hosts(cluster, busybox_tar, hosts):
    cluster.start_broker()
    a, b = hosts(), hosts()
    cluster.start_worker(2, f"{a.host_addr}:{cluster.port}", a.ns, "host-a")
    cluster.start_worker(2, f"{b.host_addr}:{cluster.port}", b.ns, "host-b")
    cluster.wait_workers(2)
    peers = sorted(w["peer"] for w in cluster.status()["workers"])
    assert peers[0].startswith(a.addr + ":") and peers[1].startswith(b.addr + ":"), peers
    jobs = [bb_job(busybox_tar, "sh", "-c", f"sleep 0.2; echo {i}") for i in range(12)]
    rc, results, err = cluster.client(jobs, broker=f"{a.host_addr}:{cluster.port}", netns=a.ns)
    assert rc == 0, err
    assert sorted(r["stdout"] for r in results.values()) == sorted(f"{i}\n" for i in range(12))
    used = {s for r in results.values() for s in r["states"] if s.startswith("worker ")}
    assert {u.split("(")[1] for u in used} == {"host-a)", "host-b)"}, used


def test_host_vanishing_from_network_requeues_its_jobs(cluster, busybox_tar, hosts):
    cluster.start_broker("--heartbeat-timeout", "3s")
    far = hosts()
    cluster.start_worker(1, f"{far.host_addr}:{cluster.port}", far.ns, "far")
    cluster.wait_workers(1)
    client = cluster.start_client([bb_job(busybox_tar, "sh", "-c", "sleep 1; echo survived")])
    wait_for(lambda: any(w["running"] for w in cluster.status()["workers"]), what="the job running far away")
    far.unplug()  # the host drops off the network without a word
    cluster.start_worker(1, None, None, "near")
    out, _ = client.p.communicate(timeout=120)
    assert client.p.returncode == 0, client.log_text()
    result = [json.loads(line) for line in out.splitlines() if '"index"' in line][0]
    assert result["stdout"] == "survived\n"
    assert any("(near)" in s for s in result["states"]), result
    assert "far) sent no heartbeat" in cluster.broker.log_text() or "(far) disconnected" in cluster.broker.log_text()
