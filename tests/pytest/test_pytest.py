"""maelstrom-pytest end to end: the real binary and the real pytest (in a virtualenv made from
the wheels scripts/setup.sh downloads) on the fixture project (tests/fixtures/pytest-project).

The fixture is copied and run once per session (`full`); most tests read that run's output or
run the copy again without changing it. Tests that change the project work on their own copy.
Everything lives under /var/tmp: each job gets its own /tmp, which would hide a virtualenv
there."""
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
import xml.etree.ElementTree as ET

import pytest

from testlib import BIN_DIR, ROOT, as_user, bin_path, processes_left

sys.path.insert(0, str(ROOT / "tests" / "cluster"))
from cluster_util import http_status, running_cluster  # noqa: E402

FIXTURE = ROOT / "tests" / "fixtures" / "pytest-project"
WHEELS = pathlib.Path("/var/cache/maelstrom-tests/wheels")
PROGRAM = "maelstrom-pytest"
B = "tests/test_basics.py::"
O = "tests/test_output.py::"
H = "tests/test_hostile.py::"
LEFTOVER = "mael-leftover-7d1"  # the command-line mark of the process test_leaves_a_process_behind starts

# Every test of the fixture but the hanging one, with its status.
ALL_CASES = {
    B + "test_adds": "OK",
    B + "test_fails": "FAIL",
    B + "test_split[two words]": "OK",
    B + "test_split[with [brackets]]": "OK",
    B + "test_skipped_at_collection": "IGNORED",
    B + "test_skipif_linux": "IGNORED",
    B + "test_skips_itself": "IGNORED",
    B + "test_xfails": "IGNORED",
    B + "test_xpasses": "OK",
    B + "TestGroup::test_class_fixture": "OK",
    B + "TestGroup::test_marked_twice": "OK",
    B + "test_capsys": "OK",
    B + "test_tmp_path": "OK",
    B + "test_monkeypatch": "OK",
    B + "test_writes_tmp": "OK",
    B + "test_state_first": "OK",
    B + "test_state_second": "OK",
    O + "test_prints_a_lot": "FAIL",
    H + "test_leaves_a_process_behind": "OK",
    H + "test_aborts": "FAIL",
    H + "test_shm_first": "OK",
    H + "test_shm_second": "OK",
}
NO_HANG = ("-x", "markers.contains(hang)")

STATUS_LINE = re.compile(r"^(\S.*?)\.{2,}\s*(OK|FAIL|TIMEOUT|ERR|IGNORED|CACHED|FLAKY \d+/\d+)(?:\s|$)")


def statuses(stdout):
    out = {}
    for m in map(STATUS_LINE.match, stdout.splitlines()):
        if m:
            assert m.group(1) not in out, f"{m.group(1)} reported twice:\n{stdout}"
            out[m.group(1)] = m.group(2)
    return out


def line_after(stdout, name):
    lines = stdout.splitlines()
    i = next(i for i, l in enumerate(lines) if l.startswith(name + "."))
    return lines[i + 1]


def one_line(stderr):
    lines = stderr.strip("\n").splitlines()
    assert len(lines) == 1, stderr
    return lines[0]


def scratch():
    # Not named after pytest: processes_left() skips command lines that mention it.
    return pathlib.Path(tempfile.mkdtemp(prefix="mael-py-", dir="/var/tmp"))


def make_venv(dest, with_pytest=True):
    subprocess.run([sys.executable, "-m", "venv", str(dest)], check=True, timeout=120)
    if with_pytest:
        assert list(WHEELS.glob("pytest-*.whl")), f"no pytest wheel in {WHEELS}: run scripts/setup.sh"
        subprocess.run([str(dest / "bin" / "pip"), "install", "-q", "--no-index", "--find-links", str(WHEELS),
                        "pytest"], check=True, timeout=300)
    return dest


