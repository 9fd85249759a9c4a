"""maelstrom-go-test end to end: the real binary and the real `go` on the fixture module
(tests/fixtures/go-project) and on small modules each test writes itself.

The fixture is copied and run once per session (`built`); most tests read that run's output
or run the copy again without changing it. Tests that change a module work on their own copy.
The Go build cache stays the user's, so building again is cheap."""
import json
import os
import pathlib
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import tomllib
import xml.etree.ElementTree as ET

import pytest

from testlib import BIN_DIR, ROOT, bin_path, host_processes, processes_left

sys.path.insert(0, str(ROOT / "tests" / "cluster"))
from cluster_util import http_status, running_cluster  # noqa: E402

GO_FIXTURE = ROOT / "tests" / "fixtures" / "go-project"
PROGRAM = "maelstrom-go-test"
MODULE = "example.com/gofixture"

pytestmark = pytest.mark.skipif(shutil.which("go") is None, reason="go is not installed")

# Every top-level test of the fixture with its status (README's table); the nested module's
# TestNestedMustNotRun is not one of them.
ALL_CASES = {
    f"{MODULE} TestRoot": "OK",
    f"{MODULE}/pass TestAdd": "OK",
    f"{MODULE}/pass TestConcat": "OK",
    f"{MODULE}/pass TestWithSubtests": "OK",
    f"{MODULE}/pass TestParallelA": "OK",
    f"{MODULE}/pass TestParallelB": "OK",
    f"{MODULE}/pass ExampleHello": "OK",
    f"{MODULE}/fail TestFails": "FAIL",
    f"{MODULE}/fail TestPasses": "OK",
    f"{MODULE}/fail TestSkipped": "IGNORED",
    f"{MODULE}/fail TestSubtestFails": "FAIL",
    f"{MODULE}/withmain TestSeesMain": "OK",
    f"{MODULE}/fuzzy FuzzReverse": "OK",
    f"{MODULE}/data TestReadsTestdata": "OK",
    f"{MODULE}/tmpwriter TestWritesTmp": "OK",
    f"{MODULE}/loopback TestLoopback": "OK",
    f"{MODULE}/hang TestHangs": "TIMEOUT",
    f"{MODULE}/hang TestQuick": "OK",
    f"{MODULE}/cgo TestCgoAdd": "OK",
}
PASS_CASES = {n: s for n, s in ALL_CASES.items() if n.startswith(f"{MODULE}/pass ")}
ALL_PACKAGES = [MODULE] + [f"{MODULE}/{p}" for p in (
    "cgo", "data", "fail", "fuzzy", "hang", "loopback", "notests", "pass", "tmpwriter", "withmain")]
# One test binary per package with tests, at <package dir>/<last import path element>.test.
ALL_BINARIES = {"gofixture.test"} | {f"{p}/{p}.test" for p in (
    "cgo", "data", "fail", "fuzzy", "hang", "loopback", "pass", "tmpwriter", "withmain")}

STATUS_LINE = re.compile(r"^(\S+ \S+?)\.{2,}\s*(OK|FAIL|TIMEOUT|ERR|IGNORED|CACHED|FLAKY \d+/\d+)(?:\s|$)")


def status_lines(stdout):
    """[(display name, status)] from the simple UI's per-test lines, in order."""
    return [(m.group(1), m.group(2)) for m in map(STATUS_LINE.match, stdout.splitlines()) if m]


def statuses(stdout):
    out = {}
    for name, status in status_lines(stdout):
        assert name not in out, f"{name} reported twice:\n{stdout}"
        out[name] = status
    return out


def summary_of(stdout):
    """The lines from the `== Test Summary ==` banner on."""
    at = stdout.index(" Test Summary ")
    return stdout[stdout.rindex("\n", 0, at) + 1:].splitlines()


def one_line(stderr):
    """The single line stderr holds (asserts there is exactly one)."""
    lines = stderr.strip("\n").splitlines()
    assert len(lines) == 1, stderr
    return lines[0]


CACHED_RESULTS = {"MAELSTROM_GO_TEST_NO_CACHE": "false"}


def make_scratch():
    # Not under pytest's tmp_path: processes_left() skips command lines that mention "pytest",
    # and the module's path is what marks the processes a run starts.
    return pathlib.Path(tempfile.mkdtemp(prefix="mael-gotest-"))


@pytest.fixture
def tmp():
    d = make_scratch()
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def session_tmp():
    d = make_scratch()
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def go_settings():
    """The user's Go build cache, module cache and go env file, kept although HOME and the
    XDG directories are the test's own."""
    r = subprocess.run(["go", "env", "-json", "GOCACHE", "GOENV", "GOPATH", "GOMODCACHE"], capture_output=True,
                       text=True, check=True, timeout=60)
    return {k: v for k, v in json.loads(r.stdout).items() if v}


class GoTest:
    """Runs maelstrom-go-test in `module` with its own HOME, config and cache dirs. Cached results
    are off unless a run's `env` turns them on (CACHED_RESULTS): most tests run a module again and
    want its tests to run."""

    def __init__(self, module, home, go_settings):
        self.module = pathlib.Path(module)
        self.home = pathlib.Path(home)
        self.home.mkdir(parents=True, exist_ok=True)
        self.go_settings = go_settings

    def env(self, extra=None):
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MAELSTROM_", "XDG_", "GO"))}
        env.update(self.go_settings)
        env.update({"PATH": f"{BIN_DIR}:{env.get('PATH', '')}", "HOME": str(self.home),
                    "XDG_CONFIG_HOME": str(self.home / ".config"), "XDG_CACHE_HOME": str(self.home / ".cache"),
                    "GOPROXY": "off", "GOTOOLCHAIN": "local", "MAELSTROM_GO_TEST_NO_CACHE": "true"})
        env.update(extra or {})
        return env

    def cmd(self, *args):
        return [bin_path(PROGRAM), *args]

    def run(self, *args, cwd=None, env=None, timeout=300):
        return subprocess.run(self.cmd(*args), capture_output=True, text=True, cwd=cwd or self.module,
                              env=self.env(env), timeout=timeout)

    @property
    def hidden(self):
        return self.module / ".maelstrom-go-test"

    def binaries(self):
        d = self.hidden / "cache" / "test-binaries"
        # NAME.test, copied from go's output in cache/go-test-c when its bytes changed.
        return {str(p.relative_to(d)) for p in d.rglob("*.test") if p.is_file()}


def copy_fixture(dest):
    return shutil.copytree(GO_FIXTURE, dest, ignore=shutil.ignore_patterns(".maelstrom-go-test"))


def write_module(dest, module_path, files):
    """A module at dest: go.mod for module_path plus {relative path: text}."""
    dest = pathlib.Path(dest)
    dest.mkdir(parents=True)
    (dest / "go.mod").write_text(f"module {module_path}\n\ngo 1.21\n")
    for rel, text in files.items():
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        (dest / rel).write_text(text)
    return dest


class FullRun:
    """The session's one full run of the fixture, and what it left behind right after it."""

    def __init__(self, gt, result, junit, listing, binaries):
        self.gt, self.result, self.junit, self.listing, self.binaries = gt, result, junit, listing, binaries


