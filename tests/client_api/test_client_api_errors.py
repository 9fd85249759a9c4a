"""maelstrom-client end to end: bad requests get a gRPC status naming the field or call at
fault, and the process goes on serving."""
import os
import sys

import grpc
import pytest

from client_util import completed, job, stubs

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "images"))
import registry as reg  # noqa: E402


def rpc_error(f, *args):
    with pytest.raises(grpc.RpcError) as e:
        r = f(*args)
        if hasattr(r, "__iter__"):
            list(r)
    return e.value.code(), e.value.details()


def still_serves(c):
    assert completed(c.run(job("sh", "-c", "exit 4"))).result.outcome.completed.exited == 4


def test_calls_before_start_then_start(unstarted):
    pb, _ = stubs()
    code, msg = rpc_error(unstarted.stub.RunJob, pb.RunJobRequest(spec=job("true")))
    assert code == grpc.StatusCode.FAILED_PRECONDITION and "RunJob before Start" in msg
    code, msg = rpc_error(unstarted.stub.AddContainer, pb.AddContainerRequest(name="x"))
    assert code == grpc.StatusCode.FAILED_PRECONDITION and "AddContainer before Start" in msg
    code, msg = rpc_error(unstarted.stub.Introspect, pb.Void())
    assert code == grpc.StatusCode.FAILED_PRECONDITION and "Introspect before Start" in msg
    unstarted.start()
    still_serves(unstarted)


def test_start_twice(client):
    code, msg = rpc_error(client.start)
    assert code == grpc.StatusCode.FAILED_PRECONDITION and "already started" in msg
    still_serves(client)


def test_bad_start_requests_then_a_good_one(unstarted, tmp_path):
    pb, _ = stubs()
    (tmp_path / "a-file").write_text("")
    bad_cache = pb.StartRequest(cache_dir=str(tmp_path / "a-file" / "cache").encode())
    code, msg = rpc_error(unstarted.stub.Start, bad_cache)
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "a-file" in msg
    github = pb.StartRequest(cache_dir=str(tmp_path / "cache").encode())
    github.cluster_communication_strategy.git_hub.url = "https://example.invalid"
    code, msg = rpc_error(unstarted.stub.Start, github)
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "cluster_communication_strategy.git_hub" in msg
    code, msg = rpc_error(unstarted.stub.Start, pb.StartRequest(slots=5000))
    assert "slots" in msg
    unstarted.start()
    still_serves(unstarted)


@pytest.mark.parametrize("field,change", [
    ("spec.allocate_tty.socket_address", lambda s: s.allocate_tty.SetInParent()),
    ("spec.capture_file_system_changes.upper", lambda s: s.capture_file_system_changes.SetInParent()),
    ("spec.program", lambda s: setattr(s, "program", "")),
    ("spec.container.network", lambda s: setattr(s.container, "network", 7)),
    ("spec.container.layers[3]", lambda s: s.container.layers.add()),
    ("spec.container.mounts[0]", lambda s: s.container.mounts.add()),
    ("spec.container.mounts[0].devices.devices[0]", lambda s: s.container.mounts.add().devices.devices.append(42)),
    ("spec.container.parent.image.use[0]",
     lambda s: (setattr(s.container.parent.image, "name", "docker://x"), s.container.parent.image.use.append(9))),
])
def test_malformed_job_names_the_field(client, field, change):
    pb, _ = stubs()
    spec = job("true")
    change(spec)
    code, msg = rpc_error(client.stub.RunJob, pb.RunJobRequest(spec=spec))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert msg.startswith(f"RunJob: {field}:"), msg
    still_serves(client)


def test_missing_layer_path(client, tmp_path):
    pb, _ = stubs()
    spec = job("true")
    spec.container.layers.add().tar.path = str(tmp_path / "no-such.tar")
    code, msg = rpc_error(client.stub.RunJob, pb.RunJobRequest(spec=spec))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "no-such.tar" in msg
    still_serves(client)


def test_unknown_container_name(client):
    pb, _ = stubs()
    spec = job("true")
    spec.container.parent.container.name = "nobody-added-me"
    spec.container.parent.container.use.append(pb.CONTAINER_USE_LAYERS)
    code, msg = rpc_error(client.stub.RunJob, pb.RunJobRequest(spec=spec))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "nobody-added-me" in msg
    still_serves(client)


@pytest.fixture(scope="module")
def registry_addr(tmp_path_factory):
    layout = tmp_path_factory.mktemp("layout") / "basic"
    reg.build_basic(str(layout))
    with reg.Registry(str(tmp_path_factory.mktemp("registry"))) as addr:
        reg.push(f"{layout}:latest", f"{addr}/test/basic:v1")
        yield addr


def test_image_from_registry_then_missing_image(client, registry_addr):
    pb, _ = stubs()
    spec = pb.JobSpec(program="sh", arguments=["-c", "echo $IMAGE_VAR; cat /data/top.txt"], container=pb.ContainerSpec(
        parent=pb.ContainerParent(image=pb.ImageRef(name=f"docker://{registry_addr}/test/basic:v1",
                                                    use=[pb.IMAGE_USE_LAYERS, pb.IMAGE_USE_ENVIRONMENT]))))
    done = completed(client.run(spec)).result.outcome.completed
    assert done.effects.stdout.inline.split() == [b"basic", b"top"], done.effects.stderr
    spec.container.parent.image.name = f"docker://{registry_addr}/test/nothing:v1"
    code, msg = rpc_error(client.stub.RunJob, pb.RunJobRequest(spec=spec))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "test/nothing" in msg
    still_serves(client)
    assert client.stub.Introspect(pb.Void()).image_downloads == []  # none in progress now
