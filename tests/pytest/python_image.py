"""A Python image made from this machine's Debian packages (Docker Hub is out of reach): the
files of python3.11, pip and their Python dependencies, the shared libraries the interpreter,
its extension modules and /bin/sh need, merged-/usr symlinks, and /usr/local/bin/python as
Python images have it. pip's "externally managed" marker is left out, as in python images."""
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "images"))
import registry  # noqa: E402

PACKAGES = ["python3.11-minimal", "libpython3.11-minimal", "libpython3.11-stdlib", "python3-minimal", "python3",
            "python3.11", "libpython3-stdlib", "python3-pip", "python3-pkg-resources", "python3-setuptools",
            "python3-wheel", "python3-distutils", "python3-lib2to3", "dash"]
LEFT_OUT = ("/usr/share/doc/", "/usr/share/man/", "/usr/share/lintian/", "/usr/lib/python3.11/EXTERNALLY-MANAGED")


def _canonical(path):
    """The path with its directories resolved (/bin/sh -> /usr/bin/sh), the file itself not."""
    return os.path.join(os.path.realpath(os.path.dirname(path)), os.path.basename(path))


def _libraries(binaries):
    libs = set()
    for b in binaries:
        r = subprocess.run(["ldd", b], capture_output=True, text=True)
        for line in r.stdout.splitlines():
            parts = line.split()
            if "=>" in parts and len(parts) >= 3 and parts[2].startswith("/"):
                libs.add(parts[2])
            elif parts and parts[0].startswith("/"):
                libs.add(parts[0])
    return libs


def python_files():
    paths = set()
    for pkg in PACKAGES:
        r = subprocess.run(["dpkg", "-L", pkg], capture_output=True, text=True)
        assert r.returncode == 0, f"dpkg -L {pkg}: {r.stderr} (scripts/setup.sh installs python3-pip)"
        for p in r.stdout.splitlines():
            if os.path.lexists(p) and not os.path.isdir(p) and not p.startswith(LEFT_OUT):
                paths.add(p)
    dynload = "/usr/lib/python3.11/lib-dynload"
    binaries = ["/usr/bin/python3.11", "/usr/bin/dash"] + [os.path.join(dynload, f) for f in os.listdir(dynload)]
    paths |= _libraries(binaries)
    return paths


def entries():
    out, dirs = {}, set()

    def add_dirs(path):
        d = os.path.dirname(path)
        while d and d not in dirs:
            dirs.add(d)
            d = os.path.dirname(d)

    todo = list(python_files())
    while todo:
        p = _canonical(todo.pop())
        rel = p.lstrip("/")
        if rel in out:
            continue
        if os.path.islink(p):
            target = os.readlink(p)
            out[rel] = ("symlink", target)
            todo.append(os.path.join(os.path.dirname(p), target) if not target.startswith("/") else target)
        elif os.path.isfile(p):
            with open(p, "rb") as f:
                out[rel] = ("exec" if os.access(p, os.X_OK) else "file", f.read())
        else:
            continue
        add_dirs(rel)
    listed = [(d, "dir", None) for d in sorted(dirs)]
    listed += [("tmp", "dir", None), ("dev", "dir", None), ("etc", "dir", None),
               ("bin", "symlink", "usr/bin"), ("lib", "symlink", "usr/lib"), ("lib64", "symlink", "usr/lib64"),
               ("usr/local/bin/python", "symlink", "/usr/bin/python3.11")]
    if "usr/local/bin" not in dirs:
        listed.insert(0, ("usr/local/bin", "dir", None))
        listed.insert(0, ("usr/local", "dir", None))
    listed += [(rel, kind, payload) for rel, (kind, payload) in sorted(out.items()) if not rel.startswith(("bin/", "lib/", "lib64/"))]
    return listed


def build(out, ref="3.11"):
    """An OCI layout at out holding the image as ref; returns its manifest digest."""
    layout = registry.Layout(out)
    tar = registry.make_tar(entries())
    desc = registry.add_image(layout, [(tar, "none")], ["PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8"], "/",
                              registry.native_platform())
    return registry._finish(layout, desc, ref)
