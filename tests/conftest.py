"""Fixtures for the end-to-end tests (helpers live in testlib.py)."""
import os
import pathlib
import shutil
import tempfile

import pytest

from testlib import NOBODY, Runner


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
