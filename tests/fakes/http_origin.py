# SPDX-License-Identifier: MIT
"""A local HTTP origin server for the HTTP syscall's tests: stdlib ``http.server`` on
127.0.0.1, port 0, in a thread. It logs every request it received (method, path, headers,
body) and serves a few fixed routes:

- ``/echo``: 200, the request as JSON (``method``, ``path``, ``headers``, ``body``).
- ``/status/<code>``: that status with body ``status <code>``.
- ``/binary``: 200, the bytes 0..255 (``application/octet-stream``).
- ``/big/<n>``: 200, n bytes of ``a``.
- ``/headers``: 200 with ``X-Multi`` twice, two ``Set-Cookie`` and ``X-Single``.
- ``/repeat/<n>``: 200 with n lines ``X-A: <i % 10>`` (i = 0..n-1), one name repeated.
- ``/fold/<n>``: 200 with ``X-F: start`` continued by n folded lines ``" <i % 10>"`` (obsolete
  line folding, RFC 9112 §5.2), then ``X-After: 1``. Short lines, so 30,000 of them stay under the kernel's
  256 KiB of headers.
- ``/redirect/<n>``: 302 to ``/redirect/<n-1>``; ``/redirect/0`` is 200 ``arrived``.
- ``/goto?to=<url>&code=<3xx>``: a redirect (302 by default) to any URL.
- ``/hang``: sends nothing until the server stops (or 60 s).
- ``/drip``: 200, then one byte every 50 ms for up to 60 s; ``drip_broken`` is set when a
  write fails (the client went away) — how a test proves a transfer was stopped.

``stop()`` releases hanging handlers and closes the socket; use it as a context manager.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: "_Server"

    def log_message(self, fmt, *args):  # quiet
        pass

    def _body(self) -> bytes:
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def _send(self, code: int, body: bytes = b"", ctype: str = "text/plain; charset=utf-8",
              extra: list[tuple[str, str]] | None = None):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in extra or []:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _handle(self):
        body = self._body()
        url = urlsplit(self.path)
        self.server.log.append({"method": self.command, "path": self.path,
                                "headers": dict(self.headers.items()),
                                "header_list": list(self.headers.items()), "body": body})
        parts = [p for p in url.path.split("/") if p]
        route = parts[0] if parts else ""
        if route == "echo":
            out = {"method": self.command, "path": self.path,
                   "headers": dict(self.headers.items()),
                   "body": body.decode("utf-8", "replace")}
            self._send(200, json.dumps(out).encode(), "application/json",
                       [("X-Echo", "yes")])
        elif route == "status":
            code = int(parts[1])
            self._send(code, b"status %d" % code)
        elif route == "binary":
            self._send(200, bytes(range(256)), "application/octet-stream")
        elif route == "big":
            self._send(200, b"a" * int(parts[1]))
        elif route == "headers":
            self._send(200, b"h", extra=[("X-Multi", "one"), ("X-Multi", "two"),
                                         ("Set-Cookie", "a=1"), ("Set-Cookie", "b=2"),
                                         ("X-Single", "only")])
        elif route == "repeat":
            self._raw_headers([b"X-A: %d" % (i % 10) for i in range(int(parts[1]))])
        elif route == "fold":
            folded = [b" %d" % (i % 10) for i in range(int(parts[1]))]
            self._raw_headers([b"X-F: start"] + folded + [b"X-After: 1"])
        elif route == "redirect":
            n = int(parts[1])
            if n == 0:
                self._send(200, b"arrived")
            else:
                self._send(302, b"", extra=[("Location", "/redirect/%d" % (n - 1))])
        elif route == "goto":
            q = parse_qs(url.query)
            self._send(int(q.get("code", ["302"])[0]), b"",
                       extra=[("Location", q["to"][0])])
        elif route == "hang":
            self.server.hanging.set()
            self.server.release.wait(60)
        elif route == "drip":
            self._drip()
        else:
            self._send(404, b"no such route")

    def _raw_headers(self, lines: list[bytes]):
        # Written as bytes in one go: send_header() cannot fold a line, and a line per
        # call would make the test time Python rather than the kernel.
        head = [b"HTTP/1.1 200 OK", b"Content-Length: 1"] + lines
        self.close_connection = True
        try:
            self.wfile.write(b"\r\n".join(head) + b"\r\n\r\nh")
            self.wfile.flush()
        except OSError:
            pass  # the client stopped reading: what a bounded kernel does

    def _drip(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(60 * 20))
        self.end_headers()
        self.server.dripping.set()
        deadline = time.monotonic() + 60
        try:
            while time.monotonic() < deadline and not self.server.release.is_set():
                self.wfile.write(b"x")
                self.wfile.flush()
                time.sleep(0.05)
        except OSError:
            self.server.drip_broken.set()

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _handle


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class Origin:
    """The server; ``url(path)`` builds a URL on it."""

    def __init__(self, host: str = "127.0.0.1", tls: tuple[str, str] | None = None):
        """tls: (certificate file, key file) to serve HTTPS instead."""
        self._srv = _Server((host, 0), _Handler)
        if tls:
            import ssl
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*tls)
            self._srv.socket = ctx.wrap_socket(self._srv.socket, server_side=True)
        self.scheme = "https" if tls else "http"
        self._srv.log = []
        self._srv.hanging = threading.Event()
        self._srv.dripping = threading.Event()
        self._srv.drip_broken = threading.Event()
        self._srv.release = threading.Event()
        self.host = host
        self.port = self._srv.server_address[1]
        self._thread = threading.Thread(target=self._srv.serve_forever, daemon=True,
                                        kwargs={"poll_interval": 0.05})
        self._thread.start()

    @property
    def log(self) -> list[dict]:
        return self._srv.log

    @property
    def hanging(self) -> threading.Event:
        return self._srv.hanging

    @property
    def dripping(self) -> threading.Event:
        return self._srv.dripping

    @property
    def drip_broken(self) -> threading.Event:
        return self._srv.drip_broken

    def url(self, path: str = "/", host: str | None = None) -> str:
        return "%s://%s:%d%s" % (self.scheme, host or self.host, self.port, path)

    def stop(self):
        self._srv.release.set()
        self._srv.shutdown()
        self._srv.server_close()
        self._thread.join(10)

    def __enter__(self) -> "Origin":
        return self

    def __exit__(self, *exc):
        self.stop()
