# SPDX-License-Identifier: MIT
"""Wire format of the Clove protocol (docs/protocol.md): the 17-byte header,
the opcode numbers and the size limits. Pure functions, no I/O, so the client
and the tests' fake kernels share one definition of a frame."""

from __future__ import annotations

import enum
import struct
from typing import NamedTuple, Union

MAGIC = 0x41474E54
"""``"AGNT"`` as a little-endian u32 (bytes ``54 4E 47 41`` on the wire)."""

HEADER = struct.Struct("<IIBQ")
HEADER_SIZE = HEADER.size  # 17

MAX_REQUEST_PAYLOAD = 1 << 20
"""Largest request payload the kernel reads (1 MiB); bigger closes the connection."""

MAX_REPLY_PAYLOAD = 64 << 20
"""Sanity bound on a reply's size: READ may return 16 MiB, base64 grows it by 4/3."""


class Opcode(enum.IntEnum):
    """Syscall numbers, as in the original Clove and docs/protocol.md."""

    NOOP = 0x00
    THINK = 0x01
    EXEC = 0x02
    READ = 0x03
    WRITE = 0x04
    SPAWN = 0x10
    KILL = 0x11
    LIST = 0x12
    PAUSE = 0x14
    RESUME = 0x15
    SEND = 0x20
    RECV = 0x21
    BROADCAST = 0x22
    REGISTER = 0x23
    STORE = 0x30
    FETCH = 0x31
    DELETE = 0x32
    KEYS = 0x33
    GET_PERMS = 0x40
    SET_PERMS = 0x41
    HTTP = 0x50
    SUBSCRIBE = 0x60
    UNSUBSCRIBE = 0x61
    POLL_EVENTS = 0x62
    EMIT = 0x63
    RECORD_START = 0x70
    RECORD_STOP = 0x71
    RECORD_STATUS = 0x72
    REPLAY_START = 0x73
    REPLAY_STATUS = 0x74
    GET_AUDIT_LOG = 0x76
    SET_AUDIT_CONFIG = 0x77
    ASYNC_POLL = 0x80
    WORLD_CREATE = 0xA0
    WORLD_DESTROY = 0xA1
    WORLD_LIST = 0xA2
    WORLD_JOIN = 0xA3
    WORLD_LEAVE = 0xA4
    WORLD_EVENT = 0xA5
    WORLD_STATE = 0xA6
    WORLD_SNAPSHOT = 0xA7
    WORLD_RESTORE = 0xA8
    TUNNEL_CONNECT = 0xB0
    TUNNEL_DISCONNECT = 0xB1
    TUNNEL_STATUS = 0xB2
    TUNNEL_LIST_REMOTES = 0xB3
    TUNNEL_CONFIG = 0xB4
    METRICS_SYSTEM = 0xC0
    METRICS_AGENT = 0xC1
    METRICS_ALL_AGENTS = 0xC2
    METRICS_CGROUP = 0xC3
    LLM_REPORT = 0xF0
    HELLO = 0xFE
    EXIT = 0xFF


class Header(NamedTuple):
    """A decoded frame header."""

    magic: int
    agent_id: int
    opcode: int
    payload_size: int


def opcode_name(opcode: int) -> str:
    """``"EXEC"`` for 2; ``"0x13"`` for a number that is no opcode."""
    try:
        return Opcode(opcode).name
    except ValueError:
        return f"0x{opcode:02X}"


def pack_header(agent_id: int, opcode: int, payload_size: int) -> bytes:
    """The 17 header bytes of a frame."""
    return HEADER.pack(MAGIC, agent_id, int(opcode), payload_size)


def unpack_header(data: Union[bytes, bytearray, memoryview]) -> Header:
    """Decodes exactly HEADER_SIZE bytes; the caller checks magic and size."""
    return Header(*HEADER.unpack(data))


def encode_frame(agent_id: int, opcode: int, payload: bytes = b"") -> bytes:
    """Header plus payload, ready for ``sendall``."""
    return pack_header(agent_id, opcode, len(payload)) + payload
