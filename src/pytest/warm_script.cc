#include "pytest/warm_script.h"

namespace mael {

// A warm pytest process for a batch of items of one file: it imports pytest, the conftest
// chain and the test module once (pytest's own collection of the items named), then runs each
// item in a fork of itself. The parent never runs test code. Each fork first isolates itself:
// its own session, mount namespace with a fresh /tmp (and /proc), PID namespace whose init is
// the fork itself, so that whatever the test starts ends with it; then it runs the item with
// pytest's own protocol and prints pytest's own report for it.
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
    """The fork's own mount, PID and IPC namespaces, with a fresh tmpfs on each of the job's."""
    check(libc.unshare(CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC), "unshare")
    check(libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None), "making mounts private")
    for path in cfg["tmp_mounts"]:
        p = path.encode()
        check(libc.mount(b"tmpfs", p, b"tmpfs", 0, b"size=%d" % tmpfs_size(path)), "mounting " + path)


def probe_isolation():
    """Whether a fork can isolate itself here; None when it can, else why not."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            isolate()
            os.write(w, b"ok")
        except BaseException as e:
            os.write(w, str(e).encode()[:500])
        os._exit(0)
    os.close(w)
    msg = os.read(r, 600).decode()
    os.close(r)
    os.waitpid(pid, 0)
    return None if msg == "ok" else msg


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


def fork_item(session, item, key, timeout):
    out, err = tempfile.TemporaryFile(), tempfile.TemporaryFile()
    status_r, status_w = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    start = time.monotonic()
    child = os.fork()
    if child == 0:
        code = 101
        try:
            os.close(status_r)
            os.setsid()
            os.dup2(out.fileno(), 1)
            os.dup2(err.fileno(), 2)
            isolate()
            init = os.fork()  # PID 1 of the test's namespace: everything it starts ends with it
            if init == 0:
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
            deadline = None if timeout is None else time.monotonic() + timeout
            pfd = os.pidfd_open(init)
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            ready, _, _ = select.select([pfd], [], [], left)
            if not ready:
                os.kill(init, signal.SIGKILL)
                os.write(status_w, json.dumps({"timeout": True}).encode())
            os.waitpid(init, 0)
            code = 0
        except BaseException as e:
            try:
                os.write(2, ("maelstrom-pytest: %s\n" % e).encode())
            except OSError:
                pass
        os._exit(code)
    os.close(status_w)
    _, st = os.waitpid(child, 0)
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