class Pytest:
    """Runs maelstrom-pytest in `project` with the virtualenv `venv` active and its own HOME."""

    def __init__(self, project, venv, home):
        self.project, self.venv, self.home = pathlib.Path(project), pathlib.Path(venv), pathlib.Path(home)
        self.home.mkdir(parents=True, exist_ok=True)

    def env(self, extra=None):
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MAELSTROM_", "XDG_", "PYTHON"))}
        env.update({"PATH": f"{self.venv}/bin:{BIN_DIR}:{env.get('PATH', '')}", "VIRTUAL_ENV": str(self.venv),
                    "HOME": str(self.home), "XDG_CONFIG_HOME": str(self.home / ".config"),
                    "XDG_CACHE_HOME": str(self.home / ".cache"),
                    # Most tests rerun one project and want its tests to run: cached results off.
                    "MAELSTROM_PYTEST_NO_CACHE": "true"})
        env.update(extra or {})
        return env

    def run(self, *args, env=None, timeout=300):
        return subprocess.run([bin_path(PROGRAM), *args], capture_output=True, text=True, cwd=self.project,
                              env=self.env(env), timeout=timeout)

    @property
    def hidden(self):
        return self.project / ".maelstrom-pytest"


def copy_fixture(dest):
    return shutil.copytree(FIXTURE, dest, ignore=shutil.ignore_patterns(".maelstrom-pytest", "__pycache__"))


@pytest.fixture(scope="session")
def session_dir():
    d = scratch()
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def venv(session_dir):
    return make_venv(session_dir / "venv")


@pytest.fixture
def tmp():
    d = scratch()
    yield d
    shutil.rmtree(d, ignore_errors=True)


class FullRun:
    def __init__(self, pt, result, junit):
        self.pt, self.result, self.junit = pt, result, junit


@pytest.fixture(scope="session")
def full(session_dir, venv):
    """The fixture copied and run once, the hanging test excluded, with a JUnit report."""
    processes_left(LEFTOVER, timeout=0)  # none of an earlier, interrupted run may count
    pt = Pytest(copy_fixture(session_dir / "p"), venv, session_dir / "home")
    junit = session_dir / "report.xml"
    return FullRun(pt, pt.run("--ui", "simple", "--junit", str(junit), *NO_HANG), junit)


@pytest.fixture
def fresh(tmp, venv):
    return Pytest(copy_fixture(tmp / "p"), venv, tmp / "home")


# ---- a whole run ---------------------------------------------------------------------------------

def test_full_run_reports_every_status_with_pytests_own_messages(full):
    r = full.result
    assert r.returncode == 1, r.stdout + r.stderr
    assert statuses(r.stdout) == ALL_CASES, r.stdout + r.stderr
    # A failure shows pytest's own report of that test, its assertion rewritten.
    assert "E       AssertionError: assert [1, 2, 3] == [1, 2, 4]" in r.stdout, r.stdout
    assert "E       AssertionError: after much output" in r.stdout, r.stdout
    # Skips and xfails at run time give pytest's reason.
    assert line_after(r.stdout, B + "test_skips_itself") == "skipped: decided while running", r.stdout
    assert line_after(r.stdout, B + "test_xfails") == "xfailed: known bug 12", r.stdout
    # A test's signal is its own (it is not the PID 1 of its namespace); what it started died with it.
    assert line_after(r.stdout, H + "test_aborts") == "killed by signal 6", r.stdout
    assert processes_left(LEFTOVER) == []
    # Fixtures of every scope, capsys, tmp_path, monkeypatch, a fresh /tmp and fresh module state
    # for every test: all OK above (test_state_second sees the counter at 0 again).
    summary = r.stdout[r.stdout.index(" Test Summary "):].splitlines()
    assert "Successful Tests:        15" in summary, summary
    assert "Failed Tests    :         3" in summary, summary
    assert "Ignored Tests   :         4" in summary, summary


def test_listing_file_has_node_ids_and_markers(full):
    text = (full.pt.hidden / "state" / "test-listing.toml").read_text()
    assert text.splitlines()[0] == "version = 3", text
    assert '[default."tests/test_basics.py".test_adds]' in text.splitlines(), text
    data = tomllib.loads(text)
    case = data["default"]["tests/test_basics.py"]["TestGroup.test_marked_twice"]
    assert case["node_id"] == B + "TestGroup::test_marked_twice"
    # Markers of the function, its class and its module.
    assert sorted(case["markers"]) == ["slow", "smoke", "unit"], case
    assert case["outcome"] == "success" and len(case["timings"]) == 1, case
    assert data["default"]["tests/test_basics.py"]["test_fails"]["outcome"] == "failure"


def test_junit_report_counts_every_test(full):
    suites = ET.parse(full.junit).getroot()
    cases = suites.findall(".//testcase")
    assert len(cases) == len(ALL_CASES), ET.tostring(suites)
    assert len([c for c in cases if c.find("failure") is not None]) == 3
    assert len([c for c in cases if c.find("skipped") is not None]) == 4


