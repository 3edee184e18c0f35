# SPDX-License-Identifier: MIT
"""The byte stream to the kernel: connects to the endpoint it is given (an
inherited CLOVE_FD, a socket path, or an adopted socket) and runs one
request/reply round trip at a time under a lock, over the socket or, when
the kernel offers it, over the shared-memory rings next to it (fastpath.py).
It encodes payloads for the transport in use (JSON on the socket, msgpack on
the rings) and decodes replies; every failure closes the connection and
raises CloveConnectionError, because a half-read reply leaves it out of
step."""

from __future__ import annotations

import errno
import json
import os
import queue
import socket
import threading
from typing import Any, Iterator, Optional, Union

from . import fastpath
from .errors import CloveConnectionError, CloveError, CloveTimeoutError
from .protocol import (HEADER_SIZE, MAGIC, MAX_REPLY_PAYLOAD,
                       MAX_REQUEST_PAYLOAD, Header, encode_frame, opcode_name,
                       unpack_header)

# Every client on the inherited CLOVE_FD shares one stream, so they share
# one lock too: a request and its reply must never interleave with another's.
_INHERITED_LOCK = threading.RLock()

DEFAULT: Any = object()
"""Sentinel for ``roundtrip(timeout=...)``: use the transport's timeout."""


def default_socket_path() -> str:
    """``$CLOVE_SOCKET``, else ``/run/clove/clove.sock`` as root, else
    ``$XDG_RUNTIME_DIR/clove/clove.sock`` (``/run/user/<uid>`` when unset)."""
    env = os.environ.get("CLOVE_SOCKET")
    if env:
        return env
    euid = os.geteuid()
    if euid == 0:
        return "/run/clove/clove.sock"
    runtime = os.environ.get("XDG_RUNTIME_DIR") or f"/run/user/{euid}"
    return os.path.join(runtime, "clove", "clove.sock")


def _errno_name(err: OSError) -> Optional[str]:
    return errno.errorcode.get(err.errno) if err.errno else None


def _is_partial(reply: Any) -> bool:
    return isinstance(reply, dict) and reply.get("partial") is True


def _encode_json(payload: Any) -> bytes:
    if payload is None:
        return b""
    if isinstance(payload, (bytes, bytearray, memoryview)):
        return bytes(payload)
    if isinstance(payload, str):
        return payload.encode("utf-8")
    return json.dumps(payload, separators=(",", ":"),
                      ensure_ascii=False).encode("utf-8")


