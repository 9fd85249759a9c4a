"""Helpers for the cluster tests: a broker and workers as real processes, a
busybox layer as a tar, and the small test client (mael-test-client) that
submits jobs through the broker connection."""
import contextlib
import io
import json
import os
import pathlib
import re
import signal
import socket
import subprocess
import tarfile
import time

import pytest

import testlib

ROOT = pathlib.Path(__file__).resolve().parent.parent.parent
BIN_DIR = pathlib.Path(os.environ.get("MAEL_BIN_DIR", ROOT / "build" / "bin"))
BUSYBOX = "/bin/busybox"


def bin_path(name):
    p = BIN_DIR / name
    if not p.exists():
        pytest.fail(f"{p} is not built; run the build first or set MAEL_BIN_DIR")
    return str(p)

APPLETS = ("sh", "echo", "cat", "sleep", "true", "false", "env", "pwd", "ls", "id", "kill", "yes", "head")


def wait_for(predicate, timeout=30.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def make_busybox_tar(path, applets=APPLETS):
    """A layer with a static busybox at /bin and its applets as symlinks."""
    with tarfile.open(path, "w") as tar:
        info = tar.gettarinfo(BUSYBOX, arcname="bin/busybox")
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        with open(BUSYBOX, "rb") as f:
            tar.addfile(info, f)
        for d in ("proc", "tmp", "dev"):
            ti = tarfile.TarInfo(d)
            ti.type = tarfile.DIRTYPE
            ti.mode = 0o755
            tar.addfile(ti)
        for a in applets:
            ti = tarfile.TarInfo(f"bin/{a}")
            ti.type = tarfile.SYMTYPE
            ti.linkname = "busybox"
            tar.addfile(ti)
    return path


def tar_of(path, files):
    """A tar holding {name: bytes}."""
    with tarfile.open(path, "w") as tar:
        for name, data in files.items():
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            ti.mode = 0o644
            tar.addfile(ti, io.BytesIO(data))
    return path


class Proc:
    """A started binary whose stderr goes to a log file."""

    def __init__(self, args, log, netns=None, env=None, cwd=None):
        self.log = log
        cmd = list(args)
        if netns:
            cmd = ["ip", "netns", "exec", netns] + cmd
        self.stderr = open(log, "w")
        self.p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self.stderr, text=True, env=env, cwd=cwd,
                                  start_new_session=True)

    def log_text(self):
        return pathlib.Path(self.log).read_text()

    def alive(self):
        return self.p.poll() is None

    def kill(self, sig=signal.SIGKILL):
        if self.alive():
            self.p.send_signal(sig)

    def stop(self):
        if self.alive():
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.p.wait()
        if self.p.stdout:
            self.p.stdout.close()
        self.stderr.close()


class Cluster:
    """One broker plus any number of workers, all stopped at teardown."""

    def __init__(self, tmp):
        self.tmp = tmp
        self.procs = []
        self.broker = None
        self.port = self.http_port = None
        self.n_workers = 0
        self.admin_tls = []  # credentials for status() when the broker wants them
        self.http_auth = {}  # the same for the status page (http_get's keyword arguments)

    def env(self):
        env = {k: v for k, v in os.environ.items() if not k.startswith("MAELSTROM_")}
        env["HOME"] = str(self.tmp)
        env["XDG_CONFIG_HOME"] = str(self.tmp / "config")
        return env

    def start_broker(self, *extra, wrap=()):
        """wrap: a command to run the broker under (e.g. prlimit)."""
        self.broker = Proc([*wrap, bin_path("maelstrom-broker"), "--port", "0", "--http-port", "0", "--cache-root",
                            str(self.tmp / "broker-cache"), *extra], self.tmp / "broker.log", env=self.env())
        self.procs.append(self.broker)
        line = self.broker.p.stdout.readline()
        m = re.match(r"listening on port (\d+); web page on port (\d+)", line)
        assert m, f"broker did not start: {line!r} {self.broker.log_text()}"
        self.port, self.http_port = int(m.group(1)), int(m.group(2))
        return self.broker

    @property
    def address(self):
        return f"127.0.0.1:{self.port}"

    def start_worker(self, slots=2, broker=None, netns=None, name=None, *extra, as_user=None, cache_root=None):
        """as_user: run it as that uid (and gid), with cache_root, a directory that user owns."""
        self.n_workers += 1
        i = self.n_workers
        cmd = [bin_path("maelstrom-worker"), "--broker", broker or self.address, "--slots", str(slots),
               "--cache-root", str(cache_root or self.tmp / f"worker{i}"), "--name", name or f"w{i}", *extra]
        if as_user is not None:
            cmd = testlib.as_user(as_user, cmd)
        w = Proc(cmd, self.tmp / f"worker{i}.log", netns=netns, env=self.env())
        self.procs.append(w)
        return w

    def status(self):
        r = subprocess.run([bin_path("maelstrom-admin"), "--broker", self.address, *self.admin_tls, "status", "--json"],
                           capture_output=True, text=True, timeout=30, env=self.env())
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout)

    def wait_workers(self, n, timeout=30):
        wait_for(lambda: len(self.status()["workers"]) == n, timeout, f"{n} workers")

    def client(self, jobs, *extra, broker=None, timeout=120, netns=None):
        """Runs mael-test-client to completion; returns (returncode, results by index, stderr)."""
        f = self.tmp / f"jobs-{time.monotonic_ns()}.json"
        f.write_text("\n".join(json.dumps(j) for j in jobs) + "\n")
        cmd = [bin_path("mael-test-client"), "--broker", broker or self.address, "--jobs", str(f), *extra]
        if netns:
            cmd = ["ip", "netns", "exec", netns] + cmd
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=self.env())
        return r.returncode, parse_results(r.stdout), r.stderr

    def start_client(self, jobs, *extra):
        f = self.tmp / f"jobs-{time.monotonic_ns()}.json"
        f.write_text("\n".join(json.dumps(j) for j in jobs) + "\n")
        c = Proc([bin_path("mael-test-client"), "--broker", self.address, "--jobs", str(f), *extra],
                 self.tmp / f"client-{time.monotonic_ns()}.log", env=self.env())
        self.procs.append(c)
        return c

    def close(self):
        for p in reversed(self.procs):
            p.stop()


