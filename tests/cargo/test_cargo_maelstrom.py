"""cargo-maelstrom end to end: the real `cargo maelstrom` on the fixture workspace
(tests/fixtures/cargo-workspace), built once per module in a temporary copy."""
import os
import pathlib
import re
import shlex
import shutil
import signal
import subprocess
import tempfile
import time
import xml.etree.ElementTree as ET

import pytest

from cargo_util import CARGO_FIXTURE, cargo_env, status_of
from testlib import BIN_DIR, NOBODY, as_user, bin_path

FIXTURE = CARGO_FIXTURE

pytestmark = pytest.mark.skipif(shutil.which("cargo") is None, reason="cargo is not installed")




class Cargo:
    def __init__(self, workspace, home):
        self.ws = workspace
        self.home = home

    def run(self, *args, direct=False, cwd=None, timeout=300):
        """`cargo maelstrom ARGS` (or `cargo-maelstrom ARGS` when direct)."""
        cmd = [bin_path("cargo-maelstrom")] if direct else ["cargo", "maelstrom"]
        return subprocess.run(cmd + list(args), capture_output=True, text=True, cwd=cwd or self.ws,
                              env=cargo_env(self.home), timeout=timeout)


def copy_fixture(dest):
    shutil.copytree(FIXTURE, dest, ignore=shutil.ignore_patterns("target"))
    return dest


@pytest.fixture(scope="module")
def ws():
    """The fixture workspace, copied and built once for the module."""
    bin_path("cargo-maelstrom")
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="mael-cargo-"))
    home = tmp / "home"
    home.mkdir()
    w = copy_fixture(tmp / "ws")
    subprocess.run(["cargo", "test", "--no-run", "--offline", "-q"], cwd=w, env=cargo_env(home), check=True,
                   capture_output=True, timeout=600)
    yield Cargo(w, home)
    shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture
def fresh(tmp_path):
    """An unbuilt copy, for tests that change the workspace."""
    (tmp_path / "home").mkdir()
    return Cargo(copy_fixture(tmp_path / "ws"), tmp_path / "home")




ALL_CASES = {
    "alpha tests::adds": "OK",
    "alpha tests::reads_package_file": "OK",
    "alpha tests::writes_tmp": "OK",
    "alpha tests::greeting_from_spec": "OK",
    "alpha tests::ignored_by_attribute": "IGNORED",
    "beta tests::shouts": "OK",
    "beta tests::loopback_round_trip": "OK",
    "beta tests::prints_a_lot": "OK",
    "beta tests::main_test": "OK",
    "beta integration shouts_from_outside": "OK",
    "beta integration second_integration_case": "OK",
    "gamma tests::passes": "OK",
    "gamma tests::panics": "FAIL",
    "gamma tests::hangs": "TIMEOUT",
}


def test_full_run_reports_every_status_summary_listing_and_junit(ws, tmp_path):
    junit = tmp_path / "report.xml"
    r = ws.run("--ui", "simple", "--junit", str(junit))
    # The first failure is the panic (exit 101 from the test harness); the timeout comes later.
    assert r.returncode == 101, r.stdout + r.stderr
    assert status_of(r.stdout) == ALL_CASES
    # The failing test's own output, without the harness's boilerplate.
    assert "about to fail" in r.stdout
    assert "running 1 test" not in r.stdout and "test result:" not in r.stdout
    # Its stderr on stdout, each line marked, as Maelstrom prints it.
    assert "gamma went wrong" not in r.stderr
    assert any(l.startswith("stderr: ") and "gamma went wrong" in l for l in r.stdout.splitlines()), r.stdout
    summary = r.stdout[r.stdout.index("== Test Summary =="):].splitlines()
    assert summary[1].split() == ["Successful", "Tests:", "11"]
    assert summary[2].split() == ["Failed", "Tests", ":", "2"]
    assert {summary[3].rsplit(":", 1)[0].strip(), summary[4].rsplit(":", 1)[0].strip()} == {
        "gamma tests::panics", "gamma tests::hangs"}
    assert summary[5].split() == ["Ignored", "Tests", ":", "1"]
    assert "alpha tests::ignored_by_attribute: ignored" in summary[6]

    listing = (ws.ws / "target" / "maelstrom" / "state" / "test-listing.toml").read_text()
    assert listing.startswith("version = 3")
    block = listing[listing.index('[gamma."gamma(library)"."tests::panics"]'):]
    assert 'outcome = "failure"' in block.split("\n\n")[0]
    block = listing[listing.index('[alpha."alpha(library)"."tests::adds"]'):]
    assert 'outcome = "success"' in block.split("\n\n")[0]

    root = ET.parse(junit).getroot()
    assert root.tag == "testsuites"
    assert int(root.get("tests")) == 14
    cases = {(c.get("classname"), c.get("name")): c for c in root.iter("testcase")}
    assert cases[("gamma", "tests::panics")].find("failure") is not None
    assert cases[("gamma", "tests::hangs")].find("failure") is not None
    assert cases[("alpha", "tests::ignored_by_attribute")].find("skipped") is not None
    assert list(cases[("alpha", "tests::adds")]) == []


