"""maelstrom-run end to end: real containers from busybox layers."""
import json
import os
import signal
import subprocess
import time

import pytest

from testlib import BUSYBOX, bin_path, busybox_layers, job


def test_echo_prints_stdout_and_exits_zero(any_runner):
    r = any_runner.run([job("echo", "hello", "world")])
    assert r.returncode == 0, r.stderr
    assert r.stdout == "hello world\n"


def test_first_nonzero_exit_code_is_returned(runner):
    r = runner.run([job("sh", "-c", "exit 0"), job("sh", "-c", "exit 7"), job("sh", "-c", "echo ok")],
                   "--slots", "1")
    assert r.returncode == 7
    assert "ok\n" in r.stdout
    # Jobs are numbered from 0, as by Maelstrom's maelstrom-run.
    assert r.stderr.splitlines() == ["job 1: exited with code 7"], r.stderr


def test_stderr_goes_to_stderr(runner):
    r = runner.run([job("sh", "-c", "echo out; echo err >&2")])
    assert r.stdout == "out\n"
    assert "err\n" in r.stderr


def test_one_mode_mirrors_exit_code_and_replaces_program(runner):
    r = runner.run([job("echo", "ignored")], "--one", "sh", "-c", "echo replaced; exit 3")
    assert r.returncode == 3
    assert r.stdout == "replaced\n"
    # The exit code says how it ended: no line about it, as with Maelstrom's --one.
    assert r.stderr == ""


def test_one_mode_mirrors_signal(runner):
    # PID 1 of a namespace ignores signals it sends itself, so let it fault.
    src = runner.tmp / "segv.c"
    src.write_text("int main(void) { *(volatile int *)0 = 1; return 0; }\n")
    subprocess.run(["gcc", "-static", "-O0", "-o", str(runner.tmp / "segv"), str(src)], check=True)
    r = runner.run([{"layers": [{"paths": ["segv"]}], "program": "/segv"}], "--one")
    assert r.returncode == -signal.SIGSEGV, r.stderr
    assert "killed by signal" not in r.stderr
    # Without --one a job killed by a signal makes the exit code 1, as Maelstrom's.
    r = runner.run([{"layers": [{"paths": ["segv"]}], "program": "/segv"}])
    assert r.returncode == 1, r.stderr
    assert "job 0: killed by signal 11" in r.stderr


def test_stdin_stream_runs_each_job(runner):
    text = "\n".join(json.dumps(job("echo", str(i))) for i in range(3))
    r = runner.run(None, "--slots", "1", stdin_text=text)
    assert r.returncode == 0, r.stderr
    assert sorted(r.stdout.split()) == ["0", "1", "2"]


def test_job_is_pid_2_under_our_init_in_its_own_namespaces(any_runner):
    r = any_runner.run([job("sh", "-c", "echo pid=$$; hostname; ls /proc | grep -c '^[0-9]'; cat /proc/1/comm",
                            mounts=[{"type": "proc", "mount_point": "/proc"}])])
    assert r.returncode == 0, r.stderr
    lines = r.stdout.split()
    assert lines[0] == "pid=2"
    assert lines[3] == "maelstrom-init"
    # Only our init and the job's own processes: sh and ls/grep children, never the host's hundreds.
    assert int(lines[2]) <= 5


def test_host_files_are_invisible(any_runner, tmp_path):
    secret = any_runner.tmp / "host-secret"
    secret.write_text("x")
    r = any_runner.run([job("sh", "-c", f"test -e {secret} && echo visible || echo hidden; ls /")])
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("hidden\n")
    assert "etc" not in r.stdout.split()


def test_uid_gid_inside(any_runner):
    r = any_runner.run([job("sh", "-c", "id -u; id -g"), job("id", "-u", user=1234, group=4321),
                        job("id", "-g", user=1234, group=4321)], "--slots", "1")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split().count("0") == 2
    assert "1234" in r.stdout.split() and "4321" in r.stdout.split()


def test_path_lookup_and_missing_program(runner):
    ok = runner.run([job("echo", "found")])
    assert ok.stdout == "found\n"
    bad = runner.run([job("no-such-program")])
    assert bad.returncode != 0
    assert "no-such-program" in bad.stderr and "execution error" in bad.stderr