def test_a_fresh_interpreter_per_test_gives_the_same_results(full):
    """--fresh-interpreter runs each test as Maelstrom does: its own interpreter from the start,
    pytest's header ("collected 1 item") included; every status equals the warm run's."""
    r = full.pt.run("--ui", "simple", "--fresh-interpreter", *NO_HANG)
    assert r.returncode == 1, r.stdout + r.stderr
    assert statuses(r.stdout) == ALL_CASES, r.stdout + r.stderr
    assert "collected 1 item" in r.stdout and "collected 2 items" not in r.stdout, r.stdout
    assert line_after(r.stdout, H + "test_aborts") == "killed by signal 6", r.stdout
    assert processes_left(LEFTOVER) == []
    # The warm run shared interpreters, but for test_prints_a_lot (marked fresh_interpreter).
    assert full.result.stdout.count("collected 1 item") == 1, full.result.stdout
    assert "collected 1 item" in full.result.stdout[full.result.stdout.index(O + "test_prints_a_lot."):]


def test_fresh_interpreter_from_the_environment(full):
    r = full.pt.run("--ui", "simple", "-i", "name.equals(test_fails) | name.equals(test_adds)",
                    env={"MAELSTROM_PYTEST_FRESH_INTERPRETER": "true"})
    assert r.returncode == 1 and "collected 1 item" in r.stdout, r.stdout + r.stderr
    r = full.pt.run("--ui", "simple", "-i", "name.equals(test_fails) | name.equals(test_adds)")
    assert r.returncode == 1 and "collected 1 item" not in r.stdout, r.stdout + r.stderr


def test_a_second_run_reports_passing_tests_cached(fresh):
    args = ("--ui", "simple", "-i", "file.ends_with(test_basics.py)", "-x", "name.contains(state)")
    on = {"MAELSTROM_PYTEST_NO_CACHE": "false"}
    first = fresh.run(*args, env=on)
    assert first.returncode == 1, first.stdout + first.stderr
    second = fresh.run(*args, "-L", "debug", env=on)
    got = statuses(second.stdout)
    # Passing tests are not run again (warm or fresh, their job is the same); nor is pytest's
    # collection, whose job is the same too; the failure runs again.
    assert got[B + "test_adds"] == "CACHED" and got[B + "test_split[with [brackets]]"] == "CACHED", second.stdout
    assert got[B + "test_fails"] == "FAIL", second.stdout
    assert "collection: kept from the last run" in second.stderr, second.stderr
    # A test that skipped itself is IGNORED again, with its reason, from the cached results.
    assert line_after(first.stdout, B + "test_skips_itself").strip() == "skipped: decided while running"
    assert got[B + "test_skips_itself"] == "IGNORED", second.stdout
    assert line_after(second.stdout, B + "test_skips_itself").strip() == "skipped: decided while running (cached)"
    kept = json.loads((fresh.hidden / "state" / "test-results.json").read_text())
    assert kept["skipped"]["default"]["tests/test_basics.py"]["test_skips_itself"][1] == \
        "skipped: decided while running", kept
    # A damaged kept collection is ignored with a warning naming it, and collected anew.
    record = fresh.hidden / "state" / "collection.json"
    data = json.loads(record.read_text())
    record.write_text(json.dumps({**data, "stdout": "not what pytest printed"}))
    damaged = fresh.run(*args, "-L", "debug", env=on)
    assert damaged.returncode == 1 and statuses(damaged.stdout)[B + "test_adds"] == "CACHED", damaged.stderr
    assert f"ignoring the kept collection in {record}" in damaged.stderr, damaged.stderr
    rewritten = json.loads(record.read_text())  # pytest's output again (gzip's header holds a time)
    assert rewritten["key"] == data["key"] and rewritten["stdout"].startswith("H4sI"), rewritten
    # A change to the module changes its layer: it is collected again (a test added shows) and
    # its tests run again.
    with open(fresh.project / "tests" / "test_basics.py", "a") as f:
        f.write("\n\ndef test_added():\n    pass\n")
    third = fresh.run(*args, "-L", "debug", env=on)
    assert "collection: kept" not in third.stderr, third.stderr
    got = statuses(third.stdout)
    assert got[B + "test_adds"] == "OK" and got[B + "test_added"] == "OK", third.stdout
    # --no-cache collects again, as it runs every test.
    fourth = fresh.run(*args, "-L", "debug", "--no-cache", env=on)
    assert "collection: kept" not in fourth.stderr and statuses(fourth.stdout)[B + "test_adds"] == "OK", fourth.stderr
    # A directive's `cache = false` for every test covers the collection too.
    with open(fresh.project / "maelstrom-pytest.toml", "a") as f:
        f.write("\n[[directives]]\ncache = false\n")
    for _ in range(2):
        fifth = fresh.run(*args, "-L", "debug", env=on)
        assert "collection: kept" not in fifth.stderr and statuses(fifth.stdout)[B + "test_adds"] == "OK", fifth.stderr


