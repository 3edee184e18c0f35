# SPDX-License-Identifier: MIT
"""A fast-path client in plain Python, written from docs/shm.md alone: it asks for the rings in
HELLO, takes the memfd and eventfd from the byte after the reply, maps the region and speaks the
ring protocol with its own struct and mmap code (no libclove). The tests use it both as a
well-behaved client and as a hostile one: it can write any index, header or payload bytes.

Python has no futex or atomic exchange, so this client never sleeps on a futex: it rings the
eventfd after every publish (a spurious doorbell is harmless) and polls for completions. On x86
the plain stores of mmap slices are ordered as the protocol needs (TSO).
"""

import array
import mmap
import os
import socket
import struct
import time

import msgpack

import wire

SHM_MAGIC = 0x48534C43
HEADER = struct.Struct("<IIIIQIIIIIIII")  # the region header's first 56 bytes
ENTRY = struct.Struct("<QIBBH")  # id, len, opcode, flags, reserved
ENTRY_SIZE = 16
MORE = 0x01
TAIL, HEAD, CONSUMER, PRODUCER, DATA = 0, 128, 256, 384, 512
KERNEL_STATE, DETACH_ERROR, DETACH_REASON, CLIENT_STATE = 128, 132, 136, 256


def space(n):
    return ENTRY_SIZE + ((n + 15) & ~15)


def hello_shm(sock, request=None):
    """HELLO {"shm": true} on sock; returns (reply, fds). The byte after the reply is read with
    recvmsg, so its fds are not lost."""
    sock.sendall(wire.pack(wire.OP_HELLO, request if request is not None else {"shm": True}))
    hdr, payload = wire.read_frame(sock)
    reply = wire.decode_json(payload)
    fds = []
    if isinstance(reply.get("shm"), dict):
        byte, fds, _flags, _addr = socket.recv_fds(sock, 1, 4, socket.MSG_CMSG_CLOEXEC)
        assert len(byte) == 1, "no byte after the HELLO reply"
        assert byte == (b"\x01" if fds else b"\x00"), (byte, fds)
    return reply, fds


