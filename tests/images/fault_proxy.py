"""An HTTP proxy in front of a registry on loopback that injects faults into blob
downloads (GET /v2/.../blobs/sha256:...), for tests.

Faults:
  drop     the first GET of each blob gets the full headers (Content-Length of
           the whole blob) but only the first half of the body, then the
           connection is closed; later GETs pass through (Range included)
  norange  as drop, and Range request headers are removed, so a retry gets the
           whole blob again (200), as from a server without Range support
  corrupt  one byte in the middle of every blob body is flipped
  slow     every blob response waits 0.5 s before its body (to observe
           parallel downloads)
  none     pass everything through

Every blob GET is logged as one JSON line to `log`:
  {"digest": ..., "repo": REPOSITORY, "range": "bytes=N-" or null, "status": 200, "sent": BYTES,
   "inflight": blob requests in progress when this one started (itself included),
   "start": and "end": time.monotonic() when it came in and when its answer was sent}
"""

import http.client
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "upgrade"}


class FaultProxy:
    """Context manager: yields "127.0.0.1:PORT" forwarding to `upstream` (HOST:PORT)."""

    def __init__(self, upstream, fault, log):
        self.upstream, self.fault, self.log = upstream, fault, log
        self.lock = threading.Lock()
        self.seen = set()
        self.inflight = 0
        self.server = None
        self.address = None

    def record(self, entry):
        with self.lock, open(self.log, "a") as f:
            f.write(json.dumps(entry) + "\n")

    def start(self):
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_HEAD(self):
                self.forward(head=True)

            def do_GET(self):
                self.forward(head=False)

            def forward(self, head):
                start = time.monotonic()
                digest = None
                if "/blobs/" in self.path and not head:
                    digest = self.path.rsplit("/", 1)[1]
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                if digest and owner.fault == "norange":
                    headers.pop("Range", None)
                    headers.pop("range", None)
                conn = http.client.HTTPConnection(owner.upstream, timeout=30)
                conn.request("HEAD" if head else "GET", self.path, headers=headers)
                resp = conn.getresponse()
                body = resp.read()
                conn.close()
                if digest is None or resp.status not in (200, 206):
                    return self.send(resp, body)
                with owner.lock:
                    owner.inflight += 1
                    inflight = owner.inflight
                    first = digest not in owner.seen
                    owner.seen.add(digest)
                try:
                    sent = len(body)
                    if owner.fault == "slow":
                        time.sleep(0.5)
                    if owner.fault == "corrupt" and body:
                        mid = len(body) // 2
                        body = body[:mid] + bytes([body[mid] ^ 1]) + body[mid + 1:]
                    if owner.fault in ("drop", "norange") and first and len(body) > 1:
                        sent = len(body) // 2
                        self.send(resp, body, cut=sent)
                    else:
                        self.send(resp, body)
                    repo = self.path.split("/v2/", 1)[-1].split("/blobs/", 1)[0]
                    owner.record({"digest": digest, "repo": repo, "range": self.headers.get("Range"),
                                  "status": resp.status, "sent": sent, "inflight": inflight,
                                  "start": start, "end": time.monotonic()})
                finally:
                    with owner.lock:
                        owner.inflight -= 1

            def send(self, resp, body, cut=None):
                self.send_response(resp.status)
                for k, v in resp.getheaders():
                    if k.lower() not in HOP_BY_HOP and k.lower() != "content-length":
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Connection", "close")
                self.end_headers()
                if self.command == "HEAD":
                    return
                if cut is None:
                    self.wfile.write(body)
                    return
                # Half the body, then an abrupt end of the connection.
                self.wfile.write(body[:cut])
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)
                self.close_connection = True

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.address = "127.0.0.1:%d" % self.server.server_address[1]
        return self.address

    def stop(self):
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