@contextlib.contextmanager
def running_cluster(directory):
    """A Cluster working in `directory` (made here), stopped when the block ends: the body of
    the test runners' `cluster` fixtures."""
    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    c = Cluster(directory)
    try:
        yield c
    finally:
        c.close()


def parse_results(stdout):
    results = {}
    for line in stdout.splitlines():
        j = json.loads(line)
        if "index" in j:
            results[j["index"]] = j
    return results


def bb_job(busybox_tar, program, *args, **fields):
    j = {"layers": [{"tar": str(busybox_tar)}], "program": program, "arguments": list(args),
         "environment": ["PATH=/bin"]}
    j.update(fields)
    return j


def container_processes(marker):
    """PIDs of processes whose command line contains marker (a unique string)."""
    return testlib.host_processes(marker)


ROLE_CERTS = ("worker", "client", "admin")


def make_certs(d):
    """A CA; a broker certificate for 127.0.0.1/localhost; a worker, a client and an admin
    certificate from the same CA, each naming its role (OU=maelstrom-ROLE); "norole", from that
    CA without a role; and an intruder's, from another CA, claiming the client role."""
    d.mkdir(parents=True, exist_ok=True)

    def run(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=d)

    for ca in ("ca", "evil-ca"):
        run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
            "-subj", f"/CN={ca}", "-keyout", f"{ca}.key", "-out", f"{ca}.pem")
    (d / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    subjects = {"broker": ("/CN=broker", "ca"), "norole": ("/CN=norole", "ca"),
                "intruder": ("/CN=intruder/OU=maelstrom-client", "evil-ca")}
    subjects.update({r: (f"/CN={r}/OU=maelstrom-{r}", "ca") for r in ROLE_CERTS})
    for name, (subject, ca) in subjects.items():
        run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-subj", subject,
            "-keyout", f"{name}.key", "-out", f"{name}.csr")
        run("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key", "-CAcreateserial",
            "-days", "2", "-extfile", "san.ext", "-out", f"{name}.pem")
    return d


def cert_args(certs, who, ca="ca"):
    """A peer's TLS options: trust the broker's CA, present WHO's certificate."""
    return ["--tls-ca", str(certs / f"{ca}.pem"), "--tls-cert", str(certs / f"{who}.pem"),
            "--tls-key", str(certs / f"{who}.key")]


def broker_cert_args(certs):
    """The broker's TLS options with client certificates required (they name the roles)."""
    return ["--tls-ca", str(certs / "ca.pem"), "--tls-cert", str(certs / "broker.pem"),
            "--tls-key", str(certs / "broker.key")]


def make_tokens(d):
    """Three role token files (worker, client, admin) under d: {role: path}."""
    d.mkdir(parents=True, exist_ok=True)
    paths = {}
    for role in ROLE_CERTS:
        paths[role] = d / f"{role}.token"
        paths[role].write_text(f"{role} {os.urandom(8).hex()}\n")
    return paths


def broker_token_args(tokens):
    return [a for role in ROLE_CERTS for a in (f"--{role}-token-file", str(tokens[role]))]


def rogue(*args, timeout=120, input=None):
    """Runs mael-rogue-peer to its end: (returncode, events as dicts, stderr)."""
    r = subprocess.run([bin_path("mael-rogue-peer"), *args], capture_output=True, text=True, timeout=timeout,
                       input=input)
    return r.returncode, [json.loads(l) for l in r.stdout.splitlines() if l.startswith("{")], r.stderr


