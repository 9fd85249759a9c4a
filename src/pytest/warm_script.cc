#include "pytest/warm_script.h"

namespace mael {

// A warm pytest process for a batch of items of one file: it imports pytest, the conftest
// chain and the test module once (pytest's own collection of the items named), then runs each
// item in a fork of itself. The parent never runs test code. Per item, the parent clones an
// init straight into new mount, PID and IPC namespaces (clone3; where that is refused, a fork
// that unshares them and forks the init); the init makes its own session, a fresh tmpfs on each
// of the job's tmp mounts and /dev/shm and a new /proc, then forks the test's process (not PID 1,
// so its signals act as usual), which runs the item with pytest's own protocol and prints
// pytest's own report for it. Whatever the test starts ends with its PID namespace.
//
// Argument: JSON {"args": [pytest arguments], "items": ["FILE::ITEM", ...], "timeout_ms": N|null,
// "cap": bytes kept of each stream, "tmp_mounts": the job's tmpfs mount points}. Output: one record line per item on stdout, prefixed with
// kWarmRecordPrefix: {"item", "exit" | "signal" | "timeout", "ns", "out", "err" (base64),
// "out_lost", "err_lost"}; or {"isolation": message} once when forks cannot isolate (the caller
// then runs the batch in fresh interpreters). Everything else the process prints goes to stderr.
std::string_view pytest_warm_script() {
  return R"PY(
import base64, ctypes, gc, json, os, select, signal, sys, tempfile, time

cfg = json.loads(sys.argv[1])
records = os.fdopen(os.dup(1), "wb", buffering=0)
os.dup2(2, 1)
PREFIX = b"\x1emaelstrom-pytest "


def emit(rec):
    records.write(PREFIX + json.dumps(rec).encode() + b"\n")


libc = ctypes.CDLL(None, use_errno=True)
CLONE_NEWNS, CLONE_NEWPID, CLONE_NEWIPC = 0x00020000, 0x20000000, 0x08000000
MS_REC, MS_PRIVATE = 0x4000, 1 << 18


def check(rc, what):
    if rc != 0:
        e = ctypes.get_errno()
        raise OSError(e, "%s: %s" % (what, os.strerror(e)))


def tmpfs_size(path):
    st = os.statvfs(path)
    return st.f_blocks * st.f_frsize


def isolate():
    """The fork's own mount, PID and IPC namespaces (for the fork path)."""
    check(libc.unshare(CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC), "unshare")


def fresh_mounts():
    """In the init's new mount namespace: a fresh tmpfs on each of the job's tmp mounts."""
    check(libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None), "making mounts private")
    for path in cfg["tmp_mounts"]:
        p = path.encode()
        check(libc.mount(b"tmpfs", p, b"tmpfs", 0, b"size=%d" % tmpfs_size(path)), "mounting " + path)


class CloneArgs(ctypes.Structure):
    _fields_ = [(name, ctypes.c_uint64) for name in (
        "flags", "pidfd", "child_tid", "parent_tid", "exit_signal", "stack", "stack_size", "tls")]


CLONE_PIDFD, SYS_CLONE3 = 0x1000, 435
# Called with the GIL held (PyDLL): the child goes on in this very frame, like a fork.
raw_syscall = ctypes.PyDLL(None, use_errno=True).syscall
raw_syscall.restype = ctypes.c_long
use_clone = [True]  # cleared when clone3 is refused here: the fork path then


def clone_init():
    """(pid, pidfd) in the parent, (0, -1) in the child: a process in new mount, PID (as its
    init) and IPC namespaces. It skips Python's fork hooks, which a single-threaded process
    does not need; the init forks the test's process with os.fork, which runs them."""
    fd = ctypes.c_int(-1)
    args = CloneArgs(flags=CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_PIDFD,
                     pidfd=ctypes.addressof(fd), exit_signal=signal.SIGCHLD)
    pid = raw_syscall(ctypes.c_long(SYS_CLONE3), ctypes.byref(args), ctypes.c_size_t(ctypes.sizeof(args)))
    if pid < 0:
        e = ctypes.get_errno()
        raise OSError(e, "clone3: " + os.strerror(e))
    return pid, (fd.value if pid else -1)


def probe_isolation():
    """Whether an init can be made here; None when it can, else why not."""
    r, w = os.pipe()
    pid = -1
    if threading_count() == 1:
        try:
            pid, pfd = clone_init()
            if pid:
                os.close(pfd)
        except OSError:
            pid = -1
    if pid == -1:
        use_clone[0] = False
        pid = os.fork()
        if pid == 0:
            try:
                isolate()
            except BaseException as e:
                os.write(w, str(e).encode()[:500])
                os._exit(0)
    if pid == 0:
        try:
            fresh_mounts()
            os.write(w, b"ok")
        except BaseException as e:
            os.write(w, str(e).encode()[:500])
        os._exit(0)
    os.close(w)
    msg = os.read(r, 600).decode()
    os.close(r)
    os.waitpid(pid, 0)
    return None if msg == "ok" else msg


def threading_count():
    t = sys.modules.get("threading")
    return 1 if t is None else t.active_count()


def keep(data, cap):
    if len(data) <= cap:
        return data, 0
    head = cap // 4
    tail = cap - head
    lost = len(data) - cap
    return data[:head] + (b"\n... %d bytes left out ...\n" % lost) + data[-tail:], lost


def read_file(f):
    f.seek(0)
    return f.read()


def run_item(session, item):
    """In the test's own process: pytest's protocol for the one item, then pytest's summary."""
    tr = session.config.pluginmanager.get_plugin("terminalreporter")
    try:  # the summary's "in N s" counts from here, not from the warm process's start
        if hasattr(tr, "_session_start"):
            tr._session_start = type(tr._session_start)()
        elif hasattr(tr, "_sessionstarttime"):
            tr._sessionstarttime = time.time()
    except Exception:
        pass
    session.testsfailed = 0
    item.config.hook.pytest_runtest_protocol(item=item, nextitem=None)
    code = 1 if session.testsfailed else 0
    session.exitstatus = code
    session.config.hook.pytest_sessionfinish(session=session, exitstatus=code)
    sys.stdout.flush()
    sys.stderr.flush()
    return code


def run_init(session, item, status_w):
    """PID 1 of the test's namespaces: fresh mounts, then the test's process, whose wait status
    it reports."""
    os.setsid()
    fresh_mounts()
    if os.path.isdir("/proc/self"):
        libc.mount(b"proc", b"/proc", b"proc", 0, None)
    test = os.fork()  # not PID 1 itself, so that its signals act as usual
    if test == 0:
        try:
            os._exit(run_item(session, item))
        except BaseException:
            import traceback
            traceback.print_exc()
            os._exit(102)
    _, st = os.waitpid(test, 0)
    os.write(status_w, json.dumps({"status": st}).encode())
    os._exit(0)


def wait_init(init, pfd, timeout, status_w):
    """Waits for the init (its pidfd) until the timeout, then kills it: its namespace dies."""
    left = None if timeout is None else max(0.0, timeout)
    ready, _, _ = select.select([pfd], [], [], left)
    if not ready:
        os.kill(init, signal.SIGKILL)
        os.write(status_w, json.dumps({"timeout": True}).encode())
    _, st = os.waitpid(init, 0)
    os.close(pfd)
    return st


def fork_item(session, item, key, timeout):
    out, err = tempfile.TemporaryFile(), tempfile.TemporaryFile()
    status_r, status_w = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    start = time.monotonic()
    if use_clone[0]:
        init, pfd = clone_init()
        if init == 0:
            try:
                os.close(status_r)
                os.dup2(out.fileno(), 1)
                os.dup2(err.fileno(), 2)
                run_init(session, item, status_w)
            except BaseException as e:
                try:
                    os.write(2, ("maelstrom-pytest: %s\n" % e).encode())
                except OSError:
                    pass
            os._exit(101)
        st = wait_init(init, pfd, timeout, status_w)
    else:
        child = os.fork()  # unshares the namespaces, forks the init and waits for it
        if child == 0:
            code = 101
            try:
                os.close(status_r)
                os.dup2(out.fileno(), 1)
                os.dup2(err.fileno(), 2)
                isolate()
                init = os.fork()
                if init == 0:
                    run_init(session, item, status_w)
                wait_init(init, os.pidfd_open(init), timeout, status_w)
                code = 0
            except BaseException as e:
                try:
                    os.write(2, ("maelstrom-pytest: %s\n" % e).encode())
                except OSError:
                    pass
            os._exit(code)
        _, st = os.waitpid(child, 0)
    os.close(status_w)
    ns = int((time.monotonic() - start) * 1e9)
    raw = b""
    while True:
        chunk = os.read(status_r, 4096)
        if not chunk:
            break
        raw += chunk
    os.close(status_r)
    rec = {"item": key, "ns": ns}
    # The init's report, then the reaper's timeout note, may both be there: the last one wins.
    parts = [json.loads(p) for p in raw.decode().replace("}{", "}\n{").splitlines() if p]
    if any(p.get("timeout") for p in parts):
        rec["timeout"] = True
    elif parts and "status" in parts[-1]:
        s = parts[-1]["status"]
        if os.WIFSIGNALED(s):
            rec["signal"] = os.WTERMSIG(s)
        else:
            rec["exit"] = os.WEXITSTATUS(s)
    else:
        rec["exit"] = os.WEXITSTATUS(st) if os.WIFEXITED(st) and os.WEXITSTATUS(st) else 103
    for name, f in (("out", out), ("err", err)):
        data, lost = keep(read_file(f), cfg["cap"])
        rec[name] = base64.b64encode(data).decode()
        rec[name + "_lost"] = lost
        f.close()
    emit(rec)


class Warm:
    @staticmethod
    def _key(item):
        return item.nodeid

    def pytest_runtestloop(self, session):
        problem = probe_isolation()
        if problem is not None:
            emit({"isolation": problem})
            records.close()
            os._exit(0)
        by_key = {}
        for item in session.items:
            by_key.setdefault(item.nodeid, item)
        timeout = cfg["timeout_ms"] / 1000.0 if cfg["timeout_ms"] else None
        # What is loaded now is shared with every fork: keep the collector from walking (and so
        # copying) it in each of them.
        gc.collect()
        gc.freeze()
        for key in cfg["items"]:
            item = by_key.get(key)
            if item is None:
                emit({"item": key, "missing": True})
                continue
            fork_item(session, item, key, timeout)
        records.close()
        os._exit(0)  # the parent ran no test: no session summary of its own


import pytest

code = pytest.main(cfg["args"] + sorted(set(cfg["items"])), plugins=[Warm()])
# Only here when collection failed before the loop: the caller runs the batch fresh.
emit({"collection": int(code)})
records.close()
os._exit(0)
)PY";
}

}  // namespace mael