def test_working_directory(runner):
    r = runner.run([job("pwd", working_directory="/tmp")])
    assert r.stdout == "/tmp\n"
    bad = runner.run([job("pwd", working_directory="/nonexistent")])
    assert bad.returncode != 0
    assert "/nonexistent" in bad.stderr


def test_environment_expansion(runner):
    r = runner.run([job("env", environment={"PATH": "/bin", "FOO": "$env{MAEL_TEST_FOO}",
                                            "BAR": "$env{MAEL_TEST_UNSET:-dflt}"})],
                   env={"MAEL_TEST_FOO": "from-client"})
    assert r.returncode == 0, r.stderr
    assert "FOO=from-client" in r.stdout.split()
    assert "BAR=dflt" in r.stdout.split()


def test_read_only_root_and_writable_root(any_runner):
    ro = any_runner.run([job("sh", "-c", "touch /newfile && echo wrote || echo denied")])
    assert ro.stdout == "denied\n"
    rw = any_runner.run([job("sh", "-c", "touch /newfile && echo wrote", enable_writable_file_system=True),
                         job("sh", "-c", "test -e /newfile && echo leaked || echo clean",
                             enable_writable_file_system=True)], "--slots", "1")
    assert rw.stdout == "wrote\nclean\n"


def test_tmp_proc_sys_mqueue_devpts_mounts(any_runner):
    mounts = [{"type": "tmp", "mount_point": "/tmp"}, {"type": "proc", "mount_point": "/proc"},
              {"type": "sys", "mount_point": "/sys"}, {"type": "mqueue", "mount_point": "/dev/mqueue"},
              {"type": "devpts", "mount_point": "/dev/pts"}]
    script = ("echo x > /tmp/f && cat /tmp/f; cat /proc/self/stat | cut -d' ' -f1 >/dev/null; "
              "test -d /sys/class && echo sys; grep -c . /proc/mounts; test -e /dev/pts/ptmx && echo pts")
    r = any_runner.run([job("sh", "-c", script, mounts=mounts)])
    assert r.returncode == 0, r.stderr
    out = r.stdout.split()
    assert out[0] == "x" and "sys" in out and "pts" in out


def test_relative_mount_point_is_taken_from_the_root(any_runner):
    """As in Maelstrom, a mount point of "tmp" mounts at /tmp."""
    r = any_runner.run([job("sh", "-c", "grep -c ' /tmp tmpfs' /proc/mounts",
                            mounts=[{"type": "tmp", "mount_point": "tmp"},
                                    {"type": "proc", "mount_point": "proc"}])])
    assert r.returncode == 0, r.stderr
    assert r.stdout == "1\n"


def test_devices_mount(any_runner):
    r = any_runner.run([job("sh", "-c", "echo gone > /dev/null && head -c 4 /dev/zero | wc -c",
                            mounts=[{"type": "devices", "devices": ["null", "zero"]}])])
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "4"


def test_bind_mount_read_only_and_read_write(runner):
    d = runner.tmp / "shared"
    d.mkdir()
    # Run as root, jobs write as an unprivileged host user (docs/security.md).
    d.chmod(0o777)
    (d / "in").write_text("from host\n")
    rw = runner.run([job("sh", "-c", "cat /mnt/in; echo from-job > /mnt/out",
                         mounts=[{"type": "bind", "mount_point": "/mnt", "local_path": str(d)}])])
    assert rw.returncode == 0, rw.stderr
    assert rw.stdout == "from host\n"
    assert (d / "out").read_text() == "from-job\n"
    assert (d / "out").stat().st_uid == (65534 if os.geteuid() == 0 else os.geteuid())
    ro = runner.run([job("sh", "-c", "echo x > /mnt/out2 || echo denied",
                         mounts=[{"type": "bind", "mount_point": "/mnt", "local_path": "shared",
                                  "read_only": True}])])
    assert "denied" in ro.stdout
    assert not (d / "out2").exists()


def test_missing_mount_point_is_an_error(runner):
    r = runner.run([job("true", mounts=[{"type": "tmp", "mount_point": "/nowhere"}])])
    assert r.returncode != 0
    assert "/nowhere" in r.stderr


def test_sys_with_local_network_is_refused(runner):
    r = runner.run([job("true", network="local", mounts=[{"type": "sys", "mount_point": "/sys"}])])
    assert r.returncode != 0
    assert "sys" in r.stderr and "network" in r.stderr


