"""Fixtures for the end-to-end tests (helpers live in testlib.py)."""
import os
import pathlib
import shutil
import tempfile

import pytest

from testlib import ABORTER_C, NOBODY, ORPHAN_C, Runner, c_program

# The fixture projects are what the runners under test run (the pytest fixture has tests that
# fail, hang and abort on purpose): never this suite's own tests.
collect_ignore_glob = ["fixtures/*"]


@pytest.fixture
def runner(tmp_path):
    return Runner(tmp_path)


@pytest.fixture
def nobody_tmp():
    """A temp dir the unprivileged user owns, under a world-traversable parent."""
    if os.geteuid() != 0:
        pytest.skip("needs root to switch to an unprivileged user")
    d = pathlib.Path(tempfile.mkdtemp(prefix="mael-nobody-", dir="/tmp"))
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(params=["root", "nobody"])
def any_runner(request, tmp_path):
    """The same test as root and as an unprivileged user."""
    if request.param == "nobody":
        return Runner(request.getfixturevalue("nobody_tmp"), as_user=NOBODY)
    return Runner(tmp_path)


@pytest.fixture(scope="session")
def programs():
    """A directory any user may read, for programs built from C source."""
    d = pathlib.Path(tempfile.mkdtemp(prefix="mael-programs-", dir="/tmp"))
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def aborter(programs):
    """A static program that calls abort()."""
    return c_program(programs, "aborter", ABORTER_C)


@pytest.fixture(scope="session")
def orphan(programs):
    """A static program that clears its parent-death signal and waits."""
    return c_program(programs, "orphan", ORPHAN_C)
