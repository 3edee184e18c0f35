# SPDX-License-Identifier: MIT
"""Frame-level behaviour of cloved on well-formed input: NOOP echoes any bytes exactly, reply
headers carry the right magic, opcode and the caller's real id (never the id the client wrote),
pipelined requests are answered in request order even when an earlier one is slow, HELLO
reports the protocol version, features and role, and EXIT says ``goodbye`` and hangs up.
"""

import json
import os
import threading

import pytest

import wire
from clove_harness import wait_until


@pytest.mark.parametrize("payload", [
    b"hello",
    b"",
    bytes(range(256)),
    b"\xff\xfe\x00\x80 not utf-8 \xc3\x28",
    b'{"looks": "like json"}',
    os.urandom(65536),
], ids=["ascii", "empty", "all-bytes", "invalid-utf8", "json-text", "64k-random"])
def test_noop_echoes_payload_byte_for_byte(module_kernel, payload):
    s = module_kernel.connect()
    hdr, data = wire.call(s, wire.OP_NOOP, payload)
    assert hdr.magic == wire.MAGIC
    assert hdr.opcode == wire.OP_NOOP
    assert hdr.payload_size == len(payload)
    assert data == payload
    s.close()


def test_noop_echoes_maximum_size_payload(module_kernel):
    payload = os.urandom(wire.MAX_PAYLOAD)  # exactly 1 MiB is allowed
    s = module_kernel.connect()
    hdr, data = wire.call(s, wire.OP_NOOP, payload)
    assert hdr.payload_size == wire.MAX_PAYLOAD
    assert data == payload
    s.close()


def test_reply_header_has_magic_and_request_opcode(module_kernel):
    s = module_kernel.connect()
    for op, payload in [(wire.OP_NOOP, b"x"), (wire.OP_HELLO, {}), (wire.OP_LIST, {})]:
        hdr, _ = wire.call(s, op, payload)
        assert hdr.magic == wire.MAGIC
        assert hdr.opcode == op
    s.close()


def test_reply_agent_id_is_callers_id_not_the_written_one(module_kernel):
    s = module_kernel.connect()
    hdr0, hello = wire.call_json(s, wire.OP_HELLO, {})
    my_id = hello["agent_id"]
    assert isinstance(my_id, int)
    assert hdr0.agent_id == my_id
    for forged in (0, 1, 2, 7, 12345, 0x7FFFFFFF, 0xFFFFFFFF):
        hdr, data = wire.call(s, wire.OP_NOOP, b"id?", agent_id=forged)
        assert data == b"id?"
        assert hdr.agent_id == my_id, "reply carried %d after the client wrote %d" % (
            hdr.agent_id, forged)
    s.close()


def test_each_operator_connection_has_its_own_id(module_kernel):
    a, b = module_kernel.connect(), module_kernel.connect()
    ha, _ = wire.call(a, wire.OP_NOOP, b"a")
    hb, _ = wire.call(b, wire.OP_NOOP, b"b")
    assert ha.agent_id != hb.agent_id
    a.close()
    b.close()


@pytest.mark.timeout(60)
def test_pipelined_replies_come_in_request_order(module_kernel):
    s = module_kernel.connect()
    frames = [wire.pack(wire.OP_EXEC, {"command": "sleep 0.5; echo slow"})]
    frames += [wire.pack(wire.OP_NOOP, b"noop-%d" % i) for i in range(20)]
    s.sendall(b"".join(frames))
    hdr, data = wire.read_frame(s)
    assert hdr.opcode == wire.OP_EXEC, "first reply is %r, expected the EXEC's" % (hdr,)
    reply = json.loads(data)
    assert reply["success"] is True and reply["stdout"] == "slow\n"
    for i in range(20):
        hdr, data = wire.read_frame(s)
        assert hdr.opcode == wire.OP_NOOP
        assert data == b"noop-%d" % i
    s.close()


def test_many_pipelined_noops_all_answered_in_order(module_kernel):
    # More than the 64 requests the kernel keeps in flight: it must throttle, not drop.
    s = module_kernel.connect()
    n = 500
    s.sendall(b"".join(wire.pack(wire.OP_NOOP, b"%05d" % i) for i in range(n)))
    for i in range(n):
        hdr, data = wire.read_frame(s)
        assert (hdr.opcode, data) == (wire.OP_NOOP, b"%05d" % i)
    s.close()