class Transport:
    """One connection to the kernel. ``fd`` (an inherited, already connected
    socket, which is dup'ed so closing this transport leaves it open) wins
    over ``path``; ``sock`` adopts a connected socket (owned from then on)."""

    def __init__(self, path: Optional[str] = None, fd: Optional[int] = None,
                 sock: Optional[socket.socket] = None,
                 timeout: Optional[float] = None,
                 fast_path: bool = False) -> None:
        self.path = path
        self.fd = fd
        self.timeout = timeout
        self.fast_path = fast_path
        self._fast: Optional[fastpath.FastPath] = None
        self.max_request = MAX_REQUEST_PAYLOAD
        self.max_reply = MAX_REPLY_PAYLOAD
        self._sock = sock
        self._applied: Any = DEFAULT  # the timeout set on the socket
        self.lock = _INHERITED_LOCK if fd is not None else threading.RLock()

    @property
    def connected(self) -> bool:
        return self._sock is not None

    @property
    def fast_path_active(self) -> bool:
        """True while calls go over the shared-memory rings."""
        return self._fast is not None

    def connect(self) -> None:
        """Opens the stream if it is not open; CloveConnectionError if it cannot."""
        with self.lock:
            self._ensure_open()

    def _ensure_open(self) -> socket.socket:
        if self._sock is None:
            sock = self._open()
            self._applied = DEFAULT
            if self.fast_path:
                try:
                    self._fast = fastpath.FastPath.attach(sock.fileno(),
                                                          self.timeout)
                except CloveError:
                    sock.close()
                    raise
            self._sock = sock
        return self._sock

    def attach_fast_path(self) -> None:
        """Attaches the rings to an already open socket (from_socket)."""
        with self.lock:
            if self._sock is not None and self._fast is None:
                self._fast = fastpath.FastPath.attach(self._sock.fileno(),
                                                      self.timeout)

    def encode(self, opcode: int, payload: Any) -> bytes:
        """The payload as the transport in use carries it."""
        if self._fast is not None:
            return fastpath.encode(opcode, payload)
        return _encode_json(payload)

    def loads(self, body: Union[bytes, bytearray]) -> Any:
        """A reply payload decoded (msgpack on the rings, JSON on the socket)."""
        if self._fast is not None:
            try:
                return fastpath.decode(body)
            except Exception as e:  # msgpack raises several kinds
                raise ValueError(str(e)) from None
        return json.loads(body)

    def _open(self) -> socket.socket:
        if self.fd is not None:
            dup = -1
            try:
                dup = os.dup(self.fd)  # non-inheritable, unlike CLOVE_FD
                return socket.socket(fileno=dup)
            except OSError as e:
                if dup >= 0:
                    os.close(dup)
                raise CloveConnectionError(
                    f"CLOVE_FD={self.fd} is not a usable socket: {e.strerror}",
                    _errno_name(e)) from e
        if not self.path:
            raise CloveConnectionError("no socket path to connect to", "EINVAL")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)  # CLOEXEC
        sock.settimeout(self.timeout)
        try:
            sock.connect(self.path)
        except socket.timeout as e:
            sock.close()
            raise CloveTimeoutError(
                f"connecting to {self.path} timed out", "ETIMEDOUT") from e
        except OSError as e:
            sock.close()
            raise CloveConnectionError(
                f"cannot connect to the Clove kernel at {self.path}: {e.strerror}",
                _errno_name(e)) from e
        return sock

    def close(self) -> None:
        """Closes the stream (an inherited CLOVE_FD itself stays open)."""
        with self.lock:
            fast, self._fast = self._fast, None
            if fast is not None:
                fast.close()
            sock, self._sock = self._sock, None
            if sock is not None:
                sock.close()

    def _encode_checked(self, opcode: int, payload: Any) -> bytes:
        data = self.encode(opcode, payload)
        if len(data) > self.max_request:
            raise CloveError(
                f"{opcode_name(opcode)}: payload of {len(data)} bytes is above "
                f"the kernel's limit of {self.max_request}", "EMSGSIZE")
        return data

    def roundtrip(self, agent_id: int, opcode: int, payload: Any,
                  timeout: Optional[float] = DEFAULT) -> tuple[Header, bytearray]:
        """Sends one request (``payload``: bytes as they are, anything else
        encoded for the transport) and reads its reply. ``timeout`` overrides
        the transport's for this call (None waits forever)."""
        wait = self.timeout if timeout is DEFAULT else timeout
        with self.lock:
            self._ensure_open()
            data = self._encode_checked(opcode, payload)
            if self._fast is not None:
                return self._fast_roundtrip(opcode, data, wait)
            frame = encode_frame(agent_id, opcode, data)
            sock = self._sock
            try:
                # dup'ed fds share O_NONBLOCK, so a shared stream is re-set
                # every time; an own socket only when the timeout changes.
                if self.fd is not None or wait != self._applied:
                    sock.settimeout(wait)
                    self._applied = wait
                sock.sendall(frame)
                header = unpack_header(self._recv_exact(sock, HEADER_SIZE, False))
                self._check_header(header)
                body = self._recv_exact(sock, header.payload_size, True)
            except socket.timeout as e:
                self.close()
                raise CloveTimeoutError(
                    f"{opcode_name(opcode)}: no reply within {wait} s",
                    "ETIMEDOUT") from e
            except CloveConnectionError:
                self.close()
                raise
            except OSError as e:
                self.close()
                raise CloveConnectionError(
                    f"{opcode_name(opcode)}: connection to the kernel failed: "
                    f"{e.strerror or e}", _errno_name(e)) from e
        return header, body

    def stream(self, agent_id: int, opcode: int, payload: Any,
               timeout: Optional[float] = DEFAULT) -> Iterator[tuple[bool, Header, bytearray]]:
        """Sends one request that may stream and yields its replies as
        ``(partial, header, body)``: the partial replies first, the final
        one last. The transport is held until the final reply is read (or
        the connection is closed, when the iterator is dropped early on the
        socket: the rest of the stream cannot be skipped safely)."""
        wait = self.timeout if timeout is DEFAULT else timeout
        with self.lock:
            self._ensure_open()
            data = self._encode_checked(opcode, payload)
            if self._fast is not None:
                yield from self._fast_stream(opcode, data, wait)
                return
            done = False
            try:
                yield from self._socket_stream(agent_id, opcode, data, wait)
                done = True
            finally:
                if not done:
                    self.close()

    def _socket_stream(self, agent_id: int, opcode: int, data: bytes,
                       wait: Optional[float]) -> Iterator[tuple[bool, Header, bytearray]]:
        sock = self._sock
        try:
            if self.fd is not None or wait != self._applied:
                sock.settimeout(wait)
                self._applied = wait
            sock.sendall(encode_frame(agent_id, opcode, data))
            while True:
                header = unpack_header(self._recv_exact(sock, HEADER_SIZE, False))
                self._check_header(header)
                body = self._recv_exact(sock, header.payload_size, True)
                partial = header.opcode == opcode and _is_partial(self._try_loads(body))
                yield partial, header, body
                if not partial:
                    return
        except socket.timeout as e:
            self.close()
            raise CloveTimeoutError(
                f"{opcode_name(opcode)}: no reply within {wait} s", "ETIMEDOUT") from e
        except OSError as e:
            self.close()
            raise CloveConnectionError(
                f"{opcode_name(opcode)}: connection to the kernel failed: "
                f"{e.strerror or e}", _errno_name(e)) from e

    def _fast_stream(self, opcode: int, data: bytes,
                     wait: Optional[float]) -> Iterator[tuple[bool, Header, bytearray]]:
        # libclove delivers partial replies through a callback while it
        # waits for the final one: it runs in a thread of its own so the
        # partials reach the caller as they arrive.
        fast = self._fast
        q: "queue.Queue[tuple[str, Any]]" = queue.Queue()

        def run() -> None:
            try:
                body = fast.roundtrip(opcode, data, wait,
                                      on_partial=lambda b: q.put(("partial", b)))
                q.put(("final", body))
            except BaseException as e:  # handed to the caller's thread
                q.put(("error", e))

        worker = threading.Thread(target=run, name="clove-stream", daemon=True)
        worker.start()
        try:
            while True:
                kind, item = q.get()
                if kind == "error":
                    self.close()
                    if isinstance(item, CloveError):
                        item.message = f"{opcode_name(opcode)}: {item.message}"
                    raise item
                body = bytearray(item)
                yield (kind == "partial",
                       Header(MAGIC, fast.agent_id, opcode, len(body)), body)
                if kind == "final":
                    return
        finally:
            # The call must end before the rings are used again.
            worker.join()

    def _try_loads(self, body: Union[bytes, bytearray]) -> Any:
        try:
            return self.loads(body)
        except ValueError:
            return None

    def _fast_roundtrip(self, opcode: int, data: bytes,
                        wait: Optional[float]) -> tuple[Header, bytearray]:
        fast = self._fast
        try:
            body = fast.roundtrip(opcode, data, wait)
        except CloveError as e:
            self.close()
            e.message = f"{opcode_name(opcode)}: {e.message}"
            raise
        return Header(MAGIC, fast.agent_id, opcode, len(body)), bytearray(body)

    def _check_header(self, header: Header) -> None:
        if header.magic != MAGIC:
            raise CloveConnectionError(
                f"reply is not a Clove frame (magic 0x{header.magic:08X})", "EPROTO")
        if header.payload_size > self.max_reply:
            raise CloveConnectionError(
                f"reply of {header.payload_size} bytes is above the client's "
                f"limit of {self.max_reply}", "EMSGSIZE")

    @staticmethod
    def _recv_exact(sock: socket.socket, size: int, in_frame: bool) -> bytearray:
        buf = bytearray(size)
        got = 0
        with memoryview(buf) as view:
            while got < size:
                n = sock.recv_into(view[got:], size - got)
                if n == 0:
                    where = "mid-frame" if in_frame or got else "before replying"
                    raise CloveConnectionError(
                        f"the kernel closed the connection {where}", "ECONNRESET")
                got += n
        return buf