@pytest.fixture(scope="session")
def built(session_tmp, go_settings):
    """The fixture, copied, run in full once (with a JUnit report). Later tests may run it
    again but do not change its files."""
    tmp = session_tmp / "gofixture"
    gt = GoTest(copy_fixture(tmp / "m"), tmp / "home", go_settings)
    junit = tmp / "report.xml"
    r = gt.run("--ui", "simple", "--junit", str(junit))
    listing_path = gt.hidden / "state" / "test-listing.toml"
    listing = listing_path.read_text() if listing_path.exists() else ""
    return FullRun(gt, r, junit, listing, gt.binaries())


@pytest.fixture
def fresh(tmp, go_settings):
    """An unbuilt copy of the fixture, for tests that change it or need it unbuilt."""
    return GoTest(copy_fixture(tmp / "m"), tmp / "home", go_settings)


PROBE_TEST = """package probe

import (
	"os"
	"testing"
	"time"
)

func TestArgs(t *testing.T) {
	t.Errorf("ARGS %q SHORT %v", os.Args, testing.Short())
}

func TestSleeps(t *testing.T) {
	time.Sleep(time.Hour)
}

func BenchmarkNothing(b *testing.B) {}

// No Output comment: compiled, but go neither lists nor runs it.
func Example() {}
"""


@pytest.fixture(scope="session")
def probe(session_tmp, go_settings):
    """A module whose TestArgs fails on purpose, showing its argv and testing.Short()."""
    tmp = session_tmp / "probe"
    return GoTest(write_module(tmp / "probe", "example.com/probe", {"probe_test.go": PROBE_TEST}), tmp / "home",
                  go_settings)


def probe_args(gt, *args, env=None):
    """(argv the binary got, testing.Short(), the source location prefix) from TestArgs."""
    r = gt.run("--ui", "simple", "-i", "name.equals(TestArgs)", *args, env=env)
    assert r.returncode == 1, r.stdout + r.stderr
    assert statuses(r.stdout) == {"example.com/probe TestArgs": "FAIL"}, r.stdout
    m = re.search(r"^    (\S+): ARGS \[(.*)\] SHORT (true|false)$", r.stdout, re.M)
    assert m, r.stdout
    return json.loads("[" + m.group(2).replace('" "', '", "') + "]"), m.group(3) == "true", m.group(1)


def job_args(short=False, fullpath=False, extra=()):
    return ["/probe.test", "-test.run", "^TestArgs$", "-test.timeout=0", "-test.v", "-test.paniconexit0",
            f"-test.short={str(short).lower()}", f"-test.fullpath={str(fullpath).lower()}", *extra]


# ---- 1. the full run ---------------------------------------------------------------------------

def test_full_run_reports_every_status_the_summary_and_the_failure_output(built):
    r = built.result
    # The first failing test's exit code: go test binaries exit 1 on failure.
    assert r.returncode == 1, r.stdout + r.stderr
    assert statuses(r.stdout) == ALL_CASES, r.stdout + r.stderr
    assert r.stderr == "", r.stderr
    lines = r.stdout.splitlines()
    # Each status line is followed by the failing test's own output, without the harness's
    # `=== RUN` and `--- FAIL` lines around it.
    i = next(i for i, l in enumerate(lines) if l.startswith(f"{MODULE}/fail TestFails."))
    assert lines[i + 1] == "    fail_test.go:8: expected 3, got 4", r.stdout
    assert "=== RUN   TestFails" not in r.stdout and "--- FAIL: TestFails" not in r.stdout, r.stdout
    i = next(i for i, l in enumerate(lines) if l.startswith(f"{MODULE}/fail TestSubtestFails."))
    assert lines[i + 1:i + 4] == ["=== RUN   TestSubtestFails/ok", "=== RUN   TestSubtestFails/bad",
                                  "    fail_test.go:29: subtest bad fails on purpose"], r.stdout
    # Passing tests show no output; TestMain's line never shows.
    assert "TestMain ran" not in r.stdout and "--- PASS" not in r.stdout, r.stdout
    # The nested module is not part of ./...
    assert "nested" not in r.stdout, r.stdout

    summary = summary_of(r.stdout)
    assert re.fullmatch(r"=+ Test Summary =+", summary[0]), summary
    assert summary[1] == "Successful Tests:        15", summary
    assert summary[2] == "Failed Tests    :         3", summary
    assert sorted(l.strip() for l in summary[3:6]) == [
        f"{MODULE}/fail TestFails       : failure", f"{MODULE}/fail TestSubtestFails: failure",
        f"{MODULE}/hang TestHangs       : failure"], summary
    assert summary[6] == "Ignored Tests   :         1", summary
    assert summary[7] == f"    {MODULE}/fail TestSkipped: ignored", summary
    assert len(summary) == 8, summary


# ---- 2. state, binaries, listing, filters, options -----------------------------------------------

def test_listing_file_has_version_3_and_a_table_per_case(built):
    text = built.listing
    assert text.splitlines()[0] == "version = 3", text
    assert f'["{MODULE}/pass".test.TestAdd]' in text.splitlines(), text
    data = tomllib.loads(text)
    assert data.pop("version") == 3
    cases = {f"{pkg} {name}": v for pkg, arts in data.items() for name, v in arts.pop("test").items()}
    assert all(arts == {} for arts in data.values()), data  # the artifact key is always `test`
    assert set(cases) == set(ALL_CASES), sorted(cases)
    for name, status in ALL_CASES.items():
        want = {"OK": "success", "FAIL": "failure", "TIMEOUT": "failure"}.get(status)
        if want:
            assert cases[name]["outcome"] == want, (name, cases[name])
            assert len(cases[name]["timings"]) == 1, (name, cases[name])
    # A skipped test records no timing.
    assert cases[f"{MODULE}/fail TestSkipped"]["timings"] == [], cases


def test_an_unchanged_package_keeps_its_binary_file_and_a_changed_one_is_replaced(fresh):
    d = fresh.hidden / "cache" / "test-binaries"
    assert fresh.run("--ui", "quiet", "-i", "package_name.equals(pass) | package_name.equals(tmpwriter)").returncode == 0
    before = {p: (d / p).stat() for p in ("pass/pass.test", "tmpwriter/tmpwriter.test")}
    with open(fresh.module / "pass" / "pass_test.go", "a") as f:
        f.write("\nfunc TestAddedLater(t *testing.T) {}\n")
    r = fresh.run("--ui", "simple", "-i", "package_name.equals(pass) | package_name.equals(tmpwriter)")
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"{MODULE}/pass TestAddedLater" in dict(status_lines(r.stdout))
    after = {p: (d / p).stat() for p in before}
    kept = after["tmpwriter/tmpwriter.test"]
    assert (kept.st_ino, kept.st_mtime_ns) == (before["tmpwriter/tmpwriter.test"].st_ino,
                                              before["tmpwriter/tmpwriter.test"].st_mtime_ns)
    assert after["pass/pass.test"].st_mtime_ns != before["pass/pass.test"].st_mtime_ns
    assert {p.name for p in d.rglob("*") if p.is_file()} == {"pass.test", "tmpwriter.test"}
    # go's own output, which it checks for being up to date, is kept beside: one directory per
    # group of binaries with distinct names.
    staging = fresh.hidden / "cache" / "go-test-c"
    assert {str(p.relative_to(staging)) for p in staging.rglob("*") if p.is_file()} == {"0/pass.test",
                                                                                      "0/tmpwriter.test"}


