# SPDX-License-Identifier: MIT
"""The shared-memory fast path against a real cloved, through shm_wire (a plain-Python client
written from docs/shm.md): HELLO's negotiation and the byte with the fds, syscalls over the rings
with the socket's semantics and errors, completions out of order, fragments, EXIT, msgpack on the
socket, and an idle kernel that does not spin. Hostile peers are in test_shm_hostile.py.
"""

import fcntl
import os
import socket
import stat
import time

import msgpack
import pytest

import wire
from clove_harness import HERE, pid_alive, wait_log, wait_report, wait_until
from clove_harness import spawn_agent as spawn
from shm_wire import ShmClient, hello_shm

F_GET_SEALS = 1034
F_SEAL_SEAL, F_SEAL_SHRINK, F_SEAL_GROW = 0x1, 0x2, 0x4


@pytest.fixture
def kernel(make_kernel):
    return make_kernel()


def attach(k, request=None):
    s = k.connect()
    c, reply = ShmClient.attach(s, request)
    return c, reply


# -- negotiation ---------------------------------------------------------------------------------


def test_hello_offers_and_attaches(kernel):
    plain = kernel.request(wire.OP_HELLO, {})
    assert plain["features"]["shm"] is True and plain["features"]["msgpack"] is True
    assert plain["encoding"] == "json" and "shm" not in plain

    c, reply = attach(kernel)
    shm = reply["shm"]
    assert shm["enabled"] is True and shm["version"] == 1
    assert shm["encoding"] == "msgpack" and shm["fds"] == ["memfd", "eventfd"]
    assert shm["sq_size"] == 65536 and shm["cq_size"] == 262144
    assert shm["max_request"] == 1 << 20
    assert c.caller_id == reply["agent_id"]

    st = os.fstat(c.memfd)
    assert stat.S_ISREG(st.st_mode) and st.st_size == shm["region_size"]
    seals = fcntl.fcntl(c.memfd, F_GET_SEALS)
    assert seals & (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) == \
        F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL
    with pytest.raises(OSError):
        os.ftruncate(c.memfd, 4096)
    # The second fd is an eventfd: writing it is the doorbell.
    assert os.readlink("/proc/self/fd/%d" % c.efd) == "anon_inode:[eventfd]"
    assert c.call(wire.OP_NOOP, raw=b"over the ring") == b"over the ring"
    c.close()


def test_ring_sizes_can_be_chosen_and_are_checked(kernel):
    c, reply = attach(kernel, {"shm": {"sq_size": 4096, "cq_size": 8192}})
    assert (reply["shm"]["sq_size"], reply["shm"]["cq_size"]) == (4096, 8192)
    assert reply["shm"]["max_entry"] == 1024
    # A request bigger than the whole ring goes through in fragments.
    blob = os.urandom(100000)
    assert c.call(wire.OP_NOOP, raw=blob) == blob
    c.close()

    s = kernel.connect()
    for bad in ({"sq_size": 5000}, {"cq_size": 1 << 30}, {"sq_size": "big"}, 7, "yes"):
        hdr, r = wire.call_json(s, wire.OP_HELLO, {"shm": bad})
        assert r["success"] is False and r["code"] == "EINVAL", (bad, r)
        assert "shm" in r["error"]
    # No byte followed the refusals: the stream is still in step.
    assert wire.call_json(s, wire.OP_HELLO, {})[1]["success"] is True


def test_second_attach_is_refused_with_a_byte_and_no_fds(kernel):
    s = kernel.connect()
    c, _ = ShmClient.attach(s)
    reply, fds = hello_shm(s)
    assert reply["shm"]["enabled"] is False and fds == []
    assert "already" in reply["shm"]["reason"]
    assert wire.call_json(s, wire.OP_HELLO, {})[1]["success"] is True
    # Asking over the rings themselves is refused too, and no byte goes to the socket.
    r = c.call(wire.OP_HELLO, {"shm": True})
    assert r["shm"]["enabled"] is False and "socket" in r["shm"]["reason"]
    assert r["encoding"] == "msgpack"
    assert wire.call_json(s, wire.OP_HELLO, {})[1]["success"] is True
    c.close()


