"""maelstrom-client end to end: jobs run through the ClientProcess service from Python, and
every kind of outcome comes back in a JobStatus stream."""
import concurrent.futures
import uuid

from client_util import ClientProcess, completed, job, layer, stubs
from test_client_api_errors import rpc_error
from test_client_api_lifecycle import sleeper, wait_running
from testlib import busybox_layers, processes_left


def test_exit_code_and_output(client):
    c = completed(client.run(job("sh", "-c", "echo out; echo err >&2; exit 3")))
    assert c.client_job_id >= 1
    done = c.result.outcome.completed
    assert done.exited == 3
    assert done.effects.stdout.inline == b"out\n"
    assert done.effects.stderr.inline == b"err\n"
    assert done.effects.duration.seconds > 0 or done.effects.duration.nano_seconds > 0


def test_empty_output_is_none(client):
    done = completed(client.run(job("true"))).result.outcome.completed
    assert done.exited == 0
    assert done.effects.stdout.WhichOneof("result") == "none"
    assert done.effects.stderr.WhichOneof("result") == "none"


def test_running_statuses_come_first(client):
    statuses = client.run(job("true"))
    pb, _ = stubs()
    seen = [s.running.at_local_worker for s in statuses[:-1]]
    assert pb.JOB_WORKER_STATUS_WAITING_FOR_LAYERS in seen
    assert seen[-1] == pb.JOB_WORKER_STATUS_EXECUTING
    assert completed(statuses).result.outcome.completed.exited == 0


def test_killed_by_signal(client):
    done = completed(client.run(job("sh", "-c", "kill -9 $$"))).result.outcome.completed
    assert done.WhichOneof("status") == "signaled"
    assert done.signaled == 9


def test_timeout(client):
    r = completed(client.run(job("sh", "-c", "echo before; sleep 100", timeout=1))).result
    assert r.outcome.WhichOneof("outcome") == "timed_out"
    assert r.outcome.timed_out.stdout.inline == b"before\n"


def test_execution_error(client):
    r = completed(client.run(job("no-such-program"))).result
    assert r.WhichOneof("result") == "error"
    assert r.error.WhichOneof("kind") == "execution"
    assert "no-such-program" in r.error.execution


def test_output_beyond_inline_limit_is_truncated(tmp_path):
    c = ClientProcess(tmp_path)
    c.start(slots=1, inline_limit=10)
    try:
        done = completed(c.run(job("sh", "-c", "yes | head -c 100"))).result.outcome.completed
        assert done.effects.stdout.truncated.first == b"y\ny\ny\ny\ny\n"
        assert done.effects.stdout.truncated.truncated == 90
    finally:
        c.close()


def test_container_parent_and_environment(client):
    pb, _ = stubs()
    base = pb.ContainerSpec(layers=[layer(l) for l in busybox_layers()],
                            environment=[pb.EnvironmentSpec(vars={"PATH": "/bin", "WHO": "parent"})],
                            working_directory="/tmp")
    client.stub.AddContainer(pb.AddContainerRequest(name="bb", container=base))
    spec = pb.JobSpec(program="sh", arguments=["-c", "echo $WHO $EXTRA $(pwd)"], container=pb.ContainerSpec(
        parent=pb.ContainerParent(container=pb.ContainerRef(name="bb", use=[
            pb.CONTAINER_USE_LAYERS, pb.CONTAINER_USE_ENVIRONMENT, pb.CONTAINER_USE_WORKING_DIRECTORY])),
        environment=[pb.EnvironmentSpec(vars={"EXTRA": "child"}, extend=True)]))
    done = completed(client.run(spec)).result.outcome.completed
    assert done.effects.stdout.inline == b"parent child /tmp\n"


def test_mounts_and_network(client):
    pb, _ = stubs()
    spec = job("sh", "-c", "test -c /dev/null && echo null-dev; test -c /dev/zero || echo zero-stub; "
               "cat /proc/self/comm; ip -o link | cut -d: -f2")
    spec.container.mounts.extend([pb.JobMount(proc=pb.ProcMount(mount_point="/proc")),
                                  pb.JobMount(devices=pb.DevicesMount(devices=[pb.JOB_DEVICE_NULL]))])
    spec.container.network = pb.JOB_NETWORK_LOOPBACK
    done = completed(client.run(spec)).result.outcome.completed
    assert done.exited == 0, done.effects.stderr
    out = done.effects.stdout.inline.decode().split()
    assert "null-dev" in out and "zero-stub" in out
    assert "cat" in out and "lo" in out


