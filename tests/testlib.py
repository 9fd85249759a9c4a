"""Helpers shared by the end-to-end tests: they run the built binaries.

MAEL_BIN_DIR names the directory holding maelstrom-run and friends (the
Makefile sets it to <build>/bin)."""
import json
import os
import pathlib
import select
import shutil
import subprocess
import tempfile

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
BIN_DIR = pathlib.Path(os.environ.get("MAEL_BIN_DIR", ROOT / "build" / "bin"))
BUSYBOX = "/bin/busybox"
NOBODY = 65534


def as_user(uid, cmd):
    """cmd run as that uid and gid, without supplementary groups (from root)."""
    return ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups"] + list(cmd)


def bin_path(name):
    p = BIN_DIR / name
    if not p.exists():
        pytest.fail(f"{p} is not built; run the build first or set MAEL_BIN_DIR")
    return str(p)


def busybox_layers(applets=("sh", "echo", "cat", "ls", "id", "sleep", "true", "false", "ps", "hostname",
                            "env", "pwd", "touch", "mkdir", "wc", "head", "yes", "kill", "stat", "nc",
                            "ip", "ifconfig", "mount", "grep", "dd", "seq", "readlink", "test", "find", "sort", "cut",
                            "tr", "tail", "xargs", "setsid", "uname")):
    """Layers for a container whose root is a static busybox."""
    return [
        {"paths": [BUSYBOX]},
        {"symlinks": [{"link": f"/bin/{a}", "target": "busybox"} for a in applets]},
        {"stubs": ["/proc/", "/sys/", "/tmp/", "/dev/{full,fuse,null,random,tty,urandom,zero}",
                   "/dev/shm/", "/dev/pts/", "/dev/mqueue/", "/mnt/"]},
    ]


def busybox_root_tar(path, applets=("sh", "mount", "umount", "echo", "cat", "touch", "mkdir", "ls", "chmod",
                                    "chown", "sleep", "kill"),
                     dirs=("proc", "sys", "tmp", "mnt", "dev"), stubs=("dev/null", "dev/zero"), programs=()):
    """One tar holding a whole busybox root (so the job's root is that one
    cached tree, bound read-only rather than overlaid), plus `programs`
    (host files) at the root. Readable by anyone."""
    import tarfile
    with tarfile.open(path, "w") as tar:
        for src, name in [(BUSYBOX, "bin/busybox")] + [(str(p), pathlib.Path(p).name) for p in programs]:
            info = tar.gettarinfo(src, arcname=name)
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            with open(src, "rb") as f:
                tar.addfile(info, f)
        for d in dirs:
            ti = tarfile.TarInfo(d)
            ti.type = tarfile.DIRTYPE
            ti.mode = 0o755
            tar.addfile(ti)
        for s in stubs:
            tar.addfile(tarfile.TarInfo(s))
        for a in applets:
            ti = tarfile.TarInfo(f"bin/{a}")
            ti.type = tarfile.SYMTYPE
            ti.linkname = "busybox"
            tar.addfile(ti)
    os.chmod(path, 0o644)
    return path


def c_program(directory, name, source):
    """A static executable built from C source (gcc is part of the build tools)."""
    directory = pathlib.Path(directory)
    (directory / f"{name}.c").write_text(source)
    out = directory / name
    subprocess.run(["gcc", "-static", "-O1", "-o", str(out), str(directory / f"{name}.c")], check=True)
    return out


ABORTER_C = "#include <stdlib.h>\nint main(void) { abort(); }\n"
# Clears its parent-death signal, says so, then waits; its argv carries a marker.
ORPHAN_C = """
#include <sys/prctl.h>
#include <unistd.h>
#include <stdio.h>
int main(int argc, char** argv) {
  prctl(PR_SET_PDEATHSIG, 0);
  printf("started\\n");
  fflush(stdout);
  for (;;) pause();
}
"""


def host_processes(marker):
    """PIDs of host processes whose command line contains marker (a unique string)."""
    pids = []
    for d in pathlib.Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if marker in cmd and "pytest" not in cmd:
            pids.append(int(d.name))
    return pids


def processes_left(marker, timeout=10.0):
    """Waits up to timeout for every host process with marker to go; kills and
    returns those still there (a test asserts the list is empty)."""
    import signal
    import time
    deadline = time.monotonic() + timeout
    while host_processes(marker) and time.monotonic() < deadline:
        time.sleep(0.05)
    left = host_processes(marker)
    for pid in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return left


def job(program, *args, **fields):
    spec = {"layers": busybox_layers(), "environment": {"PATH": "/bin"}, "program": program,
            "arguments": list(args)}
    spec.update(fields)
    return spec


class Runner:
    """Runs maelstrom-run with its own cache, config and HOME under tmp."""

    def __init__(self, tmp, as_user=None):
        self.tmp = tmp
        self.as_user = as_user
        self.home = tmp / "home"
        self.home.mkdir(parents=True, exist_ok=True)
        if as_user is not None:
            shutil.chown(tmp, as_user, as_user)
            shutil.chown(self.home, as_user, as_user)

    def env(self, extra=None):
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MAELSTROM_", "XDG_"))}
        env.update({"HOME": str(self.home), "XDG_CACHE_HOME": str(self.home / ".cache"),
                    "XDG_CONFIG_HOME": str(self.home / ".config"), "XDG_STATE_HOME": str(self.home / ".state")})
        env.update(extra or {})
        return env

    def run(self, jobs, *args, stdin_text=None, env=None, timeout=120, cwd=None, binary="maelstrom-run"):
        """jobs: a list of dicts written as a JSON stream to a file (or None to pass stdin_text)."""
        cmd = [bin_path(binary)]
        if jobs is not None:
            f = self.tmp / "jobs.json"
            f.write_text("\n".join(json.dumps(j) for j in jobs))
            if self.as_user is not None:
                shutil.chown(f, self.as_user, self.as_user)
            cmd += ["--file", str(f)]
        cmd += list(args)
        if self.as_user is not None:
            cmd = as_user(self.as_user, cmd)
        return subprocess.run(cmd, input=stdin_text if stdin_text is not None else "", capture_output=True,
                              text=True, env=self.env(env), timeout=timeout, cwd=cwd or self.tmp)


def read_terminal_until_closed(master, timeout):
    """Everything written to a pty's slave, read from its master until the
    writer closes it (EIO or EOF) or nothing arrives for `timeout` seconds.
    Closes master."""
    out = b""
    while select.select([master], [], [], timeout)[0]:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
    os.close(master)
    return out