def test_direct_binary_filters_and_exclude_wins(ws):
    r = ws.run("--ui", "simple", "-i", "package.equals(alpha)", "-i", "name.equals(tests::shouts)",
               "-x", "name.contains(tmp)", direct=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert status_of(r.stdout) == {
        "alpha tests::adds": "OK", "alpha tests::reads_package_file": "OK",
        "alpha tests::greeting_from_spec": "OK", "alpha tests::ignored_by_attribute": "IGNORED",
        "beta tests::shouts": "OK"}


def test_cargo_subcommand_passes_extra_args_to_test_binaries(ws):
    # Arguments after `--` go to the test binary, which here refuses an unknown flag.
    r = ws.run("--ui", "simple", "-i", "name.equals(tests::adds)", "--", "--no-such-flag")
    assert r.returncode == 101
    assert status_of(r.stdout) == {"alpha tests::adds": "FAIL"}
    assert "no-such-flag" in r.stdout + r.stderr


def test_list_tests_binaries_packages(ws):
    r = ws.run("--list", "-i", "package.equals(beta)")
    assert r.returncode == 0, r.stderr
    # Sorted, whichever binary was listed first.
    assert r.stdout.split("\n")[:-1] == sorted([
        "beta tests::shouts", "beta tests::loopback_round_trip", "beta tests::prints_a_lot",
        "beta tests::main_test", "beta integration shouts_from_outside",
        "beta integration second_integration_case"])
    r = ws.run("--list-binaries", "-x", "package.equals(gamma)")
    assert r.stdout.splitlines() == ["alpha (library)", "beta (library)", "beta (binary)", "beta integration (test)"]
    r = ws.run("--list-packages", "-i", "p.eq(beta) | p.eq(gamma)")
    assert r.stdout.splitlines() == ["beta", "gamma"]


def test_partitions_cover_the_suite_exactly_once(ws):
    names = ws.run("--list").stdout.splitlines()
    assert len(names) > 6
    for kind in ("count", "hash"):
        shares = []
        for m in (1, 2, 3):
            r = ws.run("--list", "--partition", f"{kind}:{m}/3")
            assert r.returncode == 0, r.stderr
            shares.append(r.stdout.splitlines())
        assert sorted(sum(shares, [])) == sorted(names), kind
    r = ws.run("--partition", "hash:0/3")
    assert r.returncode == 2 and "error: --partition hash:0/3: M must be between 1 and N" in r.stderr, r.stderr


def test_repeat_runs_each_test_n_times_and_loop_is_its_alias(ws):
    r = ws.run("--ui", "simple", "-i", "name.equals(tests::adds)", "--repeat", "3")
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.count("alpha tests::adds....") == 3
    assert "Successful Tests:         3" in r.stdout
    r = ws.run("--ui", "simple", "-i", "name.equals(tests::adds)", "--loop=2")
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.count("alpha tests::adds....") == 2


def test_junit_lists_every_run_of_every_test_ignored_ones_too(ws, tmp_path):
    junit = tmp_path / "report.xml"
    r = ws.run("--ui", "simple", "-i", "package.equals(alpha)", "--repeat", "2", "--junit", str(junit))
    assert r.returncode == 0, r.stdout + r.stderr
    names = [c.get("name") for c in ET.parse(junit).getroot().iter("testcase")]
    assert names.count("tests::adds") == 2 and names.count("tests::ignored_by_attribute") == 2, names
    assert len(names) == 2 * 5, names
    # The summary lists the ignored test once, as Maelstrom's does.
    assert r.stdout.count("tests::ignored_by_attribute: ignored") == 1, r.stdout


def test_stop_after_stops_and_counts_not_run(ws):
    r = ws.run("--ui", "simple", "--slots", "1", "-i", "name.equals(tests::panics)", "--repeat", "4",
               "--stop-after", "1")
    assert r.returncode == 101
    assert r.stdout.count("gamma tests::panics....") == 1
    assert "Tests Not Run   :" in r.stdout


def test_timeout_override_and_inline_limit(ws):
    r = ws.run("--ui", "simple", "-i", "name.equals(tests::hangs) | name.equals(tests::prints_a_lot)",
               "--timeout", "1", "--inline-limit", "1000")
    assert status_of(r.stdout) == {"gamma tests::hangs": "TIMEOUT", "beta tests::prints_a_lot": "OK"}
    assert r.returncode != 0
    # The timed-out test's output (100 lines, about 2,700 bytes) is kept up to the limit.
    kept = [l for l in r.stdout.splitlines() if "of a hanging test" in l]
    assert kept and len("\n".join(kept)) <= 1000, r.stdout
    assert re.search(r"job \d+: stdout truncated, \d+ bytes lost", r.stdout), r.stdout


def test_quiet_ui_prints_only_the_summary(ws):
    r = ws.run("--ui", "quiet", "-i", "package.equals(alpha)")
    assert r.returncode == 0
    assert "...." not in r.stdout
    assert "Successful Tests:         4" in r.stdout


def test_fancy_ui_with_quiet_is_one_line_error(ws):
    r = ws.run("--ui", "fancy", "--quiet", "-i", "name.equals(tests::adds)")
    assert r.returncode == 1, r.stdout + r.stderr
    assert r.stderr.strip() == ("error: --ui fancy and --quiet cannot be used together: drop one "
                                "(--ui quiet is the quiet UI)"), r.stderr


def test_cache_lives_in_the_target_directory_unless_given(ws, tmp_path):
    r = ws.run("-P")
    assert "# cache-root is not set: maelstrom/cache in cargo's target directory" in r.stdout.splitlines()
    r = ws.run("--ui", "quiet", "-i", "name.equals(tests::adds)")
    assert r.returncode == 0, r.stderr
    assert (ws.ws / "target/maelstrom/cache/artifacts/blobs").is_dir()
    r = ws.run("--ui", "quiet", "-i", "name.equals(tests::adds)", "--cache-root", str(tmp_path / "elsewhere"))
    assert r.returncode == 0, r.stderr
    assert any((tmp_path / "elsewhere/artifacts/blobs").iterdir())


def test_package_pruning_builds_only_matching_packages(fresh):
    r = fresh.run("--ui", "simple", "-i", "package.equals(alpha) && name.equals(tests::adds)")
    assert r.returncode == 0, r.stdout + r.stderr
    assert status_of(r.stdout) == {"alpha tests::adds": "OK"}
    deps = [p.name for p in (fresh.ws / "target" / "debug" / "deps").iterdir()]
    assert any(n.startswith("alpha-") for n in deps)
    assert not any(n.startswith(("beta-", "gamma-")) for n in deps)


def test_init_writes_the_default_file_and_refuses_to_overwrite(fresh):
    (fresh.ws / "cargo-maelstrom.toml").unlink()
    r = fresh.run("--init")
    assert r.returncode == 0, r.stderr
    text = (fresh.ws / "cargo-maelstrom.toml").read_text()
    assert "[[directives]]" in text and 'type = "proc"' in text
    r = fresh.run("--init")
    assert r.returncode == 1
    assert "already exists" in r.stdout
    assert (fresh.ws / "cargo-maelstrom.toml").read_text() == text


def test_bad_inputs_give_one_line_errors(fresh, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    r = fresh.run(cwd=empty)
    assert r.returncode == 1
    assert r.stderr.strip().splitlines() == [r.stderr.strip()]
    assert "could not find `Cargo.toml`" in r.stderr

    r = fresh.run("-i", "name.equals(x) &&")
    assert r.returncode == 1
    assert r.stderr.strip() == ("error: invalid filter 'name.equals(x) &&': at column 18: "
                                "expected a selector, found the end of the filter")
    r = fresh.run("-i", "all", "-x", "package.bogus(y)")
    assert r.returncode == 1
    assert r.stderr.startswith("error: invalid filter 'package.bogus(y)': at column 9: matcher `bogus` is unknown")

    (fresh.ws / "cargo-maelstrom.toml").write_text('[[directives]]\nnetwork = "loopback"\nbogus = 1\n')
    r = fresh.run()
    assert r.returncode == 1
    line = r.stderr.strip()
    assert "cargo-maelstrom.toml" in line and "line 3" in line and "bogus" in line

    # A directory where the spec file belongs is not taken as "no spec file".
    spec = fresh.ws / "cargo-maelstrom.toml"
    spec.unlink()
    spec.mkdir()
    r = fresh.run()
    spec.rmdir()
    assert r.returncode == 1
    assert r.stderr.strip() == (f"error: cannot read test spec file {spec}: it is a directory; move it away "
                                "(the test spec file is a TOML file, --init writes the default one)"), r.stderr

    # A word before -- is not a name filter (as in cargo test) but a usage error saying what to do.
    r = fresh.run("adds")
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip() == ("error: unexpected argument 'adds': to run only some tests use a filter, e.g. "
                                "-i 'name.contains(adds)'; arguments for the tests go after -- "
                                "(see cargo-maelstrom --help)"), r.stderr

    # A broken manifest: cargo's location and message, in one line.
    broken = tmp_path / "broken-manifest"
    (broken / "src").mkdir(parents=True)
    (broken / "src" / "lib.rs").write_text("")
    (broken / "Cargo.toml").write_text('[package]\nname = "b"\nversion = "0.1.0"\n[dependencies]\nx = { y\n')
    r = fresh.run(cwd=broken)
    assert r.returncode == 1
    assert r.stderr.strip().splitlines() == [r.stderr.strip()], r.stderr
    assert r.stderr.startswith("error: cargo metadata failed: Cargo.toml:5:"), r.stderr

    # A report that could not be written is refused before anything is built.
    for path, why in (("", "an empty path"), (str(tmp_path), "is a directory"),
                      (str(tmp_path / "none" / "r.xml"), f"the directory {tmp_path / 'none'} does not exist")):
        r = fresh.run("--junit", path)
        assert r.returncode == 2 and r.stderr.startswith("error: --junit: ") and why in r.stderr, r.stderr
        assert "Compiling" not in r.stderr


def test_build_failure_returns_cargos_code(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    crate = tmp_path / "broken"
    (crate / "src").mkdir(parents=True)
    (crate / "Cargo.toml").write_text('[package]\nname = "broken"\nversion = "0.1.0"\nedition = "2021"\n')
    (crate / "src" / "lib.rs").write_text("pub fn f() -> u32 { not valid rust }\n")
    junit = tmp_path / "report.xml"
    r = Cargo(crate, home).run("--ui", "simple", "--junit", str(junit))
    assert r.returncode == 101
    assert "error: build failed: cargo test exited with code 101" in r.stderr
    assert "Test Summary" not in r.stdout
    # The report is still written, with what is known: no test ran.
    root = ET.parse(junit).getroot()
    assert root.tag == "testsuites" and int(root.get("tests")) == 0


def test_test_binary_crashing_while_listing_is_an_error(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    crate = tmp_path / "crashy"
    (crate / "src").mkdir(parents=True)
    (crate / "tests").mkdir()
    (crate / "Cargo.toml").write_text(
        '[package]\nname = "crashy"\nversion = "0.1.0"\nedition = "2021"\n\n'
        '[[test]]\nname = "crash"\nharness = false\n')
    (crate / "src" / "lib.rs").write_text("")
    (crate / "tests" / "crash.rs").write_text("fn main() { std::process::abort(); }\n")
    r = Cargo(crate, home).run("--ui", "simple")
    assert r.returncode == 1
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("error: test binary ") and "listing its tests failed: killed by signal 6" in last


def test_watch_reruns_after_a_source_change(fresh, tmp_path):
    out = tmp_path / "watch.out"
    # The JUnit report inside the project: the run's own outputs never start another run.
    with open(out, "w") as f:
        p = subprocess.Popen(["cargo", "maelstrom", "--watch", "--ui", "simple", "-i", "name.equals(tests::adds)",
                              "--junit", "report.xml"],
                             cwd=fresh.ws, env=cargo_env(fresh.home), stdout=f, stderr=subprocess.STDOUT)
    try:
        def wait_for(count, limit=240):
            deadline = time.monotonic() + limit
            while time.monotonic() < deadline:
                if out.read_text().count("waiting for changes") >= count:
                    return True
                time.sleep(0.2)
            return False
        assert wait_for(1), out.read_text()
        assert (fresh.ws / "report.xml").exists()
        # Left alone, it stays waiting (it used to run again and again on its own report).
        time.sleep(3)
        assert out.read_text().count("waiting for changes") == 1, out.read_text()
        # A change in target/ is ignored; one in the sources starts another run.
        (fresh.ws / "target" / "noise").write_text("x")
        with open(fresh.ws / "crates" / "alpha" / "src" / "lib.rs", "a") as f:
            f.write("// edited\n")
        assert wait_for(2), out.read_text()
        assert out.read_text().count("alpha tests::adds....") == 2
    finally:
        p.terminate()
        p.wait(timeout=30)


def test_cached_metadata_is_used_until_the_workspace_changes(fresh):
    """`cargo metadata`'s answer is cached; a new member or a new test target is still seen."""
    cached = "cargo metadata: the cached answer"
    r = fresh.run("--list-packages", "-L", "debug")
    assert r.stdout.splitlines() == ["alpha", "beta", "gamma"], r.stderr
    assert cached not in r.stderr
    assert list((fresh.home / ".cache" / "maelstrom" / "cargo-maelstrom" / "metadata").glob("*.json"))
    # An entry is not trusted when its files changed within two seconds before it was written
    # (here: the copy); a run later than that writes a trusted one.
    time.sleep(2.1)
    r = fresh.run("--list-packages", "-L", "debug")
    assert cached not in r.stderr
    r = fresh.run("--list-packages", "-L", "debug")
    assert r.stdout.splitlines() == ["alpha", "beta", "gamma"] and cached in r.stderr, r.stderr

    # A new member: the root manifest changed.
    delta = fresh.ws / "crates" / "delta"
    (delta / "src").mkdir(parents=True)
    (delta / "Cargo.toml").write_text('[package]\nname = "delta"\nversion = "0.1.0"\nedition = "2021"\n')
    (delta / "src" / "lib.rs").write_text("#[test]\nfn works() {}\n")
    manifest = fresh.ws / "Cargo.toml"
    manifest.write_text(manifest.read_text().replace('"crates/gamma"]', '"crates/gamma", "crates/delta"]'))
    r = fresh.run("--list-packages", "-L", "debug")
    assert r.stdout.splitlines() == ["alpha", "beta", "gamma", "delta"], r.stderr
    assert cached not in r.stderr

    # A new integration test file: no manifest changed, the tests/ directory did.
    time.sleep(2.1)
    fresh.run("--list-binaries")
    r = fresh.run("--list-binaries", "-i", "package.equals(alpha)", "-L", "debug")
    assert r.stdout.splitlines() == ["alpha (library)"] and cached in r.stderr, r.stderr
    (fresh.ws / "crates" / "alpha" / "tests").mkdir()
    (fresh.ws / "crates" / "alpha" / "tests" / "extra.rs").write_text("#[test]\nfn extra() {}\n")
    r = fresh.run("--list-binaries", "-i", "package.equals(alpha)", "-L", "debug")
    assert r.stdout.splitlines() == ["alpha (library)", "alpha extra (test)"], r.stdout + r.stderr
    assert cached not in r.stderr


def test_test_lists_are_reused_until_the_binary_is_rebuilt(fresh):
    known = "tests known from the last run"
    only_alpha = ("-i", "package.equals(alpha)", "--ui", "simple", "-L", "debug")
    r = fresh.run(*only_alpha)
    assert "alpha tests::adds....." in r.stdout and known not in r.stderr, r.stdout + r.stderr
    time.sleep(2.1)  # a binary written within two seconds of its entry is listed again
    fresh.run(*only_alpha)
    r = fresh.run(*only_alpha)
    assert r.stderr.count(known) == 1, r.stderr  # alpha's one test binary
    assert "alpha tests::adds....." in r.stdout

    lib = fresh.ws / "crates" / "alpha" / "src" / "lib.rs"
    lib.write_text(lib.read_text() + "\n#[test]\nfn added_later() {}\n")
    r = fresh.run(*only_alpha)
    # (The old list may serve tests started before cargo rebuilt the binary; they do not count.)
    assert " listed: 6 tests" in r.stderr, r.stderr
    assert "alpha added_later....." in r.stdout, r.stdout


def test_tests_start_before_cargo_confirms_and_count_only_if_nothing_was_rebuilt(fresh):
    """The last build's binaries start at once; their results count only when cargo then finds
    nothing to rebuild, so an edited test is never reported from its old binary."""
    early = "1 test binaries of the last build started early"
    only_alpha = ("-i", "package.equals(alpha)", "--ui", "simple", "-L", "debug")
    fresh.run(*only_alpha)
    time.sleep(2.1)  # a binary written within two seconds of the record is not started early
    fresh.run(*only_alpha)
    r = fresh.run(*only_alpha)
    assert r.returncode == 0 and early in r.stderr, r.stdout + r.stderr
    assert "early start settled: 0 test binaries left to run" in r.stderr, r.stderr
    assert status_of(r.stdout)["alpha tests::adds"] == "OK" and "Successful Tests:         4" in r.stdout
    # `cargo-maelstrom` runs another cargo program (the PATH's, not $CARGO): the same record.
    r = fresh.run(*only_alpha, direct=True)
    assert r.returncode == 0 and early in r.stderr, r.stdout + r.stderr

    lib = fresh.ws / "crates" / "alpha" / "src" / "lib.rs"
    lib.write_text(lib.read_text().replace("add(2, 3), 5)", "add(2, 3), 6)"))
    r = fresh.run(*only_alpha)
    assert status_of(r.stdout)["alpha tests::adds"] == "FAIL", r.stdout + r.stderr
    assert r.returncode != 0 and "Failed Tests    :         1" in r.stdout, r.stdout
    assert r.stdout.count("alpha tests::adds....") == 1, r.stdout


def test_ctrl_c_takes_the_live_view_off_the_terminal_and_reports_no_cancelled_test(ws):
    import os
    import pty
    import select
    import signal
    master, slave = pty.openpty()
    os.set_blocking(master, False)
    cmd = [bin_path("cargo-maelstrom"), "--ui", "fancy", "--timeout", "300",
           "-i", "name.equals(tests::hangs) | name.equals(tests::adds)"]
    p = subprocess.Popen(cmd, cwd=ws.ws, env=cargo_env(ws.home), stdin=slave, stdout=slave, stderr=slave,
                         start_new_session=True)
    os.close(slave)
    out = b""
    deadline = time.monotonic() + 120
    while b"tests::hangs" not in out.split(b"running tests:")[-1] or b"running tests:" not in out:
        assert time.monotonic() < deadline and p.poll() is None, out.decode(errors="replace")
        if select.select([master], [], [], 0.5)[0]:
            try:
                out += os.read(master, 65536)
            except OSError:
                break
    os.killpg(p.pid, signal.SIGINT)
    from testlib import read_terminal_until_closed
    rest = read_terminal_until_closed(master, 30)
    assert p.wait(timeout=30) == 128 + signal.SIGINT
    text = rest.decode(errors="replace")
    # The live area is erased (cursor up to its first line, clear to the end) before the last word.
    assert "\x1b[J" in text and text.rstrip().endswith("interrupted"), text
    assert "ERR" not in text and "job cancelled" not in text and "Test Summary" not in text, text


def test_a_test_whose_job_cannot_be_made_is_an_error_and_the_others_run(fresh):
    """As Maelstrom: a missing layer file, an unset $env{X} or a sys mount with network "local"
    make that test ERR with the reason; the other tests run; the exit code is a failed test's."""
    spec = fresh.ws / "cargo-maelstrom.toml"
    spec.write_text(spec.read_text() +
                    '\n[[directives]]\nfilter = "name.equals(tests::adds)"\n'
                    'added_layers = [{ paths = ["/nonexistent-layer-file"] }]\n'
                    '\n[[directives]]\nfilter = "name.equals(tests::shouts)"\n'
                    'added_environment = { X = "$env{MAEL_TEST_NEVER_SET}" }\n'
                    '\n[[directives]]\nfilter = "name.equals(tests::main_test)"\n'
                    'network = "local"\nadded_mounts = [{ type = "sys", mount_point = "/sys" }]\n')
    env = {k: v for k, v in cargo_env(fresh.home).items() if k != "MAEL_TEST_NEVER_SET"}
    r = subprocess.run(["cargo", "maelstrom", "--ui", "simple", "-i", "package.equals(alpha) | package.equals(beta)"],
                       cwd=fresh.ws, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 1, r.stdout + r.stderr
    statuses = status_of(r.stdout)
    errs = {name for name, st in statuses.items() if st == "ERR"}
    assert errs == {"alpha tests::adds", "beta tests::shouts", "beta tests::main_test"}, r.stdout
    assert statuses["alpha tests::reads_package_file"] == "OK" and statuses["beta integration shouts_from_outside"] == "OK"
    lines = r.stdout.splitlines()
    def detail(name):
        i = next(i for i, l in enumerate(lines) if l.startswith(name + ".") and l.rstrip().endswith("ERR"))
        return lines[i + 1]
    assert "layer path /nonexistent-layer-file does not exist" in detail("alpha tests::adds"), r.stdout
    assert "MAEL_TEST_NEVER_SET" in detail("beta tests::shouts"), r.stdout
    assert '"sys"' in detail("beta tests::main_test"), r.stdout
    assert "Failed Tests    :         3" in r.stdout, r.stdout


def test_an_unprivileged_user_runs_the_workspace_with_their_own_toolchain(nobody_tmp):
    """The usual case: no privileges at all, the toolchain in the user's own rustup home. Our
    rustup home is bound, in a mount namespace of the test's own, where uid 65534 can reach it."""
    env = cargo_env(nobody_tmp / "home")
    rustup_home, cargo_bin = pathlib.Path(env["RUSTUP_HOME"]), pathlib.Path(env["CARGO_HOME"]) / "bin"
    if not (rustup_home / "toolchains").is_dir() or not (cargo_bin / "cargo").exists():
        pytest.skip("needs a rustup toolchain")
    ws = copy_fixture(nobody_tmp / "ws")
    for d in ("home", "rustup", "cargo-bin"):
        (nobody_tmp / d).mkdir()
    subprocess.run(["chown", "-R", f"{NOBODY}:{NOBODY}", str(nobody_tmp)], check=True)
    env.update({"HOME": str(nobody_tmp / "home"), "RUSTUP_HOME": str(nobody_tmp / "rustup"),
                "CARGO_HOME": str(nobody_tmp / "home" / ".cargo"),
                "XDG_CONFIG_HOME": str(nobody_tmp / "home" / ".config"),
                "XDG_CACHE_HOME": str(nobody_tmp / "home" / ".cache"),
                "PATH": f"{BIN_DIR}:{nobody_tmp / 'cargo-bin'}:/usr/bin:/bin"})
    script = ('mount --bind "$1" "$2" && mount --bind "$3" "$4" && shift 4 && exec '
              + shlex.join(as_user(NOBODY, [])) + ' "$@"')
    p = subprocess.Popen(["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh",
                          str(rustup_home), str(nobody_tmp / "rustup"), str(cargo_bin), str(nobody_tmp / "cargo-bin"),
                          "cargo", "maelstrom", "--ui", "simple"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ws, env=env,
                         start_new_session=True)
    try:
        out, err = p.communicate(timeout=600)  # a hang guard, not a speed test
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    assert p.returncode == 101, out + err
    assert status_of(out) == ALL_CASES, out + err
    # The target directory did not exist before the run (the copy leaves it out): what the run
    # made there is the user's, as it would be root's had the run been root's.
    for f in (ws / "target" / "maelstrom" / "state" / "test-listing.toml", ws / "target" / "maelstrom" / "cache"):
        assert f.stat().st_uid == NOBODY, f