def test_test_binaries_are_under_the_cache_by_package_dir(built):
    # The root package's binary is at the top; a package without tests has none.
    assert built.binaries == ALL_BINARIES


def test_list_prints_sorted_names_without_benchmarks_or_testmain_output(built, probe):
    r = built.gt.run("--list")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == sorted(ALL_CASES), r.stdout
    assert "Test Summary" not in r.stdout and "TestMain ran" not in r.stdout
    for alias in ("-l", "--list-tests"):
        assert built.gt.run(alias).stdout == r.stdout
    # go lists benchmarks, and not examples without an Output comment: neither is a case.
    r = probe.run("--list")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["example.com/probe TestArgs", "example.com/probe TestSleeps"], r.stdout


def test_filters_select_by_package_path_name_and_import_path(built):
    def listed(*args):
        r = built.gt.run("--list", *args)
        assert r.returncode == 0, r.stderr
        return r.stdout.splitlines()

    assert listed("-i", "package_name.equals(pass)") == sorted(PASS_CASES)
    assert listed("-i", "package_name.equals(pass)", "-x", "name.starts_with(TestPar)") == sorted(
        n for n in PASS_CASES if " TestPar" not in n)
    assert listed("-i", "name.starts_with(TestPar)") == [f"{MODULE}/pass TestParallelA",
                                                         f"{MODULE}/pass TestParallelB"]
    # The module root's package_path is empty.
    assert listed("-i", "package_path.equals()") == [f"{MODULE} TestRoot"]
    # `p` is the import path; matchers abbreviate; several -i are or-ed.
    assert listed("-i", f"p.eq({MODULE}/hang)", "-i", "package_path.equals(cgo)") == [
        f"{MODULE}/cgo TestCgoAdd", f"{MODULE}/hang TestHangs", f"{MODULE}/hang TestQuick"]
    assert listed("-i", "package_import_path.starts_with(example.com/gofixture/f)") == sorted(
        n for n in ALL_CASES if "/fail " in n or "/fuzzy " in n)
    # A real run with a filter runs only those tests.
    r = built.gt.run("--ui", "simple", "-i", "package_name.equals(pass)", "-x", "name.starts_with(TestPar)")
    assert r.returncode == 0, r.stdout + r.stderr
    assert statuses(r.stdout) == {n: s for n, s in PASS_CASES.items() if " TestPar" not in n}, r.stdout


def test_list_packages_builds_nothing_and_a_package_filter_builds_only_its_package(fresh):
    r = fresh.run("--list-packages")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ALL_PACKAGES, r.stdout
    assert not (fresh.hidden / "cache" / "test-binaries").exists()
    r = fresh.run("--list-packages", "-i", "package_name.equals(pass)")
    assert r.stdout.splitlines() == [f"{MODULE}/pass"], r.stdout
    # A name is unknown before building: every package may hold it.
    r = fresh.run("--list-packages", "-i", "name.equals(TestAdd)")
    assert r.stdout.splitlines() == ALL_PACKAGES, r.stdout
    r = fresh.run("--list", "--list-packages")
    assert r.returncode != 0 and r.stdout == "", r.stdout
    assert not (fresh.hidden / "cache" / "test-binaries").exists()

    r = fresh.run("--ui", "simple", "-i", "package_name.equals(pass)")
    assert r.returncode == 0, r.stdout + r.stderr
    assert statuses(r.stdout) == PASS_CASES, r.stdout
    assert fresh.binaries() == {"pass/pass.test"}


def test_init_writes_the_default_spec_once(fresh, tmp):
    spec = fresh.module / "maelstrom-go-test.toml"
    spec.unlink()
    # From a package directory: the file goes to the module root.
    r = fresh.run("--init", cwd=fresh.module / "pass")
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout == f"Wrote default config to {spec}.\n", r.stdout
    text = spec.read_text()
    directives = tomllib.loads(text)["directives"]
    assert len(directives) == 1 and "filter" not in directives[0], text
    assert directives[0]["layers"] == [{"stubs": ["/{proc,sys,tmp}/", "/dev/{full,null,random,urandom,zero}"]}]
    assert {m["type"] for m in directives[0]["mounts"]} == {"tmp", "proc", "sys", "devices"}, text
    assert not (fresh.hidden / "cache" / "test-binaries").exists()  # nothing was built
    r = fresh.run("--init")
    assert r.returncode == 1
    assert r.stdout == f"Config already exists at {spec}. Doing nothing.\n", r.stdout
    assert spec.read_text() == text
    # Without a module there is nowhere to write it.
    empty = tmp / "empty"
    empty.mkdir()
    r = fresh.run("--init", cwd=empty)
    assert r.returncode == 1 and "no go.mod in" in one_line(r.stderr)
    assert list(empty.iterdir()) == []
    # --init needs the module's root only: a package go cannot even list does not stop it.
    spec.unlink()
    (fresh.module / "pass" / "broken.go").write_text("")  # no package clause: go list fails
    assert fresh.run("--list-packages").returncode == 1
    r = fresh.run("--init")
    assert r.returncode == 0 and spec.exists(), r.stdout + r.stderr