# ---- selection and options -----------------------------------------------------------------------

def listed(pt, *args):
    r = pt.run("--list", *args)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout.splitlines()


def test_list_prints_every_node_id_sorted(full):
    names = listed(full.pt)
    assert names == sorted(list(ALL_CASES) + [O + "test_hangs"]), names


@pytest.mark.parametrize("pattern,want", [
    ("markers.contains(smoke)", [B + "TestGroup::test_class_fixture", B + "TestGroup::test_marked_twice"]),
    ("m.c(slow)", [B + "TestGroup::test_marked_twice"]),
    ("file.ends_with(test_output.py)", [O + "test_hangs", O + "test_prints_a_lot"]),
    ("node_id.contains([with [brackets]])", [B + "test_split[with [brackets]]"]),
    ("name.starts_with(test_state)", [B + "test_state_first", B + "test_state_second"]),
    ("package.equals(default) & name.equals(test_adds)", [B + "test_adds"]),
])
def test_filters_select_by_marker_file_node_id_name_and_package(full, pattern, want):
    assert listed(full.pt, "-i", pattern) == want


def test_a_module_marker_applies_to_each_of_its_tests(full):
    unit = listed(full.pt, "-i", "markers.contains(unit)")
    assert unit == sorted(n for n in ALL_CASES if n.startswith(B)), unit


def test_collect_from_module_collects_the_same_tests(full):
    names = listed(full.pt, "--collect-from-module", "tests.test_output")
    assert names == [O + "test_hangs", O + "test_prints_a_lot"], names


def test_repeat_gives_each_run_a_fresh_tmp(full):
    r = full.pt.run("--ui", "simple", "--repeat", "3", "-i", "name.equals(test_writes_tmp)")
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.count(B + "test_writes_tmp.") == 3, r.stdout


def test_stop_after_one_failure(full):
    r = full.pt.run("--ui", "simple", "--slots", "1", "--stop-after", "1", "-i", "name.contains(fail)")
    assert r.returncode == 1, r.stdout + r.stderr
    assert list(statuses(r.stdout).values()).count("FAIL") == 1, r.stdout


def test_a_hanging_test_times_out_by_the_spec_files_directive(full):
    r = full.pt.run("--ui", "simple", "-i", "markers.contains(hang)")
    assert r.returncode == 1, r.stdout + r.stderr
    assert statuses(r.stdout) == {O + "test_hangs": "TIMEOUT"}, r.stdout


def test_extra_pytest_test_args_after_double_dash_reach_pytest(full):
    r = full.pt.run("--ui", "simple", "-i", "name.equals(test_fails)", "--", "--tb=no")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "def test_fails" not in r.stdout and "1 failed" in r.stdout, r.stdout
    r = full.pt.run("--ui", "simple", "-i", "name.equals(test_fails)",
                    env={"MAELSTROM_PYTEST_EXTRA_PYTEST_ARGS": "--tb=no"})
    assert "def test_fails" not in r.stdout and "1 failed" in r.stdout, r.stdout + r.stderr


def test_print_config_shows_the_pytest_values(full):
    r = full.pt.run("-P")
    assert r.returncode == 0, r.stderr
    for key in ("collect-from-module", "extra-pytest-args", "extra-pytest-collect-args", "extra-pytest-test-args"):
        assert key in r.stdout, r.stdout


