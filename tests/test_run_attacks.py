"""Hostile jobs against the runtime's boundary, through maelstrom-run, run as
root and as an unprivileged user: each attack must end refused (see
docs/security.md). Attacks that touch host settings only ever write back the
value they read, so a run can never change this machine, even if a check fails."""
import os
import json
import signal
import subprocess
import time

import pytest

from testlib import as_user, bin_path, busybox_layers, busybox_root_tar, host_processes, job, processes_left

PROC = {"type": "proc", "mount_point": "/proc"}
SYS = {"type": "sys", "mount_point": "/sys"}


def test_job_cannot_write_host_sysctls(any_runner):
    # The reported attack: uncover /proc/sys, then point core_pattern at a
    # file of the job's (here: write back what is there) to run it as host root.
    script = ("umount /proc/sys && echo UNCOVERED; "
              "for f in kernel/core_pattern vm/swappiness; do v=$(cat /proc/sys/$f); "
              "(echo \"$v\" > /proc/sys/$f) && echo WROTE $f; done; echo done")
    layers = busybox_layers() + [{"symlinks": [{"link": "/bin/umount", "target": "busybox"}]}]
    for network in ("disabled", "loopback", "local"):
        r = any_runner.run([job("sh", "-c", script, mounts=[PROC], network=network, layers=layers)])
        assert r.returncode == 0, r.stderr
        assert r.stdout == "done\n", (network, r.stdout)


def test_job_cannot_write_host_sysfs(any_runner):
    knob = "/sys/kernel/mm/transparent_hugepage/defrag"
    if not os.path.exists(knob):
        pytest.skip(f"{knob} missing")
    script = (f"v=$(sed 's/.*\\[\\(.*\\)\\].*/\\1/' {knob}); (echo $v > {knob}) && echo WROTE; echo done")
    layers = busybox_layers() + [{"symlinks": [{"link": "/bin/sed", "target": "busybox"}]}]
    for network in ("disabled", "loopback"):
        r = any_runner.run([job("sh", "-c", script, mounts=[SYS], network=network, layers=layers)])
        assert r.returncode == 0, r.stderr
        assert r.stdout == "done\n", (network, r.stdout)


def test_job_cannot_change_host_devices(any_runner):
    before = os.stat("/dev/zero")
    layers = busybox_layers() + [{"symlinks": [{"link": "/bin/chmod", "target": "busybox"},
                                               {"link": "/bin/chown", "target": "busybox"}]}]
    r = any_runner.run([job("sh", "-c", "chmod 666 /dev/zero && echo CHMOD; "
                            "chown 0:0 /dev/null && echo CHOWN; echo done",
                            mounts=[{"type": "devices", "devices": ["zero", "null"]}], layers=layers)])
    assert r.returncode == 0, r.stderr
    assert r.stdout == "done\n"
    after = os.stat("/dev/zero")
    assert (after.st_mode, after.st_ctime_ns) == (before.st_mode, before.st_ctime_ns)


def test_cached_layer_cannot_be_made_writable(any_runner):
    # The reported attack: a job whose root is a single layer remounts it
    # read-write and changes the cached tree every later job sees.
    tar = busybox_root_tar(any_runner.tmp / "root.tar")
    attack = ("mount -o remount,rw /; mount -o remount,bind,rw /; "
              "mkdir -p /tmp/b; mount --bind / /tmp/b && mount -o remount,bind,rw /tmp/b; "
              "echo poisoned > /bin/busybox-note; echo poisoned > /tmp/b/bin/busybox-note; "
              "echo done")
    check = "cat /bin/busybox-note || echo clean"
    layers = [{"tar": str(tar)}]
    r = any_runner.run([job("sh", "-c", attack, layers=layers, mounts=[PROC, {"type": "tmp", "mount_point": "/tmp"}]),
                        job("sh", "-c", check, layers=layers)], "--slots", "1")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["done", "clean"]
    # Nor did anything change in the cache on disk.
    cache = any_runner.home / ".cache"
    assert not [p for p in cache.rglob("busybox-note")]


