"""`cargo maelstrom --broker`: the fixture workspace's tests run on a real
broker and workers and end the same way as in a standalone run."""
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

from cluster_util import http_status  # noqa: E402
from testlib import BIN_DIR, ROOT, bin_path  # noqa: E402

FIXTURE = ROOT / "tests" / "fixtures" / "cargo-workspace"

pytestmark = pytest.mark.skipif(shutil.which("cargo") is None, reason="cargo is not installed")


def cargo_env(home):
    """Our binaries first on PATH, the user's toolchain, our own config and cache."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("MAELSTROM_", "CARGO_MAELSTROM_", "XDG_", "CARGO_TARGET_DIR"))}
    env.setdefault("CARGO_HOME", str(pathlib.Path.home() / ".cargo"))
    env.setdefault("RUSTUP_HOME", str(pathlib.Path.home() / ".rustup"))
    env.update({"PATH": f"{BIN_DIR}:{env.get('PATH', '')}", "HOME": str(home),
                "XDG_CONFIG_HOME": str(home / ".config"), "XDG_CACHE_HOME": str(home / ".cache"),
                "CARGO_NET_OFFLINE": "true", "CARGO_TERM_COLOR": "never"})
    return env


def status_of(stdout):
    """test name -> status word, from the simple UI's lines."""
    out = {}
    for line in stdout.splitlines():
        if ".." not in line:
            continue
        name, _, rest = line.partition("..")
        word = rest.strip(". ").split()
        if word:
            out[name] = word[0]
    return out


def test_cargo_maelstrom_with_broker_matches_standalone(cluster, tmp_path):
    bin_path("cargo-maelstrom")
    home = tmp_path / "home"
    home.mkdir()
    ws = shutil.copytree(FIXTURE, tmp_path / "ws", ignore=shutil.ignore_patterns("target"))
    env = cargo_env(home)
    subprocess.run(["cargo", "test", "--no-run", "--offline", "-q"], cwd=ws, env=env, check=True,
                   capture_output=True, timeout=600)

    def cargo_maelstrom(*args):
        return subprocess.run(["cargo", "maelstrom", "--ui", "simple", *args], cwd=ws, env=env,
                              capture_output=True, text=True, timeout=300)

    standalone = cargo_maelstrom()
    cluster.start_broker()
    cluster.start_worker(slots=2, name="w1")
    cluster.start_worker(slots=2, name="w2")
    cluster.wait_workers(2)
    remote = cargo_maelstrom("--broker", cluster.address)
    results = status_of(remote.stdout)
    assert results == status_of(standalone.stdout), (remote.stdout, remote.stderr)
    assert remote.returncode == standalone.returncode, remote.stderr
    assert results["gamma tests::panics"] == "FAIL" and results["alpha tests::adds"] == "OK"
    # Every test that ran went through the broker (none needs the client's machine).
    ran = sum(1 for s in results.values() if s != "IGNORED")
    assert http_status(cluster)["completed"] == ran, http_status(cluster)
