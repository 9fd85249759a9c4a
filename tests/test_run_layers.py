"""maelstrom-run end to end: every layer kind and the prefix options."""
import os
import shutil
import subprocess
import tarfile

from testlib import BUSYBOX, busybox_layers, job


def base():
    return busybox_layers()


def test_tar_layer(runner):
    src = runner.tmp / "tree"
    (src / "data").mkdir(parents=True)
    (src / "data" / "hello.txt").write_text("from a tar\n")
    with tarfile.open(runner.tmp / "layer.tar", "w") as t:
        t.add(src / "data", arcname="data")
    r = runner.run([job("cat", "/data/hello.txt", layers=base() + [{"tar": "layer.tar"}])])
    assert r.returncode == 0, r.stderr
    assert r.stdout == "from a tar\n"


def test_a_layer_named_twice_is_one_layer_with_the_precedence_of_its_top_use(runner):
    # Two globs matching nothing are the same (empty) layer; the same tar twice, around another
    # that changes one of its files: the top copy wins. Overlay refuses a directory given twice.
    for name, text in (("a", "from a\n"), ("b", "from b\n")):
        p = runner.tmp / name / "f"
        p.parent.mkdir(parents=True)
        p.write_text(text)
        with tarfile.open(runner.tmp / f"{name}.tar", "w") as t:
            t.add(p, arcname="f")
    empty = [{"glob": "nothing-here/**"}, {"glob": "nor-here/**"}]
    layers = base() + empty + [{"tar": "a.tar"}, {"tar": "b.tar"}, {"tar": "a.tar"}]
    r = runner.run([job("cat", "/f", layers=layers)])
    assert r.returncode == 0, r.stderr
    assert r.stdout == "from a\n"
    r = runner.run([job("cat", "/f", layers=base() + [{"tar": "b.tar"}, {"tar": "a.tar"}, {"tar": "b.tar"}])])
    assert r.returncode == 0 and r.stdout == "from b\n", r.stderr


def test_tar_layer_whiteout_hides_lower_file(runner):
    for name, files in (("lower", {"d/keep": "k", "d/gone": "g"}), ("upper", {"d/.wh.gone": ""})):
        with tarfile.open(runner.tmp / f"{name}.tar", "w") as t:
            for path, text in files.items():
                p = runner.tmp / name / path
                p.parent.mkdir(parents=True, exist_ok=True)
                p.write_text(text)
                t.add(p, arcname=path)
    r = runner.run([job("ls", "/d", layers=base() + [{"tar": "lower.tar"}, {"tar": "upper.tar"}])])
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["keep"]


def test_glob_layer_with_prefix_options(runner):
    proj = runner.tmp
    (proj / "src" / "sub").mkdir(parents=True)
    (proj / "src" / "a.txt").write_text("A")
    (proj / "src" / "sub" / "b.txt").write_text("B")
    (proj / "src" / "c.bin").write_text("C")
    layer = {"glob": "src/**/*.txt", "strip_prefix": "src/", "prepend_prefix": "/data/"}
    r = runner.run([job("sh", "-c", "cd /data && find . -type f | sort", layers=base() + [layer])])
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["./a.txt", "./sub/b.txt"]


def test_glob_layer_double_star_inside_a_component_as_maelstrom(runner):
    """Maelstrom's glob rules: `**.py` is `*.py`, and `*` crosses `/`: every .py file at any depth."""
    proj = runner.tmp
    (proj / "pkg" / "sub").mkdir(parents=True)
    for f in ("top.py", "pkg/a.py", "pkg/sub/b.pyi", "pkg/sub/c.txt"):
        (proj / f).write_text("x")
    layer = {"glob": "pkg/**.{py,pyi}", "prepend_prefix": "/data/"}
    r = runner.run([job("sh", "-c", "cd /data && find . -type f | sort", layers=base() + [layer])])
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["./pkg/a.py", "./pkg/sub/b.pyi"]


def test_paths_layer_file_dir_and_symlink(runner):
    proj = runner.tmp
    (proj / "f.txt").write_text("file\n")
    (proj / "dir").mkdir()
    (proj / "dir" / "inner").write_text("not included")
    os.symlink("f.txt", proj / "link")
    layers = base() + [{"paths": ["f.txt", "dir", "link"]}]
    r = runner.run([job("sh", "-c", "cat /f.txt; ls -A /dir | wc -l; readlink /link", layers=layers)])
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["file", "0", "f.txt"]
    followed = base() + [{"paths": ["link"], "follow_symlinks": True}]
    r = runner.run([job("sh", "-c", "test -L /link || cat /link", layers=followed)])
    assert r.stdout == "file\n"


def test_paths_layer_canonicalize(runner):
    (runner.tmp / "x.txt").write_text("canon\n")
    layers = base() + [{"paths": ["x.txt"], "canonicalize": True}]
    r = runner.run([job("cat", str(runner.tmp.resolve() / "x.txt"), layers=layers)])
    assert r.returncode == 0, r.stderr
    assert r.stdout == "canon\n"


