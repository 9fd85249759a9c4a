"""maelstrom-client end to end with a cluster: Start with a broker, jobs on two workers, and the
broker's death ending the open streams."""
import concurrent.futures
import os
import sys
import uuid

import grpc
import pytest

from client_util import ClientProcess, completed, job, stubs

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "cluster"))
from cluster_util import running_cluster  # noqa: E402
from test_remote_run import Sampler  # noqa: E402


@pytest.fixture
def cluster(tmp_path):
    with running_cluster(tmp_path / "cluster") as c:
        yield c


def test_jobs_on_two_workers(cluster, tmp_path):
    pb, _ = stubs()
    cluster.start_broker()
    cluster.start_worker(2)
    cluster.start_worker(2)
    cluster.wait_workers(2)
    c = ClientProcess(tmp_path)
    c.start(broker=cluster.address)
    try:
        def one(i):
            return c.run(job("sh", "-c", f"echo {i}; exit {i % 3}"))

        with concurrent.futures.ThreadPoolExecutor(40) as pool:
            runs = list(pool.map(one, range(40)))
        for i, statuses in enumerate(runs):
            done = completed(statuses).result.outcome.completed
            assert (done.exited, done.effects.stdout.inline) == (i % 3, f"{i}\n".encode())
            # With a broker, the running states are the broker's view.
            assert all(s.running.WhichOneof("status") == "at_broker" for s in statuses[:-1])
        # Jobs long enough to fill every slot: both workers run some.
        sampler = Sampler(cluster)
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            runs = list(pool.map(lambda i: c.run(job("sh", "-c", "sleep 1")), range(8)))
        assert sampler.stop() == {"w1", "w2"}
        assert all(completed(r).result.outcome.completed.exited == 0 for r in runs)
        # Each job said which worker ran it, by the broker's numbers.
        ids = {s.running.at_broker.at_worker.worker_id for r in runs for s in r[:-1]
               if s.running.at_broker.WhichOneof("status") == "at_worker"}
        assert len(ids) == 2 and 0 not in ids, ids
    finally:
        c.close()


def test_broker_death_ends_open_streams(cluster, tmp_path):
    pb, _ = stubs()
    cluster.start_broker()
    cluster.start_worker(2)
    cluster.wait_workers(1)
    c = ClientProcess(tmp_path)
    c.start(broker=cluster.address)
    marker = f"mael-broker-{uuid.uuid4().hex}"
    stream = c.stub.RunJob(pb.RunJobRequest(spec=job("sh", "-c", "sleep 1000; echo done", marker)))
    for s in stream:
        if s.running.at_broker.WhichOneof("status") == "at_worker":
            break
    cluster.broker.kill()
    rest = list(stream)
    err = completed(rest).result.error
    assert err.WhichOneof("kind") == "system"
    assert cluster.address.split(":")[1] in err.system, err.system  # names the broker
    c.close()


def test_unreachable_broker_is_a_start_error(tmp_path):
    from cluster_util import free_port
    c = ClientProcess(tmp_path)
    with pytest.raises(grpc.RpcError) as e:
        c.start(broker=f"127.0.0.1:{free_port()}")
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "127.0.0.1" in e.value.details()
    c.start()  # standalone instead: the process goes on serving
    assert completed(c.run(job("true"))).result.outcome.completed.exited == 0
    c.close()


def test_introspect_shows_a_layer_upload(cluster, tmp_path):
    """A large layer goes to the broker while Introspect is asked, over and over: the upload shows
    with its size and a progress within it."""
    pb, _ = stubs()
    cluster.start_broker("--cache-size", "2GB")
    cluster.start_worker(1)
    cluster.wait_workers(1)
    big = tmp_path / "big.bin"
    with open(big, "wb") as f:
        for _ in range(192):
            f.write(os.urandom(1 << 20))
    c = ClientProcess(tmp_path)
    c.start(broker=cluster.address)
    spec = job("true")
    spec.container.layers.add().paths.paths.append(str(big))
    stream = c.stub.RunJob(pb.RunJobRequest(spec=spec))
    big_ones = []
    while not big_ones and stream.running():
        ups = list(c.stub.Introspect(pb.Void()).artifact_uploads)
        assert all(0 <= u.progress <= u.size for u in ups), ups
        big_ones = [u for u in ups if u.size > 192 << 20]
    assert completed(list(stream)).result.outcome.completed.exited == 0
    assert big_ones, "the large layer's upload was never seen in progress"
    assert big_ones[0].name.startswith("paths layer [") and "big.bin" in big_ones[0].name, big_ones
    c.close()
