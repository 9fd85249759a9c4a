"""cargo-maelstrom's cached results and retries end to end, on the small two-crate fixture
(tests/fixtures/cargo-cache): each test works on its own copy."""
import json
import pathlib
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from cargo_util import cargo_env, status_of
from testlib import ROOT, bin_path

sys.path.insert(0, str(ROOT / "tests" / "cluster"))
from cluster_util import http_status, running_cluster  # noqa: E402

FIXTURE = ROOT / "tests" / "fixtures" / "cargo-cache"
TESTS = ["one tests::adds", "one tests::subtracts", "two tests::shouts", "two tests::fails_on_request",
         "two tests::flaky"]

pytestmark = pytest.mark.skipif(shutil.which("cargo") is None, reason="cargo is not installed")


class Workspace:
    def __init__(self, tmp):
        self.ws = shutil.copytree(FIXTURE, tmp / "ws", ignore=shutil.ignore_patterns("target"))
        self.home = tmp / "home"
        self.home.mkdir()
        self.state = self.ws / "target" / "maelstrom" / "state"

    def run(self, *args, env=None):
        e = cargo_env(self.home, cached_results=True)
        e.update(env or {})
        return subprocess.run(["cargo", "maelstrom", "--ui", "simple", *args], cwd=self.ws, env=e,
                              capture_output=True, text=True, timeout=300)

    def add_directives(self, text):
        with open(self.ws / "cargo-maelstrom.toml", "a") as f:
            f.write("\n" + text)


@pytest.fixture
def ws(tmp_path):
    bin_path("cargo-maelstrom")
    return Workspace(tmp_path)


def every(status):
    return {name: status for name in TESTS}


def summary(stdout):
    return stdout[stdout.index("== Test Summary =="):].splitlines()


def test_second_run_is_cached_and_counted_in_summary_and_junit(ws, tmp_path):
    r = ws.run()
    assert r.returncode == 0, r.stdout + r.stderr
    assert status_of(r.stdout) == every("OK")
    assert "Cached Tests" not in r.stdout
    # Beside the test listing.
    saved = json.loads((ws.state / "test-results.json").read_text())
    assert set(saved["passed"]["one"]["one(library)"]) == {"tests::adds", "tests::subtracts"}
    assert (ws.state / "test-listing.toml").exists()

    junit = tmp_path / "report.xml"
    r = ws.run("--junit", str(junit))
    assert r.returncode == 0, r.stdout + r.stderr
    assert status_of(r.stdout) == every("CACHED")
    lines = summary(r.stdout)
    assert lines[1].split() == ["Successful", "Tests:", "5"]
    assert lines[-1].split() == ["Cached", "Tests", ":", "5"]
    root = ET.parse(junit).getroot()
    assert root.get("tests") == "5" and root.get("failures") == "0" and root.get("skipped") == "0"
    for suite in root.iter("testsuite"):
        prop = suite.find("properties/property")
        assert prop.get("name") == "cached" and prop.get("value") == str(len(suite.findall("testcase")))
    for case in root.iter("testcase"):
        assert case.find("system-out").text.startswith("cached: "), ET.tostring(case)


def test_a_change_reruns_only_the_tests_whose_binary_changed(ws):
    assert ws.run().returncode == 0
    src = ws.ws / "crates" / "one" / "src" / "lib.rs"
    src.write_text(src.read_text().replace("a + b", "b + a"))
    r = ws.run()
    assert r.returncode == 0, r.stdout + r.stderr
    assert status_of(r.stdout) == {**every("CACHED"), "one tests::adds": "OK", "one tests::subtracts": "OK"}
    # A clean rebuild gives byte-identical binaries, whose tests stay cached.
    shutil.rmtree(ws.ws / "target" / "debug")
    r = ws.run()
    assert "Compiling one" in r.stderr, r.stderr
    assert status_of(r.stdout) == every("CACHED"), r.stdout + r.stderr


def test_no_cache_flag_environment_and_repeat_run_everything(ws):
    assert ws.run().returncode == 0
    r = ws.run("--no-cache")
    assert status_of(r.stdout) == every("OK"), r.stdout + r.stderr
    r = ws.run(env={"CARGO_MAELSTROM_NO_CACHE": "true"})
    assert status_of(r.stdout) == every("OK"), r.stdout + r.stderr
    r = ws.run("-P", env={"CARGO_MAELSTROM_NO_CACHE": "true"})
    assert "no-cache = true" in r.stdout.splitlines(), r.stdout
    r = ws.run("--repeat", "2")
    lines = [l for l in r.stdout.splitlines() if ".." in l]
    assert len(lines) == 10 and all(l.partition("..")[2].strip(". ").startswith("OK ") for l in lines), r.stdout
    assert status_of(ws.run().stdout) == every("CACHED")


