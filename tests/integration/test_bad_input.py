# SPDX-License-Identifier: MIT
"""How cloved treats input that is not a valid request (DESIGN §3), and proof that it does not
repeat the original's mistakes: a bad magic or an oversized header gets exactly one error reply
and the connection is closed (the original stalled it forever while its buffer grew), the
payload of an oversized frame is never read or buffered, malformed JSON is an error that keeps
the connection usable, and unknown opcodes are refused with ENOSYS instead of being echoed.
"""

import json
import os
import select
import socket
import time

import pytest

import wire
from clove_harness import wait_until


def error_of(data):
    """The decoded error reply, checked for the documented shape."""
    reply = json.loads(data)
    assert isinstance(reply, dict), reply
    assert reply.get("success") is False, reply
    assert isinstance(reply.get("error"), str) and reply["error"], reply
    assert isinstance(reply.get("code"), str), reply
    return reply


def assert_serves(kernel):
    s = kernel.connect()
    assert wire.call(s, wire.OP_NOOP, b"alive")[1] == b"alive"
    s.close()


@pytest.fixture
def rss_kernel(make_kernel):
    """A kernel whose VmRSS means what it holds. Under ASan, freed memory waits in a
    quarantine (256 MiB by default) that VmRSS counts, so a bound on the kernel's memory would
    measure the sanitizer: this kernel's quarantine is kept at 1 MiB (use-after-free is still
    caught for recently freed memory; without ASan the variable is ignored)."""
    asan = os.environ.get("ASAN_OPTIONS", "")
    return make_kernel(env={"ASAN_OPTIONS": (asan + ":" if asan else "") +
                            "quarantine_size_mb=1"})


# ---------------------------------------------------------------------------------------------
# bad magic


@pytest.mark.parametrize("magic", [0, 0x544E4741, 0xDEADBEEF, wire.MAGIC + 1])
def test_bad_magic_gets_one_eproto_reply_then_close(module_kernel, magic):
    s = module_kernel.connect()
    s.sendall(wire.pack_header(wire.OP_NOOP, 4, magic=magic) + b"abcd")
    hdr, data = wire.read_frame(s)
    assert hdr.magic == wire.MAGIC
    assert hdr.opcode == 0
    assert error_of(data)["code"] == "EPROTO"
    assert wire.wait_closed(s, 5) is True, "connection stayed open (or sent more) after EPROTO"
    s.close()
    assert_serves(module_kernel)


def test_http_request_on_the_socket_is_refused(module_kernel):
    s = module_kernel.connect()
    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    hdr, data = wire.read_frame(s)
    assert error_of(data)["code"] == "EPROTO"
    assert wire.wait_closed(s, 5) is True
    s.close()


def test_bad_magic_after_a_good_frame_still_answers_the_good_one(module_kernel):
    s = module_kernel.connect()
    s.sendall(wire.pack(wire.OP_NOOP, b"good") + b"\x00" * 17)
    assert wire.read_frame(s)[1] == b"good"
    hdr, data = wire.read_frame(s)
    assert error_of(data)["code"] == "EPROTO"
    assert wire.wait_closed(s, 5) is True
    s.close()


# ---------------------------------------------------------------------------------------------
# oversized frames


@pytest.mark.parametrize("size", [2 ** 40, wire.MAX_PAYLOAD + 1, 2 ** 64 - 1],
                         ids=["2^40", "1MiB+1", "2^64-1"])
def test_oversized_payload_gets_emsgsize_then_close_without_reading_it(module_kernel, size):
    s = module_kernel.connect()
    s.sendall(wire.pack_header(wire.OP_NOOP, size))  # the header only: no payload follows
    hdr, data = wire.read_frame(s)
    assert hdr.magic == wire.MAGIC
    assert error_of(data)["code"] == "EMSGSIZE"
    assert wire.wait_closed(s, 5) is True, "connection stayed open after EMSGSIZE"
    s.close()
    assert_serves(module_kernel)


def test_oversized_payload_error_carries_request_opcode(module_kernel):
    s = module_kernel.connect()
    s.sendall(wire.pack_header(wire.OP_EXEC, 2 ** 40))
    hdr, data = wire.read_frame(s)
    assert error_of(data)["code"] == "EMSGSIZE"
    assert hdr.opcode == wire.OP_EXEC
    s.close()


def _flood(path, header, total, chunk=1 << 20, budget=10.0):
    """Send header, then up to total bytes of garbage; return (reply frame or None, sent)."""
    s = wire.connect(path, timeout=budget)
    s.sendall(header)
    junk = b"\xa5" * chunk
    sent = 0
    s.settimeout(0.5)
    deadline = time.monotonic() + budget
    try:
        while sent < total and time.monotonic() < deadline:
            try:
                sent += s.send(junk)
            except socket.timeout:
                continue  # the kernel is not reading: exactly right
            except (BrokenPipeError, ConnectionResetError):
                break
    finally:
        s.settimeout(5)
    try:
        frame = wire.read_frame(s)
    except (EOFError, ConnectionResetError, OSError):
        frame = None
    s.close()
    return frame, sent


