#!/usr/bin/env python3
"""Test container images and a throwaway OCI registry, for tests and benchmarks.

Needs: docker-registry, skopeo, htpasswd (apache2-utils), zstd, busybox-static
(all in scripts/setup.sh). Standard library only.

Command line:
  registry.py serve --dir DIR [--user USER --password PASS] [--tls] [--token]
                    [--refresh-token TOKEN] [--host IP]
      Runs /usr/bin/docker-registry on a free port of IP (default 127.0.0.1),
      storage in DIR. Plain HTTP, or HTTPS with a fresh self-signed
      certificate (DIR/tls/cert.pem) with --tls. Auth: none; basic through an
      htpasswd file when --user is given; with --token the Docker token scheme
      through token_server.py (anonymous pull except under private/, USER:PASS
      and the refresh token get pull+push; signing key in DIR/token-key;
      requests logged to DIR/token-requests.log).
      Prints "READY IP:PORT PID" (PID: the registry's) on
      stdout once it answers, then
      runs until its stdin reaches EOF or it gets SIGTERM/SIGINT, stops the
      registry and exits. The registry also dies when this script dies. So a
      test keeps a pipe to our stdin and closes it (or just exits) to stop.
  registry.py mint --dir DIR --repo REPO
      Prints a token (signed with DIR/token-key) granting pull on REPO.
  registry.py proxy --upstream HOST:PORT --fault drop|norange|corrupt|slow|none --log FILE
      A fault-injecting proxy (fault_proxy.py); prints "READY 127.0.0.1:PORT PID",
      runs until stdin reaches EOF.
  registry.py build --out DIR [--kind basic|multiarch|big] [--size-mb N] [--ref REF]
                    [--no-zstd]
      Writes an OCI image layout in DIR whose image is tagged REF (default
      "latest") through the org.opencontainers.image.ref.name annotation.
        basic:     3 layers on /bin/busybox: gzip, zstd, plain tar; the zstd
                   layer whites out /etc/hidden.txt and makes /opq opaque;
                   Env PATH=/bin, IMAGE_VAR=basic; WorkingDir /data.
                   --no-zstd makes the middle layer gzip (skopeo 1.9 cannot
                   write zstd layers to a docker-archive).
        multiarch: an index with linux/<this machine> (the basic image with
                   IMAGE_VAR=native) and a second platform (linux/arm64/v8,
                   or linux/amd64 on arm64 machines) with IMAGE_VAR=other.
        big:       busybox plus one gzip layer of N MB (default 100) of random
                   files.
      Prints the layout's top manifest digest.
  registry.py push --layout DIR[:REF] --to HOST:PORT/REPO:TAG [--creds USER:PASS]
      skopeo copy (all platforms) to the registry over plain HTTP.
  registry.py oci-archive --layout DIR --out FILE
      A tar of the layout (what skopeo writes for oci-archive:).
  registry.py docker-archive --layout DIR[:REF] --out FILE [--tag NAME:TAG]
      `docker save` format (layers as uncompressed tars), produced by skopeo.

As a module (e.g. from pytest): `with Registry(tmpdir) as addr:` runs a registry;
build_basic(out), build_multiarch(out), build_big(out, size_mb), push(...).
"""

import argparse
import contextlib
import ctypes
import gzip
import hashlib
import io
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fault_proxy  # noqa: E402
import token_server  # noqa: E402

REGISTRY_BIN = "/usr/bin/docker-registry"
BUSYBOX = "/bin/busybox"
BUSYBOX_APPLETS = ["sh", "true", "false", "cat", "ls", "env", "echo", "pwd", "test"]

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"
LAYER_GZIP = LAYER_TAR + "+gzip"
LAYER_ZSTD = LAYER_TAR + "+zstd"
REF_NAME = "org.opencontainers.image.ref.name"


def native_platform():
    m = platform.machine()
    if m in ("aarch64", "arm64"):
        return {"os": "linux", "architecture": "arm64", "variant": "v8"}
    return {"os": "linux", "architecture": "amd64"}


def other_platform():
    if native_platform()["architecture"] == "arm64":
        return {"os": "linux", "architecture": "amd64"}
    return {"os": "linux", "architecture": "arm64", "variant": "v8"}


# ---------------------------------------------------------------- layouts