class Ring:
    def __init__(self, mm, offset, size):
        self.mm, self.off, self.size = mm, offset, size
        self.mask = size - 1
        # Index words are read and written through a u32 view: one aligned 4-byte load or
        # store each. (struct.pack_into writes little-endian values byte by byte, and the
        # kernel would see a torn index - and rightly detach.)
        self.words = memoryview(mm).cast("B")[offset:offset + DATA].cast("I")

    def _u32(self, at):
        return self.words[at // 4]

    def _set_u32(self, at, v):
        self.words[at // 4] = v & 0xFFFFFFFF

    tail = property(lambda self: self._u32(TAIL), lambda self, v: self._set_u32(TAIL, v))
    head = property(lambda self: self._u32(HEAD), lambda self, v: self._set_u32(HEAD, v))
    consumer_state = property(lambda self: self._u32(CONSUMER))
    producer_state = property(lambda self: self._u32(PRODUCER))

    def write(self, pos, data):
        at = pos & self.mask
        first = min(len(data), self.size - at)
        base = self.off + DATA
        self.mm[base + at:base + at + first] = data[:first]
        if first < len(data):
            self.mm[base:base + len(data) - first] = data[first:]

    def read(self, pos, n):
        at = pos & self.mask
        first = min(n, self.size - at)
        base = self.off + DATA
        out = self.mm[base + at:base + at + first]
        if first < n:
            out += self.mm[base:base + n - first]
        return out


class ShmClient:
    """The client side of one attachment."""

    def __init__(self, sock, memfd, efd):
        self.sock = sock
        self.memfd, self.efd = memfd, efd
        size = os.fstat(memfd).st_size
        self.mm = mmap.mmap(memfd, size)
        (magic, version, hsize, flags, region_size, sq_off, sq_size, cq_off, cq_size,
         max_entry, caller_id, max_request, spin_us) = HEADER.unpack_from(self.mm, 0)
        assert magic == SHM_MAGIC and version == 1 and region_size == size
        self.max_entry, self.caller_id, self.max_request = max_entry, caller_id, max_request
        self.sq = Ring(self.mm, sq_off, sq_size)
        self.cq = Ring(self.mm, cq_off, cq_size)
        self.next_id = 1

    @classmethod
    def attach(cls, sock, request=None):
        reply, fds = hello_shm(sock, request)
        assert reply["shm"]["enabled"] is True, reply
        return cls(sock, fds[0], fds[1]), reply

    def close(self):
        for r in (self.sq, self.cq):
            r.words.release()
        self.mm.close()
        for fd in (self.memfd, self.efd):
            try:
                os.close(fd)
            except OSError:
                pass

    # -- state words ---------------------------------------------------------------------------

    def kernel_state(self):
        return struct.unpack_from("<I", self.mm, KERNEL_STATE)[0]

    def detach_error(self):
        return struct.unpack_from("<i", self.mm, DETACH_ERROR)[0]

    def detach_reason(self):
        raw = self.mm[DETACH_REASON:DETACH_REASON + 120]
        return raw.split(b"\0", 1)[0].decode("utf-8", "replace")

    def set_client_closed(self):
        struct.pack_into("<I", self.mm, CLIENT_STATE, 1)

    # -- submitting ----------------------------------------------------------------------------

    def doorbell(self):
        os.write(self.efd, struct.pack("<Q", 1))

    def push_raw(self, entry_bytes, payload=b"", pad_to=None):
        """Writes arbitrary header bytes and payload at the tail; returns the new tail."""
        t = self.sq.tail
        self.sq.write(t, entry_bytes)
        if payload:
            self.sq.write(t + ENTRY_SIZE, payload)
        n = pad_to if pad_to is not None else space(len(payload))
        self.sq.tail = t + n
        return t + n

    def submit(self, opcode, payload=b"", rid=None, ring=True, drain=True):
        """Writes one request (split into fragments as needed); waits for room, reading
        completions meanwhile unless drain is False."""
        if rid is None:
            rid, self.next_id = self.next_id, self.next_id + 1
        chunks = [payload[i:i + self.max_entry]
                  for i in range(0, len(payload), self.max_entry)] or [b""]
        for i, chunk in enumerate(chunks):
            flags = MORE if i < len(chunks) - 1 else 0
            deadline = time.monotonic() + 30
            while self.sq.size - (self.sq.tail - self.sq.head) < space(len(chunk)):
                if ring:
                    self.doorbell()
                if drain:
                    self.drain_into_stash()
                if self.kernel_state() != 0:
                    raise ConnectionError("detached: %s" % self.detach_reason())
                assert time.monotonic() < deadline, "no room in the submission ring"
                time.sleep(0.0005)
            self.push_raw(ENTRY.pack(rid, len(chunk), opcode, flags, 0), chunk)
        if ring:
            self.doorbell()
        return rid

    # -- completions ---------------------------------------------------------------------------

    stash = None

    def _pop_entry(self):
        head = self.cq.head
        if self.cq.tail == head:
            return None
        rid, n, opcode, flags, _ = ENTRY.unpack(self.cq.read(head, ENTRY_SIZE))
        data = self.cq.read(head + ENTRY_SIZE, n)
        self.cq.head = head + space(n)
        if self.cq.producer_state:
            self.doorbell()
        return rid, opcode, flags, data

    def drain_into_stash(self):
        if self.stash is None:
            self.stash, self._partial = [], {}
        while True:
            e = self._pop_entry()
            if e is None:
                return
            rid, opcode, flags, data = e
            buf = self._partial.setdefault(rid, bytearray())
            buf += data
            if not flags & MORE:
                del self._partial[rid]
                self.stash.append((rid, opcode, bytes(buf)))

    def complete(self, timeout=30.0):
        """The next completion (rid, opcode, payload bytes)."""
        deadline = time.monotonic() + timeout
        while True:
            self.drain_into_stash()
            if self.stash:
                return self.stash.pop(0)
            if self.kernel_state() != 0:
                # Completions published just before the detach still count.
                self.drain_into_stash()
                if self.stash:
                    return self.stash.pop(0)
                raise ConnectionError("detached: %s (errno %d)"
                                      % (self.detach_reason(), self.detach_error()))
            if time.monotonic() > deadline:
                raise TimeoutError("no completion within %.0f s" % timeout)
            time.sleep(0.0002)

    def wait_for(self, rid, timeout=30.0):
        deadline = time.monotonic() + timeout
        held = []
        try:
            while True:
                got = self.complete(max(0.0, deadline - time.monotonic()))
                if got[0] == rid:
                    return got
                held.append(got)
        finally:
            self.stash[:0] = held

    def call(self, opcode, obj=None, raw=None, timeout=30.0):
        """One request; returns the decoded reply (msgpack) or raw bytes for NOOP/EXIT."""
        payload = raw if raw is not None else (msgpack.packb(obj) if obj is not None else b"")
        rid = self.submit(opcode, payload)
        _, op, data = self.wait_for(rid, timeout)
        assert op == opcode, (op, opcode)
        if opcode in (wire.OP_NOOP, wire.OP_EXIT) and raw is not None:
            return data
        return msgpack.unpackb(data, raw=False)
