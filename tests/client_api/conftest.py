
import pytest


from client_util import ClientProcess  # noqa: E402


@pytest.fixture
def client(tmp_path):
    """A started standalone maelstrom-client (2 slots); closed after the test."""
    c = ClientProcess(tmp_path)
    c.start(slots=2)
    yield c
    c.close()


@pytest.fixture
def unstarted(tmp_path):
    c = ClientProcess(tmp_path)
    yield c
    c.close()
