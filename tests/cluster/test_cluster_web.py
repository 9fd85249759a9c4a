"""The broker's status page, loaded in headless Chromium after its JavaScript ran."""
import json
import os
import pathlib
import re
import shutil
import signal
import subprocess
import tempfile
import urllib.request

import pytest

from cluster_util import (bb_job, bin_path, broker_cert_args, broker_token_args, cert_args, container_processes,
                          http_get, http_status, make_certs, make_tokens, wait_for)


def chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    pytest.skip("chromium is not installed (scripts/setup.sh installs it)")


def dump_dom(url):
    """The page's DOM after its scripts ran, from headless chromium. Its profile lives outside
    pytest's temporary directory: the profile path marks chromium's processes, and
    testlib's process lookups skip command lines that mention pytest."""
    profile = pathlib.Path(tempfile.mkdtemp(prefix="mael-chromium-"))
    marker = f"--user-data-dir={profile}"
    cmd = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-breakpad",
           "--disable-crash-reporter", marker, "--virtual-time-budget=5000", "--dump-dom", url]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    finally:
        # Helpers (zygote, crashpad) that outlive the browser are ours to end.
        for pid in container_processes(marker):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        wait_for(lambda: not container_processes(marker), what="chromium to exit")
        shutil.rmtree(profile, ignore_errors=True)
    assert r.returncode == 0, r.stderr[-2000:]
    return r.stdout


def test_status_page_shows_workers(cluster):
    cluster.start_broker()
    for slots in (1, 2, 3):
        cluster.start_worker(slots=slots)
    cluster.wait_workers(3)
    wait_for(lambda: len(http_status(cluster)["history"]) >= 2, what="two samples for the chart")
    url = f"http://127.0.0.1:{cluster.http_port}/"
    dom = dump_dom(url)
    assert re.search(r'id="worker-count">3<', dom), dom[:3000]
    assert re.search(r'id="slots">0 / 6<', dom)
    assert dom.count("<tr>") >= 3 + 2  # two header rows, one row per worker
    samples = re.search(r'<canvas id="chart"[^>]*data-samples="(\d+)"', dom)
    assert samples and int(samples.group(1)) >= 2, "the chart of jobs over time was drawn"
    legend = re.search(r'<div class="legend" id="legend">(.*?)</div>', dom, re.S).group(1)
    assert re.findall(r"</i>(\w+)</span>", legend) == ["waiting", "queued", "assigned", "running"], legend
    # The JSON endpoint the page polls.
    with urllib.request.urlopen(f"http://127.0.0.1:{cluster.http_port}/api/status", timeout=30) as f:
        assert f.headers["Content-Type"] == "application/json"
        assert b'"slots":6' in f.read()


