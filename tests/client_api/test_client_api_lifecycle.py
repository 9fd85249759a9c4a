"""maelstrom-client end to end: how the process ends (Stop, its connection closing, its parent
dying) with nothing left running, and the Introspect and StreamLogMessages calls."""
import os
import subprocess
import sys
import textwrap
import time
import uuid

import grpc

from client_util import ClientProcess, job, stubs
from testlib import ROOT, bin_path, host_processes, processes_left


def sleeper(marker):
    """A job running until killed, its shell's command line carrying marker (as $0)."""
    return job("sh", "-c", "sleep 1000; echo done", marker)


def wait_running(marker):
    """Waits until the job carrying marker shows up among the host's processes."""
    for _ in range(300):
        if host_processes(marker):
            return
        time.sleep(0.1)
    raise AssertionError("the job never ran")


def start_sleeper(c, marker):
    """A job that runs until killed; returns its stream once the job is running."""
    pb, _ = stubs()
    stream = c.stub.RunJob(pb.RunJobRequest(spec=sleeper(marker)))
    wait_running(marker)
    return stream


def test_stop_ends_jobs_and_the_process(tmp_path):
    pb, _ = stubs()
    c = ClientProcess(tmp_path)
    c.start()
    marker = f"mael-stop-{uuid.uuid4().hex}"
    stream = start_sleeper(c, marker)
    assert c.stub.Stop(pb.Void()) == pb.Void()
    # The open stream ends with its job's end: a system error, the job having been stopped.
    rest = list(stream)
    assert rest and rest[-1].completed.result.error.WhichOneof("kind") == "system"
    assert c.wait() == 0
    assert processes_left(marker) == []
    c.channel.close()


def test_closing_the_connection_ends_jobs_and_the_process(tmp_path):
    c = ClientProcess(tmp_path)
    c.start()
    marker = f"mael-close-{uuid.uuid4().hex}"
    start_sleeper(c, marker)
    c.channel.close()
    assert c.wait() == 0
    assert processes_left(marker) == []


def test_stop_before_start(tmp_path):
    pb, _ = stubs()
    c = ClientProcess(tmp_path)
    c.stub.Stop(pb.Void())
    assert c.wait() == 0
    c.channel.close()


# A parent that starts maelstrom-client, prints its pid (and, with a job, waits until the job
# runs), then waits to be killed.
PARENT = textwrap.dedent("""
    import subprocess, sys, time
    sys.path[:0] = sys.argv[1:4]
    proc = subprocess.Popen([sys.argv[4]], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    name = proc.stdout.readline().decode().strip()
    if sys.argv[5] != "-":
        from client_util import ClientProcess, job, stubs
        import grpc
        pb, grpc_stubs = stubs()
        stub = grpc_stubs.ClientProcessStub(grpc.insecure_channel("unix-abstract:" + name))
        stub.Start(pb.StartRequest(cache_dir=sys.argv[6].encode(), slots=1))
        stream = stub.RunJob(pb.RunJobRequest(spec=job("sh", "-c", "sleep 1000; echo done", sys.argv[5])))
        for s in stream:
            if s.running.at_local_worker == pb.JOB_WORKER_STATUS_EXECUTING:
                break
    print(proc.pid, flush=True)
    time.sleep(1000)
""")


def run_parent(tmp_path, marker):
    stubs()  # generated: the parent imports them from sys.path
    import items_pb2
    here = os.path.dirname(__file__)
    return subprocess.Popen([sys.executable, "-c", PARENT, os.path.dirname(items_pb2.__file__), here,
                             str(ROOT / "tests"), bin_path("maelstrom-client"), marker, str(tmp_path / "cache")],
                            stdout=subprocess.PIPE, text=True)


def wait_gone(pid):
    """True once pid has exited (it is the parent's child, so init reaps it)."""
    for _ in range(200):
        if not os.path.exists(f"/proc/{pid}") or open(f"/proc/{pid}/stat").read().split()[2] == "Z":
            return True
        time.sleep(0.1)
    return False


def test_parent_dying_before_connecting_ends_the_process(tmp_path):
    parent = run_parent(tmp_path, "-")
    pid = int(parent.stdout.readline())
    parent.kill()
    parent.wait()
    assert wait_gone(pid), "maelstrom-client outlived its parent"


def test_parent_dying_mid_job_ends_the_process_and_the_job(tmp_path):
    marker = f"mael-orphan-{uuid.uuid4().hex}"
    parent = run_parent(tmp_path, marker)
    pid = int(parent.stdout.readline())
    wait_running(marker)
    parent.kill()
    parent.wait()
    assert wait_gone(pid), "maelstrom-client outlived its parent"
    assert processes_left(marker) == []


def test_introspect(client):
    pb, _ = stubs()
    r = client.stub.Introspect(pb.Void())
    assert list(r.artifact_uploads) == [] and list(r.image_downloads) == []


def test_log_messages_stream(tmp_path):
    pb, _ = stubs()
    c = ClientProcess(tmp_path)
    logs = c.stub.StreamLogMessages(pb.Void())
    try:
        c.stub.Introspect(pb.Void())  # a round trip: the log stream is set up by now
    except grpc.RpcError:
        pass
    c.start()
    c.stub.Stop(pb.Void())
    messages = list(logs)  # the stream closes with the process
    started = [m for m in messages if "maelstrom-client started: standalone" in m.message_]
    assert started and started[0].level == pb.LOG_LEVEL_INFO
    assert c.wait() == 0
    c.channel.close()


def test_a_peer_sending_garbage_ends_cleanly(tmp_path):
    """The connection is not HTTP/2: gRPC drops it, and the process ends as for any closed
    connection (exit code 0, no crash)."""
    import socket
    proc = subprocess.Popen([bin_path("maelstrom-client")], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=dict(os.environ, HOME=str(tmp_path), XDG_CACHE_HOME=str(tmp_path)))
    name = proc.stdout.readline().decode().strip()
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect("\0" + name)
    s.sendall(b"GET / HTTP/1.1\r\n\r\n" + bytes(range(256)) * 64)
    s.settimeout(20)
    try:
        while s.recv(4096):  # whatever gRPC answers, until it closes its side
            pass
    except OSError:
        pass
    s.close()
    assert proc.wait(timeout=20) == 0, proc.stderr.read()