NET_PROBE = "cat /proc/net/dev | tail -n +3 | cut -d: -f1 | tr -d ' '; ip link show lo | grep -q UP && echo lo-up || echo lo-down"


def test_network_modes(any_runner):
    mounts = [{"type": "proc", "mount_point": "/proc"}]
    dis = any_runner.run([job("sh", "-c", NET_PROBE, mounts=mounts)])
    assert dis.stdout.split() == ["lo", "lo-down"], dis.stderr
    lo = any_runner.run([job("sh", "-c", NET_PROBE, mounts=mounts, network="loopback")])
    assert lo.stdout.split() == ["lo", "lo-up"], lo.stderr
    local = any_runner.run([job("sh", "-c", "cat /proc/net/dev | tail -n +3 | wc -l", mounts=mounts,
                                network="local")])
    host_ifaces = len(open("/proc/net/dev").read().splitlines()) - 2
    assert int(local.stdout.strip()) == host_ifaces


def test_loopback_network_carries_traffic(runner):
    # The listener's stdin stays open (busybox nc quits at stdin EOF, maybe
    # before it has read the message); the sender retries until it listens.
    script = ("sleep 30 | nc -l -p 7777 > /tmp/got & "
              "for i in $(seq 50); do echo ping | nc -w 1 127.0.0.1 7777 && break; sleep 0.1; done; "
              "for i in $(seq 50); do [ -s /tmp/got ] && break; sleep 0.1; done; cat /tmp/got")
    r = runner.run([job("sh", "-c", script, network="loopback",
                        mounts=[{"type": "tmp", "mount_point": "/tmp"}])])
    assert r.stdout.strip() == "ping", r.stderr


def test_timeout_kills_the_job(runner):
    start = time.monotonic()
    r = runner.run([job("sh", "-c", "echo started; sleep 100", timeout=1)])
    assert time.monotonic() - start < 60
    assert r.returncode != 0
    assert "timed out" in r.stderr
    assert "started" in r.stdout


def test_orphaned_grandchildren_die_with_the_job(runner):
    marker = f"mael-orphan-{os.getpid()}-{time.time_ns()}"
    r = runner.run([job("sh", "-c", f"(sh -c 'sleep 1000; :' {marker} &) ; (setsid sh -c 'sleep 1000; :' {marker} &); sleep 0.2; ps -o args | grep -c '^sh -c sleep 1000; : {marker}'",
                        mounts=[{"type": "proc", "mount_point": "/proc"}])])
    assert r.stdout == "2\n", r.stderr  # both were alive when the job ended
    time.sleep(0.2)
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert marker not in ps


def test_output_truncation(runner):
    r = runner.run([job("sh", "-c", "yes | head -c 5000")], "--inline-limit", "1000")
    assert r.returncode == 0
    assert len(r.stdout) == 1000
    assert "4000 bytes lost" in r.stderr
    # Cut stderr: the notice starts a line of its own.
    r = runner.run([job("sh", "-c", "printf errerrerrerrerr >&2")], "--inline-limit", "10")
    assert r.stderr.splitlines() == ["errerrerre", "job 0: stderr truncated, 5 bytes lost"], r.stderr


def test_stdin_is_at_eof(runner):
    r = runner.run([job("sh", "-c", "cat; echo eof")])
    assert r.stdout == "eof\n"


def test_ctrl_c_stops_every_job_and_leaves_nothing(runner):
    marker = f"mael-sigint-{os.getpid()}-{time.time_ns()}"
    jobs = runner.tmp / "jobs.json"
    jobs.write_text("\n".join(json.dumps(job("sh", "-c", f"echo up; sh -c 'sleep 1000; :' {marker}")) for _ in range(3)))
    p = subprocess.Popen([bin_path("maelstrom-run"), "--file", str(jobs), "--slots", "3"], cwd=runner.tmp,
                         env=runner.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while marker not in subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout:
        assert time.monotonic() < deadline, "jobs never started"
        time.sleep(0.05)
    time.sleep(0.3)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=30)
    assert p.returncode == 128 + signal.SIGINT
    # One line says so; the jobs it cancelled get no "system error" lines of their own.
    assert [l for l in err.splitlines() if l.strip()] == ["interrupted: every job was stopped"], err
    time.sleep(0.2)
    assert marker not in subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