def test_pipelined_hellos_keep_the_stream_in_step(kernel):
    s = kernel.connect()
    s.sendall(wire.pack(wire.OP_HELLO, {"shm": True}) + wire.pack(wire.OP_HELLO, {"shm": True})
              + wire.pack(wire.OP_NOOP, b"after"))
    hdr, first = wire.read_frame(s)
    assert wire.decode_json(first)["shm"]["enabled"] is True
    import socket as socketmod
    byte, fds, _, _ = socketmod.recv_fds(s, 1, 4)
    assert byte == b"\x01" and len(fds) == 2
    hdr, second = wire.read_frame(s)
    second = wire.decode_json(second)
    # Either refused outright (no shm object, so no byte) or refused with its own byte.
    if "shm" in second:
        assert second["shm"]["enabled"] is False
        assert socketmod.recv_fds(s, 1, 4)[0] == b"\x00"
    else:
        assert second["code"] == "EBUSY"
    assert wire.read_frame(s)[1] == b"after"
    for fd in fds:
        os.close(fd)


def test_frames_pipelined_behind_an_attaching_hello_are_all_answered(kernel):
    # More frames than the in-flight limit (64) in one write behind a HELLO that attaches:
    # the replies wait for the byte with the fds, and the frames parked behind the limit go
    # on once it is out, without the client sending anything more.
    s = kernel.connect()
    n = 150
    s.sendall(wire.pack(wire.OP_HELLO, {"shm": True}) +
              b"".join(wire.pack(wire.OP_NOOP, b"n%d" % i) for i in range(n)))
    hdr, reply = wire.read_frame(s)
    assert wire.decode_json(reply)["shm"]["enabled"] is True
    msg, fds, _, _ = socket.recv_fds(s, 1, 2)
    assert msg == b"\x01" and len(fds) == 2
    s.settimeout(20)
    for i in range(n):
        hdr, body = wire.read_frame(s)
        assert body == b"n%d" % i
    for fd in fds:
        os.close(fd)


def test_reattach_after_the_client_closes_its_side(kernel):
    s = kernel.connect()
    c, _ = ShmClient.attach(s)
    c.set_client_closed()
    c.doorbell()
    # The kernel detaches (orderly) and says so in the header.
    deadline = time.monotonic() + 10
    while c.kernel_state() == 0:
        assert time.monotonic() < deadline, "no detach after client_state=closed"
        time.sleep(0.01)
    assert c.detach_error() == 0
    c.close()
    c2, reply = ShmClient.attach(s)
    assert c2.call(wire.OP_NOOP, raw=b"again") == b"again"
    c2.close()


# -- syscalls over the rings ---------------------------------------------------------------------


def test_syscalls_and_errors_over_the_rings(kernel, tmp_path):
    c, _ = attach(kernel)
    assert c.call(wire.OP_HELLO, {})["role"] == "operator"
    r = c.call(wire.OP_EXEC, {"argv": ["sh", "-c", "echo out; exit 3"]})
    assert (r["success"], r["exit_code"], r["stdout"]) == (True, 3, "out\n")
    path = str(tmp_path / "f.txt")
    assert c.call(wire.OP_WRITE, {"path": path, "content": "héllo"})["bytes_written"] == 6
    assert c.call(wire.OP_READ, {"path": path})["content"] == "héllo"
    assert isinstance(c.call(wire.OP_LIST, {}), list)

    # The same errors as over the socket, and the ring stays usable after each.
    assert c.call(0x13, {})["code"] == "ENOSYS"
    assert c.call(wire.OP_EXEC, {})["code"] == "EINVAL"
    assert c.call(wire.OP_READ, {"path": str(tmp_path / "absent")})["code"] == "ENOENT"
    assert c.call(wire.OP_EXEC, raw=b"\xc1")["code"] == "EBADMSG"
    assert c.call(wire.OP_EXEC, raw=msgpack.packb([1, 2]))["code"] == "EBADMSG"
    assert c.call(wire.OP_EXEC, raw=b'{"command": "x"}')["code"] == "EBADMSG"
    assert c.call(wire.OP_EXEC, raw=msgpack.packb({"command": b"bytes"}))["code"] == "EBADMSG"
    assert c.call(wire.OP_EXEC, raw=msgpack.packb({"command": "x"}) + b"\x00")["code"] == \
        "EBADMSG"
    # A huge claimed array in five bytes is refused without allocating it.
    assert c.call(wire.OP_EXEC, raw=b"\xdd\xff\xff\xff\xff")["code"] == "EBADMSG"
    assert c.call(wire.OP_NOOP, raw=b"still here") == b"still here"
    c.close()


AGENT_OVER_SHM = """
sys.path.insert(0, %r)
from shm_wire import ShmClient
v = int(sys.argv[2])
c, attached = ShmClient.attach(SOCK)
out = {"caller_id": c.caller_id, "hello": c.call(OP_HELLO, {})}
for label, op, obj in [("kill", OP_KILL, {"id": v, "grace": 0}),
                       ("pause", OP_PAUSE, {"id": v}),
                       ("resume", OP_RESUME, {"id": v})]:
    out[label] = c.call(op, obj)
report(**out)
"""