def test_an_idle_connection_delays_no_other_request(cluster):
    import socket
    cluster.start_broker()
    addr = ("127.0.0.1", cluster.http_port)
    with socket.create_connection(addr, timeout=30) as idle, socket.create_connection(addr, timeout=30) as other:
        idle.sendall(b"GET /api/status HTTP/1.1\r\n")  # half a request, then silence
        other.sendall(b"GET /api/status HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = b""
        while chunk := other.recv(65536):
            answer += chunk
        assert answer.startswith(b"HTTP/1.1 200 OK\r\n") and b'"slots":' in answer
        # Served while the idle connection was still waiting (one served at a time would have waited
        # for it to time out and closed it first).
        idle.setblocking(False)
        with pytest.raises(BlockingIOError):
            idle.recv(1)
        idle.setblocking(True)
        idle.sendall(b"Host: x\r\n\r\n")
        assert idle.recv(65536).startswith(b"HTTP/1.1 200 OK\r\n")


def test_status_page_has_a_chart_per_client(cluster, busybox_tar):
    cluster.start_broker()
    cluster.start_worker(slots=2)
    cluster.wait_workers(1)
    clients = [cluster.start_client([bb_job(busybox_tar, "sleep", "60")], "--name", name) for name in ("alpha", "beta")]
    wait_for(lambda: (lambda s: len(s["clients"]) == 2 and all(len(c["history"]) >= 2 and c["running"] == 1
                                                               for c in s["clients"]))(http_status(cluster)),
             what="two clients with a running job and two samples each")
    dom = dump_dom(f"http://127.0.0.1:{cluster.http_port}/")
    charts = re.findall(r'<div class="client-chart" data-client="(\d+)"><div>client \d+: (\w+)</div><canvas[^>]*'
                        r'data-samples="(\d+)"', dom)
    assert sorted(name for _, name, _ in charts) == ["alpha", "beta"], dom[:5000]
    assert all(int(samples) >= 2 for _, _, samples in charts), charts
    assert re.search(r"<td>alpha</td><td>127\.0\.0\.1:\d+</td><td>anyone</td><td>0</td><td>0</td><td>1</td>", dom)
    for c in clients:
        c.kill()


def test_status_page_says_when_clients_wait_for_a_worker(cluster, busybox_tar):
    cluster.start_broker()
    c = cluster.start_client([bb_job(busybox_tar, "true")])
    wait_for(lambda: http_status(cluster)["queued"] == 1, what="the job queued")
    dom = dump_dom(f"http://127.0.0.1:{cluster.http_port}/")
    assert re.search(r'id="no-workers"[^>]*>No workers: 1 queued jobs wait for one \(they fail after 120 s without '
                     r'one\)<', dom), dom[:3000]
    c.kill()


def listening_address(port):
    """The address a local TCP listener on `port` is bound to, as /proc/net shows it (hex)."""
    for table in ("/proc/net/tcp6", "/proc/net/tcp"):
        for line in open(table).read().splitlines()[1:]:
            f = line.split()
            address, p = f[1].rsplit(":", 1)
            if f[3] == "0A" and int(p, 16) == port:
                return address
    return None


def test_status_page_listens_on_loopback_unless_told(cluster):
    cluster.start_broker()
    assert listening_address(cluster.http_port) == "0000000000000000FFFF00000100007F"  # ::ffff:127.0.0.1
    cluster.close()
    cluster.start_broker("--http-address", "0.0.0.0")
    assert listening_address(cluster.http_port) == "00000000000000000000000000000000"  # every address


def test_status_page_has_the_rpc_ports_tls_and_wants_an_admin(cluster, tmp_path):
    certs = make_certs(tmp_path / "certs")
    cluster.start_broker(*broker_cert_args(certs))
    ca = certs / "ca.pem"
    with pytest.raises(Exception):  # plain HTTP gets no page
        http_get(cluster)
    status, _, body = http_get(cluster, ca=ca)
    assert status == 401 and b"requires a client certificate" in body, body
    status, _, body = http_get(cluster, ca=ca, cert=(certs / "client.pem", certs / "client.key"))
    assert status == 401 and b"CN=client has the client role, not the admin role needed to see the status page" in body
    status, _, body = http_get(cluster, ca=ca, cert=(certs / "admin.pem", certs / "admin.key"))
    assert status == 200 and json.loads(body)["workers"] == []
    status, headers, body = http_get(cluster, "/", ca=ca, cert=(certs / "admin.pem", certs / "admin.key"))
    assert status == 200 and b"<title>Maelstrom broker</title>" in body


def test_status_page_takes_the_admin_token_as_password(cluster, tmp_path):
    certs = make_certs(tmp_path / "certs")
    tokens = make_tokens(tmp_path / "tokens")
    cluster.start_broker("--tls-cert", str(certs / "broker.pem"), "--tls-key", str(certs / "broker.key"),
                         *broker_token_args(tokens))
    ca = certs / "ca.pem"
    status, headers, body = http_get(cluster, ca=ca)
    assert status == 401 and headers["WWW-Authenticate"] == 'Basic realm="maelstrom-broker"', body
    status, _, _ = http_get(cluster, ca=ca, token=tokens["client"].read_text().strip())
    assert status == 401
    status, _, body = http_get(cluster, ca=ca, token=tokens["admin"].read_text().strip())
    assert status == 200 and json.loads(body)["workers"] == []


def test_names_peers_give_are_escaped(cluster, busybox_tar):
    cluster.start_broker()
    name = "evil\ninfo: worker 9 (fake) connected\x1b[31m"
    rc, _, err = cluster.client([], "--name", name)
    assert rc == 0, err
    log = cluster.broker.log_text()
    assert "\x1b" not in log and "\ninfo: worker 9" not in log
    assert "client 1 (evil\\ninfo: worker 9 (fake) connected\\x1b[31m) connected from" in log, log