def test_abort_ends_the_job_with_sigabrt(any_runner, aborter):
    # As its namespace's init the job would not die of a signal it has no
    # handler for: abort() then ended in SIGSEGV.
    r = any_runner.run([job("/aborter", layers=[{"paths": [str(aborter)], "strip_prefix": str(aborter.parent)}])], "--one")
    assert r.returncode == -signal.SIGABRT, (r.returncode, r.stderr)


def test_fork_bomb_stops_at_the_process_limit(any_runner):
    r = any_runner.run([job("sh", "-c", "i=0; while [ $i -lt 200 ]; do sleep 30 & i=$((i+1)); echo $i; done")],
                       "--job-max-processes", "40")
    assert r.returncode != 0
    assert "can't fork" in r.stderr
    started = int(r.stdout.split()[-1])
    assert 30 <= started <= 39  # with the shell itself, 40 processes at most


def test_a_job_may_lower_its_limits_never_raise_them(any_runner):
    bomb = "i=0; while [ $i -lt 200 ]; do sleep 30 & i=$((i+1)); echo $i; done"
    r = any_runner.run([job("sh", "-c", bomb, max_processes=25)])
    assert "can't fork" in r.stderr
    assert 15 <= int(r.stdout.split()[-1]) <= 24
    r = any_runner.run([job("sh", "-c", bomb, max_processes=500)], "--job-max-processes", "30")
    assert "can't fork" in r.stderr
    assert 20 <= int(r.stdout.split()[-1]) <= 29


def test_tmpfs_size_is_bounded(any_runner):
    r = any_runner.run([job("sh", "-c", "dd if=/dev/zero of=/tmp/f bs=64k count=64 2>&1 | grep -c 'No space'; "
                            "dd if=/dev/zero of=/f bs=64k count=64 2>&1 | grep -c 'No space'",
                            mounts=[{"type": "tmp", "mount_point": "/tmp"},
                                    {"type": "devices", "devices": ["zero"]}],
                            enable_writable_file_system=True)],
                       "--job-max-tmpfs-size", "1MiB")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["1", "1"]


def test_memory_is_bounded_where_a_cgroup_can_be_had(runner):
    if os.geteuid() != 0:
        pytest.skip("memory limits need a cgroup: root here")
    devices = {"type": "devices", "devices": ["zero", "null"]}
    r = runner.run([job("dd", "if=/dev/zero", "of=/dev/null", "bs=128M", "count=1", mounts=[devices])],
                   "--job-max-memory", "32MiB")
    assert r.returncode != 0
    assert "reached its memory limit (33554432 bytes)" in r.stderr
    r = runner.run([job("dd", "if=/dev/zero", "of=/dev/null", "bs=16M", "count=1", mounts=[devices])],
                   "--job-max-memory", "256MiB")
    assert r.returncode == 0, r.stderr


def test_job_cannot_outlive_a_killed_maelstrom_run(any_runner, orphan):
    marker = f"orphan-{os.getpid()}-{time.monotonic_ns()}"
    f = any_runner.tmp / "jobs.json"
    f.write_text(json.dumps(job("/orphan", marker, layers=[{"paths": [str(orphan)], "strip_prefix": str(orphan.parent)}])))
    if any_runner.as_user is not None:
        os.chown(f, any_runner.as_user, any_runner.as_user)
    cmd = [bin_path("maelstrom-run"), "--file", str(f)]
    if any_runner.as_user is not None:
        cmd = as_user(any_runner.as_user, cmd)
    p = subprocess.Popen(cmd, env=any_runner.env(), cwd=any_runner.tmp, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while not host_processes(marker):
            assert time.monotonic() < deadline, "the job did not start"
            assert p.poll() is None, p.stderr.read()
            time.sleep(0.05)
        p.kill()
        p.wait()
        assert not processes_left(marker), "the job outlived maelstrom-run"
    finally:
        if p.poll() is None:
            p.kill()