# ---- floods of idle connections (test_cluster_flood.py, bench/cluster_flood.py) --------------------

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"  # and then nothing: no settings, no call


def accept_queue(port):
    """Connections waiting in the kernel for the broker to accept them (Recv-Q of its listener)."""
    for table in ("/proc/net/tcp6", "/proc/net/tcp"):
        for line in open(table).read().splitlines()[1:]:
            f = line.split()
            if f[3] == "0A" and int(f[1].rsplit(":", 1)[1], 16) == port:
                return int(f[4].split(":")[1], 16)
    return 0


def flood(port, n, source, payload=PREFACE):
    """n connections from `source` that send `payload` (the HTTP/2 preface) and nothing more. Paced to the
    broker's accept queue: a full queue makes the kernel drop connection attempts, which would only
    slow this test down (the broker keeps its backlog short on purpose)."""
    socks = []
    for i in range(n):
        deadline = time.monotonic() + 1  # a broker that stopped accepting does not stop the flood
        while i % 8 == 0 and accept_queue(port) > 8 and time.monotonic() < deadline:
            time.sleep(0.001)
        s = socket.socket()
        s.bind((source, 0))
        s.settimeout(2)
        try:
            s.connect(("127.0.0.1", port))
            s.sendall(payload)
        except OSError:  # refused at once
            pass
        s.setblocking(False)
        socks.append(s)
    return socks


def still_open(socks):
    """How many of these connections the broker has not closed."""
    n = 0
    for s in socks:
        try:
            while s.recv(65536):  # the broker's own preface and settings
                pass
        except BlockingIOError:
            n += 1
        except OSError:  # reset
            pass
    return n



# ---- used by the client tests (test_remote_*.py) ------------------------------------------------

def http_get(cluster, path="/api/status", cert=None, token=None, ca=None):
    """GET from the broker's status page: over TLS when `ca` (a PEM path) is given, with a client
    certificate (a name in cluster.http_certs) or a token as Basic password. Returns (status, headers, body);
    HTTP errors are returned, not raised."""
    import ssl
    import urllib.error
    import urllib.request
    scheme = "https" if ca else "http"
    req = urllib.request.Request(f"{scheme}://127.0.0.1:{cluster.http_port}{path}")
    if token:
        import base64
        req.add_header("Authorization", "Basic " + base64.b64encode(f"admin:{token}".encode()).decode())
    ctx = None
    if ca:
        ctx = ssl.create_default_context(cafile=str(ca))
        if cert:
            ctx.load_cert_chain(str(cert[0]), str(cert[1]))
    try:
        with urllib.request.urlopen(req, timeout=10, context=ctx) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def http_status(cluster):
    """The broker's status JSON from its web server (cheaper than maelstrom-admin for polling), with
    the credentials in cluster.http_auth (keyword arguments of http_get) when the broker wants them."""
    status, _, body = http_get(cluster, **cluster.http_auth)
    assert status == 200, body
    return json.loads(body)


def free_port():
    """A loopback port nothing listens on (bound, then released)."""
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


NETNS_SUBNET = "198.51.100"  # TEST-NET-2: documentation addresses, never routed


def netns_available():
    if os.geteuid() != 0:
        return False
    out = subprocess.run(["ip", "-4", "addr"], capture_output=True, text=True).stdout
    out += subprocess.run(["ip", "-4", "route", "show", "table", "all"], capture_output=True, text=True).stdout
    return f"{NETNS_SUBNET}." not in out


class NetnsHost:
    """Another "host": a network namespace joined to this one by a veth pair on
    a /30 out of NETNS_SUBNET (slot k picks the /30). remove() undoes it all."""

    def __init__(self, k, tag):
        def ip(*args, check=True):
            return subprocess.run(["ip", *args], check=check, capture_output=True, text=True)
        self._ip = ip
        self.ns, self.veth_host, self.veth_ns = f"maelrt{tag}", f"rh{tag}", f"rn{tag}"
        self.host_addr, self.addr = f"{NETNS_SUBNET}.{4 * k + 1}", f"{NETNS_SUBNET}.{4 * k + 2}"
        ip("netns", "add", self.ns)
        try:
            ip("link", "add", self.veth_host, "type", "veth", "peer", "name", self.veth_ns)
            ip("link", "set", self.veth_ns, "netns", self.ns)
            ip("addr", "add", f"{self.host_addr}/30", "dev", self.veth_host)
            ip("link", "set", self.veth_host, "up")
            ip("-n", self.ns, "addr", "add", f"{self.addr}/30", "dev", self.veth_ns)
            ip("-n", self.ns, "link", "set", self.veth_ns, "up")
            ip("-n", self.ns, "link", "set", "lo", "up")
        except Exception:
            self.remove()
            raise

    def unplug(self):
        """Cuts the link (the namespace and whatever runs in it stay)."""
        self._ip("link", "del", self.veth_host, check=False)

    def remove(self):
        self._ip("netns", "del", self.ns, check=False)
        self.unplug()
