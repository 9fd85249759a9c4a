"""Helpers for the tests that run the real `cargo maelstrom` on the fixture
workspace (tests/cargo and tests/cluster share them)."""
import os
import pathlib

from testlib import BIN_DIR, ROOT

CARGO_FIXTURE = ROOT / "tests" / "fixtures" / "cargo-workspace"


def cargo_env(home, cached_results=False):
    """Our binaries first on PATH, the user's toolchain, our own config and cache. Cached results
    are off unless asked for: most tests run a workspace again and want its tests to run."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("MAELSTROM_", "CARGO_MAELSTROM_", "XDG_", "CARGO_TARGET_DIR"))}
    # Keep the user's cargo and rustup homes (the toolchain lives there) but our own config.
    env.setdefault("CARGO_HOME", str(pathlib.Path.home() / ".cargo"))
    env.setdefault("RUSTUP_HOME", str(pathlib.Path.home() / ".rustup"))
    env.update({"PATH": f"{BIN_DIR}:{env.get('PATH', '')}", "HOME": str(home),
                "XDG_CONFIG_HOME": str(home / ".config"), "XDG_CACHE_HOME": str(home / ".cache"),
                "CARGO_NET_OFFLINE": "true", "CARGO_TERM_COLOR": "never"})
    if not cached_results:
        env["CARGO_MAELSTROM_NO_CACHE"] = "true"
    return env


def status_of(stdout):
    """test name -> status word, from the simple UI's status lines."""
    out = {}
    for line in stdout.splitlines():
        if ".." not in line:
            continue
        name, _, rest = line.partition("..")
        word = rest.strip(". ").split()
        if word:
            out[name] = word[0]
    return out
