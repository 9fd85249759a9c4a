"""maelstrom-run against hostile layer tars and a busy cache: what an archive can do to the
artifact store (docs/security.md, "The artifact store and layers"). Each test runs as root and
as an unprivileged user where the store behaves differently for them."""
import io
import json
import os
import select
import shutil
import subprocess
import tarfile
import time

import pytest

from testlib import BUSYBOX, as_user, bin_path, busybox_layers, job

DEEP = "d/" * 3000  # 6,000 characters: past PATH_MAX, in a 10 KB tar


def artifacts(runner):
    return runner.home / ".cache" / "maelstrom" / "run" / "artifacts"


def give(runner, *paths):
    if runner.as_user is not None:
        for p in paths:
            shutil.chown(p, runner.as_user, runner.as_user)


def write_tar(path, entries):
    """entries: (name, bytes) files; written as a pax tar (names of any length)."""
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as t:
        for name, data in entries:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))


class Zeros(io.RawIOBase):
    """n zero bytes, read without ever holding them."""

    def __init__(self, n):
        self.left = n

    def readable(self):
        return True

    def readinto(self, b):
        k = min(len(b), self.left)
        b[:k] = bytes(k)
        self.left -= k
        return k


def zstd_bomb(path, entries):
    """A zstd tar whose entries ((name, size) files of zeros) expand far beyond the file: the tar
    stream goes through the zstd CLI, never onto the disk."""
    z = subprocess.Popen(["zstd", "-q", "-19", "-o", str(path)], stdin=subprocess.PIPE)
    with tarfile.open(fileobj=z.stdin, mode="w|", format=tarfile.PAX_FORMAT) as t:
        for name, size in entries:
            info = tarfile.TarInfo(name)
            info.size = size
            t.addfile(info, Zeros(size))
    z.stdin.close()
    assert z.wait() == 0


def disk_usage(path):
    total = 0
    for root, dirs, files in os.walk(path):
        for n in dirs + files:
            total += os.lstat(os.path.join(root, n)).st_blocks * 512
    return total


def short_lines(text):
    """No line of a message quotes a hostile name whole."""
    return all(len(line) < 600 for line in text.splitlines())


def test_deep_names_extract_evict_and_reopen(any_runner):
    r = any_runner
    write_tar(r.tmp / "deep.tar", [(DEEP + "f", b"deep\n")])
    give(r, r.tmp / "deep.tar")
    assert (r.tmp / "deep.tar").stat().st_size <= 12 * 1024
    spec = [job("echo", "ran", layers=busybox_layers() + [{"tar": "deep.tar"}])]
    try:
        first = r.run(spec)
        assert first.returncode == 0, first.stderr[:2000]
        assert first.stdout == "ran\n"
        # A cache size of one byte evicts every tree, the deep one included.
        evict = r.run(None, "--cache-size", "1")
        assert evict.returncode == 0, evict.stderr[:2000]
        assert short_lines(evict.stderr)
        assert not any((artifacts(r) / "trees").iterdir())
        assert not any((artifacts(r) / "tmp").iterdir())
        # And the cache still opens, extracts it again and runs the job.
        again = r.run(spec)
        assert again.returncode == 0, again.stderr[:2000]
        assert again.stdout == "ran\n"
    finally:
        r.run(None, "--cache-size", "1")  # no deep tree for the temporary directory's removal


def test_store_opens_past_an_entry_it_cannot_remove(nobody_tmp):
    from testlib import NOBODY, Runner

    r = Runner(nobody_tmp, as_user=NOBODY)
    ok = r.run([job("true")])
    assert ok.returncode == 0, ok.stderr
    # A leftover in tmp/ that this user cannot remove (root's, in root's directory).
    stuck = artifacts(r) / "tmp" / "leftover"
    stuck.mkdir()
    (stuck / "file").write_text("x")
    again = r.run([job("echo", "still works")])
    assert again.returncode == 0, again.stderr
    assert again.stdout == "still works\n"
    warnings = [line for line in again.stderr.splitlines() if "left in place" in line]
    assert len(warnings) == 1, again.stderr
    assert "unlink leftover/file: Permission denied" in warnings[0], warnings[0]


