# SPDX-License-Identifier: MIT
"""Framing of the worker protocol: a 4-byte little-endian length, then that
many bytes of one msgpack map with string keys, at most 16 MiB. Reading
raises ProtocolError on anything else; a clean end of file between frames
reads as None. Writing is serialised by one lock, because every call thread
writes to the same pipe."""

from __future__ import annotations

import os
import struct
import threading
from typing import Any, BinaryIO, Optional

import msgpack

MAX_FRAME = 16 * 1024 * 1024
LENGTH = struct.Struct("<I")


class ProtocolError(Exception):
    """The peer broke the framing; the worker must exit with status 2."""


def _read_exact(stream: BinaryIO, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        piece = stream.read(n - len(buf))
        if not piece:
            break
        buf += piece
    return bytes(buf)


def read_frame(stream: BinaryIO) -> Optional[dict[str, Any]]:
    """Reads one frame. Returns None at end of file before a frame starts."""
    head = _read_exact(stream, LENGTH.size)
    if not head:
        return None
    if len(head) < LENGTH.size:
        raise ProtocolError("end of file inside a frame header")
    (size,) = LENGTH.unpack(head)
    if size == 0 or size > MAX_FRAME:
        raise ProtocolError(f"frame length {size} is not in 1..{MAX_FRAME}")
    payload = _read_exact(stream, size)
    if len(payload) < size:
        raise ProtocolError(f"end of file after {len(payload)} of {size} payload bytes")
    try:
        obj = msgpack.unpackb(payload, raw=False, strict_map_key=True)
    except Exception as e:  # msgpack raises several unrelated types
        raise ProtocolError(f"payload is not msgpack: {e}") from None
    if not isinstance(obj, dict):
        raise ProtocolError(f"payload is a {type(obj).__name__}, not a map")
    return obj


def encode_frame(obj: dict[str, Any]) -> bytes:
    payload = msgpack.packb(obj, use_bin_type=True)
    if len(payload) > MAX_FRAME:
        raise ValueError(f"frame of {len(payload)} bytes is over the limit")
    return LENGTH.pack(len(payload)) + payload


class FrameWriter:
    """Writes whole frames to a file descriptor, one at a time."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._lock = threading.Lock()

    def write(self, obj: dict[str, Any]) -> None:
        """Raises OSError (e.g. BrokenPipeError) when the reader is gone."""
        data = memoryview(encode_frame(obj))
        with self._lock:
            while data:
                n = os.write(self._fd, data)
                data = data[n:]
