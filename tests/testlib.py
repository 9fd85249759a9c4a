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

