"""Workers and clients on other "hosts": network namespaces joined to this one
by veth pairs with documentation addresses (TEST-NET-2, 198.51.100.0/24) that
the test creates and removes. The test refuses to run if this machine already
uses any address or route in that range (machines on TEST-NET-1 exist)."""
import itertools
import json
import os
import signal
import subprocess

import pytest

from cluster_util import bb_job, wait_for

_counter = itertools.count()
SUBNET = "198.51.100"


def subnet_in_use():
    out = ip("-4", "addr").stdout + ip("-4", "route", "show", "table", "all").stdout
    return f"{SUBNET}." in out


def ip(*args, check=True):
    return subprocess.run(["ip", *args], check=check, capture_output=True, text=True)


class Host:
    """A network namespace with one veth link to the root namespace, on a /30."""

    def __init__(self, k):
        tag = f"{os.getpid() % 100000}x{next(_counter)}"
        self.ns, self.veth_host, self.veth_ns = f"maeltest{tag}", f"mh{tag}", f"mn{tag}"
        self.host_addr, self.addr = f"{SUBNET}.{4 * k + 1}", f"{SUBNET}.{4 * k + 2}"
        ip("netns", "add", self.ns)
        ip("link", "add", self.veth_host, "type", "veth", "peer", "name", self.veth_ns)
        ip("link", "set", self.veth_ns, "netns", self.ns)
        ip("addr", "add", f"{self.host_addr}/30", "dev", self.veth_host)
        ip("link", "set", self.veth_host, "up")
        ip("-n", self.ns, "addr", "add", f"{self.addr}/30", "dev", self.veth_ns)
        ip("-n", self.ns, "link", "set", self.veth_ns, "up")
        ip("-n", self.ns, "link", "set", "lo", "up")

    def unplug(self):
        ip("link", "del", self.veth_host, check=False)

    def remove(self):
        ip("netns", "del", self.ns, check=False)
        self.unplug()


@pytest.fixture
def hosts():
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root")
    if subnet_in_use():
        pytest.skip(f"{SUBNET}.0/24 is already in use on this machine; not touching it")
    made = []

    def make():
        made.append(Host(len(made)))
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
