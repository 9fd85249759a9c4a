"""The broker's status page, loaded in headless Chromium after its JavaScript ran."""
import os
import re
import shutil
import signal
import subprocess
import urllib.request

import pytest

from cluster_util import container_processes, http_status, wait_for


def chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    pytest.skip("chromium is not installed (scripts/setup.sh installs it)")


def dump_dom(url, profile):
    cmd = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-breakpad",
           "--disable-crash-reporter", f"--user-data-dir={profile}", "--virtual-time-budget=5000", "--dump-dom", url]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    finally:
        # Helpers (zygote, crashpad) that outlive the browser are ours to end.
        for pid in container_processes(f"--user-data-dir={profile}"):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    assert r.returncode == 0, r.stderr[-2000:]
    return r.stdout


def test_status_page_shows_workers(cluster, tmp_path):
    cluster.start_broker()
    for slots in (1, 2, 3):
        cluster.start_worker(slots=slots)
    cluster.wait_workers(3)
    wait_for(lambda: len(http_status(cluster)["history"]) >= 2, what="two samples for the chart")
    url = f"http://127.0.0.1:{cluster.http_port}/"
    dom = dump_dom(url, tmp_path / "profile")
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
    wait_for(lambda: not container_processes(f"--user-data-dir={tmp_path / 'profile'}"), what="chromium to exit")


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
