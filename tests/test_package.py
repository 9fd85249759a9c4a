"""The Debian package (`make package`: cpack -G DEB in the build directory), end to end as an
administrator would use it: `apt-get install ./FILE.deb`, the demo from the installed binaries,
the broker and the worker as their system users with the installed configuration, then
`apt-get purge`, which leaves nothing behind."""
import os
import pathlib
import re
import shutil
import subprocess

import pytest

from testlib import BIN_DIR, ROOT, as_user, bin_path

PACKAGE = "maelstrom-cpp"
TOOLS = ["maelstrom-run", "cargo-maelstrom", "maelstrom-broker", "maelstrom-worker", "maelstrom-admin"]
UNITS = pathlib.Path("/lib/systemd/system")
DOC = pathlib.Path("/usr/share/doc") / PACKAGE


def sh(*cmd, **kw):
    return subprocess.run(list(cmd), capture_output=True, text=True, **kw)


def installed():
    r = sh("dpkg-query", "-W", "-f=${Status}", PACKAGE)
    return r.returncode == 0 and "installed" in r.stdout and "not-installed" not in r.stdout


def service_env(role):
    """The environment systemd gives the unit's user: its own home, no one else's settings."""
    return {"PATH": "/usr/bin:/bin", "HOME": f"/var/lib/maelstrom-{role}", "USER": f"maelstrom-{role}"}


def project_version():
    return re.search(r"project\(\S+ VERSION (\S+)", (ROOT / "CMakeLists.txt").read_text()).group(1)


@pytest.fixture(scope="module")
def deb(tmp_path_factory):
    if os.geteuid() != 0 or not shutil.which("apt-get") or not shutil.which("cpack"):
        pytest.skip("needs root, apt-get and cpack")
    if installed():
        pytest.skip(f"{PACKAGE} is installed on this machine already: not touching it")
    bin_path("maelstrom-run")
    build = BIN_DIR.parent
    out = tmp_path_factory.mktemp("deb")
    r = sh("cpack", "-G", "DEB", "-B", str(out), cwd=build, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    debs = list(out.glob(f"{PACKAGE}_*.deb"))
    assert len(debs) == 1, r.stdout
    return debs[0]


def test_every_tool_reports_the_projects_one_version():
    for tool in TOOLS:
        r = sh(str(bin_path(tool)), "--version")
        assert r.returncode == 0, r.stderr
        assert r.stdout.strip() == f"{tool} {project_version()}", r.stdout


def test_package_installs_runs_the_demo_and_purges_clean(deb, tmp_path):
    info = sh("dpkg-deb", "--info", str(deb)).stdout
    assert f"Version: {project_version()}" in info and "Depends:" in info, info
    r = sh("apt-get", "install", "-y", "-q", str(deb), env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"),
           timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    try:
        for tool in TOOLS:
            assert os.access(f"/usr/bin/{tool}", os.X_OK), tool
        for unit in ("maelstrom-broker.service", "maelstrom-worker.service"):
            assert (UNITS / unit).is_file(), unit
            v = sh("systemd-analyze", "verify", str(UNITS / unit))
            assert v.returncode == 0, v.stdout + v.stderr
        for role in ("broker", "worker"):
            user = sh("getent", "passwd", f"maelstrom-{role}").stdout
            assert user and int(user.split(":")[2]) != 0, user
            assert pathlib.Path(f"/etc/maelstrom/{role}.toml").is_file()
            assert pathlib.Path(f"/var/cache/maelstrom-{role}").owner() == f"maelstrom-{role}"
        assert (DOC / "README.md").is_file() and (DOC / "cluster.md").is_file()

        # The demo, as the README gives it, from the installed files.
        work = tmp_path / "demo"
        work.mkdir()
        env = dict(os.environ, PATH="/usr/bin:/bin", XDG_CACHE_HOME=str(tmp_path / "cache"))
        r = sh("maelstrom-run", "--file", str(DOC / "examples" / "demo.json"), cwd=work, env=env, timeout=300)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "hello from a container" in r.stdout and "root is read-only" in r.stdout, r.stdout

        # The services' commands, as their users, with the installed configuration (ports made
        # free ones, so that nothing else on this machine is in the way).
        broker = subprocess.Popen(
            as_user("maelstrom-broker", ["/usr/bin/maelstrom-broker", "--config-file", "/etc/maelstrom/broker.toml",
                                         "--port", "0", "--http-port", "0"]),
            stdout=subprocess.PIPE, stderr=open(tmp_path / "broker.log", "w"), text=True, cwd="/",
            env=service_env("broker"))
        worker = None
        try:
            line = broker.stdout.readline()
            port = re.search(r"listening on port (\d+)", line)
            assert port, line + (tmp_path / "broker.log").read_text()
            address = f"127.0.0.1:{port.group(1)}"
            worker = subprocess.Popen(
                as_user("maelstrom-worker", ["/usr/bin/maelstrom-worker", "--config-file",
                                             "/etc/maelstrom/worker.toml", "--broker", address]),
                stdout=subprocess.DEVNULL, stderr=open(tmp_path / "worker.log", "w"), cwd="/",
                env=service_env("worker"))
            r = sh("maelstrom-run", "--broker", address, "--file", str(DOC / "examples" / "demo.json"),
                   cwd=work, env=env, timeout=300)
            assert r.returncode == 0, r.stdout + r.stderr + (tmp_path / "worker.log").read_text()
            assert "hello from a container" in r.stdout, r.stdout
            # The jobs ran on that worker (none of the demo's must run locally), still up.
            assert worker.poll() is None and broker.poll() is None, (tmp_path / "worker.log").read_text()
        finally:
            for p in (worker, broker):
                if p:
                    p.terminate()
                    p.wait(timeout=30)
    finally:
        r = sh("apt-get", "purge", "-y", "-q", PACKAGE, env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"),
               timeout=600)
        assert r.returncode == 0, r.stdout + r.stderr
    assert not installed()
    for tool in TOOLS:
        assert not os.path.exists(f"/usr/bin/{tool}"), tool
    for role in ("broker", "worker"):
        assert sh("getent", "passwd", f"maelstrom-{role}").stdout == "", role
        assert not os.path.exists(f"/var/cache/maelstrom-{role}")
    assert not os.path.exists("/etc/maelstrom")
    assert not (UNITS / "maelstrom-broker.service").exists()
