"""Fixtures for the cluster tests (helpers live in cluster_util.py)."""
import pytest

from cluster_util import Cluster, make_busybox_tar


@pytest.fixture(scope="session")
def busybox_tar(tmp_path_factory):
    return make_busybox_tar(tmp_path_factory.mktemp("layers") / "busybox.tar")


@pytest.fixture
def cluster(tmp_path):
    c = Cluster(tmp_path)
    yield c
    c.close()
