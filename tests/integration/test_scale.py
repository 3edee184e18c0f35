# SPDX-License-Identifier: MIT
"""Many clients at once: 1,000 operator connections are all open before any of them sends, then
each sends a NOOP and each gets its own echo back. This is a behaviour check (the kernel keeps
every connection and answers all of them), not a speed measurement — timing belongs to
clove-bench.
"""

import pytest

import wire
from clove_harness import raise_nofile

N = 1000


@pytest.mark.timeout(300)
def test_thousand_concurrent_connections_each_get_their_noop(make_kernel):
    # The kernel inherits this limit, so raise it before starting it.
    assert raise_nofile(N + 512) >= N + 512, "cannot raise RLIMIT_NOFILE for the test"
    k = make_kernel()
    socks = []
    try:
        for _ in range(N):
            socks.append(wire.connect(k.socket, timeout=60))
        for i, s in enumerate(socks):
            s.sendall(wire.pack(wire.OP_NOOP, b"connection-%d" % i))
        for i, s in enumerate(socks):
            hdr, data = wire.read_frame(s)
            assert (hdr.opcode, data) == (wire.OP_NOOP, b"connection-%d" % i)
        ids = {wire.call(s, wire.OP_NOOP, b"")[0].agent_id for s in socks[:50]}
        assert len(ids) == 50, "connections share ids"
        hello = k.request(wire.OP_HELLO, {})
        assert hello["kernel"]["connections"] >= N
    finally:
        for s in socks:
            s.close()
    assert k.request(wire.OP_HELLO, {})["success"] is True