@pytest.mark.timeout(120)
@pytest.mark.parametrize("header", [
    wire.pack_header(wire.OP_NOOP, 2 ** 40),
    wire.pack_header(wire.OP_NOOP, 5, magic=0xBADBAD00),
], ids=["oversized", "bad-magic"])
def test_garbage_after_a_bad_header_does_not_grow_kernel_memory(rss_kernel, header):
    assert_serves(rss_kernel)
    before = rss_kernel.rss_kib()
    replies = []
    for _ in range(5):
        frame, _sent = _flood(rss_kernel.socket, header, 50 << 20)
        replies.append(frame)
    after = rss_kernel.rss_kib()
    growth_mib = (after - before) / 1024
    assert growth_mib < 20, "VmRSS grew from %d to %d KiB" % (before, after)
    # Each connection got its error (the reply is queued before the kernel closes).
    for frame in replies:
        assert frame is not None, "no error reply before the close"
        assert error_of(frame[1])["code"] in ("EMSGSIZE", "EPROTO")
    assert_serves(rss_kernel)


# ---------------------------------------------------------------------------------------------
# JSON


@pytest.mark.parametrize("payload", [
    b'{"command": ',
    b"{not json}",
    b'{"command": "echo hi"',
    b"\xff\xfe{}",
    b'{"command": "echo hi"} trailing',
], ids=["truncated", "unquoted", "unclosed", "binary", "trailing"])
def test_malformed_json_is_ebadmsg_and_connection_stays_usable(module_kernel, payload):
    s = module_kernel.connect()
    hdr, data = wire.call(s, wire.OP_EXEC, payload)
    assert hdr.opcode == wire.OP_EXEC
    assert error_of(data)["code"] == "EBADMSG"
    hdr, data = wire.call(s, wire.OP_NOOP, b"after")
    assert (hdr.opcode, data) == (wire.OP_NOOP, b"after")
    s.close()


@pytest.mark.parametrize("payload", [b"[1]", b'"x"', b"5", b"null", b"true"])
def test_json_that_is_not_an_object_is_refused(module_kernel, payload):
    s = module_kernel.connect()
    hdr, data = wire.call(s, wire.OP_EXEC, payload)
    assert error_of(data)["code"] in ("EBADMSG", "EINVAL")
    assert wire.call(s, wire.OP_NOOP, b"after")[1] == b"after"
    s.close()


# ---------------------------------------------------------------------------------------------
# opcodes


@pytest.mark.parametrize("opcode", [0x05, 0x13, 0x16, 0x42, 0x99, 0xEE, 0xFD])
def test_unknown_opcode_is_enosys_never_an_echo(module_kernel, opcode):
    s = module_kernel.connect()
    payload = b'{"success": true}'
    hdr, data = wire.call(s, opcode, payload)
    assert hdr.opcode == opcode
    assert data != payload, "the kernel echoed an unknown opcode"
    assert error_of(data)["code"] == "ENOSYS"
    assert wire.call(s, wire.OP_NOOP, b"ok")[1] == b"ok"
    s.close()


@pytest.mark.parametrize("opcode", [wire.OP_METRICS_SYSTEM], ids=["METRICS_SYSTEM"])
def test_known_but_unimplemented_opcode_is_enosys(module_kernel, opcode):
    s = module_kernel.connect()
    hdr, data = wire.call(s, opcode, {"prompt": "hi"})
    assert hdr.opcode == opcode
    assert error_of(data)["code"] == "ENOSYS"
    s.close()


# ---------------------------------------------------------------------------------------------
# field validation


OPNAMES = {wire.OP_EXEC: "EXEC", wire.OP_READ: "READ", wire.OP_WRITE: "WRITE",
           wire.OP_SPAWN: "SPAWN", wire.OP_KILL: "KILL", wire.OP_PAUSE: "PAUSE",
           wire.OP_ASYNC_POLL: "ASYNC_POLL"}

