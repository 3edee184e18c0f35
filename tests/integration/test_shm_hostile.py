# SPDX-License-Identifier: MIT
"""Hostile peers on the fast path. The region is shared with the client, so the kernel must copy
every entry out before it validates it and trust no index: garbage indices, headers, lengths or
payloads get that connection's fast path detached (with an errno and a reason in the header)
or an error completion - never a crash, a stall, or harm to any other client. Each test checks
that the kernel still serves a well-behaved attached client and the socket of the offender.
"""

import os
import random
import struct
import threading
import time

import msgpack
import pytest

import wire
from shm_wire import ENTRY, ENTRY_SIZE, MORE, ShmClient, space

EPROTO = 71


@pytest.fixture
def kernel(make_kernel):
    return make_kernel()


def attach(k):
    s = k.connect()
    c, _ = ShmClient.attach(s)
    return s, c


def wait_detached(c, timeout=10.0):
    deadline = time.monotonic() + timeout
    while c.kernel_state() == 0:
        if time.monotonic() > deadline:
            raise AssertionError("the kernel did not detach the hostile client")
        time.sleep(0.005)
    return c.detach_error(), c.detach_reason()


def still_serving(k, s, bystander):
    """The kernel answers the offender's socket and a well-behaved attached client."""
    assert k.alive(), k.log_tail()
    assert wire.call_json(s, wire.OP_HELLO, {})[1]["success"] is True
    assert bystander.call(wire.OP_NOOP, raw=b"bystander") == b"bystander"
    assert bystander.kernel_state() == 0


@pytest.fixture
def bystander(kernel):
    _, c = attach(kernel)
    yield c
    c.close()


def test_tail_beyond_the_ring(kernel, bystander):
    s, c = attach(kernel)
    c.sq.tail = c.sq.size + 64
    c.doorbell()
    err, reason = wait_detached(c)
    assert err == EPROTO and "impossible" in reason
    still_serving(kernel, s, bystander)


def test_tail_behind_head_and_misaligned(kernel, bystander):
    for bad in (0xFFFFFFF0, 24):
        s, c = attach(kernel)
        assert c.call(wire.OP_NOOP, raw=b"ok") == b"ok"
        c.sq.tail = bad
        c.doorbell()
        assert wait_detached(c)[0] == EPROTO
        still_serving(kernel, s, bystander)


@pytest.mark.parametrize("header", [
    ENTRY.pack(1, 8, wire.OP_NOOP, 0x80, 0),          # unknown flag
    ENTRY.pack(1, 8, wire.OP_NOOP, 0, 7),             # reserved bytes set
    ENTRY.pack(1, 1 << 30, wire.OP_NOOP, 0, 0),       # length far beyond max_entry
    ENTRY.pack(1, 4000, wire.OP_NOOP, 0, 0),          # length beyond the tail
], ids=["flags", "reserved", "huge-length", "length-past-tail"])
def test_bad_entry_headers(kernel, bystander, header):
    s, c = attach(kernel)
    c.push_raw(header, b"12345678", pad_to=32)
    c.doorbell()
    assert wait_detached(c)[0] == EPROTO
    still_serving(kernel, s, bystander)


def test_garbage_payloads_are_errors_not_detaches(kernel, bystander):
    s, c = attach(kernel)
    rng = random.Random(4)
    for _ in range(200):
        junk = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 64)))
        r = c.call(rng.choice([wire.OP_EXEC, wire.OP_READ, wire.OP_SPAWN, wire.OP_HELLO]),
                   raw=junk)
        assert r["success"] is False and r["code"] in ("EBADMSG", "EINVAL", "ENOENT",
                                                       "EACCES"), r
    assert c.kernel_state() == 0
    still_serving(kernel, s, bystander)


def test_interleaved_fragments(kernel, bystander):
    s, c = attach(kernel)
    c.push_raw(ENTRY.pack(1, 4, wire.OP_NOOP, MORE, 0), b"part")
    c.push_raw(ENTRY.pack(2, 4, wire.OP_NOOP, 0, 0), b"else")
    c.doorbell()
    err, reason = wait_detached(c)
    assert err == EPROTO and "fragment" in reason
    still_serving(kernel, s, bystander)