def test_values_from_maelstroms_config_file(full):
    cfg = full.pt.home / ".config" / "maelstrom" / "pytest" / "config.toml"
    cfg.parent.mkdir(parents=True, exist_ok=True)
    cfg.write_text('extra-pytest-test-args = ["--tb=no"]\nfresh-interpreter = true\n')
    try:
        r = full.pt.run("-P")
        assert 'extra-pytest-test-args = ["--tb=no"]' in r.stdout and "fresh-interpreter = true" in r.stdout, r.stdout
        r = full.pt.run("--ui", "simple", "-i", "name.equals(test_fails)")
        assert "def test_fails" not in r.stdout and "1 failed" in r.stdout, r.stdout + r.stderr
    finally:
        cfg.unlink()


def test_init_writes_the_manuals_default_once(fresh):
    (fresh.project / "maelstrom-pytest.toml").unlink()
    r = fresh.run("--init")
    assert r.returncode == 0, r.stdout + r.stderr
    text = (fresh.project / "maelstrom-pytest.toml").read_text()
    spec = tomllib.loads(text)
    d = spec["directives"][0]
    assert d["image"] == "docker://python:3.12.3-slim"
    assert {"glob": "**.{py,pyc,pyi}"} in d["added_layers"] and {"glob": "pyproject.toml"} in d["added_layers"]
    assert d["added_environment"] == {"PYTEST_XDIST_AUTO_NUM_WORKERS": "1"}
    r = fresh.run("--init")
    assert r.returncode == 1 and "already exists" in r.stdout, r.stdout


# ---- bad input -----------------------------------------------------------------------------------

def test_a_collection_error_shows_pytests_message_and_runs_nothing(fresh):
    (fresh.project / "tests" / "test_broken.py").write_text("def test_x(:\n    pass\n")
    r = fresh.run("--ui", "simple")
    assert r.returncode == 2, r.stdout + r.stderr
    out = r.stdout + r.stderr
    assert "test_broken.py" in out and "SyntaxError" in out, out
    assert "pytest's collection exited with code 2" in out, out
    assert statuses(r.stdout) == {}, r.stdout


def test_no_pytest_importable_is_one_line(fresh, tmp):
    bare = make_venv(tmp / "bare", with_pytest=False)
    r = subprocess.run([bin_path(PROGRAM), "--list"], capture_output=True, text=True, cwd=fresh.project,
                       env=fresh.env({"PATH": f"{bare}/bin:{BIN_DIR}:/usr/bin:/bin", "VIRTUAL_ENV": str(bare)}),
                       timeout=120)
    assert r.returncode == 1, r.stdout + r.stderr
    assert one_line(r.stderr).startswith("error: pytest is not importable by python3"), r.stderr


def test_no_python_on_path_is_one_line(fresh, tmp):
    empty = tmp / "empty-bin"
    empty.mkdir()
    r = subprocess.run([bin_path(PROGRAM), "--list"], capture_output=True, text=True, cwd=fresh.project,
                       env=fresh.env({"PATH": str(empty)}), timeout=120)
    assert r.returncode == 1, r.stdout + r.stderr
    assert one_line(r.stderr) == ("error: python3 is not on PATH: maelstrom-pytest runs where pytest is "
                                  "importable (activate the project's virtualenv)"), r.stderr


def test_a_malformed_spec_file_names_the_file(fresh):
    (fresh.project / "maelstrom-pytest.toml").write_text("[[directives]\n")
    r = fresh.run("--ui", "simple")
    assert r.returncode != 0
    assert "maelstrom-pytest.toml" in one_line(r.stderr), r.stderr


def test_a_bad_filter_names_the_column(full):
    r = full.pt.run("--list", "-i", "markers.starts_with(x)")
    assert r.returncode == 1, r.stdout + r.stderr
    assert one_line(r.stderr) == ("error: invalid filter 'markers.starts_with(x)': at column 9: "
                                  "selector `markers` only takes the matcher `contains`"), r.stderr


def test_as_an_unprivileged_user_with_debians_python(tmp):
    """Run by uid 65534 (rootless containers; the warm forks make their namespaces inside the
    job's), on a virtualenv of Debian's /usr/bin/python3 (the interpreter root's pyenv has is
    not readable by others): the same statuses, nothing left behind."""
    if os.geteuid() != 0 or not os.path.exists("/usr/bin/python3"):
        pytest.skip("needs root (to switch users) and Debian's python3")
    os.chmod(tmp, 0o755)
    venv = tmp / "venv"
    subprocess.run(["/usr/bin/python3", "-m", "venv", str(venv)], check=True, timeout=120)
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "--no-index", "--find-links", str(WHEELS), "pytest"],
                   check=True, timeout=300)
    pt = Pytest(copy_fixture(tmp / "p"), venv, tmp / "home")
    subprocess.run(["chown", "-R", "65534:65534", str(pt.project), str(pt.home)], check=True)
    r = subprocess.run(as_user(65534, [bin_path(PROGRAM), "--ui", "simple", *NO_HANG]), capture_output=True,
                       text=True, cwd=pt.project, env=pt.env(), timeout=600)
    assert r.returncode == 1, r.stdout + r.stderr
    assert statuses(r.stdout) == ALL_CASES, r.stdout + r.stderr
    assert line_after(r.stdout, H + "test_aborts") == "killed by signal 6", r.stdout
    assert processes_left(LEFTOVER) == []