BAD_FIELDS = [
    (wire.OP_EXEC, {"command": 5}, "command"),
    (wire.OP_EXEC, {"argv": "ls"}, "argv"),
    (wire.OP_EXEC, {"argv": []}, "argv"),
    (wire.OP_EXEC, {"argv": ["ls", 3]}, "argv"),
    (wire.OP_EXEC, {"command": "true", "argv": ["true"]}, ("argv", "command")),
    (wire.OP_EXEC, {"command": "true", "timeout": "x"}, "timeout"),
    (wire.OP_EXEC, {"command": "true", "timeout": -1}, "timeout"),
    (wire.OP_EXEC, {"command": "true", "env": {"A": 1}}, "env"),
    (wire.OP_EXEC, {"command": "true", "cwd": 7}, "cwd"),
    (wire.OP_EXEC, {"command": "true", "max_output": 1 << 40}, "max_output"),
    (wire.OP_EXEC, {"command": "true", "timeout": 3601}, "timeout"),
    (wire.OP_EXEC, {"command": "true", "stdin": 5}, "stdin"),
    (wire.OP_READ, {"path": 5}, "path"),
    (wire.OP_READ, {"path": "/etc/hostname", "max_bytes": "all"}, "max_bytes"),
    (wire.OP_WRITE, {"path": "/nonexistent-dir/x", "content": 5}, "content"),
    (wire.OP_WRITE, {"path": "/nonexistent-dir/x", "content": "", "mode": "xyz"}, "mode"),
    (wire.OP_SPAWN, {"script": 5}, "script"),
    (wire.OP_SPAWN, {"script": "/bin/true", "name": "bad name!"}, "name"),
    (wire.OP_SPAWN, {"script": "/bin/true", "restart_policy": "sometimes"}, "restart_policy"),
    (wire.OP_KILL, {"id": "abc"}, "id"),
    (wire.OP_PAUSE, {"id": [1]}, "id"),
    (wire.OP_ASYNC_POLL, {"max": "a"}, "max"),
    (wire.OP_ASYNC_POLL, {"max": 0}, "max"),
    (wire.OP_ASYNC_POLL, {"max": 257}, "max"),
    (wire.OP_SPAWN, {"script": "/bin/true", "limits": {"memory": "lots"}}, "memory"),
    (wire.OP_SPAWN, {"script": "/bin/true", "args": "--fast"}, "args"),
    (wire.OP_KILL, {"id": 1, "grace": "soon"}, "grace"),
]


@pytest.mark.parametrize("opcode,obj,field", BAD_FIELDS, ids=[
    "%s-%s" % (OPNAMES[op], json.dumps(obj, sort_keys=True)) for op, obj, _ in BAD_FIELDS])
def test_wrong_field_is_einval_naming_the_field(module_kernel, opcode, obj, field):
    s = module_kernel.connect()
    hdr, data = wire.call(s, opcode, obj)
    err = error_of(data)
    assert err["code"] == "EINVAL", err
    names = field if isinstance(field, tuple) else (field,)
    assert any(n in err["error"] for n in names), "error text %r does not name %r" % (
        err["error"], field)
    s.close()


@pytest.mark.parametrize("opcode,field", [
    (wire.OP_EXEC, "command"),
    (wire.OP_READ, "path"),
    (wire.OP_WRITE, ("path", "content")),  # both are missing: naming either is right
    (wire.OP_SPAWN, "script"),
], ids=["EXEC", "READ", "WRITE", "SPAWN"])
def test_missing_required_field_is_einval(module_kernel, opcode, field):
    s = module_kernel.connect()
    _, data = wire.call(s, opcode, {})
    err = error_of(data)
    assert err["code"] == "EINVAL", err
    names = field if isinstance(field, tuple) else (field,)
    assert any(n in err["error"] for n in names), "error text %r does not name %r" % (
        err["error"], field)
    s.close()


# ---------------------------------------------------------------------------------------------
# misbehaving clients


def test_client_disconnecting_mid_header_does_not_hurt_the_kernel(module_kernel):
    for cut in (1, 8, 16):
        s = module_kernel.connect()
        s.sendall(wire.pack(wire.OP_NOOP, b"abc")[:cut])
        s.close()
    assert_serves(module_kernel)


def test_client_disconnecting_mid_payload_does_not_hurt_the_kernel(module_kernel):
    for _ in range(3):
        s = module_kernel.connect()
        s.sendall(wire.pack_header(wire.OP_NOOP, 100000) + b"x" * 5000)
        s.close()
    assert_serves(module_kernel)


def test_client_disconnecting_with_unread_replies_does_not_hurt_the_kernel(module_kernel):
    s = module_kernel.connect()
    s.settimeout(3)
    try:
        # 40 echoes of 60 kB: more than the socket buffers hold, so replies back up
        s.sendall(b"".join(wire.pack(wire.OP_NOOP, b"y" * 60000) for _ in range(40)))
    except socket.timeout:
        pass  # the kernel stopped reading until its replies drain: fine
    s.close()
    assert_serves(module_kernel)


@pytest.mark.timeout(60)
def test_client_disconnecting_while_exec_runs_does_not_hurt_the_kernel(module_kernel):
    s = module_kernel.connect()
    s.sendall(wire.pack(wire.OP_EXEC, {"command": "sleep 1"})
              + wire.pack(wire.OP_EXEC, {"command": "echo async", "async": True}))
    time.sleep(0.2)
    s.close()
    time.sleep(1.5)  # let the EXEC finish with nobody to answer
    assert_serves(module_kernel)
    assert module_kernel.alive()