def test_local_network_bind_mounts_and_cache_false_are_never_cached(ws):
    (ws.ws / "data").mkdir()
    ws.add_directives("""
[[directives]]
filter = "name.equals(tests::adds)"
network = "local"
mounts = [{ type = "tmp", mount_point = "/tmp" }]  # no /sys: the kernel refuses it with the host network

[[directives]]
filter = "name.equals(tests::subtracts)"
added_layers = [{ stubs = ["/data/"] }]
added_mounts = [{ type = "bind", mount_point = "/data", local_path = "data" }]

[[directives]]
filter = "name.equals(tests::shouts)"
cache = false
""")
    assert ws.run().returncode == 0
    r = ws.run()
    assert r.returncode == 0, r.stdout + r.stderr
    assert status_of(r.stdout) == {**every("CACHED"), "one tests::adds": "OK", "one tests::subtracts": "OK",
                                   "two tests::shouts": "OK"}
    assert summary(r.stdout)[-1].split() == ["Cached", "Tests", ":", "2"]


def test_a_failed_test_is_not_cached(ws):
    assert status_of(ws.run().stdout) == every("OK")
    fail = """
[[directives]]
filter = "name.equals(tests::fails_on_request)"
added_environment = { FIXTURE_FAIL = "1" }
"""
    spec = ws.ws / "cargo-maelstrom.toml"
    passing = spec.read_text()
    ws.add_directives(fail)
    for _ in range(2):
        r = ws.run()
        assert r.returncode != 0
        assert status_of(r.stdout) == {**every("CACHED"), "two tests::fails_on_request": "FAIL"}, r.stdout
    # Back to the job that passed before the failure: it runs again.
    spec.write_text(passing)
    assert status_of(ws.run().stdout) == {**every("CACHED"), "two tests::fails_on_request": "OK"}


def test_a_damaged_cache_file_is_ignored_with_a_warning(ws):
    assert ws.run().returncode == 0
    cache = ws.state / "test-results.json"
    for text in ("{ not json", '{"version": 1, "passed": {"one": 5}}'):
        cache.write_text(text)
        r = ws.run()
        assert r.returncode == 0, r.stdout + r.stderr
        warnings = [l for l in r.stderr.splitlines() if l.startswith("warning: ignoring the cached results")]
        assert len(warnings) == 1 and str(cache) in warnings[0], r.stderr
        assert status_of(r.stdout) == every("OK")
        json.loads(cache.read_text())  # rewritten whole
        assert status_of(ws.run().stdout) == every("CACHED")


def test_retries_report_a_test_that_passes_later_flaky(ws, tmp_path):
    counter = ws.ws / "counter"
    counter.mkdir()
    counter.chmod(0o777)  # as root, jobs run as an unprivileged host user
    (counter / "n").write_text("0")
    (counter / "n").chmod(0o666)
    ws.add_directives("""
[[directives]]
filter = "name.equals(tests::flaky)"
added_layers = [{ stubs = ["/counter/"] }]
added_mounts = [{ type = "bind", mount_point = "/counter", local_path = "counter", read_only = false }]
""")
    junit = tmp_path / "report.xml"
    r = ws.run("--retries", "2", "-i", "name.equals(tests::flaky)", "--junit", str(junit))
    assert r.returncode == 0, r.stdout + r.stderr
    assert any(l.startswith("two tests::flaky..") and "FLAKY 2/3" in l for l in r.stdout.splitlines()), r.stdout
    assert (counter / "n").read_text() == "2"
    lines = summary(r.stdout)
    assert "Flaky Tests     :         1" in lines and "    two tests::flaky (2/3): flaky" in lines, r.stdout
    case = next(ET.parse(junit).getroot().iter("testcase"))
    flaky = case.findall("flakyFailure")
    assert len(flaky) == 1 and "attempt with counter 0 fails" in flaky[0].text, ET.tostring(case)
    # Without retries the same test fails on an even counter, and is not cached after a flaky pass.
    r = ws.run("-i", "name.equals(tests::flaky)")
    assert r.returncode != 0 and status_of(r.stdout) == {"two tests::flaky": "FAIL"}, r.stdout


@pytest.fixture
def cluster(tmp_path):
    with running_cluster(tmp_path / "cluster") as c:
        yield c


def test_through_a_broker_the_same_jobs_are_cached_and_never_reach_it(ws, cluster):
    bin_path("maelstrom-broker")
    bin_path("maelstrom-worker")
    cluster.start_broker()
    cluster.start_worker(slots=2, name="w1")
    cluster.start_worker(slots=2, name="w2")
    cluster.wait_workers(2)
    r = ws.run("--broker", cluster.address)
    assert r.returncode == 0, r.stdout + r.stderr
    assert status_of(r.stdout) == every("OK")
    assert http_status(cluster)["completed"] == len(TESTS)
    r = ws.run("--broker", cluster.address)
    assert status_of(r.stdout) == every("CACHED"), r.stdout + r.stderr
    assert http_status(cluster)["completed"] == len(TESTS)  # nothing submitted
    # The key is the job's, wherever it ran: standalone finds the cluster's passes.
    assert status_of(ws.run().stdout) == every("CACHED")
    r = ws.run("--broker", cluster.address, "--no-cache")
    assert status_of(r.stdout) == every("OK"), r.stdout + r.stderr
    assert http_status(cluster)["completed"] == 2 * len(TESTS)