# ---- images: a Python image from the loopback registry, test-requirements.txt -------------------

def make_wheel(dest, name, version, module_text):
    """A pure-Python wheel of one module, written by hand (no build tools needed)."""
    import base64
    import hashlib
    import zipfile
    dist = f"{name}-{version}.dist-info"
    files = {f"{name}.py": module_text,
             f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
             f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: hand\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
    record = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(text.encode())}")
    record.append(f"{dist}/RECORD,,")
    path = pathlib.Path(dest) / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as z:
        for p, text in files.items():
            z.writestr(p, text)
        z.writestr(f"{dist}/RECORD", "\n".join(record) + "\n")
    return path


@pytest.fixture(scope="session")
def wheel_index(session_dir):
    """pytest's wheels and a small `maeldep` wheel served over HTTP on loopback (not installed on
    this machine: only the image has it, where the tests are collected)."""
    d = session_dir / "wheels"
    d.mkdir()
    for w in WHEELS.glob("*.whl"):
        shutil.copy(w, d)
    make_wheel(d, "maeldep", "1.0", "VALUE = 42\n")
    sys.path.insert(0, str(ROOT / "tests" / "images"))
    from registry import _free_port  # noqa: E402
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(port),
                               "--directory", str(d)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    yield f"http://127.0.0.1:{port}/"
    server.kill()
    server.wait()


@pytest.fixture(scope="session")
def python_image(session_dir):
    """HOST:PORT/library/python:3.11 on a loopback registry, made from Debian's packages."""
    sys.path.insert(0, str(ROOT / "tests" / "images"))
    sys.path.insert(0, str(ROOT / "tests" / "pytest"))
    import python_image as image_builder  # noqa: E402
    from registry import Registry, push  # noqa: E402
    layout = session_dir / "python-layout"
    image_builder.build(str(layout), "3.11")
    (session_dir / "registry").mkdir()
    with Registry(str(session_dir / "registry")) as address:
        push(f"{layout}:3.11", f"{address}/library/python:3.11")
        yield f"docker://{address}/library/python:3.11"


def image_project(pt, image, index, requirements=("pytest", "maeldep")):
    spec = (pt.project / "maelstrom-pytest.toml").read_text()
    spec = spec.replace("[[directives]]\n", f'[[directives]]\nimage = "{image}"\n', 1)
    (pt.project / "maelstrom-pytest.toml").write_text(spec)
    (pt.project / "test-requirements.txt").write_text(
        f"--no-index\n--find-links {index}\n" + "".join(r + "\n" for r in requirements))
    # Collected in the image: maeldep is importable only there, its value names a parameter, and
    # the skipif holds only for another interpreter.
    (pt.project / "tests" / "test_dep.py").write_text(
        "import sys\n\nimport maeldep\nimport pytest\n\n\ndef test_dep():\n    assert maeldep.VALUE == 42\n\n\n"
        "@pytest.mark.parametrize('v', [maeldep.VALUE])\ndef test_param(v):\n    assert v == 42\n\n\n"
        "@pytest.mark.skipif(not sys.executable.startswith('/usr/'), reason='collected elsewhere')\n"
        "def test_image_python():\n    assert sys.version_info[:2] == (3, 11)\n    assert sys.executable.startswith('/usr/')\n")
    return pt


