"""A registry token service (the Docker "token" auth scheme) on loopback, for tests.

docker-registry configured with `auth: token:` answers 401 with
`WWW-Authenticate: Bearer realm=...,service=...,scope=...`; clients fetch a JWT
here and retry with `Authorization: Bearer JWT`. Tokens are RS256 JWTs signed
with a throwaway key whose self-signed certificate is the registry's
`rootcertbundle` (sent in the `x5c` header). Signing uses the openssl command.

Policy:
  - anonymous GET: pull on every repository except those under "private/"
  - GET with Basic USER:PASSWORD (the configured pair): pull and push everywhere
  - POST grant_type=refresh_token with the configured refresh token (what
    docker stores as "identitytoken"): pull and push everywhere
  - POST grant_type=password with the configured pair: the same
Everything else: 401. Each request is recorded in `requests` (method, auth kind)
and, when `log` is given, appended to that file as a line "METHOD KIND".
"""

import base64
import json
import os
import subprocess
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SERVICE = "test-registry"
ISSUER = "test-token-issuer"


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def make_cert(directory, common_name, ips=("127.0.0.1",)):
    """A self-signed RSA certificate and key (PEM) in directory; returns (cert, key)."""
    os.makedirs(directory, exist_ok=True)
    cert, key = os.path.join(directory, "cert.pem"), os.path.join(directory, "key.pem")
    san = ",".join(["DNS:localhost"] + ["IP:" + ip for ip in ips])
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                    "-out", cert, "-days", "2", "-subj", "/CN=" + common_name,
                    "-addext", "subjectAltName=" + san],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return cert, key


def cert_der_b64(cert_pem):
    with open(cert_pem) as f:
        lines = [l.strip() for l in f if l.strip() and not l.startswith("-----")]
    return "".join(lines)  # the PEM body is base64 of the DER form, as x5c wants


def mint(key_dir, access, subject="test", lifetime=300):
    """A signed token granting `access` ([(repo, [actions])])."""
    cert, key = os.path.join(key_dir, "cert.pem"), os.path.join(key_dir, "key.pem")
    header = {"typ": "JWT", "alg": "RS256", "x5c": [cert_der_b64(cert)]}
    now = int(time.time())
    claims = {"iss": ISSUER, "sub": subject, "aud": SERVICE, "iat": now, "nbf": now - 10,
              "exp": now + lifetime, "jti": b64url(os.urandom(12)),
              "access": [{"type": "repository", "name": r, "actions": a} for r, a in access]}
    signing_input = (b64url(json.dumps(header).encode()) + "." +
                     b64url(json.dumps(claims).encode())).encode()
    sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", key], input=signing_input,
                         stdout=subprocess.PIPE, check=True).stdout
    return signing_input.decode() + "." + b64url(sig)


def parse_scopes(values):
    """["repository:a/b:pull,push", ...] -> [(repo, [actions])]."""
    out = []
    for v in values:
        for scope in v.split(" "):
            parts = scope.split(":")
            if len(parts) >= 3 and parts[0] == "repository":
                out.append((":".join(parts[1:-1]), parts[-1].split(",")))
    return out


class _Log(list):
    def __init__(self, path):
        super().__init__()
        self.path = path
        self.lock = threading.Lock()

    def append(self, item):
        with self.lock:
            super().append(item)
            if self.path:
                with open(self.path, "a") as f:
                    f.write(" ".join(item) + "\n")


class TokenServer:
    """Context manager: the token service on 127.0.0.1; `realm` is its URL."""

    def __init__(self, key_dir, user=None, password=None, refresh_token=None, log=None):
        self.key_dir, self.user, self.password = key_dir, user, password
        self.refresh_token = refresh_token
        self.requests = _Log(log)
        self.server = None
        self.realm = None

    def grant(self, scopes, authenticated):
        granted = []
        for repo, actions in scopes:
            if authenticated:
                granted.append((repo, [a for a in actions if a in ("pull", "push")]))
            elif not repo.startswith("private/"):
                granted.append((repo, [a for a in actions if a == "pull"]))
        return granted

    def start(self):
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def reply(self, code, obj):
                body = json.dumps(obj).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def token(self, scopes, authenticated):
                t = mint(owner.key_dir, owner.grant(scopes, authenticated))
                self.reply(200, {"token": t, "access_token": t, "expires_in": 300})

            def do_GET(self):
                q = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)
                auth = self.headers.get("Authorization", "")
                kind = "anonymous"
                if auth.startswith("Basic "):
                    pair = base64.b64decode(auth[6:]).decode(errors="replace")
                    if owner.user is None or pair != "%s:%s" % (owner.user, owner.password):
                        owner.requests.append(("GET", "basic-wrong"))
                        return self.reply(401, {"details": "wrong user name or password"})
                    kind = "basic"
                owner.requests.append(("GET", kind))
                if q.get("service", [""])[0] != SERVICE:
                    return self.reply(400, {"details": "unknown service"})
                self.token(parse_scopes(q.get("scope", [])), kind == "basic")

            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                form = urllib.parse.parse_qs(self.rfile.read(n).decode())
                grant = form.get("grant_type", [""])[0]
                ok = False
                if grant == "refresh_token":
                    ok = owner.refresh_token is not None and \
                        form.get("refresh_token", [""])[0] == owner.refresh_token
                elif grant == "password":
                    ok = owner.user is not None and form.get("username", [""])[0] == owner.user \
                        and form.get("password", [""])[0] == owner.password
                owner.requests.append(("POST", grant if ok else grant + "-wrong"))
                if not ok:
                    return self.reply(401, {"error": "invalid_grant"})
                self.token(parse_scopes(form.get("scope", [])), True)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.realm = "http://127.0.0.1:%d/token" % self.server.server_address[1]
        return self

    def stop(self):
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def registry_auth_config(self):
        """The `auth:` section of a docker-registry config using this service."""
        return ("auth:\n  token:\n    realm: %s\n    service: %s\n    issuer: %s\n"
                "    rootcertbundle: %s\n" % (self.realm, SERVICE, ISSUER,
                                              os.path.join(self.key_dir, "cert.pem")))

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
