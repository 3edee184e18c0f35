# SPDX-License-Identifier: MIT
"""Helpers of the hub tests (messaging, state store, events, audit, recording): the opcode
numbers they use, a prelude for agent scripts that talk to the hub, and crashing a kernel with
SIGKILL so that a new one can start on the same state directory.
"""

import time

import wire

OP_SEND = 0x20
OP_RECV = 0x21
OP_BROADCAST = 0x22
OP_REGISTER = 0x23
OP_STORE = 0x30
OP_FETCH = 0x31
OP_DELETE = 0x32
OP_KEYS = 0x33
OP_SUBSCRIBE = 0x60
OP_UNSUBSCRIBE = 0x61
OP_POLL_EVENTS = 0x62
OP_EMIT = 0x63
OP_RECORD_START = 0x70
OP_RECORD_STOP = 0x71
OP_RECORD_STATUS = 0x72
OP_REPLAY_START = 0x73
OP_REPLAY_STATUS = 0x74
OP_GET_AUDIT_LOG = 0x76
OP_SET_AUDIT_CONFIG = 0x77

# Agent bodies start with this: req(op, obj) -> reply dict over the inherited fd.
HUB_PRELUDE = """
OP_SEND, OP_RECV, OP_BROADCAST, OP_REGISTER = 0x20, 0x21, 0x22, 0x23
OP_STORE, OP_FETCH, OP_DELETE, OP_KEYS = 0x30, 0x31, 0x32, 0x33
OP_SUBSCRIBE, OP_UNSUBSCRIBE, OP_POLL_EVENTS, OP_EMIT = 0x60, 0x61, 0x62, 0x63
def req(op, obj=None):
    return call_json(SOCK, op, obj if obj is not None else {})[1]
"""


def ok(reply):
    assert isinstance(reply, dict) and reply.get("success") is True, reply
    return reply


def err(reply, code):
    assert isinstance(reply, dict) and reply.get("success") is False, reply
    assert reply.get("code") == code, reply
    assert isinstance(reply.get("error"), str) and reply["error"], reply
    return reply


def crash(k):
    """SIGKILL the kernel (no clean-up of its own) and everything it started."""
    k.snapshot()
    k.proc.kill()
    k.proc.wait()
    k.kill_everything()
    # Its end was deliberate: the fixture must not report it.
    k.proc = None
    # The dead kernel's io_uring is torn down after the process is reaped,
    # and until then its listening socket still accepts (and then resets)
    # connections: wait until it refuses, or a new kernel's wait_ready()
    # could be answered by the old socket.
    import socket
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(k.socket)
        except OSError:
            return
        finally:
            s.close()
        time.sleep(0.01)
    raise AssertionError("the killed kernel's socket %s still accepts" % k.socket)


def restart_on_same_state(make_kernel, k):
    """A new kernel on k's socket and state directory."""
    name = k.root.name
    return make_kernel(name=name)


def recv_all(kernel_or_sock, want, timeout=15.0, op_conn=None):
    """RECV on the operator connection until want messages came; returns them."""
    got = []
    deadline = time.monotonic() + timeout
    while len(got) < want and time.monotonic() < deadline:
        r = ok(kernel_or_sock.request(OP_RECV, {"max": 256, "wait": 1}))
        got += r["messages"]
    return got


def call(sock, op, obj):
    return wire.call_json(sock, op, obj)[1]


def hub_agent(kernel, agent_script, body, name, **fields):
    """SPAWN an agent whose script is HUB_PRELUDE + body (see clove_harness.spawn_agent)."""
    import textwrap
    from clove_harness import spawn_agent
    return spawn_agent(kernel, agent_script, HUB_PRELUDE + textwrap.dedent(body), name,
                       **fields)