def test_zstd_bomb_is_refused_naming_the_file_and_the_job_line(any_runner):
    r = any_runner
    zstd_bomb(r.tmp / "bomb.tar.zst", [("zeros", 256 << 20)])
    give(r, r.tmp / "bomb.tar.zst")
    assert (r.tmp / "bomb.tar.zst").stat().st_size < 64 * 1024
    res = r.run([job("true"), job("true", layers=busybox_layers() + [{"tar": "bomb.tar.zst"}])],
                "--cache-size", "20 MB")
    assert res.returncode == 1
    assert ("jobs.json: line 2: tar layer bomb.tar.zst expands to more than 20 MB "
            "(the cache size; raise --cache-size); refused") in res.stderr, res.stderr
    assert disk_usage(r.home) < 20 << 20
    assert not any((artifacts(r) / "tmp").iterdir())


def test_millions_of_empty_files_are_bounded_too(runner):
    # Each entry takes at least a block: 20,000 empty files are 80 MB of a 20 MB cache.
    zstd_bomb(runner.tmp / "inodes.tar.zst", [(f"e/{i}", 0) for i in range(20000)])
    res = runner.run([job("true", layers=busybox_layers() + [{"tar": "inodes.tar.zst"}])],
                     "--cache-size", "20 MB")
    assert res.returncode == 1
    assert "tar layer inodes.tar.zst expands to more than 20 MB" in res.stderr, res.stderr
    assert disk_usage(runner.home) < 20 << 20


def test_bound_passed_while_extracting_names_the_layer_and_the_job_line(any_runner):
    # One entry whose name makes 3,000 directories: the tar says little, its extraction is
    # counted as it goes and stopped at the bound, and nothing of it stays.
    r = any_runner
    write_tar(r.tmp / "deep.tar", [(DEEP + "f", b"x")])
    give(r, r.tmp / "deep.tar")
    res = r.run([job("true", layers=busybox_layers() + [{"tar": "deep.tar"}])], "--cache-size", "10 MB")
    assert res.returncode == 1
    lines = [line for line in res.stderr.splitlines() if "deep.tar" in line]
    assert len(lines) == 1, res.stderr[:2000]
    assert lines[0].startswith(f"{r.tmp / 'jobs.json'}: line 1: job ")
    assert "tar layer deep.tar (sha256:" in lines[0]
    assert lines[0].endswith("expands to more than 10 MB (the cache size; raise --cache-size); refused")
    assert not any((artifacts(r) / "tmp").iterdir())
    assert disk_usage(artifacts(r) / "trees") < 10 << 20


def test_lz4_tar_layer(runner):
    src = runner.tmp / "tree"
    (src / "data").mkdir(parents=True)
    (src / "data" / "hello.txt").write_text("from lz4\n")
    with tarfile.open(runner.tmp / "layer.tar", "w") as t:
        t.add(src / "data", arcname="data")
    subprocess.run(["lz4", "-q", str(runner.tmp / "layer.tar"), str(runner.tmp / "layer.tar.lz4")], check=True)
    r = runner.run([job("cat", "/data/hello.txt", layers=busybox_layers() + [{"tar": "layer.tar.lz4"}])])
    assert r.returncode == 0, r.stderr
    assert r.stdout == "from lz4\n"


def test_cache_directories_are_private(any_runner):
    r = any_runner
    res = r.run([job("true")])
    assert res.returncode == 0, res.stderr
    for d in ("", "blobs", "trees", "memo", "tmp"):
        st = (artifacts(r) / d).stat()
        assert st.st_mode & 0o777 == 0o700, d
        assert st.st_uid == (r.as_user if r.as_user is not None else 0)
    # The trees belong to whom jobs run as: run as root, an unprivileged host id
    # (job-host-uid, default 65534), never root.
    uid = r.as_user if r.as_user is not None else 65534
    assert (artifacts(r) / "owner").read_text() == f"{uid}:{uid}\n"
    trees = [t for t in (artifacts(r) / "trees").iterdir() if t.is_dir()]
    assert trees and all((t / "root").stat().st_uid == uid for t in trees)