def test_agents_over_the_rings_keep_their_identity_and_permissions(kernel, agent_script):
    victim = spawn(kernel, agent_script, "ready()\nsleep_forever()\n", "victim")
    wait_log(victim["log_path"], "READY")
    # Unsandboxed (an operator may ask): the agent imports shm_wire from the test directory,
    # which a sandboxed agent's view does not show. Identity and permissions are the point here.
    r = spawn(kernel, agent_script, AGENT_OVER_SHM % str(HERE), "shm-agent",
              args=[str(victim["id"])], sandboxed=False, permissions="standard")
    rep = wait_report(r["log_path"])[0]
    assert rep["caller_id"] == r["id"]
    assert rep["hello"]["role"] == "agent" and rep["hello"]["agent_id"] == r["id"]
    assert rep["hello"]["agent_name"] == "shm-agent"
    for label in ("kill", "pause", "resume"):
        assert rep[label]["success"] is False and rep[label]["code"] == "EACCES", rep[label]
    assert kernel.agent(victim["id"])["state"] == "running"


def test_completions_come_out_of_order_matched_by_id(kernel):
    c, _ = attach(kernel)
    slow = c.submit(wire.OP_EXEC, msgpack.packb({"command": "sleep 0.5; echo slow"}))
    fast = [c.submit(wire.OP_NOOP, b"fast-%d" % i) for i in range(10)]
    got = [c.complete() for _ in range(11)]
    assert [g[0] for g in got[:10]] == fast
    assert [g[2] for g in got[:10]] == [b"fast-%d" % i for i in range(10)]
    assert got[10][0] == slow and msgpack.unpackb(got[10][2])["stdout"] == "slow\n"
    c.close()


def test_async_exec_and_poll_over_the_rings(kernel):
    c, _ = attach(kernel)
    acc = c.call(wire.OP_EXEC, {"command": "echo hi", "async": True, "request_id": 5})
    assert acc["status"] == "accepted" and acc["request_id"] == 5
    deadline = time.monotonic() + 20
    while True:
        polled = c.call(wire.OP_ASYNC_POLL, {})
        if polled["results"]:
            break
        assert time.monotonic() < deadline
        time.sleep(0.05)
    res = polled["results"][0]
    assert res["request_id"] == 5 and '"stdout":"hi\\n"' in res["payload"]
    c.close()


def test_oversized_request_is_refused_and_the_ring_goes_on(kernel):
    c, _ = attach(kernel)
    r = c.call(wire.OP_NOOP, raw=b"z" * ((1 << 20) + 1))
    # NOOP replies are raw; this one is the error, in msgpack.
    assert msgpack.unpackb(r)["code"] == "EMSGSIZE"
    assert c.call(wire.OP_NOOP, raw=b"z" * (1 << 20)) == b"z" * (1 << 20)
    c.close()


def test_big_replies_come_back_in_fragments(kernel, tmp_path):
    c, _ = attach(kernel, {"shm": {"sq_size": 4096, "cq_size": 4096}})
    data = os.urandom(3 << 20)
    (tmp_path / "big.bin").write_bytes(data)
    r = c.call(wire.OP_READ, {"path": str(tmp_path / "big.bin")})
    assert r["encoding"] == "base64" and r["bytes_read"] == len(data)
    import base64
    assert base64.b64decode(r["content"]) == data
    c.close()


def test_exit_over_the_rings_closes_the_connection(kernel):
    s = kernel.connect()
    c, _ = ShmClient.attach(s)
    assert c.call(wire.OP_EXIT, raw=b"") == b"goodbye"
    assert c.kernel_state() == 1 and c.detach_reason() == "EXIT"
    assert wire.wait_closed(s, 10)
    c.close()


def test_socket_msgpack_encoding(kernel):
    s = kernel.connect()
    hdr, r = wire.call_json(s, wire.OP_HELLO, {"encoding": "msgpack"})
    assert r["encoding"] == "msgpack"  # the HELLO reply itself is still JSON
    hdr, body = wire.call(s, wire.OP_EXEC, msgpack.packb({"command": "echo mp"}))
    assert msgpack.unpackb(body)["stdout"] == "mp\n"
    hdr, body = wire.call(s, wire.OP_EXEC, b"{}")
    assert msgpack.unpackb(body)["code"] == "EBADMSG"
    assert wire.call(s, wire.OP_NOOP, b"raw stays raw")[1] == b"raw stays raw"
    hdr, body = wire.call(s, wire.OP_HELLO, msgpack.packb({"encoding": "json"}))
    assert msgpack.unpackb(body)["encoding"] == "json"
    assert wire.call_json(s, wire.OP_HELLO, {})[1]["encoding"] == "json"
    hdr, r = wire.call_json(s, wire.OP_HELLO, {"encoding": "xml"})
    assert r["code"] == "EINVAL"