def test_a_python_image_gets_test_requirements_installed_once(fresh, python_image, wheel_index):
    pt = image_project(fresh, python_image, wheel_index)
    args = ("--ui", "simple", "-i", "file.ends_with(test_dep.py) | name.equals(test_adds) | name.equals(test_fails)")
    r = pt.run(*args)
    assert r.returncode == 1, r.stdout + r.stderr
    assert statuses(r.stdout) == {"tests/test_dep.py::test_dep": "OK", "tests/test_dep.py::test_image_python": "OK",
                                  "tests/test_dep.py::test_param[42]": "OK",
                                  B + "test_adds": "OK", B + "test_fails": "FAIL"}, r.stdout + r.stderr
    assert "installing the packages of test-requirements.txt" in r.stdout + r.stderr
    # pytest's own report, from the image's pytest.
    assert "E       AssertionError: assert [1, 2, 3] == [1, 2, 4]" in r.stdout, r.stdout
    # The second run reuses the installed packages; a changed file installs again.
    r = pt.run(*args)
    assert r.returncode == 1 and "installing the packages" not in r.stdout + r.stderr, r.stdout + r.stderr
    assert statuses(r.stdout)["tests/test_dep.py::test_dep"] == "OK", r.stdout
    with open(pt.project / "test-requirements.txt", "a") as f:
        f.write("# changed\n")
    r = pt.run(*args)
    assert "installing the packages" in r.stdout + r.stderr and statuses(r.stdout)["tests/test_dep.py::test_dep"] == "OK"


def test_a_failing_pip_install_is_one_line_with_pips_message(fresh, python_image, wheel_index):
    pt = image_project(fresh, python_image, wheel_index, requirements=("pytest", "nosuchpackage-mael"))
    r = pt.run("--ui", "simple", "-i", "file.ends_with(test_dep.py)")
    assert r.returncode == 1, r.stdout + r.stderr
    progress, line = r.stderr.strip("\n").splitlines()  # what is being done, then the error
    assert progress.startswith("info: installing the packages of test-requirements.txt"), progress
    assert line.startswith(f"error: pip could not install test-requirements.txt into {python_image}"), line
    assert "nosuchpackage-mael" in line and "pip-install.log" in line, line
    assert statuses(r.stdout) == {}, r.stdout


def test_an_image_without_pytest_is_one_line(fresh, python_image, wheel_index):
    pt = image_project(fresh, python_image, wheel_index, requirements=("maeldep",))
    r = pt.run("--ui", "simple", "--list")
    assert r.returncode == 1, r.stdout + r.stderr
    line = r.stderr.strip("\n").splitlines()[-1]
    assert line.startswith(f"error: pytest is not importable in the test container ({python_image})"), r.stderr
    assert "test-requirements.txt" in line, line
    assert r.stdout == "", r.stdout


def test_a_missing_image_is_one_line(fresh, python_image, wheel_index):
    missing = python_image.replace("library/python:3.11", "library/python:0.0-none")
    pt = image_project(fresh, missing, wheel_index)
    r = pt.run("--ui", "simple", "-i", "file.ends_with(test_dep.py)")
    assert r.returncode == 1, r.stdout + r.stderr
    line = r.stderr.strip("\n").splitlines()[-1]
    assert line.startswith("error: ") and "python:0.0-none" in line, r.stderr
    assert len(r.stderr.strip("\n").splitlines()) <= 2, r.stderr


# ---- cluster -------------------------------------------------------------------------------------

@pytest.fixture
def cluster(tmp):
    with running_cluster(tmp / "cluster") as c:
        yield c


def test_broker_with_two_workers_gives_the_same_statuses(full, cluster):
    cluster.start_broker()
    cluster.start_worker(slots=2, name="w1")
    cluster.start_worker(slots=2, name="w2")
    cluster.wait_workers(2)
    r = full.pt.run("--ui", "simple", "-b", cluster.address, *NO_HANG)
    assert r.returncode == 1, r.stdout + r.stderr
    assert statuses(r.stdout) == ALL_CASES, r.stdout + r.stderr
    # Tests of one file ran in shared warm batches, each one job on a worker; so did pytest's
    # collection (in the test container).
    batches = http_status(cluster)["completed"] - 1
    assert 1 <= batches < len(ALL_CASES) - 2, http_status(cluster)
    # Fresh interpreters: one job a test, but for the collection-time skips, which never run, and
    # one for the collection.
    r = full.pt.run("--ui", "simple", "-b", cluster.address, "--fresh-interpreter", *NO_HANG)
    assert statuses(r.stdout) == ALL_CASES, r.stdout + r.stderr
    assert http_status(cluster)["completed"] == 1 + batches + 1 + len(ALL_CASES) - 2, http_status(cluster)
