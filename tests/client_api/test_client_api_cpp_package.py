"""The C++ client library: installed (the build's `dev` component) into a fresh prefix, then
examples/cpp-client configured with find_package(Maelstrom), built against that prefix alone,
and run."""
import subprocess

from testlib import BIN_DIR, ROOT


def run(*cmd, **kw):
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=900, **kw)
    assert r.returncode == 0, f"{cmd}: {r.stdout[-3000:]}{r.stderr[-3000:]}"
    return r


def test_installed_library_builds_and_runs_the_example(tmp_path):
    build = BIN_DIR.parent
    prefix = tmp_path / "prefix"
    run("cmake", "--install", build, "--component", "dev", "--prefix", prefix)
    assert (prefix / "include" / "maelstrom" / "client" / "client.h").exists()
    assert (prefix / "lib" / "cmake" / "Maelstrom" / "MaelstromConfig.cmake").exists()
    example = tmp_path / "example"
    run("cmake", "-S", ROOT / "examples" / "cpp-client", "-B", example, f"-DCMAKE_PREFIX_PATH={prefix}")
    run("cmake", "--build", example, "-j2")
    r = subprocess.run([example / "run-echo", tmp_path / "cache", "from", "C++"], capture_output=True, text=True,
                       timeout=120, cwd=tmp_path)
    assert (r.returncode, r.stdout) == (0, "from C++\n"), r.stderr
