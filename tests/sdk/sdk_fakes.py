# SPDX-License-Identifier: MIT
"""Helpers for the SDK tests: FakeKernel, the kernel end of a socketpair
served by a thread, which records every request frame byte for byte and
answers through a handler, so the client is tested without cloved; and
builders of reply frames. (A module of its own, not conftest, so importing it
never clashes with another suite's conftest.)"""

from __future__ import annotations

import json
import socket
import struct
import threading
from typing import Any, Callable, NamedTuple, Optional, Union

HEADER = struct.Struct("<IIBQ")
MAGIC = 0x41474E54

CLOSE = object()  # a handler returning this makes the fake close its end


class Frame(NamedTuple):
    raw: bytes  # header and payload exactly as received
    agent_id: int
    opcode: int
    payload: bytes

    def json(self) -> Any:
        return json.loads(self.payload)


def frame(opcode: int, body: Union[bytes, dict, list], hid: int = 7) -> bytes:
    """A reply frame with ``hid`` as the header's agent_id; dicts and lists
    become JSON."""
    if not isinstance(body, bytes):
        body = json.dumps(body).encode()
    return HEADER.pack(MAGIC, hid, opcode, len(body)) + body


def ok(opcode: int, hid: int = 7, **fields: Any) -> bytes:
    return frame(opcode, {"success": True, **fields}, hid)


def error(opcode: int, code: str, message: str, hid: int = 7, **extra: Any) -> bytes:
    return frame(opcode, {"success": False, "error": message, "code": code, **extra}, hid)


Handler = Callable[[Frame], Any]


class FakeKernel:
    """Serves one end of a socketpair. The handler gets each request Frame
    and returns reply bytes, CLOSE, or None (no reply)."""

    def __init__(self, handler: Handler) -> None:
        self.client_sock, self.sock = socket.socketpair()
        self.sock.settimeout(10)
        self.handler = handler
        self.frames: list[Frame] = []
        self.saw_eof = threading.Event()
        self.failure: Optional[BaseException] = None
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _recv_exact(self, n: int) -> Optional[bytes]:
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                return None
            data += chunk
        return data

    def _serve(self) -> None:
        try:
            while True:
                head = self._recv_exact(HEADER.size)
                if head is None:
                    self.saw_eof.set()
                    return
                magic, agent_id, opcode, size = HEADER.unpack(head)
                assert magic == MAGIC, hex(magic)
                payload = self._recv_exact(size) if size else b""
                assert payload is not None
                req = Frame(head + payload, agent_id, opcode, payload)
                self.frames.append(req)
                answer = self.handler(req)
                if answer is CLOSE:
                    self.sock.close()
                    return
                if answer:
                    self.sock.sendall(answer)
        except OSError:
            pass
        except BaseException as e:  # surfaced by close()
            self.failure = e

    def close(self) -> None:
        try:  # wakes the thread even while a dup of the client end lives on
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        for s in (self.client_sock, self.sock):
            s.close()
        self.thread.join(5)
        if self.failure is not None:
            raise self.failure
