"""maelstrom-run --tty end to end, driven through a real pseudo-terminal that
plays the user's terminal."""
import fcntl
import json
import os
import select
import signal
import struct
import subprocess
import termios
import time

from testlib import as_user, bin_path, busybox_layers

APPLETS = ("sh", "echo", "sleep", "stty", "tty", "cat", "true")
DEADLINE = 120  # seconds; only a guard against hangs, never a measured threshold


def set_size(fd, rows, cols):
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


class Terminal:
    """maelstrom-run --tty with stdin, stdout and stderr on the slave of a pty we hold."""

    def __init__(self, runner, *command, rows=25, cols=90):
        self.master, self.slave = os.openpty()
        set_size(self.slave, rows, cols)
        self.before = termios.tcgetattr(self.slave)
        spec = {"layers": busybox_layers(applets=APPLETS), "environment": {"PATH": "/bin"},
                "program": "true", "arguments": []}
        jobs = runner.tmp / "tty-job.json"
        jobs.write_text(json.dumps(spec))
        cmd = [bin_path("maelstrom-run"), "--file", str(jobs), "--tty", *command]
        if runner.as_user is not None:
            os.chown(jobs, runner.as_user, runner.as_user)
            cmd = as_user(runner.as_user, cmd)
        self.proc = subprocess.Popen(cmd, stdin=self.slave, stdout=self.slave, stderr=self.slave,
                                     env=runner.env(), cwd=runner.tmp, start_new_session=True)
        self.output = b""

    def read_until(self, needle):
        end = time.monotonic() + DEADLINE
        while needle not in self.output:
            assert time.monotonic() < end, f"{needle!r} never came; got {self.output!r}"
            ready, _, _ = select.select([self.master], [], [], 1)
            if ready:
                try:
                    self.output += os.read(self.master, 4096)
                except OSError:  # EIO: nobody has the slave open any more
                    break
        return self.output

    def type(self, data):
        os.write(self.master, data)

    def finish(self):
        code = self.proc.wait(timeout=DEADLINE)
        # Drain what is left without blocking.
        while select.select([self.master], [], [], 0.2)[0]:
            try:
                chunk = os.read(self.master, 4096)
            except OSError:
                break
            if not chunk:
                break
            self.output += chunk
        after = termios.tcgetattr(self.slave)
        os.close(self.master)
        os.close(self.slave)
        return code, after


def test_tty_job_talks_to_the_terminal_and_mirrors_exit(any_runner):
    t = Terminal(any_runner, "sh", "-c",
                 "tty; test -t 0 && test -t 1 && test -t 2 && echo all-ttys; stty size; "
                 "read x; echo got $x; stty size; exit 7")
    t.read_until(b"25 90")
    # Our terminal was put in raw mode while the job runs.
    raw = termios.tcgetattr(t.slave)
    assert raw[3] & (termios.ECHO | termios.ICANON | termios.ISIG) == 0
    # A new window size travels to the job (SIGWINCH comes from the kernel of
    # a real terminal; here we send it as a terminal emulator would).
    set_size(t.slave, 30, 100)
    t.proc.send_signal(signal.SIGWINCH)
    t.type(b"hello\r")
    t.read_until(b"30 100")
    code, after = t.finish()
    out = t.output.decode(errors="replace")
    assert code == 7, out
    assert "all-ttys" in out
    assert "got hello" in out
    assert after == t.before  # the terminal's settings are back


def test_tty_escape_then_ctrl_c_stops_job_and_restores_terminal(runner):
    # A plain ^C goes to the job's terminal: the job's shell and its sleep die
    # of SIGINT as on the host (the job is not its namespace's init, which would
    # ignore it), while maelstrom-run itself is not interrupted: it ends as the
    # job did.
    t = Terminal(runner, "sh", "-c", "echo started; sleep 1000; echo after-sleep")
    t.read_until(b"started")
    t.type(b"\x03")
    code, after = t.finish()
    assert code == -signal.SIGINT, t.output
    assert b"after-sleep" not in t.output
    assert b"interrupted" not in t.output
    assert after == t.before

    t = Terminal(runner, "sh", "-c", "trap '' INT; echo started; sleep 1000")
    t.read_until(b"started")
    t.type(b"\x1d\x03")  # ^] ^C: maelstrom-run gives up the job
    code, after = t.finish()
    assert code == 128 + signal.SIGINT, t.output
    assert b"interrupted" in t.output
    assert after == t.before


def test_tty_sigterm_restores_terminal(runner):
    t = Terminal(runner, "sh", "-c", "echo started; sleep 1000")
    t.read_until(b"started")
    t.proc.send_signal(signal.SIGTERM)
    code, after = t.finish()
    assert code == 128 + signal.SIGTERM, t.output
    assert after == t.before


def test_tty_needs_a_terminal(runner):
    spec = {"layers": busybox_layers(applets=APPLETS), "program": "true", "arguments": []}
    jobs = runner.tmp / "tty-job.json"
    jobs.write_text(json.dumps(spec))
    r = subprocess.run([bin_path("maelstrom-run"), "--file", str(jobs), "--tty"], stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, env=runner.env(), cwd=runner.tmp, timeout=DEADLINE)
    assert r.returncode != 0
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "--tty" in lines[0] and "terminal" in lines[0], r.stderr


def test_tty_conflicts_with_one(runner):
    r = runner.run([{"layers": busybox_layers(applets=APPLETS), "program": "true"}], "--tty", "--one")
    assert r.returncode != 0
    assert "--tty" in r.stderr or "--one" in r.stderr