def test_half_closed_client_still_gets_its_reply(module_kernel):
    # A one-shot client (nc -N, socat) sends its request and shuts down its write side; a
    # request the kernel has read is still answered before it closes.
    s = module_kernel.connect()
    s.sendall(wire.pack(wire.OP_NOOP, b"then shutdown"))
    s.shutdown(socket.SHUT_WR)
    hdr, data = wire.read_frame(s)
    assert data == b"then shutdown"
    s.close()


def test_kernel_survives_many_abandoned_connections(module_kernel):
    for _ in range(200):
        s = wire.connect(module_kernel.socket, 5)
        s.close()

    def ok():
        try:
            s = wire.connect(module_kernel.socket, 5)
            try:
                return wire.call(s, wire.OP_NOOP, b"k")[1] == b"k"
            finally:
                s.close()
        except OSError:
            return False
    wait_until(ok, 10, 0.1, "the kernel to answer after 200 abandoned connections")


@pytest.mark.timeout(120)
def test_client_that_never_reads_replies_does_not_grow_kernel_memory(rss_kernel):
    # Pipelining is bounded (64 in flight): a client that sends and never reads must stall,
    # not make the kernel hold its replies without end.
    assert_serves(rss_kernel)
    before = rss_kernel.rss_kib()
    s = rss_kernel.connect()
    s.setblocking(False)
    frame = wire.pack(wire.OP_NOOP, b"z" * 65536)
    data = frame * 16
    sent, pos = 0, 0
    limit = 300 << 20
    while sent < limit:
        _, w, _ = select.select([], [s], [], 2.0)
        if not w:
            break  # the kernel stopped reading us: what we want
        try:
            n = s.send(data[pos:])
        except BlockingIOError:
            continue
        except (BrokenPipeError, ConnectionResetError):
            pytest.fail("the kernel dropped a connection that sent only valid NOOPs "
                        "(after %d bytes)" % sent)
        sent += n
        pos = (pos + n) % len(data)
    after = rss_kernel.rss_kib()
    s.close()
    assert sent < limit, "the kernel read %d MiB without anyone reading replies" % (sent >> 20)
    assert (after - before) / 1024 < 40, "VmRSS grew from %d to %d KiB" % (before, after)
    assert_serves(rss_kernel)


@pytest.mark.timeout(120)
def test_pipelined_tiny_frames_without_reading_stay_bounded(rss_kernel):
    # Many empty NOOPs per recv: frames parked behind the in-flight limit must not pile up in
    # the kernel's input buffer while the client keeps sending and never reads.
    assert_serves(rss_kernel)
    before = rss_kernel.rss_kib()
    s = rss_kernel.connect()
    s.setblocking(False)
    data = wire.pack(wire.OP_NOOP, b"") * 4096
    sent, pos, limit = 0, 0, 200 << 20
    while sent < limit:
        _, w, _ = select.select([], [s], [], 2.0)
        if not w:
            break
        try:
            n = s.send(data[pos:])
        except BlockingIOError:
            continue
        sent += n
        pos = (pos + n) % len(data)
    after = rss_kernel.rss_kib()
    assert sent < limit, "the kernel read %d MiB of frames it could not answer" % (sent >> 20)
    assert (after - before) / 1024 < 40, "VmRSS grew from %d to %d KiB" % (before, after)
    assert_serves(rss_kernel)
    s.close()


@pytest.mark.timeout(120)
def test_pipelined_tiny_frames_with_a_reader_are_all_answered_in_order(kernel):
    # A reader that keeps up gets every reply, in order, and another client is still served.
    import threading
    s = kernel.connect()
    total = 20000
    got = []

    def reader():
        for _ in range(total):
            hdr, data = wire.read_frame(s)
            got.append(data)
    t = threading.Thread(target=reader)
    t.start()
    s.sendall(b"".join(wire.pack(wire.OP_NOOP, b"%d" % i) for i in range(total)))
    assert_serves(kernel)
    t.join(90)
    assert not t.is_alive(), "only %d of %d replies arrived" % (len(got), total)
    assert got == [b"%d" % i for i in range(total)]


def test_largest_request_id_does_not_overflow_the_next_one(module_kernel):
    s = module_kernel.connect()
    r = wire.call_json(s, wire.OP_EXEC, {"argv": ["true"], "async": True,
                                         "request_id": 2 ** 63 - 1})[1]
    assert r["request_id"] == 2 ** 63 - 1, r
    r = wire.call_json(s, wire.OP_EXEC, {"argv": ["true"], "async": True})[1]
    assert r["success"] is True and r["request_id"] > 0, r