@pytest.mark.timeout(60)
@pytest.mark.parametrize("size,count", [(65536, 2), (16384, 64), (131072, 32), (1 << 20, 4)])
def test_pipelined_large_payloads_are_all_echoed(module_kernel, size, count):
    # Replies bigger than the socket buffer while more requests keep arriving: the kernel
    # must queue its output without losing or corrupting any of it.
    s = module_kernel.connect()
    payloads = [os.urandom(size) for _ in range(count)]
    errors = []

    def sender():
        try:
            s.sendall(b"".join(wire.pack(wire.OP_NOOP, p) for p in payloads))
        except OSError as e:
            errors.append(e)
    t = threading.Thread(target=sender)
    t.start()
    try:
        for i, p in enumerate(payloads):
            try:
                hdr, data = wire.read_frame(s)
            except EOFError as e:
                pytest.fail("connection dropped before reply %d of %d: %s" % (i, count, e))
            assert hdr.opcode == wire.OP_NOOP
            assert data == p, "reply %d differs from its request" % i
    finally:
        t.join(30)
        s.close()
    assert not errors


def test_hello_reports_protocol_version_features_and_operator_role(module_kernel):
    hdr, hello = module_kernel.call_json(wire.OP_HELLO, {})
    assert hdr.opcode == wire.OP_HELLO
    assert hello["success"] is True
    assert hello["protocol_version"] == 1
    assert isinstance(hello["kernel_version"], str) and hello["kernel_version"]
    assert hello["role"] == "operator"
    assert "agent_name" not in hello
    feats = hello["features"]
    assert isinstance(feats, dict)
    for name in ("exec", "spawn", "async"):
        assert feats.get(name) is True, "feature %s: %r" % (name, feats.get(name))
    assert feats.get("think") is True
    assert hello["limits"]["max_payload"] == 1048576
    assert hello["limits"]["max_inflight"] == 64


def test_hello_describes_this_kernel(module_kernel):
    hello = module_kernel.request(wire.OP_HELLO, {})
    k = hello["kernel"]
    assert k["pid"] == module_kernel.pid
    assert os.path.realpath(k["socket"]) == os.path.realpath(module_kernel.socket)
    assert os.path.realpath(k["state_dir"]) == os.path.realpath(module_kernel.state_dir)
    assert isinstance(k["uptime_ms"], int) and k["uptime_ms"] >= 0
    assert k["connections"] >= 1


def test_hello_accepts_empty_payload(module_kernel):
    s = module_kernel.connect()
    hdr, data = wire.call(s, wire.OP_HELLO, b"")
    assert hdr.opcode == wire.OP_HELLO
    assert json.loads(data)["protocol_version"] == 1
    s.close()


def test_list_accepts_empty_payload(module_kernel):
    s = module_kernel.connect()
    _, data = wire.call(s, wire.OP_LIST, b"")
    assert isinstance(json.loads(data), list)
    s.close()


def test_exit_replies_goodbye_then_closes(module_kernel):
    s = module_kernel.connect()
    hdr, data = wire.call(s, wire.OP_EXIT, b"")
    assert hdr.magic == wire.MAGIC
    assert hdr.opcode == wire.OP_EXIT
    assert data == b"goodbye"
    assert wire.wait_closed(s, 5) is True, "the kernel kept the connection open after EXIT"
    s.close()
    # and it still serves others
    t = module_kernel.connect()
    assert wire.call(t, wire.OP_NOOP, b"still here")[1] == b"still here"
    t.close()


def test_exit_reply_precedes_close_even_with_requests_queued_behind_it(module_kernel):
    s = module_kernel.connect()
    s.sendall(wire.pack(wire.OP_NOOP, b"before") + wire.pack(wire.OP_EXIT)
              + wire.pack(wire.OP_NOOP, b"after"))
    assert wire.read_frame(s)[1] == b"before"
    hdr, data = wire.read_frame(s)
    assert (hdr.opcode, data) == (wire.OP_EXIT, b"goodbye")
    assert wire.wait_closed(s, 5) is True, "requests after EXIT were answered"
    s.close()


def test_header_split_byte_by_byte_still_works(module_kernel):
    import time
    s = module_kernel.connect()
    frame = wire.pack(wire.OP_NOOP, b"slowly")
    for i in range(len(frame)):
        s.sendall(frame[i:i + 1])
        time.sleep(0.02)
    hdr, data = wire.read_frame(s)
    assert (hdr.opcode, data) == (wire.OP_NOOP, b"slowly")
    s.close()


def test_two_frames_in_one_write_are_both_answered(module_kernel):
    s = module_kernel.connect()
    s.sendall(wire.pack(wire.OP_NOOP, b"one") + wire.pack(wire.OP_NOOP, b"two"))
    assert wire.read_frame(s)[1] == b"one"
    assert wire.read_frame(s)[1] == b"two"
    s.close()


def test_kernel_counts_connections(module_kernel):
    socks = [module_kernel.connect() for _ in range(5)]
    for s in socks:
        wire.call(s, wire.OP_NOOP, b"")
    hello = module_kernel.request(wire.OP_HELLO, {})
    assert hello["kernel"]["connections"] >= 6
    for s in socks:
        s.close()

    def fewer():
        return module_kernel.request(wire.OP_HELLO, {})["kernel"]["connections"] < 6
    wait_until(fewer, 10, 0.05, "closed connections to be forgotten")
