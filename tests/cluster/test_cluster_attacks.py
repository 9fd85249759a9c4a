"""The runtime attacks again, sent by a client through a real broker to a real
worker, run as root and as an unprivileged user: a worker runs any client's
jobs, so each must end refused there as locally (docs/security.md). Attacks on
host settings only write back the value they read."""
import json
import os
import signal
import subprocess
import time

import pytest

from cluster_util import bin_path, wait_for
from testlib import NOBODY, busybox_root_tar, host_processes, processes_left

PROC = {"type": "proc", "mount_point": "/proc"}


@pytest.fixture(params=["root", "nobody"])
def worker(request, cluster):
    """A broker and one worker (1 slot), run as root or as uid 65534."""
    cluster.start_broker()
    if request.param == "nobody":
        tmp = request.getfixturevalue("nobody_tmp")
        cache = tmp / "worker-cache"
        cache.mkdir()
        subprocess.run(["chown", "-R", f"{NOBODY}:{NOBODY}", str(tmp)], check=True)
        w = cluster.start_worker(1, None, None, "attacked", as_user=NOBODY, cache_root=cache)
    else:
        w = cluster.start_worker(1, None, None, "attacked")
    cluster.wait_workers(1)
    return w


def root_tar(tmp, *programs):
    return busybox_root_tar(tmp / f"root-{time.monotonic_ns()}.tar", programs=programs)


def run(cluster, tar, *script, **fields):
    job = {"layers": [{"tar": str(tar)}], "program": "sh", "arguments": ["-c", *script],
           "environment": ["PATH=/bin"]}
    job.update(fields)
    rc, results, err = cluster.client([job])
    assert rc == 0 or results, err
    return results[0]


def test_worker_job_cannot_write_host_sysctls(cluster, worker, tmp_path):
    tar = root_tar(tmp_path)
    r = run(cluster, tar, "umount /proc/sys && echo UNCOVERED; "
            "for f in kernel/core_pattern vm/swappiness; do v=$(cat /proc/sys/$f); "
            "(echo \"$v\" > /proc/sys/$f) && echo WROTE $f; done; echo done", mounts=[PROC])
    assert (r["result"], r["code"], r["stdout"]) == ("exited", 0, "done\n"), r


def test_worker_job_cannot_poison_a_cached_layer(cluster, worker, tmp_path):
    # Two clients' jobs with the same single-layer root, one after the other.
    tar = root_tar(tmp_path)
    r = run(cluster, tar, "mount -o remount,rw /; mount -o remount,bind,rw /; echo poisoned > /bin/note; "
            "mkdir -p /tmp/b; mount --bind / /tmp/b && mount -o remount,bind,rw /tmp/b; "
            "echo poisoned > /tmp/b/bin/note; echo done", mounts=[PROC, {"type": "tmp", "mount_point": "/tmp"}])
    assert r["stdout"] == "done\n", r
    r = run(cluster, tar, "cat /bin/note || echo clean")
    assert r["stdout"] == "clean\n", r


def test_worker_job_cannot_change_host_devices(cluster, worker, tmp_path):
    # Sent by maelstrom-run (the test client has no devices mounts).
    before = os.stat("/dev/zero")
    spec = {"layers": [{"tar": str(root_tar(tmp_path))}], "program": "sh", "environment": {"PATH": "/bin"},
            "arguments": ["-c", "chmod 666 /dev/zero && echo CHMOD; echo done"],
            "mounts": [{"type": "devices", "devices": ["zero"]}]}
    (tmp_path / "jobs.json").write_text(json.dumps(spec))
    r = subprocess.run([bin_path("maelstrom-run"), "--broker", cluster.address, "--file", str(tmp_path / "jobs.json"),
                        "--cache-root", str(tmp_path / "client-cache")],
                       capture_output=True, text=True, timeout=120, env=cluster.env(), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "done\n"
    assert cluster.status()["completed"] == 1  # it ran on the worker
    after = os.stat("/dev/zero")
    assert (after.st_mode, after.st_ctime_ns) == (before.st_mode, before.st_ctime_ns)


def test_worker_job_aborting_ends_with_sigabrt(cluster, worker, tmp_path, aborter):
    tar = root_tar(tmp_path, aborter)
    rc, results, err = cluster.client([{"layers": [{"tar": str(tar)}], "program": "/aborter"}])
    assert (results[0]["result"], results[0].get("signal")) == ("signaled", signal.SIGABRT), results[0]


def test_worker_killed_leaves_no_job_behind(cluster, worker, tmp_path, orphan):
    marker = f"orphan-{os.getpid()}-{time.monotonic_ns()}"
    tar = root_tar(tmp_path, orphan)
    client = cluster.start_client([{"layers": [{"tar": str(tar)}], "program": "/orphan", "arguments": [marker]}])
    wait_for(lambda: host_processes(marker), what="the job to start")
    worker.kill(signal.SIGKILL)
    left = processes_left(marker)
    client.kill(signal.SIGKILL)
    assert not left, "the job outlived its worker"


def test_worker_bounds_a_fork_bomb_and_a_job_may_only_lower_it(cluster, tmp_path):
    cluster.start_broker()
    cluster.start_worker(1, None, None, "bounded", "--job-max-processes", "30")
    cluster.wait_workers(1)
    tar = root_tar(tmp_path)
    bomb = "i=0; while [ $i -lt 200 ]; do sleep 30 & i=$((i+1)); echo $i; done"

    def run_job(**fields):
        spec = {"layers": [{"tar": str(tar)}], "program": "sh", "environment": {"PATH": "/bin"},
                "arguments": ["-c", bomb], **fields}
        (tmp_path / "jobs.json").write_text(json.dumps(spec))
        r = subprocess.run([bin_path("maelstrom-run"), "--broker", cluster.address, "--file",
                            str(tmp_path / "jobs.json"), "--cache-root", str(tmp_path / "client-cache")],
                           capture_output=True, text=True, timeout=120, env=cluster.env(), cwd=tmp_path)
        assert "can't fork" in r.stderr, r.stderr
        return int(r.stdout.split()[-1])

    assert 20 <= run_job() <= 29
    assert 20 <= run_job(max_processes=500) <= 29  # asking for more changes nothing
    assert 10 <= run_job(max_processes=15) <= 14
    assert cluster.status()["completed"] == 3  # they ran on the worker
