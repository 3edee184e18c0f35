# SPDX-License-Identifier: MIT
"""A deliberately tiny, raw client for the Clove wire protocol, used by the integration tests.

It packs and unpacks the 17-byte little-endian header (``'<IIBQ'``: magic, agent_id, opcode,
payload_size) itself and reads replies byte-exactly, so the tests see precisely what ``cloved``
puts on the wire instead of what an SDK makes of it. It depends on the standard library only:
agent scripts written by the tests embed this file's source verbatim and use it over the
inherited ``CLOVE_FD`` socket, so nothing here may import from the test tree or from pytest.
"""

import json
import select
import socket
import struct
import time

MAGIC = 0x41474E54
HEADER = struct.Struct("<IIBQ")
HEADER_SIZE = HEADER.size  # 17
MAX_PAYLOAD = 1 << 20
# Replies may be bigger than requests (READ of a large file); anything beyond this is garbage.
MAX_REPLY = 64 << 20

OP_NOOP = 0x00
OP_THINK = 0x01
OP_EXEC = 0x02
OP_READ = 0x03
OP_WRITE = 0x04
OP_SPAWN = 0x10
OP_KILL = 0x11
OP_LIST = 0x12
OP_PAUSE = 0x14
OP_RESUME = 0x15
OP_SEND = 0x20
OP_STORE = 0x30
OP_GET_PERMS = 0x40
OP_SET_PERMS = 0x41
OP_HTTP = 0x50
OP_SUBSCRIBE = 0x60
OP_ASYNC_POLL = 0x80
OP_METRICS_SYSTEM = 0xC0
OP_HELLO = 0xFE
OP_EXIT = 0xFF


class ProtocolError(Exception):
    """The peer sent something that is not a well-formed Clove frame."""


class Header(tuple):
    """A decoded frame header: (magic, agent_id, opcode, payload_size)."""

    __slots__ = ()

    def __new__(cls, magic, agent_id, opcode, payload_size):
        return tuple.__new__(cls, (magic, agent_id, opcode, payload_size))

    magic = property(lambda self: self[0])
    agent_id = property(lambda self: self[1])
    opcode = property(lambda self: self[2])
    payload_size = property(lambda self: self[3])

    def __repr__(self):
        return "Header(magic=%#x, agent_id=%d, opcode=%#04x, payload_size=%d)" % tuple(self)


def encode_payload(obj):
    """bytes pass through, str is UTF-8 encoded, None is empty, anything else becomes JSON."""
    if obj is None:
        return b""
    if isinstance(obj, (bytes, bytearray, memoryview)):
        return bytes(obj)
    if isinstance(obj, str):
        return obj.encode("utf-8")
    return json.dumps(obj).encode("utf-8")


def pack_header(opcode, payload_size, agent_id=0, magic=MAGIC):
    return HEADER.pack(magic, agent_id, opcode, payload_size)


def pack(opcode, payload=None, agent_id=0, magic=MAGIC):
    """One complete frame as bytes."""
    data = encode_payload(payload)
    return pack_header(opcode, len(data), agent_id, magic) + data


def send_frame(sock, opcode, payload=None, agent_id=0):
    sock.sendall(pack(opcode, payload, agent_id))


def recv_exact(sock, n):
    """Exactly n bytes, or EOFError when the peer closes first."""
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(min(n - len(buf), 1 << 20))
        if not chunk:
            raise EOFError("connection closed after %d of %d bytes" % (len(buf), n))
        buf += chunk
    return bytes(buf)


def read_frame(sock, max_payload=MAX_REPLY):
    """One reply frame: (Header, payload bytes). Raises ProtocolError on a bad header."""
    hdr = Header(*HEADER.unpack(recv_exact(sock, HEADER_SIZE)))
    if hdr.magic != MAGIC:
        raise ProtocolError("reply has bad magic %#x" % hdr.magic)
    if hdr.payload_size > max_payload:
        raise ProtocolError("reply payload_size %d is absurd" % hdr.payload_size)
    return hdr, recv_exact(sock, hdr.payload_size)


def call(sock, opcode, payload=None, agent_id=0):
    """Send one request and read one reply: (Header, payload bytes)."""
    send_frame(sock, opcode, payload, agent_id)
    return read_frame(sock)


def call_json(sock, opcode, obj=None, agent_id=0):
    """Send one request and read one reply whose payload is JSON: (Header, decoded value)."""
    hdr, data = call(sock, opcode, obj, agent_id)
    return hdr, decode_json(data)


def decode_json(data):
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise ProtocolError("reply payload is not JSON: %r (%s)" % (data[:200], e)) from None


def connect(path, timeout=30.0):
    """A blocking operator connection with a per-operation timeout.

    A Unix socket whose accept backlog is full fails a non-blocking connect with EAGAIN at once
    (there is no EINPROGRESS for AF_UNIX), so keep trying until timeout.
    """
    deadline = time.monotonic() + timeout
    while True:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        s.settimeout(timeout)
        try:
            s.connect(path)
            return s
        except BlockingIOError:
            s.close()
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.005)
        except BaseException:
            s.close()
            raise


def readable(sock, timeout=0.0):
    """True when a recv on sock would not block (data or EOF is there)."""
    r, _, _ = select.select([sock], [], [], timeout)
    return bool(r)


def wait_closed(sock, timeout=5.0):
    """True when the peer closes within timeout (EOF or reset) with no further data.

    Returns the bytes received instead when data arrives, so a caller can show them.
    """
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        if not readable(sock, left):
            return False
        try:
            data = sock.recv(4096)
        except ConnectionResetError:
            return True
        if not data:
            return True
        return data