def test_completion_ring_head_garbage(kernel, bystander):
    s, c = attach(kernel)
    c.cq.head = 0x7FFFFFF0
    # The kernel caches the head and looks at it again only when its cached view says the
    # ring is full: fill it, and the garbage is found then.
    try:
        for _ in range(2 * c.cq.size // 8000):
            c.submit(wire.OP_NOOP, b"r" * 8000, drain=False)
    except ConnectionError:
        pass
    err, reason = wait_detached(c)
    assert err == EPROTO and "completion" in reason
    still_serving(kernel, s, bystander)


def test_header_geometry_lies_are_ignored(kernel, bystander):
    # The kernel keeps its own copy of the geometry: rewriting the header changes nothing.
    s, c = attach(kernel)
    struct.pack_into("<IIII", c.mm, 24, 0, 0xFFFFFFFF, 8, 0xFFFFFFFF)
    struct.pack_into("<I", c.mm, 40, 0xFFFFFFFF)
    assert c.call(wire.OP_NOOP, raw=b"geometry") == b"geometry"
    still_serving(kernel, s, bystander)


def test_never_ringing_or_flooding_the_doorbell(kernel, bystander):
    s, c = attach(kernel)
    # Entries without a doorbell wait; they do not stall anyone else.
    c.submit(wire.OP_NOOP, b"quiet", ring=False)
    still_serving(kernel, s, bystander)
    # A doorbell flood with nothing in the ring only wakes the kernel up: each doorbell buys
    # one look at the ring, not a polling window.
    before = _cpu_ns(kernel.pid)
    t0 = time.monotonic()
    deadline = t0 + 1.0
    while time.monotonic() < deadline:
        c.doorbell()
        time.sleep(0.0002)
    used = (_cpu_ns(kernel.pid) - before) / 1e9 / (time.monotonic() - t0)
    still_serving(kernel, s, bystander)
    assert c.complete()[2] == b"quiet"
    # Not a speed figure: a kernel that spun for every doorbell would use a whole core.
    assert used < 0.6, "the doorbell flood kept the kernel at %.0f%% of a core" % (used * 100)


def _cpu_ns(pid):
    total = 0
    for tid in os.listdir("/proc/%d/task" % pid):
        with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as f:
            total += int(f.read().split()[0])
    return total


def test_flood_without_reading_completions_is_backpressure(kernel, bystander):
    s, c = attach(kernel)
    # The client never reads its completions: the kernel fills the completion ring, keeps at
    # most max_inflight more, then stops taking entries. Nothing is lost or grows without bound.
    sent = 0
    payload = b"p" * 1000
    while c.sq.size - (c.sq.tail - c.sq.head) >= space(len(payload)):
        c.push_raw(ENTRY.pack(sent + 1, len(payload), wire.OP_NOOP, 0, 0), payload)
        sent += 1
        c.doorbell()
        if sent > 100000:
            break
    time.sleep(0.3)
    assert sent < 100000, "the kernel took entries without bound"
    still_serving(kernel, s, bystander)
    # Reading them now gets every one, in order, once.
    c.stash, c._partial = [], {}
    got = [c.complete()[0] for _ in range(sent)]
    assert got == list(range(1, sent + 1))
    assert c.kernel_state() == 0


@pytest.mark.timeout(300)
def test_random_scribbling_over_the_region(kernel, bystander):
    rng = random.Random(1234)
    for round_ in range(30):
        s, c = attach(kernel)
        stop = threading.Event()
        writes = [0]

        def scribble():
            while not stop.is_set() or writes[0] < 2000:
                writes[0] += 1
                at = rng.randrange(len(c.mm) - 8)
                c.mm[at:at + 8] = bytes(rng.randrange(256) for _ in range(8))
                if rng.random() < 0.3:
                    c.doorbell()

        t = threading.Thread(target=scribble)
        t.start()
        for _ in range(20):
            try:
                c.submit(rng.choice([wire.OP_NOOP, wire.OP_HELLO, wire.OP_EXEC]),
                         os.urandom(rng.randrange(0, 300)))
            except (AssertionError, ConnectionError):
                break
            if c.kernel_state() != 0:
                break
        stop.set()
        t.join()
        # Whatever happened to this region, the kernel is fine.
        still_serving(kernel, s, bystander)
        c.close()
        s.close()
