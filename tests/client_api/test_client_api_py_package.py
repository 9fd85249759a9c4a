"""The Python package in py/: installed with pip into a fresh virtual environment (its stubs
generated from proto/items.proto at build time), its example runs a job through the
maelstrom-client found on PATH."""
import os
import shutil
import subprocess
import sys

from testlib import BIN_DIR, ROOT, bin_path


def test_pip_install_and_example(tmp_path):
    bin_path("maelstrom-client")
    # A copy of what the build reads, so that building leaves nothing in the source tree.
    shutil.copytree(ROOT / "py", tmp_path / "src" / "py", ignore=shutil.ignore_patterns("build", "*.egg-info"))
    shutil.copytree(ROOT / "proto", tmp_path / "src" / "proto")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    r = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", str(tmp_path / "src" / "py")],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    env = dict(os.environ, PATH=f"{BIN_DIR}:{os.environ['PATH']}", HOME=str(tmp_path),
               XDG_CACHE_HOME=str(tmp_path / "cache"))
    r = subprocess.run([str(venv / "bin" / "python"), str(ROOT / "py" / "examples" / "run_job.py"), "it", "works"],
                       capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)
    assert (r.returncode, r.stdout) == (0, "it works\n"), r.stderr
    # Typed helpers: a failing job's outcome, and the package's stubs are its own modules.
    script = (
        "from maelstrom_client import *\n"
        "c = ContainerSpec(layers=[LayerSpec(paths=PathsLayer(paths=['/bin/busybox'])),"
        " LayerSpec(symlinks=SymlinksLayer(symlinks=[SymlinkSpec(link='/bin/sh', target='busybox')]))])\n"
        "with Client(slots=1) as client:\n"
        "    o = client.run(JobSpec(container=c, program='/bin/sh', arguments=['-c', 'echo e >&2; kill -9 $$']))\n"
        "    print(o.signal, o.stderr, o.exit_code)\n"
        "    o = client.run(JobSpec(container=c, program='/nowhere'))\n"
        "    print(o.error is not None)\n")
    r = subprocess.run([str(venv / "bin" / "python"), "-c", script], capture_output=True, text=True, timeout=120,
                       env=env, cwd=tmp_path)
    assert r.stdout.split("\n")[:2] == ["9 b'e\\n' None", "True"], r.stderr