def test_connection_close_detaches(kernel):
    s = kernel.connect()
    c, _ = ShmClient.attach(s)
    s.close()
    deadline = time.monotonic() + 10
    while c.kernel_state() == 0:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    c.close()
    assert kernel.request(wire.OP_HELLO, {})["success"] is True


@pytest.mark.timeout(60)
@pytest.mark.parametrize("how", ["detach", "socket-close"])
def test_ring_work_stops_when_nobody_can_read_its_answer(kernel, tmp_path, how):
    # As on the socket: an EXEC whose answer can no longer be read is killed, whether the
    # client detaches the rings (the socket lives on) or its whole connection goes.
    pidfile = tmp_path / "cmd.pid"
    s = kernel.connect()
    c, _ = ShmClient.attach(s)
    c.submit(wire.OP_EXEC, msgpack.packb(
        {"command": "echo $$ > %s; exec sleep 300" % pidfile, "timeout": 600}))
    wait_until(lambda: pidfile.exists() and pidfile.read_text().strip(), 10, 0.05,
               "the command to start")
    pid = int(pidfile.read_text())
    assert pid_alive(pid)
    if how == "detach":
        c.set_client_closed()
        c.doorbell()
        wait_until(lambda: c.kernel_state() == 1, 10, 0.01, "the kernel to detach")
    else:
        s.close()
    wait_until(lambda: not pid_alive(pid), 10, 0.05,
               "the command %d to be killed once its answer had no reader" % pid)
    if how == "detach":
        # Only the rings went: the socket still answers.
        assert wire.call_json(s, wire.OP_HELLO, {})[1]["success"] is True
    c.close()


@pytest.mark.timeout(120)
def test_replies_over_the_rings_are_capped_like_the_socket(kernel, tmp_path):
    # Two async EXEC results of ~14 MiB of JSON text each fit the queue (64 MiB) but not one
    # reply (16 MiB), in msgpack as in JSON: ASYNC_POLL of both is EMSGSIZE, the ring goes on.
    c, _ = attach(kernel)
    pidfiles = [tmp_path / ("cmd%d.pid" % i) for i in (1, 2)]
    for rid, pidfile in enumerate(pidfiles, 1):
        cmd = "echo $$ > %s; " \
              "head -c 2097152 /dev/zero | tr '\\000' '\\001'; " \
              "head -c 2097152 /dev/zero | tr '\\000' '\\001' >&2" % pidfile
        acc = c.call(wire.OP_EXEC, {"command": cmd, "max_output": 2 << 20, "timeout": 60,
                                    "async": True, "request_id": rid})
        assert acc["status"] == "accepted", acc
    # Polling would take a result as soon as it is ready, so wait without polling: both
    # shells reaped, then past the 500 ms the kernel waits for their pipes.
    wait_until(lambda: all(p.exists() and p.read_text().strip() for p in pidfiles), 30, 0.05,
               "both commands to start")
    pids = [int(p.read_text()) for p in pidfiles]
    wait_until(lambda: not any(pid_alive(pid) for pid in pids), 60, 0.05,
               "both commands to end")
    time.sleep(1.5)
    r = c.call(wire.OP_ASYNC_POLL, {"max": 2})
    assert r["success"] is False and r["code"] == "EMSGSIZE", \
        {k: v for k, v in r.items() if k != "results"}
    assert "reply limit" in r["error"]
    assert c.call(wire.OP_NOOP, raw=b"still in step") == b"still in step"
    c.close()


def _cpu_ticks(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


@pytest.mark.timeout(120)
def test_idle_kernel_with_100_attachments_does_not_spin(kernel):
    # Not a speed figure (clove-bench measures that): a kernel that forgot to stop polling
    # would burn a whole core here.
    clients = []
    try:
        for _ in range(100):
            c, _ = attach(kernel)
            assert c.call(wire.OP_NOOP, raw=b"x") == b"x"
            clients.append(c)
        time.sleep(0.5)
        before = _cpu_ticks(kernel.pid)
        time.sleep(2.0)
        used = (_cpu_ticks(kernel.pid) - before) / os.sysconf("SC_CLK_TCK") / 2.0
        assert used < 0.25, "idle kernel used %.0f%% of a core" % (used * 100)
    finally:
        for c in clients:
            c.close()
