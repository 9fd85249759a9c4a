"""Helpers for the client API's end-to-end tests: Python stubs generated from proto/items.proto
with grpcio-tools, and a maelstrom-client process started the way a library starts it."""
import os
import pathlib
import subprocess
import sys
import tempfile

import grpc

from testlib import ROOT, bin_path, busybox_layers

_STUBS = None


def stubs():
    """(items_pb2, items_pb2_grpc), generated once per session into a temporary directory."""
    global _STUBS
    if _STUBS is None:
        from grpc_tools import protoc
        out = tempfile.mkdtemp(prefix="mael-client-api-stubs-")
        proto_dir = ROOT / "proto"
        rc = protoc.main(["protoc", f"-I{proto_dir}", f"--python_out={out}", f"--grpc_python_out={out}",
                          str(proto_dir / "items.proto")])
        assert rc == 0, "protoc failed on proto/items.proto"
        sys.path.insert(0, out)
        import items_pb2
        import items_pb2_grpc
        _STUBS = (items_pb2, items_pb2_grpc)
    return _STUBS


def layer(d):
    """A LayerSpec from testlib's JSON form of a layer."""
    pb, _ = stubs()
    if "paths" in d:
        return pb.LayerSpec(paths=pb.PathsLayer(paths=d["paths"]))
    if "symlinks" in d:
        return pb.LayerSpec(symlinks=pb.SymlinksLayer(
            symlinks=[pb.SymlinkSpec(link=s["link"], target=s["target"]) for s in d["symlinks"]]))
    if "stubs" in d:
        return pb.LayerSpec(stubs=pb.StubsLayer(stubs=d["stubs"]))
    if "tar" in d:
        return pb.LayerSpec(tar=pb.TarLayer(path=d["tar"]))
    raise ValueError(f"no conversion for layer {d}")


def job(program, *args, **fields):
    """A JobSpec running program in a busybox container (PATH=/bin); `fields` are JobSpec fields."""
    pb, _ = stubs()
    container = pb.ContainerSpec(layers=[layer(l) for l in busybox_layers()],
                                 environment=[pb.EnvironmentSpec(vars={"PATH": "/bin"})])
    return pb.JobSpec(container=container, program=program, arguments=list(args), **fields)


class ClientProcess:
    """maelstrom-client started with no arguments, as a library does: the socket name is read
    from its first stdout line and one channel connects to it."""

    def __init__(self, tmp, env=None):
        self.tmp = pathlib.Path(tmp)
        self.stderr_path = self.tmp / "maelstrom-client.stderr"
        e = {k: v for k, v in os.environ.items() if not k.startswith(("MAELSTROM_", "XDG_"))}
        e.update({"HOME": str(self.tmp), "XDG_CACHE_HOME": str(self.tmp / ".cache")})
        e.update(env or {})
        with open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen([bin_path("maelstrom-client")], stdout=subprocess.PIPE, stderr=err,
                                         env=e, cwd=self.tmp)
        self.name = self.proc.stdout.readline().decode().strip()
        assert self.name, f"maelstrom-client printed no socket name; stderr: {self.stderr()}"
        self.channel = grpc.insecure_channel(f"unix-abstract:{self.name}")
        self.stub = stubs()[1].ClientProcessStub(self.channel)

    def stderr(self):
        return self.stderr_path.read_text(errors="replace")

    def start(self, slots=4, broker=None, **fields):
        pb, _ = stubs()
        req = pb.StartRequest(project_dir=str(self.tmp).encode(), cache_dir=str(self.tmp / "cache").encode(),
                              container_image_depot_dir=str(self.tmp / "depot").encode(), slots=slots, **fields)
        if broker:
            req.cluster_communication_strategy.tcp.broker = broker
        return self.stub.Start(req, timeout=60)

    def run(self, spec, timeout=120):
        """Every JobStatus of one job, in order."""
        return list(self.stub.RunJob(stubs()[0].RunJobRequest(spec=spec), timeout=timeout))

    def wait(self, timeout=20):
        return self.proc.wait(timeout=timeout)

    def close(self):
        self.channel.close()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("maelstrom-client did not exit once its connection closed")


def completed(statuses):
    """The JobCompletedStatus ending a job's statuses (the last one, and the only completed one)."""
    assert statuses, "the stream closed without a status"
    assert statuses[-1].WhichOneof("status") == "completed", statuses[-1]
    assert all(s.WhichOneof("status") == "running" for s in statuses[:-1])
    return statuses[-1].completed