def test_capture_file_system_changes_keeps_the_jobs_writes_on_this_machine(client, tmp_path):
    pb, _ = stubs()
    upper, work = tmp_path / "upper", tmp_path / "work"
    upper.mkdir()
    work.mkdir()
    spec = job("sh", "-c", "mkdir -p /made && echo kept > /made/file && rm /bin/true")
    spec.capture_file_system_changes.upper = str(upper)
    spec.capture_file_system_changes.work = str(work)
    done = completed(client.run(spec)).result.outcome.completed
    assert done.exited == 0, done.effects.stderr
    assert (upper / "made" / "file").read_text() == "kept\n"
    # A deletion is overlay's whiteout: a 0/0 character device.
    import os
    import stat
    st = os.lstat(upper / "bin" / "true")
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == 0
    # A directory that does not exist is refused by name.
    spec.capture_file_system_changes.upper = str(tmp_path / "none")
    code, msg = rpc_error(client.stub.RunJob, pb.RunJobRequest(spec=spec))
    assert "capture_file_system_changes upper" in msg and "none" in msg, msg


def test_200_jobs_at_once(client):
    def one(i):
        return completed(client.run(job("sh", "-c", f"echo {i}")))

    with concurrent.futures.ThreadPoolExecutor(200) as pool:
        results = list(pool.map(one, range(200)))
    assert [r.result.outcome.completed.effects.stdout.inline for r in results] == \
        [f"{i}\n".encode() for i in range(200)]
    assert len({r.client_job_id for r in results}) == 200


def test_dropping_the_stream_cancels_the_job(client):
    pb, _ = stubs()
    marker = f"mael-drop-{uuid.uuid4().hex}"
    stream = client.stub.RunJob(pb.RunJobRequest(spec=sleeper(marker)))
    wait_running(marker)
    stream.cancel()
    assert processes_left(marker) == []
    # The process goes on serving.
    assert completed(client.run(job("true"))).result.outcome.completed.exited == 0


def test_a_tty_job_talks_over_the_callers_socket(client):
    """allocate_tty as Maelstrom's clients use it: the caller listens on an abstract Unix socket
    (autobind), the job's terminal is relayed over it, typed bytes and window size changes framed
    (0xff doubled; 0xff 0x00 ROWS COLUMNS)."""
    import socket
    import struct
    import threading
    pb, _ = stubs()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind("")  # autobind: a name in the abstract namespace, chosen by the kernel
    listener.listen(1)
    address = listener.getsockname()
    assert isinstance(address, bytes) and address[0] == 0, address
    spec = job("sh", "-c", "stty size; read line; echo got:$line; sleep 0.5; stty size",
               allocate_tty=pb.JobTty(socket_address=address, window_size=pb.WindowSize(rows=30, columns=100)))
    seen = []

    def terminal():
        conn, _ = listener.accept()
        with conn:
            out = b""
            while b"\n" not in out:  # the first size: the job is about to read
                chunk = conn.recv(4096)
                if not chunk:
                    break
                out += chunk
            conn.sendall(b"a\xff\xffb\r" + b"\xff\x00" + struct.pack(">HH", 40, 120))
            while chunk := conn.recv(4096):
                out += chunk
            seen.append(out)

    t = threading.Thread(target=terminal)
    t.start()
    done = completed(client.run(spec)).result.outcome.completed
    t.join(timeout=60)
    listener.close()
    assert done.exited == 0, done
    out = seen[0].replace(b"\r\n", b"\n")
    assert out.startswith(b"30 100\n"), out
    assert b"got:a\xffb\n" in out, out  # the doubled 0xff arrived as one byte
    assert out.endswith(b"40 120\n"), out  # the window size change reached the terminal
    # What the job wrote went to the terminal, not into the outcome.
    assert done.effects.stdout.WhichOneof("result") == "none"