def test_stubs_layer_brace_expansion(runner):
    layers = base() + [{"stubs": ["/s/{a,b}/{x,y}", "/s/dir{1,2}/"]}]
    r = runner.run([job("sh", "-c", "cd /s && find . | sort", layers=layers)])
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == [".", "./a", "./a/x", "./a/y", "./b", "./b/x", "./b/y", "./dir1", "./dir2"]
    r = runner.run([job("sh", "-c", "test -d /s/dir1 && test -f /s/a/x && echo ok", layers=layers)])
    assert r.stdout == "ok\n"


def test_symlinks_layer(runner):
    layers = base() + [{"symlinks": [{"link": "/usr/local/bin/hello", "target": "/bin/busybox"}]}]
    r = runner.run([job("readlink", "/usr/local/bin/hello", layers=layers)])
    assert r.stdout == "/bin/busybox\n"


def test_shared_library_dependencies_layer_runs_a_dynamic_binary(runner):
    ls = shutil.which("ls")
    layers = [{"paths": [ls]}, {"shared_library_dependencies": [ls]}]
    r = runner.run([{"layers": layers, "program": ls, "arguments": ["/"]}])
    assert r.returncode == 0, r.stderr
    listed = r.stdout.split()
    assert "lib" in listed or "usr" in listed


def test_shared_library_dependencies_layer_without_them_fails(runner):
    ls = shutil.which("ls")
    r = runner.run([{"layers": [{"paths": [ls]}], "program": ls}])
    assert r.returncode != 0




def test_command_layer_output_tar_becomes_a_layer(runner):
    src = runner.tmp / "generated"
    src.mkdir()
    (src / "made-by-command.txt").write_text("generated\n")
    layer = {"command": ["tar", "-C", str(src), "-cf", "-", "."]}
    r = runner.run([job("cat", "/made-by-command.txt", layers=base() + [layer])])
    assert r.returncode == 0, r.stderr
    assert r.stdout == "generated\n"


def test_command_layer_failure_is_reported(runner):
    r = runner.run([job("true", layers=base() + [{"command": ["sh", "-c", "echo broken >&2; exit 3"]}])])
    assert r.returncode != 0
    assert "command layer" in r.stderr and "broken" in r.stderr


def test_cache_smaller_than_a_jobs_layers_still_runs_every_job(runner):
    # Each job's layers are pinned from their building until the job ends, so a cache that holds
    # each layer (a layer may not expand past the cache size) but not a job's layers together
    # runs jobs with several layers, several at a time.
    for name in ("one", "two"):
        (runner.tmp / name).mkdir()
        (runner.tmp / name / f"{name}.txt").write_text(name + "\n")
    layers = base() + [{"paths": ["one/one.txt"]}, {"paths": ["two/two.txt"]}]
    jobs = [job("sh", "-c", f"cat /one/one.txt /two/two.txt; echo {i}", layers=layers) for i in range(6)]
    r = runner.run(jobs, "--cache-size", "3 MB", "--slots", "3")
    assert r.returncode == 0, r.stderr
    assert sorted(r.stdout.split()) == sorted(["one", "two"] * 6 + [str(i) for i in range(6)])
    cache = runner.home / ".cache/maelstrom/run/artifacts"
    # Busybox's blob and tree alone are 4 MB: afterwards the cache is back under its bound.
    kept = sum(p.stat().st_size for p in (cache / "blobs").iterdir())
    kept += sum(p.lstat().st_blocks * 512 for p in (cache / "trees").rglob("*"))
    assert kept <= 3_000_000

def test_layer_files_are_the_jobs_own(any_runner):
    # Whoever runs us (as root: the jobs run as an unprivileged host id), the
    # job owns its layers' files, as an image's root owns its own: it reads a
    # root-only file and, with a writable root, writes in the image's dirs.
    t = any_runner.tmp / "etc.tar"
    with tarfile.open(t, "w") as tar:
        d = tarfile.TarInfo("etc")
        d.type, d.mode = tarfile.DIRTYPE, 0o755
        tar.addfile(d)
        secret = b"root only\n"
        f = tarfile.TarInfo("etc/secret")
        f.size, f.mode = len(secret), 0o600
        import io
        tar.addfile(f, io.BytesIO(secret))
    os.chmod(t, 0o644)
    if any_runner.as_user is not None:
        os.chown(t, any_runner.as_user, any_runner.as_user)
    layers = busybox_layers() + [{"tar": str(t)}]
    r = any_runner.run([job("sh", "-c", "cat /etc/secret; stat -c %u:%g /etc/secret; echo new > /etc/new && cat /etc/new",
                            layers=layers, enable_writable_file_system=True)])
    assert r.returncode == 0, r.stderr
    assert r.stdout == "root only\n0:0\nnew\n"