def test_a_module_reached_through_a_symlink_has_the_same_package_paths(built, tmp):
    link = tmp / "link"
    link.symlink_to(built.gt.module)
    r = subprocess.run(built.gt.cmd("--list", "-i", "package_path.equals() | package_path.equals(pass)"),
                       capture_output=True, text=True, cwd=link, env=built.gt.env({"PWD": str(link)}), timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == sorted([f"{MODULE} TestRoot"] + [
        f"{MODULE}/pass {n}" for n in ("ExampleHello", "TestAdd", "TestConcat", "TestParallelA", "TestParallelB",
                                       "TestWithSubtests")]), r.stdout
    # The binaries stay inside the module's hidden directory.
    assert built.gt.binaries() >= {"gofixture.test", "pass/pass.test"}


def test_repeat_and_its_loop_alias_run_each_test_n_times(built):
    r = built.gt.run("--ui", "simple", "-i", "name.equals(TestAdd)", "--repeat", "2")
    assert r.returncode == 0, r.stdout + r.stderr
    assert status_lines(r.stdout) == [(f"{MODULE}/pass TestAdd", "OK")] * 2, r.stdout
    assert summary_of(r.stdout)[1:3] == ["Successful Tests:         2", "Failed Tests    :         0"]
    r = built.gt.run("--ui", "simple", "-i", "name.equals(TestAdd)", "--loop", "3")
    assert status_lines(r.stdout) == [(f"{MODULE}/pass TestAdd", "OK")] * 3, r.stdout


def test_partitions_cover_the_suite_exactly_once(built):
    everything = built.gt.run("--list")
    assert everything.returncode == 0, everything.stderr
    names = everything.stdout.splitlines()
    assert len(names) == 19
    for kind in ("count", "hash"):
        shares = []
        for m in (1, 2, 3):
            r = built.gt.run("--list", "--partition", f"{kind}:{m}/3")
            assert r.returncode == 0, r.stderr
            shares.append(r.stdout.splitlines())
        assert sorted(sum(shares, [])) == sorted(names), kind
        assert all(shares), f"{kind}: an empty share of 19 tests"
    # A share runs just its tests.
    share = built.gt.run("--list", "--partition", "count:2/3", "-i", "package_name.equals(pass)").stdout.splitlines()
    r = built.gt.run("--ui", "simple", "--partition", "count:2/3", "-i", "package_name.equals(pass)")
    assert r.returncode == 0, r.stdout + r.stderr
    assert sorted(name for name, _ in status_lines(r.stdout)) == sorted(share)
    assert share == [f"{MODULE}/pass TestAdd", f"{MODULE}/pass TestParallelB"]  # of 6 sorted, the 2nd and 5th


def test_a_malformed_partition_is_one_line_and_runs_nothing(built):
    for bad in ("count:0/3", "hash:4/3", "foo:1/2", "count:1"):
        r = built.gt.run("--partition", bad)
        assert r.returncode == 2, r.stdout + r.stderr
        assert one_line(r.stderr).startswith(f"error: --partition {bad}: "), r.stderr
        assert "count:M/N or hash:M/N" in r.stderr
        assert r.stdout == ""


def test_a_test_running_past_its_slow_timeout_is_reported_slow_until_it_ends(built):
    r = built.gt.run("--ui", "simple", "-i", "package_name.equals(hang)", "--slow-timeout", "500ms")
    assert r.returncode == 1, r.stdout + r.stderr
    slow = [l for l in r.stderr.splitlines() if l.startswith("SLOW")]
    # Once per period while it runs (the spec file's timeout ends it after 2 s), never the quick test.
    assert slow[:3] == [f"SLOW [> {t}s] {MODULE}/hang TestHangs" for t in ("0.500", "1.000", "1.500")], r.stderr
    assert len(slow) <= 4, r.stderr
    assert dict(status_lines(r.stdout))[f"{MODULE}/hang TestHangs"] == "TIMEOUT"
    # The value is shown with the others, and a directive's slow_timeout = 0 turns it off.
    assert 'slow-timeout = "60s"' in built.gt.run("-P").stdout
    spec = built.gt.module / "maelstrom-go-test.toml"
    text = spec.read_text()
    try:
        spec.write_text(text + '\n[[directives]]\nfilter = "package_name.equals(hang)"\nslow_timeout = 0\n')
        r = built.gt.run("--ui", "simple", "-i", "package_name.equals(hang)", "--slow-timeout", "500ms")
        assert "SLOW" not in r.stderr, r.stderr
    finally:
        spec.write_text(text)


FLAKY_TEST = """package flaky

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

// Bumps the counter in the bind-mounted /counter and fails while it was even before.
func TestFlaky(t *testing.T) {
	b, _ := os.ReadFile("/counter/n")
	n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	if err := os.WriteFile("/counter/n", []byte(strconv.Itoa(n+1)), 0o666); err != nil {
		t.Fatal(err)
	}
	if n%2 == 0 {
		t.Fatalf("attempt with counter %d fails", n)
	}
}

func TestAlwaysFails(t *testing.T) { t.Fatal("never passes") }
"""

FLAKY_SPEC = """[[directives]]
layers = [{ stubs = ["/counter/", "/tmp/"] }]
mounts = [
    { type = "tmp", mount_point = "/tmp" },
    { type = "bind", mount_point = "/counter", local_path = "counter", read_only = false },
]
"""


def test_retries_report_a_test_that_passes_later_flaky(tmp, go_settings):
    gt = GoTest(write_module(tmp / "flaky", "example.com/flaky",
                             {"flaky_test.go": FLAKY_TEST, "maelstrom-go-test.toml": FLAKY_SPEC}),
                tmp / "home", go_settings)
    counter = gt.module / "counter"
    counter.mkdir()
    counter.chmod(0o777)  # as root, jobs run as an unprivileged host user
    (counter / "n").write_text("0")
    (counter / "n").chmod(0o666)
    junit = tmp / "report.xml"
    r = gt.run("--ui", "simple", "--retries", "2", "-i", "name.equals(TestFlaky)", "--junit", str(junit))
    assert r.returncode == 0, r.stdout + r.stderr
    assert status_lines(r.stdout) == [("example.com/flaky TestFlaky", "FLAKY 2/3")], r.stdout
    assert (counter / "n").read_text() == "2"
    summary = summary_of(r.stdout)
    assert "Flaky Tests     :         1" in summary and "    example.com/flaky TestFlaky (2/3): flaky" in summary, r.stdout
    case = ET.parse(junit).getroot().find(".//testcase")
    flaky = case.findall("flakyFailure")
    assert len(flaky) == 1 and "attempt with counter 0 fails" in flaky[0].text, ET.tostring(case)
    assert case.find("failure") is None
    # --flaky-result fail: the same flaky test fails the run.
    (counter / "n").write_text("0")
    r = gt.run("--ui", "simple", "--retries", "2", "-i", "name.equals(TestFlaky)", "--flaky-result", "fail")
    assert r.returncode == 1, r.stdout + r.stderr
    # A test failing every attempt is FAIL with each attempt's output.
    r = gt.run("--ui", "simple", "--retries", "2", "-i", "name.equals(TestAlwaysFails)")
    assert r.returncode == 1
    assert status_lines(r.stdout) == [("example.com/flaky TestAlwaysFails", "FAIL")], r.stdout
    assert r.stdout.count("never passes") == 3, r.stdout
    assert "attempt 1 of 3: exited with code 1" in r.stdout and "attempt 3 of 3: exited with code 1" in r.stdout
    # A negative count is refused on the command line.
    r = gt.run("--retries", "-1")
    assert r.returncode == 2 and "retries" in one_line(r.stderr), r.stderr


def test_stop_after_stops_at_the_first_failure(built):
    r = built.gt.run("--ui", "simple", "--slots", "1", "-i", "name.equals(TestFails)", "--repeat", "4",
                     "--stop-after", "1")
    assert r.returncode == 1, r.stdout + r.stderr
    assert status_lines(r.stdout) == [(f"{MODULE}/fail TestFails", "FAIL")], r.stdout
    summary = summary_of(r.stdout)
    assert summary[2] == "Failed Tests    :         1", summary
    assert any(l.startswith("Tests Not Run   :") for l in summary), summary


def test_timeout_overrides_the_spec_and_ends_a_hanging_test(probe):
    # The probe module has no spec file: without --timeout TestSleeps would sleep an hour.
    r = probe.run("--ui", "simple", "-i", "name.equals(TestSleeps)", "--timeout", "1")
    assert r.returncode == 1, r.stdout + r.stderr
    assert statuses(r.stdout) == {"example.com/probe TestSleeps": "TIMEOUT"}, r.stdout
    assert summary_of(r.stdout)[3].strip() == "example.com/probe TestSleeps: failure"
    assert processes_left(str(probe.module)) == []


def test_junit_report_of_the_full_run(built):
    root = ET.parse(built.junit).getroot()
    assert root.tag == "testsuites"
    assert (root.get("tests"), root.get("failures"), root.get("skipped")) == ("19", "3", "1")
    cases = {f"{c.get('classname')} {c.get('name')}": c for c in root.iter("testcase")}
    assert set(cases) == set(ALL_CASES)
    assert len(list(root.iter("testcase"))) == 19
    for name, status in ALL_CASES.items():
        children = [child.tag for child in cases[name]]
        want = {"OK": [], "IGNORED": ["skipped"]}.get(status, ["failure"])
        assert children == want, (name, children)
    failure = cases[f"{MODULE}/fail TestFails"].find("failure")
    assert "expected 3, got 4" in failure.text and "=== RUN   TestFails" not in failure.text


def test_extra_args_after_double_dash_reach_the_test_binary(built):
    r = built.gt.run("--ui", "simple", "-i", "name.equals(TestAdd)", "--", "-test.no-such-flag")
    # The binary refuses the flag with go's usage error: exit code 2 becomes the run's.
    assert r.returncode == 2, r.stdout + r.stderr
    assert statuses(r.stdout) == {f"{MODULE}/pass TestAdd": "FAIL"}, r.stdout
    assert "stderr: flag provided but not defined: -test.no-such-flag" in r.stdout.splitlines(), r.stdout
    # A word before `--` is not taken for a test binary argument.
    r = built.gt.run("--ui", "simple", "TestAdd")
    assert r.returncode == 2 and "unexpected argument 'TestAdd'" in one_line(r.stderr), r.stderr


def test_job_arguments_by_default(probe):
    args, short, where = probe_args(probe)
    assert args == job_args(), args
    assert short is False and re.fullmatch(r"probe_test\.go:\d+", where), where


def test_short_fullpath_and_extra_args_from_the_command_line(probe):
    args, short, where = probe_args(probe, "--short", "--fullpath", "--", "-test.count=1", "-test.cpu=1")
    assert args == job_args(short=True, fullpath=True, extra=["-test.count=1", "-test.cpu=1"]), args
    assert short is True
    assert re.fullmatch(re.escape(str(probe.module / "probe_test.go")) + r":\d+", where), where


def test_short_and_extra_args_from_the_environment(probe):
    args, short, _ = probe_args(probe, env={"MAELSTROM_GO_TEST_SHORT": "true",
                                            "MAELSTROM_GO_TEST_EXTRA_TEST_BINARY_ARGS": "-test.count=1 -test.cpu=1",
                                            "MAELSTROM_FULLPATH": "true"})
    assert args == job_args(short=True, fullpath=True, extra=["-test.count=1", "-test.cpu=1"]), args
    assert short is True
    # The command line wins over the environment.
    args, _, _ = probe_args(probe, "--", "-test.cpu=2",
                            env={"MAELSTROM_GO_TEST_EXTRA_TEST_BINARY_ARGS": "-test.count=1"})
    assert args == job_args(extra=["-test.cpu=2"]), args


def test_go_values_from_the_config_file(probe):
    cfg = probe.home / ".config" / "maelstrom" / "go-test" / "config.toml"  # Maelstrom's directory
    cfg.parent.mkdir(parents=True, exist_ok=True)
    cfg.write_text('short = true\nfullpath = true\nvet = "off"\nextra-test-binary-args = ["-test.cpu=1"]\n')
    try:
        args, short, _ = probe_args(probe)
        assert args == job_args(short=True, fullpath=True, extra=["-test.cpu=1"]), args
        assert short is True
        r = probe.run("-P")
        assert r.returncode == 0, r.stderr
        assert re.search(r'^vet = "off"', r.stdout, re.M), r.stdout
    finally:
        cfg.unlink()


# ---- 3. bad input --------------------------------------------------------------------------------

def test_no_go_mod_is_one_line(tmp, go_settings):
    empty = tmp / "empty"
    empty.mkdir()
    gt = GoTest(empty, tmp / "home", go_settings)
    r = gt.run("--ui", "simple")
    assert r.returncode == 1, r.stdout + r.stderr
    assert one_line(r.stderr) == (f"error: no go.mod in {empty} or any directory above it: run maelstrom-go-test "
                                  "inside a Go module (`go mod init` makes one)")
    assert r.stdout == "" and list(empty.iterdir()) == []


def test_go_missing_from_path_is_one_line(built):
    r = built.gt.run("--ui", "simple", env={"PATH": str(BIN_DIR)})
    assert r.returncode == 1, r.stdout + r.stderr
    assert one_line(r.stderr) == "error: cannot run 'go': No such file or directory (is it installed and on PATH?)"


def test_a_package_that_does_not_compile_gives_gos_message_and_code(fresh):
    (fresh.module / "pass" / "broken_test.go").write_text(
        "package pass\n\nimport \"testing\"\n\nfunc TestBroken(t *testing.T) { undefinedThing() }\n")
    r = fresh.run("--ui", "simple")
    assert r.returncode == 1, r.stdout + r.stderr
    err = r.stderr.splitlines()
    assert f"# {MODULE}/pass [{MODULE}/pass.test]" in err, r.stderr
    # go runs in the module's root, so its paths are relative to it (as with `go test ./...`).
    assert any(re.fullmatch(r"pass/broken_test\.go:5:\d+: undefined: undefinedThing", l) for l in err), r.stderr
    assert err[-1] == f"error: build failed: go test -c exited with code 1 for package {MODULE}/pass", r.stderr
    assert f"{MODULE}/pass TestAdd" not in r.stdout, r.stdout
    assert processes_left(str(fresh.module)) == []


def util_test(name, body=""):
    return f"package util\n\nimport \"testing\"\n\nfunc {name}(t *testing.T) {{ {body} }}\n"


def test_packages_whose_binaries_share_a_name_build_in_groups_of_their_own(tmp, go_settings):
    # Three packages named util: one `go test -c -o DIR/` cannot write three util.test files.
    # go names api/v1's and other/v1's binaries v1.test (it skips version elements from v2 on).
    mod = write_module(tmp / "coll", "example.com/coll", {
        "a/util/util_test.go": util_test("TestA"), "b/util/util_test.go": util_test("TestB"),
        "c/util/v2/util_test.go": util_test("TestC"), "api/v1/v1_test.go": util_test("TestV1"),
        "other/v1/v1_test.go": util_test("TestOtherV1")})
    gt = GoTest(mod, tmp / "home", go_settings)
    r = gt.run("--ui", "simple")
    assert r.returncode == 0, r.stdout + r.stderr
    assert statuses(r.stdout) == {"example.com/coll/a/util TestA": "OK", "example.com/coll/b/util TestB": "OK",
                                  "example.com/coll/c/util/v2 TestC": "OK", "example.com/coll/api/v1 TestV1": "OK",
                                  "example.com/coll/other/v1 TestOtherV1": "OK"}, r.stdout
    staging = gt.hidden / "cache" / "go-test-c"
    assert sorted(str(p.relative_to(staging)) for p in staging.rglob("*.test")) == [
        "0/util.test", "0/v1.test", "1/util.test", "1/v1.test", "2/util.test"]
    # The binaries as tests see them keep Maelstrom's names.
    assert gt.binaries() >= {"api/v1/api.test", "other/v1/other.test", "c/util/v2/util.test"}, gt.binaries()
    # A package that fails in a later group is the one named.
    (mod / "b" / "util" / "util_test.go").write_text(util_test("TestB", "undefinedThing()"))
    r = gt.run("--ui", "simple")
    assert r.returncode == 1, r.stdout + r.stderr
    assert r.stderr.splitlines()[-1] == \
        "error: build failed: go test -c exited with code 1 for package example.com/coll/b/util", r.stderr
    assert "b/util/util_test.go:5:" in r.stderr, r.stderr
    assert processes_left(str(mod)) == []


def test_an_unchanged_module_runs_neither_go_list_nor_go_test_c(tmp, go_settings):
    # A `go` first on PATH that logs its arguments and runs the real one.
    real_go = shutil.which("go")
    wrapper = tmp / "wrap"
    wrapper.mkdir()
    log = tmp / "go.log"
    (wrapper / "go").write_text(f'#!/bin/sh\necho "$1 $2" >> {log}\nexec {real_go} "$@"\n')
    (wrapper / "go").chmod(0o755)
    mod = write_module(tmp / "still", "example.com/still", {"a/a_test.go": util_test("TestA"),
                                                            "b/b_test.go": util_test("TestB")})
    gt = GoTest(mod, tmp / "home", go_settings)
    path = {"PATH": f"{wrapper}:{BIN_DIR}:{os.environ['PATH']}"}
    # (`go env`, a few milliseconds, runs every time: the settings go builds by.)
    calls = lambda: [c for c in (log.read_text().splitlines() if log.exists() else []) if c != "env -json"]
    time.sleep(2.1)  # file times advance in ticks: a check is trusted for files older than 2 s
    r = gt.run("--ui", "simple", env=path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert calls() == ["list -json", "test -c"], calls()
    # Nothing changed: the package list and the binaries go checked are used as they are.
    r = gt.run("--ui", "simple", env=path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert statuses(r.stdout) == {"example.com/still/a TestA": "OK", "example.com/still/b TestB": "OK"}, r.stdout
    assert calls() == ["list -json", "test -c"], calls()
    # A deleted binary, a setting go reads from the environment, an edit: go checks again.
    (gt.hidden / "cache" / "test-binaries" / "b" / "b.test").unlink()
    r = gt.run("--ui", "simple", env=path)
    assert r.returncode == 0, r.stdout + r.stderr
    # (the package list still holds: only the binaries are checked)
    assert calls()[2:] == ["test -c"], calls()
    assert (gt.hidden / "cache" / "test-binaries" / "b" / "b.test").is_file()
    assert gt.run("--ui", "simple", env=path).returncode == 0
    assert len(calls()) == 3, calls()
    r = gt.run("--ui", "simple", env={**path, "GOFLAGS": "-tags=other"})
    assert r.returncode == 0, r.stdout + r.stderr
    assert len(calls()) == 5, calls()
    with open(mod / "a" / "a_test.go", "a") as f:
        f.write("\nfunc TestLater(t *testing.T) {}\n")
    r = gt.run("--ui", "simple", env=path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "example.com/still/a TestLater" in statuses(r.stdout), r.stdout
    assert len(calls()) == 7, calls()


def test_a_go_that_writes_no_test_binary_is_one_line(tmp, go_settings):
    # A `go` whose `test -c` succeeds without writing anything.
    wrapper = tmp / "wrap"
    wrapper.mkdir()
    (wrapper / "go").write_text(f'#!/bin/sh\nif [ "$1 $2" = "test -c" ]; then exit 0; fi\nexec {shutil.which("go")} "$@"\n')
    (wrapper / "go").chmod(0o755)
    mod = write_module(tmp / "nobin", "example.com/nobin", {"a/a_test.go": util_test("TestA")})
    gt = GoTest(mod, tmp / "home", go_settings)
    r = gt.run("--ui", "simple", env={"PATH": f"{wrapper}:{os.environ['PATH']}"})
    assert r.returncode == 1, r.stdout + r.stderr
    assert one_line(r.stderr) == ("error: go test -c ended without error but wrote no test binary for package "
                                  f"example.com/nobin/a (expected {gt.hidden}/cache/go-test-c/0/a.test)"), r.stderr
    assert processes_left(str(mod)) == []


def test_a_sigterm_to_the_runner_alone_ends_the_build_tool_and_its_children(tmp, go_settings):
    # A `go` whose `test -c` starts a child of its own and waits: neither gets the signal from
    # anyone but the runner (no terminal here).
    marker = f"{tmp}/go-build-marker"
    wrapper = tmp / "wrap"
    wrapper.mkdir()
    real_go = shutil.which("go")
    (wrapper / "go").write_text(
        f'#!/bin/sh\nif [ "$1 $2" = "test -c" ]; then sh -c "sleep 300 # {marker}" & sleep 301; fi\n'
        f'exec {real_go} "$@"\n')
    (wrapper / "go").chmod(0o755)
    mod = write_module(tmp / "slow", "example.com/slow", {"a/a_test.go": util_test("TestA")})
    gt = GoTest(mod, tmp / "home", go_settings)
    p = subprocess.Popen(gt.cmd("--ui", "simple"), cwd=mod, env=gt.env({"PATH": f"{wrapper}:{os.environ['PATH']}"}),
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while not host_processes(marker):
            assert time.monotonic() < deadline and p.poll() is None, "the wrapper's child never started"
            time.sleep(0.05)
        p.send_signal(signal.SIGTERM)
        out, _ = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
    assert p.returncode == 128 + signal.SIGTERM, out
    assert out.rstrip().endswith("interrupted"), out
    assert processes_left(marker, timeout=3) == []
    assert processes_left(str(wrapper), timeout=3) == []


CRASH_MAIN = """package crash

import (
	"os"
	"strings"
	"testing"
)

func TestMain(m *testing.M) {
	for _, a := range os.Args[1:] {
		if strings.HasPrefix(a, "-test.list") {
			%s
		}
	}
	os.Exit(m.Run())
}

func TestFine(t *testing.T) {}
"""


def crash_module(tmp, go_settings, on_list):
    mod = write_module(tmp / "crash", "example.com/crash", {"crash_test.go": CRASH_MAIN % on_list})
    return GoTest(mod, tmp / "home", go_settings)


def test_a_test_binary_failing_while_listing_is_one_line(tmp, go_settings):
    gt = crash_module(tmp, go_settings, 'os.Stderr.WriteString("refusing to list\\n")\n\t\t\tos.Exit(3)')
    r = gt.run("--ui", "simple")
    assert r.returncode == 1, r.stdout + r.stderr
    binary = gt.hidden / "cache" / "test-binaries" / "crash.test"
    assert one_line(r.stderr) == f"error: test binary {binary}: listing its tests failed: exited with code 3: " \
                                 "refusing to list"
    assert "TestFine" not in r.stdout
    assert processes_left(str(gt.module)) == []


def test_a_test_binary_panicking_while_listing_names_the_panic(tmp, go_settings):
    gt = crash_module(tmp, go_settings, 'panic("no listing for you")')
    r = gt.run("--ui", "simple")
    assert r.returncode == 1, r.stdout + r.stderr
    binary = gt.hidden / "cache" / "test-binaries" / "crash.test"
    line = one_line(r.stderr)
    assert line.startswith(f"error: test binary {binary}: listing its tests failed: exited with code 2"), line
    # The panic's message, not the last line of its goroutine trace.
    assert "panic: no listing for you" in line, line
    assert processes_left(str(gt.module)) == []


def test_a_malformed_spec_file_names_the_file_and_line(fresh):
    spec = fresh.module / "maelstrom-go-test.toml"
    spec.write_text('[[directives]]\nnetwork = "loopback"\nbogus = 1\n')
    r = fresh.run("--ui", "simple")
    assert r.returncode == 1, r.stdout + r.stderr
    assert one_line(r.stderr).startswith(f"error: {spec}: line 3 column 1: unknown field `bogus`"), r.stderr
    spec.write_text("[[directives]\n")
    r = fresh.run("--ui", "simple")
    assert r.returncode == 1, r.stdout + r.stderr
    assert one_line(r.stderr).startswith(f"error: {spec}: line 1 "), r.stderr
    assert "Test Summary" not in r.stdout
    assert processes_left(str(fresh.module)) == []


def test_a_bad_filter_names_the_column(built):
    r = built.gt.run("-i", "name.equals(x) &&")
    assert r.returncode == 1
    assert one_line(r.stderr) == ("error: invalid filter 'name.equals(x) &&': at column 18: "
                                  "expected a selector, found the end of the filter")
    r = built.gt.run("-x", "package_path.bogus(y)")
    assert r.returncode == 1
    assert one_line(r.stderr).startswith(
        "error: invalid filter 'package_path.bogus(y)': at column 14: matcher `bogus` is unknown"), r.stderr
    # There is no `test` selector (the manual's `test.equals(foo_test)` does not parse).
    r = built.gt.run("-i", "test.equals(foo_test)")
    assert r.returncode == 1
    assert one_line(r.stderr).startswith(
        "error: invalid filter 'test.equals(foo_test)': at column 1: compound selector `test` is unknown"), r.stderr


VET_BAIT = """package vetbait

import "testing"

func TestVetBait(t *testing.T) {
	t.Logf("%d", "not a number")
}
"""


@pytest.fixture
def vetbait(tmp, go_settings):
    """A module whose only test fails go vet's printf check (run by go test -c by default)."""
    return GoTest(write_module(tmp / "vetbait", "example.com/vetbait", {"vetbait_test.go": VET_BAIT}),
                  tmp / "home", go_settings)


def test_vet_runs_by_default_and_vet_off_turns_it_off(vetbait):
    r = vetbait.run("--ui", "simple")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "format %d has arg \"not a number\" of wrong type string" in r.stderr, r.stderr
    assert r.stderr.splitlines()[-1] == ("error: build failed: go test -c exited with code 1 for package "
                                         "example.com/vetbait"), r.stderr
    for args, env in ((["--vet", "off"], None), (["--vet=off"], None), ([], {"MAELSTROM_GO_TEST_VET": "off"})):
        r = vetbait.run("--ui", "simple", *args, env=env)
        assert r.returncode == 0, (args, env, r.stdout + r.stderr)
        assert statuses(r.stdout) == {"example.com/vetbait TestVetBait": "OK"}, r.stdout


def test_a_vet_value_go_does_not_know_is_one_line(vetbait):
    r = vetbait.run("--ui", "simple", "--vet", "bogus")
    assert r.returncode == 2, r.stdout + r.stderr
    line = one_line(r.stderr)
    assert line.startswith('error: vet value "bogus" refused by go: invalid value "bogus" for flag -vet'), line
    r = vetbait.run("--ui", "simple", "--vet", "a b")
    assert r.returncode == 2, r.stdout + r.stderr
    assert one_line(r.stderr).startswith('error: vet value "a b" is not off, all, or a comma-separated list'), \
        r.stderr
    assert r.stdout == ""
    assert processes_left(str(vetbait.module)) == []


# ---- 4. --watch ----------------------------------------------------------------------------------

def test_watch_reruns_after_an_edit_and_not_on_its_own_writes(fresh, tmp):
    out = tmp / "watch.out"
    # A positional word after the go flags: go's flag parsing stops there, and it marks the jobs.
    marker = f"go-watch-marker-{os.getpid()}"
    waiting = f"; waiting for changes in {fresh.module} (Ctrl-C to stop)"
    with open(out, "w") as f:
        p = subprocess.Popen(fresh.cmd("--watch", "--ui", "simple", "-i", "package_name.equals(pass)", "--", marker),
                             cwd=fresh.module, env=fresh.env(), stdout=f, stderr=subprocess.STDOUT,
                             start_new_session=True)
    try:
        def runs():
            return out.read_text().count(waiting)

        def wait_runs(n, limit=240):  # a hang guard, not a speed test
            deadline = time.monotonic() + limit
            while runs() < n:
                assert p.poll() is None, out.read_text()
                assert time.monotonic() < deadline, out.read_text()
                time.sleep(0.1)

        wait_runs(1)
        assert f"exit code 0{waiting}" in out.read_text().splitlines(), out.read_text()
        assert statuses(out.read_text()) == PASS_CASES, out.read_text()
        # Left alone it stays waiting, though the run wrote its state and binaries under
        # .maelstrom-go-test; more writes there are not an edit either.
        (fresh.hidden / "state" / "noise").write_text("x")
        time.sleep(3)
        assert runs() == 1, out.read_text()
        # An edit: the next run rebuilds and sees the new test.
        with open(fresh.module / "pass" / "pass_test.go", "a") as f:
            f.write("\nfunc TestAddedLater(t *testing.T) {}\n")
        wait_runs(2)
        text = out.read_text()
        assert text.count(f"{MODULE}/pass TestAdd....") == 2, text
        assert re.search(rf"^{re.escape(MODULE)}/pass TestAddedLater\.+\s*OK", text, re.M), text
        time.sleep(3)
        assert runs() == 2, out.read_text()
    finally:
        p.send_signal(signal.SIGINT)
        try:
            rc = p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            rc = p.wait()
    assert rc == 128 + signal.SIGINT, out.read_text()
    assert out.read_text().rstrip().endswith("interrupted"), out.read_text()
    assert processes_left(marker) == [] and processes_left(str(fresh.module)) == []
    try:
        os.killpg(p.pid, 0)
        left = True
    except ProcessLookupError:
        left = False
    assert not left, "processes of the watch's session are still running"


# ---- 5. cluster ----------------------------------------------------------------------------------

@pytest.fixture
def cluster(tmp):
    with running_cluster(tmp / "cluster") as c:
        yield c


def test_broker_with_two_workers_gives_the_same_statuses(fresh, cluster):
    bin_path("maelstrom-broker")
    bin_path("maelstrom-worker")
    cluster.start_broker()
    cluster.start_worker(slots=2, name="w1")
    cluster.start_worker(slots=2, name="w2")
    cluster.wait_workers(2)
    r = fresh.run("--ui", "simple", "-b", cluster.address)
    assert r.returncode == 1, r.stdout + r.stderr
    assert statuses(r.stdout) == ALL_CASES, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    i = next(i for i, l in enumerate(lines) if l.startswith(f"{MODULE}/fail TestFails."))
    assert lines[i + 1] == "    fail_test.go:8: expected 3, got 4", r.stdout
    # Every test ran on the cluster (the skipped one runs too: go reports the skip).
    assert http_status(cluster)["completed"] == len(ALL_CASES), http_status(cluster)
    # The broker address from the environment works the same.
    r = fresh.run("--ui", "simple", "-i", "package_name.equals(pass)",
                  env={"MAELSTROM_GO_TEST_BROKER": cluster.address})
    assert r.returncode == 0 and statuses(r.stdout) == PASS_CASES, r.stdout + r.stderr
    assert http_status(cluster)["completed"] == len(ALL_CASES) + len(PASS_CASES)


# ---- cached results ----

def cached_statuses(cases):
    """What a second run of `cases` reports: passing tests CACHED, the others as before."""
    return {n: "CACHED" if s == "OK" else s for n, s in cases.items()}


def test_second_run_is_cached_and_a_source_change_reruns_only_its_package(fresh, tmp):
    r = fresh.run("--ui", "simple", env=CACHED_RESULTS)
    assert statuses(r.stdout) == ALL_CASES, r.stdout + r.stderr
    assert (fresh.hidden / "state" / "test-results.json").exists()
    junit = tmp / "report.xml"
    r = fresh.run("--ui", "simple", "--junit", str(junit), env=CACHED_RESULTS)
    assert r.returncode == 1, r.stdout + r.stderr
    assert statuses(r.stdout) == cached_statuses(ALL_CASES), r.stdout
    passing = sum(1 for s in ALL_CASES.values() if s == "OK")
    summary = summary_of(r.stdout)
    assert summary[1].split() == ["Successful", "Tests:", str(passing)], summary
    assert f"Cached Tests    :{passing:>10}" in summary, summary
    root = ET.parse(junit).getroot()
    cached = [c for c in root.iter("testcase") if c.find("system-out") is not None
              and c.find("system-out").text.startswith("cached: ")]
    # Passes, and the tests that skipped themselves (t.Skip) last time, IGNORED again from the cache.
    skipped_before = [n for n, s in ALL_CASES.items() if s == "IGNORED"]
    assert len([c for c in cached if c.find("skipped") is None]) == passing
    assert len([c for c in cached if c.find("skipped") is not None]) == len(skipped_before), skipped_before
    assert sum(int(p.get("value")) for p in root.iter("property") if p.get("name") == "cached") == passing
    # An edit to pass's test source reruns pass's tests only.
    src = fresh.module / "pass" / "pass_test.go"
    src.write_text(src.read_text() + "\nfunc TestAddedLater(t *testing.T) {}\n")
    r = fresh.run("--ui", "simple", "-x", "package_name.equals(hang)", env=CACHED_RESULTS)
    expected = {n: s for n, s in cached_statuses(ALL_CASES).items() if not n.startswith(f"{MODULE}/hang ")}
    expected.update({**PASS_CASES, f"{MODULE}/pass TestAddedLater": "OK"})
    assert statuses(r.stdout) == expected, r.stdout + r.stderr


def test_no_cache_repeat_and_what_is_never_cached(fresh):
    sel = ("-i", "package_name.equals(pass)")
    assert statuses(fresh.run("--ui", "simple", *sel, env=CACHED_RESULTS).stdout) == PASS_CASES
    assert statuses(fresh.run("--ui", "simple", *sel, env=CACHED_RESULTS).stdout) == cached_statuses(PASS_CASES)
    assert statuses(fresh.run("--ui", "simple", "--no-cache", *sel, env=CACHED_RESULTS).stdout) == PASS_CASES
    assert statuses(fresh.run("--ui", "simple", *sel).stdout) == PASS_CASES  # MAELSTROM_GO_TEST_NO_CACHE=true
    r = fresh.run("-P", env={"MAELSTROM_GO_TEST_NO_CACHE": "true"})
    assert "no-cache = true" in r.stdout.splitlines(), r.stdout
    r = fresh.run("--ui", "simple", "--repeat", "2", *sel, env=CACHED_RESULTS)
    assert sorted(status_lines(r.stdout)) == sorted(list(PASS_CASES.items()) * 2), r.stdout
    # The host network, a bind mount and `cache = false`: never cached.
    (fresh.module / "bound").mkdir()
    with open(fresh.module / "maelstrom-go-test.toml", "a") as f:
        f.write("""
[[directives]]
filter = "package_name.equals(pass) && name.equals(TestAdd)"
network = "local"
mounts = [{ type = "tmp", mount_point = "/tmp" }]

[[directives]]
filter = "package_name.equals(pass) && name.equals(TestConcat)"
added_layers = [{ stubs = ["/bound/"] }]
added_mounts = [{ type = "bind", mount_point = "/bound", local_path = "bound" }]

[[directives]]
filter = "package_name.equals(pass) && name.equals(ExampleHello)"
cache = false
""")
    for _ in range(2):
        r = fresh.run("--ui", "simple", *sel, env=CACHED_RESULTS)
    assert r.returncode == 0, r.stdout + r.stderr
    rerun = {f"{MODULE}/pass TestAdd", f"{MODULE}/pass TestConcat", f"{MODULE}/pass ExampleHello"}
    assert statuses(r.stdout) == {n: "OK" if n in rerun else "CACHED" for n in PASS_CASES}, r.stdout


def test_a_failed_test_is_not_cached_and_a_damaged_cache_file_is_ignored(fresh):
    sel = ("-i", "package_name.equals(fail)")
    fail_cases = {n: s for n, s in ALL_CASES.items() if n.startswith(f"{MODULE}/fail ")}
    assert statuses(fresh.run("--ui", "simple", *sel, env=CACHED_RESULTS).stdout) == fail_cases
    r = fresh.run("--ui", "simple", *sel, env=CACHED_RESULTS)
    assert statuses(r.stdout) == cached_statuses(fail_cases), r.stdout
    cache = fresh.hidden / "state" / "test-results.json"
    cache.write_text('{"version": 1, "passed": [')
    r = fresh.run("--ui", "simple", *sel, env=CACHED_RESULTS)
    assert r.returncode == 1 and statuses(r.stdout) == fail_cases, r.stdout + r.stderr
    warnings = [l for l in r.stderr.splitlines() if l.startswith("warning: ignoring the cached results")]
    assert len(warnings) == 1 and str(cache) in warnings[0], r.stderr
    assert statuses(fresh.run("--ui", "simple", *sel, env=CACHED_RESULTS).stdout) == cached_statuses(fail_cases)


def test_through_a_broker_cached_jobs_never_reach_it(fresh, cluster):
    bin_path("maelstrom-broker")
    bin_path("maelstrom-worker")
    cluster.start_broker()
    cluster.start_worker(slots=2, name="w1")
    cluster.start_worker(slots=2, name="w2")
    cluster.wait_workers(2)
    sel = ("-i", "package_name.equals(pass)")
    r = fresh.run("--ui", "simple", "-b", cluster.address, *sel, env=CACHED_RESULTS)
    assert statuses(r.stdout) == PASS_CASES, r.stdout + r.stderr
    assert http_status(cluster)["completed"] == len(PASS_CASES)
    r = fresh.run("--ui", "simple", "-b", cluster.address, *sel, env=CACHED_RESULTS)
    assert statuses(r.stdout) == cached_statuses(PASS_CASES), r.stdout + r.stderr
    assert http_status(cluster)["completed"] == len(PASS_CASES)
    # The same keys standalone: the cluster's passes count here too.
    assert statuses(fresh.run("--ui", "simple", *sel, env=CACHED_RESULTS).stdout) == cached_statuses(PASS_CASES)