def lock_is_held(lock_file):
    return subprocess.run(["flock", "-n", str(lock_file), "true"]).returncode != 0


def test_second_run_waits_for_the_cache_then_runs(any_runner):
    r = any_runner
    gate = r.tmp / "gate"
    gate.mkdir()
    give(r, gate)
    # The first run holds the cache until the test opens the gate.
    holder_spec = job("sh", "-c", "while [ ! -e /gate/open ]; do sleep 0.05; done; echo first",
                      layers=busybox_layers() + [{"stubs": ["/gate/"]}],
                      mounts=[{"type": "bind", "mount_point": "/gate", "local_path": str(gate)}])
    (r.tmp / "holder.json").write_text(json.dumps(holder_spec))
    (r.tmp / "second.json").write_text(json.dumps(job("echo", "second")))
    give(r, r.tmp / "holder.json", r.tmp / "second.json")

    def start(jobs_file, env=None):
        cmd = [bin_path("maelstrom-run"), "--file", str(r.tmp / jobs_file)]
        if r.as_user is not None:
            cmd = as_user(r.as_user, cmd)
        return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=r.env(env), cwd=r.tmp)

    holder = start("holder.json")
    try:
        lock = artifacts(r) / "lock"
        for _ in range(600):
            if lock.exists() and lock_is_held(lock):
                break
            assert holder.poll() is None, holder.stderr.read()
            time.sleep(0.05)
        else:
            pytest.fail("the first run never took the cache")
        # Told to fail at once, the second run does.
        refused = start("second.json", {"MAELSTROM_RUN_CACHE_LOCK_WAIT": "false"})
        out, err = refused.communicate(timeout=60)
        assert refused.returncode == 1
        assert "is in use by another process" in err, err
        # By default it waits, says so once, and runs when the first is done.
        second = start("second.json")
        assert select.select([second.stderr], [], [], 60)[0], "no notice from the waiting run"
        notice = second.stderr.readline()
        assert notice.strip() == (f"info: Blocking waiting for file lock on the cache directory "
                                  f"{artifacts(r).parent}"), notice
        assert holder.poll() is None  # the first run still holds it
        (gate / "open").write_text("")
        out, err = second.communicate(timeout=60)
        assert second.returncode == 0, err
        assert out == "second\n"
        assert err == ""
        hout, herr = holder.communicate(timeout=60)
        assert holder.returncode == 0, herr
        assert hout == "first\n"
    finally:
        for p in (holder,):
            if p.poll() is None:
                p.kill()
                p.wait()


def test_worker_refuses_a_layer_over_its_cache_and_the_client_names_it(tmp_path):
    # The worker's own bound applies to what peers send it; its error names only a digest, which
    # the client turns back into the layer's file, with the job's line.
    import sys
    sys.path.insert(0, str(os.path.join(os.path.dirname(__file__), "cluster")))
    from cluster_util import Cluster

    from testlib import Runner

    cluster = Cluster(tmp_path / "cluster")
    (tmp_path / "cluster").mkdir()
    try:
        cluster.start_broker()
        cluster.start_worker(1, None, None, None, "--cache-size", "10 MB")
        cluster.wait_workers(1)
        r = Runner(tmp_path / "client")
        write_tar(r.tmp / "deep.tar", [(DEEP + "f", b"x")])
        res = r.run([job("true", layers=busybox_layers() + [{"tar": "deep.tar"}])], "--broker", cluster.address)
        assert res.returncode == 1
        lines = [line for line in res.stderr.splitlines() if "deep.tar" in line]
        assert len(lines) == 1, res.stderr[:2000]
        assert lines[0].startswith(f"{r.tmp / 'jobs.json'}: line 1: job "), lines[0]
        assert "tar layer deep.tar (sha256:" in lines[0]
        assert lines[0].endswith("expands to more than 10 MB (the cache size; raise --cache-size); refused")
        worker_tmp = tmp_path / "cluster" / "worker1" / "artifacts" / "tmp"
        assert not any(worker_tmp.iterdir())
    finally:
        cluster.close()
