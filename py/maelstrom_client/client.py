"""The Client: one maelstrom-client process, started with the client and ended with it."""
import dataclasses
import os
import pathlib
import shutil
import subprocess
from typing import Iterator, Optional, Union

import grpc

from . import items_pb2 as pb
from .items_pb2_grpc import ClientProcessStub

PathLike = Union[str, os.PathLike]


def find_binary() -> str:
    """maelstrom-client beside this package, else on PATH."""
    here = pathlib.Path(__file__).resolve().parent / "maelstrom-client"
    if here.exists():
        return str(here)
    found = shutil.which("maelstrom-client")
    if not found:
        raise FileNotFoundError("maelstrom-client is not on PATH: install Maelstrom or pass binary=")
    return found


@dataclasses.dataclass
class Outcome:
    """How a job ended: exactly one of exit_code, signal, timed_out and error is set."""
    exit_code: Optional[int] = None
    signal: Optional[int] = None
    timed_out: bool = False
    error: Optional[str] = None  # the job could not run, or was stopped
    stdout: bytes = b""  # inline bytes (the first ones when truncated)
    stderr: bytes = b""
    stdout_truncated: int = 0  # bytes beyond the inline limit
    stderr_truncated: int = 0


def _output(o: pb.JobOutputResult) -> "tuple[bytes, int]":
    kind = o.WhichOneof("result")
    if kind == "inline":
        return o.inline, 0
    if kind == "truncated":
        return o.truncated.first, o.truncated.truncated
    return b"", 0


def outcome_of(status: pb.JobStatus) -> Outcome:
    """The Outcome of a job's completed status."""
    result = status.completed.result
    if result.WhichOneof("result") == "error":
        return Outcome(error=getattr(result.error, result.error.WhichOneof("kind")))
    out = result.outcome
    effects = out.timed_out if out.WhichOneof("outcome") == "timed_out" else out.completed.effects
    o = Outcome(timed_out=out.WhichOneof("outcome") == "timed_out")
    o.stdout, o.stdout_truncated = _output(effects.stdout)
    o.stderr, o.stderr_truncated = _output(effects.stderr)
    if not o.timed_out:
        if out.completed.WhichOneof("status") == "exited":
            o.exit_code = out.completed.exited
        else:
            o.signal = out.completed.signaled
    return o


class Client:
    """Starts maelstrom-client and its client: standalone, or with `broker` (HOST:PORT)."""

    def __init__(self, slots: int = 0, broker: Optional[str] = None, project_dir: PathLike = ".",
                 cache_dir: Optional[PathLike] = None, inline_limit: int = 0, binary: Optional[str] = None) -> None:
        self._proc = subprocess.Popen([binary or find_binary()], stdout=subprocess.PIPE,
                                      stderr=subprocess.DEVNULL)
        assert self._proc.stdout is not None
        name = self._proc.stdout.readline().decode().strip()
        if not name:
            self._proc.wait()
            raise RuntimeError(f"maelstrom-client exited with {self._proc.returncode} before listening")
        self._channel = grpc.insecure_channel(f"unix-abstract:{name}")
        self.stub = ClientProcessStub(self._channel)
        req = pb.StartRequest(project_dir=os.fsencode(os.path.abspath(project_dir)), slots=slots,
                              inline_limit=inline_limit)
        if cache_dir is not None:
            req.cache_dir = os.fsencode(os.path.abspath(cache_dir))
        if broker:
            req.cluster_communication_strategy.tcp.broker = broker
        try:
            self.stub.Start(req)
        except grpc.RpcError:
            self.close()
            raise

    def add_container(self, name: str, container: pb.ContainerSpec) -> None:
        self.stub.AddContainer(pb.AddContainerRequest(name=name, container=container))

    def run_job(self, spec: pb.JobSpec) -> Iterator[pb.JobStatus]:
        """Every status of the job, the completed one last; dropping the stream (cancel())
        stops the job."""
        return self.stub.RunJob(pb.RunJobRequest(spec=spec))

    def run(self, spec: pb.JobSpec) -> Outcome:
        """Runs the job to its end."""
        last = None
        for last in self.run_job(spec):
            pass
        assert last is not None and last.WhichOneof("status") == "completed"
        return outcome_of(last)

    def close(self) -> None:
        """Stops every job and the process."""
        if self._proc.poll() is None:
            try:
                self.stub.Stop(pb.Void())
            except grpc.RpcError:
                pass
        self._channel.close()
        self._proc.wait()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