class Layout:
    """An OCI image layout being written."""

    def __init__(self, root):
        self.root = root
        os.makedirs(os.path.join(root, "blobs", "sha256"), exist_ok=True)
        with open(os.path.join(root, "oci-layout"), "w") as f:
            json.dump({"imageLayoutVersion": "1.0.0"}, f)

    def blob(self, data, media_type, **extra):
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        with open(os.path.join(self.root, "blobs", "sha256", digest[7:]), "wb") as f:
            f.write(data)
        d = {"mediaType": media_type, "digest": digest, "size": len(data)}
        d.update(extra)
        return d

    def json_blob(self, obj, media_type, **extra):
        return self.blob(json.dumps(obj, sort_keys=True).encode(), media_type, **extra)

    def write_index(self, descriptors):
        with open(os.path.join(self.root, "index.json"), "w") as f:
            json.dump({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": descriptors}, f)


def make_tar(entries):
    """entries: list of (path, kind, payload) with kind file|dir|symlink; returns bytes."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path, kind, payload in entries:
            info = tarfile.TarInfo(path)
            info.mtime = 0
            info.uid = info.gid = 0
            if kind == "dir":
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
                tar.addfile(info)
            elif kind == "symlink":
                info.type = tarfile.SYMTYPE
                info.linkname = payload
                info.mode = 0o777
                tar.addfile(info)
            else:
                data = payload if isinstance(payload, bytes) else payload.encode()
                info.size = len(data)
                info.mode = 0o755 if kind == "exec" else 0o644
                tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def gzip_bytes(data, level=6):
    return gzip.compress(data, compresslevel=level, mtime=0)


def zstd_bytes(data):
    return subprocess.run(["zstd", "-q", "-c", "-3"], input=data, stdout=subprocess.PIPE,
                          check=True).stdout


def busybox_entries():
    with open(BUSYBOX, "rb") as f:
        busybox = f.read()
    entries = [("bin", "dir", None), ("bin/busybox", "exec", busybox)]
    entries += [("bin/" + a, "symlink", "busybox") for a in BUSYBOX_APPLETS]
    return entries


def add_image(layout, layers, env, workdir, plat):
    """layers: list of (uncompressed tar bytes, compression 'gzip'|'zstd'|'none').
    Returns the manifest descriptor (with platform)."""
    descs, diff_ids = [], []
    for tar, comp in layers:
        diff_ids.append("sha256:" + hashlib.sha256(tar).hexdigest())
        if comp == "gzip":
            descs.append(layout.blob(gzip_bytes(tar), LAYER_GZIP))
        elif comp == "zstd":
            descs.append(layout.blob(zstd_bytes(tar), LAYER_ZSTD))
        else:
            descs.append(layout.blob(tar, LAYER_TAR))
    config = {
        "architecture": plat["architecture"],
        "os": plat["os"],
        "config": {"Env": env, "WorkingDir": workdir, "Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }
    if "variant" in plat:
        config["variant"] = plat["variant"]
    cfg = layout.json_blob(config, OCI_CONFIG)
    manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": cfg, "layers": descs}
    return layout.json_blob(manifest, OCI_MANIFEST, platform=plat)


def basic_layers(zstd=True):
    bottom = make_tar(busybox_entries() + [
        ("etc", "dir", None), ("etc/hidden.txt", "file", "hidden\n"),
        ("etc/kept.txt", "file", "kept\n"), ("opq", "dir", None),
        ("opq/old.txt", "file", "old\n"), ("data", "dir", None)])
    middle = make_tar([
        ("etc", "dir", None), ("etc/.wh.hidden.txt", "file", ""),
        ("opq", "dir", None), ("opq/.wh..wh..opq", "file", ""),
        ("opq/fresh.txt", "file", "fresh\n"), ("data", "dir", None),
        ("data/new.txt", "file", "new\n")])
    top = make_tar([("data", "dir", None), ("data/top.txt", "file", "top\n")])
    return [(bottom, "gzip"), (middle, "zstd" if zstd else "gzip"), (top, "none")]


def _finish(layout, desc, ref):
    desc = dict(desc)
    desc.pop("platform", None)
    desc["annotations"] = {REF_NAME: ref}
    layout.write_index([desc])
    return desc["digest"]


def build_basic(out, ref="latest", zstd=True):
    layout = Layout(out)
    desc = add_image(layout, basic_layers(zstd), ["PATH=/bin", "IMAGE_VAR=basic"], "/data",
                     native_platform())
    return _finish(layout, desc, ref)


def build_multiarch(out, ref="latest"):
    layout = Layout(out)
    native = add_image(layout, basic_layers(), ["PATH=/bin", "IMAGE_VAR=native"], "/data",
                       native_platform())
    other_layer = make_tar([("other.txt", "file", "other platform\n")])
    other = add_image(layout, [(other_layer, "gzip")], ["PATH=/bin", "IMAGE_VAR=other"], "/",
                      other_platform())
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [native, other]}
    desc = layout.json_blob(index, OCI_INDEX)
    return _finish(layout, desc, ref)


def build_big(out, size_mb=100, ref="latest"):
    layout = Layout(out)
    files, remaining, i = [("payload", "dir", None)], size_mb * 1024 * 1024, 0
    while remaining > 0:
        n = min(remaining, 4 * 1024 * 1024)
        files.append(("payload/f%03d" % i, "file", os.urandom(n)))
        remaining -= n
        i += 1
    layers = [(make_tar(busybox_entries()), "gzip"), (make_tar(files), "gzip")]
    # Random data does not compress: the fastest level is as good as any.
    descs, diff_ids = [], []
    for tar, _ in layers:
        diff_ids.append("sha256:" + hashlib.sha256(tar).hexdigest())
        descs.append(layout.blob(gzip_bytes(tar, level=1), LAYER_GZIP))
    plat = native_platform()
    config = {"architecture": plat["architecture"], "os": "linux",
              "config": {"Env": ["PATH=/bin"]},
              "rootfs": {"type": "layers", "diff_ids": diff_ids}}
    cfg = layout.json_blob(config, OCI_CONFIG)
    manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": cfg, "layers": descs}
    return _finish(layout, layout.json_blob(manifest, OCI_MANIFEST), ref)


def oci_archive(layout_dir, out):
    with tarfile.open(out, "w") as tar:
        for name in sorted(os.listdir(layout_dir)):
            tar.add(os.path.join(layout_dir, name), arcname=name)


def skopeo(*args):
    subprocess.run(["skopeo", "--insecure-policy", *args], check=True,
                   stdout=subprocess.DEVNULL)


def push(layout_ref, to, creds=None):
    """layout_ref: DIR[:REF]; to: HOST:PORT/REPO:TAG (HTTP or HTTPS, any certificate)."""
    args = ["copy", "--all", "--dest-tls-verify=false"]
    if creds:
        args += ["--dest-creds", creds]
    skopeo(*args, "oci:" + layout_ref, "docker://" + to)


def docker_archive(layout_ref, out, tag="test/image:latest"):
    skopeo("copy", "--dest-decompress", "oci:" + layout_ref, "docker-archive:%s:%s" % (out, tag))


# ---------------------------------------------------------------- registry


def _free_port(host="127.0.0.1"):
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _die_with_parent():
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


class Registry:
    """Context manager: a docker-registry; yields "HOST:PORT".

    tls: serve HTTPS with a self-signed certificate (self.cert).
    token: require bearer tokens from a TokenServer started here (self.tokens);
    user/password are then the token service's, else htpasswd's."""

    def __init__(self, root, user=None, password=None, tls=False, token=False,
                 refresh_token=None, host="127.0.0.1"):
        self.root, self.user, self.password = root, user, password
        self.tls, self.token, self.refresh_token, self.host = tls, token, refresh_token, host
        self.proc = None
        self.address = None
        self.cert = None
        self.tokens = None

    def _auth_config(self):
        if self.token:
            key_dir = os.path.join(self.root, "token-key")
            token_server.make_cert(key_dir, token_server.ISSUER)
            self.tokens = token_server.TokenServer(
                key_dir, self.user, self.password, self.refresh_token,
                log=os.path.join(self.root, "token-requests.log")).start()
            return self.tokens.registry_auth_config()
        if self.user:
            htpasswd = os.path.join(self.root, "htpasswd")
            entry = subprocess.run(["htpasswd", "-Bbn", self.user, self.password],
                                   stdout=subprocess.PIPE, check=True, text=True).stdout
            with open(htpasswd, "w") as f:
                f.write(entry.strip() + "\n")
            return "auth:\n  htpasswd:\n    realm: test-realm\n    path: %s\n" % htpasswd
        return ""

    def start(self):
        os.makedirs(self.root, exist_ok=True)
        auth = self._auth_config()
        tls = ""
        if self.tls:
            self.cert, key = token_server.make_cert(os.path.join(self.root, "tls"), "test-registry",
                                                    ips=sorted({"127.0.0.1", self.host}))
            tls = "  tls:\n    certificate: %s\n    key: %s\n" % (self.cert, key)
        for _ in range(10):
            port = _free_port(self.host)
            config = os.path.join(self.root, "config.yml")
            with open(config, "w") as f:
                f.write("version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n"
                        "storage:\n  filesystem:\n    rootdirectory: %s\n"
                        "  delete:\n    enabled: true\n"
                        "http:\n  addr: %s:%d\n  secret: test-secret\n%s%s"
                        % (os.path.join(self.root, "storage"), self.host, port, tls, auth))
            log = open(os.path.join(self.root, "registry.log"), "ab")
            self.proc = subprocess.Popen([REGISTRY_BIN, "serve", config], stdout=log,
                                         stderr=log, stdin=subprocess.DEVNULL,
                                         preexec_fn=_die_with_parent)
            log.close()
            if self._wait_ready(port):
                self.address = "%s:%d" % (self.host, port)
                return self.address
            self.stop()
        raise RuntimeError("docker-registry did not start; see " + self.root + "/registry.log")

    def _wait_ready(self, port):
        import ssl
        ctx = ssl._create_unverified_context()
        url = "%s://%s:%d/v2/" % ("https" if self.tls else "http", self.host, port)
        deadline = time.time() + 20
        while time.time() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                urllib.request.urlopen(url, timeout=2, context=ctx if self.tls else None)
                return True
            except urllib.error.HTTPError as e:
                return e.code == 401
            except OSError:
                time.sleep(0.05)
        return False

    def stop(self):
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None
        if self.tokens is not None:
            self.tokens.stop()
            self.tokens = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def _run_until_stdin_eof(stop):
    def on_signal(signum, frame):
        stop()
        sys.exit(0)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        while sys.stdin.buffer.read(4096):
            pass
    finally:
        stop()


def serve(args):
    reg = Registry(args.dir, args.user, args.password, tls=args.tls, token=args.token,
                   refresh_token=args.refresh_token, host=args.host)
    try:
        address = reg.start()
    except BaseException:
        reg.stop()
        raise
    print("READY %s %d" % (address, reg.proc.pid), flush=True)
    _run_until_stdin_eof(reg.stop)


def proxy(args):
    p = fault_proxy.FaultProxy(args.upstream, args.fault, args.log)
    address = p.start()
    print("READY %s %d" % (address, os.getpid()), flush=True)
    _run_until_stdin_eof(p.stop)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve")
    s.add_argument("--dir", required=True)
    s.add_argument("--user")
    s.add_argument("--password")
    s.add_argument("--tls", action="store_true")
    s.add_argument("--token", action="store_true")
    s.add_argument("--refresh-token")
    s.add_argument("--host", default="127.0.0.1")
    m = sub.add_parser("mint")
    m.add_argument("--dir", required=True)
    m.add_argument("--repo", required=True)
    x = sub.add_parser("proxy")
    x.add_argument("--upstream", required=True)
    x.add_argument("--fault", default="none",
                   choices=["drop", "norange", "corrupt", "slow", "none"])
    x.add_argument("--log", required=True)
    b = sub.add_parser("build")
    b.add_argument("--out", required=True)
    b.add_argument("--kind", default="basic", choices=["basic", "multiarch", "big"])
    b.add_argument("--size-mb", type=int, default=100)
    b.add_argument("--ref", default="latest")
    b.add_argument("--no-zstd", action="store_true", help="gzip instead of zstd (docker-archive)")
    u = sub.add_parser("push")
    u.add_argument("--layout", required=True)
    u.add_argument("--to", required=True)
    u.add_argument("--creds")
    o = sub.add_parser("oci-archive")
    o.add_argument("--layout", required=True)
    o.add_argument("--out", required=True)
    d = sub.add_parser("docker-archive")
    d.add_argument("--layout", required=True)
    d.add_argument("--out", required=True)
    d.add_argument("--tag", default="test/image:latest")
    args = p.parse_args()
    if args.cmd == "serve":
        serve(args)
    elif args.cmd == "mint":
        print(token_server.mint(os.path.join(args.dir, "token-key"), [(args.repo, ["pull"])]))
    elif args.cmd == "proxy":
        proxy(args)
    elif args.cmd == "build":
        if args.kind == "basic":
            print(build_basic(args.out, args.ref, zstd=not args.no_zstd))
        elif args.kind == "multiarch":
            print(build_multiarch(args.out, args.ref))
        else:
            print(build_big(args.out, args.size_mb, args.ref))
    elif args.cmd == "push":
        push(args.layout, args.to, args.creds)
    elif args.cmd == "oci-archive":
        oci_archive(args.layout, args.out)
    elif args.cmd == "docker-archive":
        docker_archive(args.layout, args.out, args.tag)


if __name__ == "__main__":
    main()
