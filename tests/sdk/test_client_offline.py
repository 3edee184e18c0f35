# SPDX-License-Identifier: MIT
"""Tests of CloveClient against a fake kernel on a socketpair (conftest's
FakeKernel): exact request frames, reply decoding into Results, errors,
ordering under threads, connection choice (CLOVE_FD, paths) and broken
streams. No cloved needed."""

from __future__ import annotations

import base64
import copy
import json
import os
import socket
import struct
import threading

import pytest

from sdk_fakes import CLOSE, HEADER, MAGIC, FakeKernel, error, frame, ok

import clove_sdk
from clove_sdk import (AgentInfo, AgentOSClient, AsyncAccepted, CloveClient,
                       CloveConnectionError, CloveError, CloveTimeoutError,
                       ExecResult, HelloResult, Opcode, PermissionsResult,
                       ReadResult)

HELLO_REPLY = {"protocol_version": 1, "kernel_version": "0.1.0", "agent_id": 7,
               "role": "operator", "features": {"exec": True},
               "limits": {"max_payload": 1048576, "max_inflight": 64}}


def client_for(kernel: FakeKernel, timeout: float = 5) -> CloveClient:
    return CloveClient.from_socket(kernel.client_sock, timeout=timeout)


def echo_handler(req):
    return frame(req.opcode, req.payload, hid=7)


# -- frames and results -------------------------------------------------------

def test_hello_frame_bytes_and_result(fake_kernel):
    k = fake_kernel(lambda req: ok(req.opcode, **HELLO_REPLY))
    c = client_for(k)
    r = c.hello()
    assert k.frames[0].raw == HEADER.pack(MAGIC, 0, 0xFE, 2) + b"{}"
    assert isinstance(r, HelloResult) and isinstance(r, dict)
    assert r.protocol_version == 1 and r["protocol_version"] == 1
    assert r.role == "operator" and r.get("role") == "operator"
    assert r.agent_id == 7 and r.features == {"exec": True}
    assert r.get("missing") is None
    assert r.agent_name is None  # declared field, absent from this reply
    with pytest.raises(AttributeError):
        r.not_a_field
    assert c.agent_id == 7


def test_agent_id_is_adopted_and_sent_back(fake_kernel):
    k = fake_kernel(lambda req: ok(req.opcode, hid=42))
    c = client_for(k)
    c.call(Opcode.LIST)
    c.call(Opcode.LIST)
    assert c.agent_id == 42
    assert [f.agent_id for f in k.frames] == [0, 42]


def test_result_is_a_plain_json_dict(fake_kernel):
    k = fake_kernel(lambda req: ok(req.opcode, stdout="hi\n", stderr="", exit_code=0))
    r = client_for(k).exec("echo hi")
    assert json.loads(json.dumps(r)) == dict(r)
    assert copy.copy(r) == r and copy.deepcopy(r) == r
    assert "stdout" in dir(r)
    assert repr(r).startswith("ExecResult(")


def test_echo_bytes_and_str(fake_kernel):
    k = fake_kernel(echo_handler)
    c = client_for(k)
    data = bytes(range(256))
    assert c.echo(data) == data
    assert c.noop("héllo") == "héllo"
    assert k.frames[0].payload == data
    assert k.frames[0].opcode == Opcode.NOOP
    assert k.frames[1].payload == "héllo".encode()


def test_exit_returns_true_and_closes(fake_kernel):
    k = fake_kernel(lambda req: frame(req.opcode, b"goodbye"))
    c = client_for(k)
    assert c.exit() is True
    assert not c.connected
    assert k.frames[0].opcode == 0xFF and k.frames[0].payload == b""
    assert k.saw_eof.wait(5)


# -- errors and broken streams -----------------------------------------------

def test_error_reply_raises_clove_error_and_connection_stays(fake_kernel):
    def handler(req):
        if req.opcode == Opcode.READ:
            return error(req.opcode, "ENOENT", "no such file: /nope")
        return ok(req.opcode, bytes_written=2)
    c = client_for(fake_kernel(handler))
    with pytest.raises(CloveError) as info:
        c.read_file("/nope")
    e = info.value
    assert e.code == "ENOENT"
    assert e.message == "no such file: /nope"
    assert e.reply["success"] is False
    assert "ENOENT" in str(e)
    assert not isinstance(e, CloveConnectionError)
    assert c.write_file("/tmp/x", "hi").bytes_written == 2


def test_unknown_opcode_via_call_raises_enosys(fake_kernel):
    k = fake_kernel(lambda req: error(req.opcode, "ENOSYS", "unknown opcode 0x13"))
    with pytest.raises(CloveError) as info:
        client_for(k).call(0x13, {"x": 1})
    assert info.value.code == "ENOSYS"
    assert k.frames[0].opcode == 0x13 and k.frames[0].json() == {"x": 1}


def test_eof_before_reply_raises_connection_error(fake_kernel):
    c = client_for(fake_kernel(lambda req: CLOSE))
    with pytest.raises(CloveConnectionError) as info:
        c.hello()
    assert isinstance(info.value, CloveError) and isinstance(info.value, ConnectionError)
    assert not c.connected


def test_eof_mid_frame_raises_connection_error(fake_kernel):
    def handler(req):
        return ok(req.opcode, stdout="x" * 100)[:40]
    k = fake_kernel(handler)
    c = client_for(k)
    orig = k.handler

    def then_close(req):
        k.sock.sendall(orig(req))
        return CLOSE
    k.handler = then_close
    with pytest.raises(CloveConnectionError, match="mid-frame"):
        c.exec("x")


def test_bad_magic_in_reply_closes(fake_kernel):
    c = client_for(fake_kernel(lambda req: struct.pack("<IIBQ", 0xDEADBEEF, 1, 0, 0)))
    with pytest.raises(CloveConnectionError) as info:
        c.hello()
    assert info.value.code == "EPROTO"
    assert not c.connected


def test_oversized_reply_header_is_refused_without_reading(fake_kernel):
    c = client_for(fake_kernel(lambda req: HEADER.pack(MAGIC, 1, req.opcode, 1 << 40)))
    with pytest.raises(CloveConnectionError) as info:
        c.hello()
    assert info.value.code == "EMSGSIZE"


def test_kernel_frame_error_with_opcode_zero_raises_its_code(fake_kernel):
    k = fake_kernel(lambda req: error(0, "EPROTO", "bad magic"))
    c = client_for(k)
    with pytest.raises(CloveError) as info:
        c.hello()
    assert info.value.code == "EPROTO"
    assert not c.connected  # the kernel closes after a frame error


def test_reply_for_another_opcode_is_a_broken_stream(fake_kernel):
    c = client_for(fake_kernel(lambda req: ok(Opcode.EXEC)))
    with pytest.raises(CloveConnectionError):
        c.hello()
    assert not c.connected


def test_oversized_request_is_refused_before_sending(fake_kernel):
    k = fake_kernel(lambda req: ok(req.opcode, bytes_written=1))
    c = client_for(k)
    with pytest.raises(CloveError) as info:
        c.write_file("/tmp/big", "x" * (1 << 20))
    assert info.value.code == "EMSGSIZE"
    assert k.frames == []
    assert c.write_file("/tmp/small", "x").bytes_written == 1


def test_non_json_reply_raises_ebadmsg(fake_kernel):
    c = client_for(fake_kernel(lambda req: frame(req.opcode, b"not json")))
    with pytest.raises(CloveError) as info:
        c.hello()
    assert info.value.code == "EBADMSG"
    assert c.connected  # the frame was whole: the stream is still in step


def test_timeout_raises_and_closes(fake_kernel):
    c = client_for(fake_kernel(lambda req: None), timeout=0.2)
    with pytest.raises(CloveTimeoutError) as info:
        c.hello()
    assert isinstance(info.value, TimeoutError)
    assert isinstance(info.value, CloveConnectionError)
    assert not c.connected


# -- ordering and threads ----------------------------------------------------

def test_threads_never_interleave_and_get_their_own_replies(fake_kernel):
    k = fake_kernel(echo_handler)
    c = client_for(k)
    results: dict[int, bytes] = {}
    failures: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            for i in range(50):
                data = f"{n}:{i}:".encode() * (1 + (i % 7) * 500)
                got = c.echo(data)
                assert got == data
                results[n * 1000 + i] = got
        except BaseException as e:  # pragma: no cover - reported below
            failures.append(e)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not failures, failures
    assert len(results) == 400 and len(k.frames) == 400


def test_replies_split_into_single_bytes_are_reassembled_in_order(fake_kernel):
    k = fake_kernel(None)

    def dribble(req):
        reply = ok(req.opcode, n=req.json()["n"])
        for i in range(len(reply)):
            k.sock.sendall(reply[i:i + 1])
        return None
    k.handler = dribble
    c = client_for(k)
    assert [c.call(Opcode.ASYNC_POLL, {"n": i})["n"] for i in range(20)] == list(range(20))


# -- syscalls' payloads ------------------------------------------------------

def test_exec_payload_and_nonzero_exit_is_a_result(fake_kernel):
    k = fake_kernel(lambda req: ok(req.opcode, stdout="", stderr="boom\n", exit_code=3,
                                   signal=None, timed_out=False))
    c = client_for(k)
    r = c.exec("exit 3", cwd="/tmp", env={"A": "b"})
    assert isinstance(r, ExecResult)
    assert r.exit_code == 3 and r["stderr"] == "boom\n" and r.signal is None
    assert k.frames[0].json() == {"command": "exit 3", "cwd": "/tmp", "env": {"A": "b"}}


def test_exec_argv_stdin_and_list_command(fake_kernel):
    k = fake_kernel(lambda req: ok(req.opcode, stdout="", stderr="", exit_code=0))
    c = client_for(k)
    c.exec(argv=["ls", "-l"], stdin=b"in", max_output=10, timeout=2)
    c.exec(["echo", "hi"])
    assert k.frames[0].json() == {"argv": ["ls", "-l"], "stdin": "in",
                                  "max_output": 10, "timeout": 2}
    assert k.frames[1].json() == {"argv": ["echo", "hi"]}
    with pytest.raises(ValueError):
        c.exec()
    with pytest.raises(ValueError):
        c.exec("ls", argv=["ls"])


def test_exec_async_spellings(fake_kernel):
    k = fake_kernel(lambda req: ok(req.opcode, **{"async": True, "request_id": 9,
                                                  "status": "accepted"}))
    c = client_for(k)
    r = c.exec("sleep 1", async_=True, request_id=9)
    assert isinstance(r, AsyncAccepted)
    assert r.request_id == 9 and r["async"] is True and r.status == "accepted"
    c.exec("sleep 1", **{"async": True})
    assert k.frames[0].json() == {"command": "sleep 1", "request_id": 9, "async": True}
    assert k.frames[1].json() == {"command": "sleep 1", "async": True}


def test_exec_timeout_error_keeps_output(fake_kernel):
    k = fake_kernel(lambda req: error(req.opcode, "ETIMEDOUT", "timed out after 1 s",
                                      stdout="partial", timed_out=True))
    with pytest.raises(CloveError) as info:
        client_for(k).exec("sleep 9", timeout=1)
    assert info.value.code == "ETIMEDOUT"
    assert info.value.reply["stdout"] == "partial"


def test_read_file_text_and_base64(fake_kernel):
    blob = b"\x00\xff\xfe"
    replies = iter([
        ok(Opcode.READ, content="hi", size=2, bytes_read=2, truncated=False, encoding="utf-8"),
        ok(Opcode.READ, content=base64.b64encode(blob).decode(), size=3, bytes_read=3,
           truncated=False, encoding="base64"),
    ])
    k = fake_kernel(lambda req: next(replies))
    c = client_for(k)
    r = c.read_file("/tmp/t", offset=1, max_bytes=5)
    assert isinstance(r, ReadResult) and r.content == "hi" and r.data == b"hi"
    r = c.read_file("/tmp/b")
    assert r.content == base64.b64encode(blob).decode() and r.data == blob
    assert k.frames[0].json() == {"path": "/tmp/t", "offset": 1, "max_bytes": 5}
    assert k.frames[1].json() == {"path": "/tmp/b"}


def test_write_file_text_and_bytes(fake_kernel):
    k = fake_kernel(lambda req: ok(req.opcode, bytes_written=3))
    c = client_for(k)
    assert c.write_file("/tmp/a", "abc").bytes_written == 3
    c.write_file("/tmp/b", b"\x00\x01\x02", mode="append")
    assert k.frames[0].json() == {"path": "/tmp/a", "mode": "write", "content": "abc"}
    assert k.frames[1].json() == {"path": "/tmp/b", "mode": "append",
                                  "content": "AAEC", "encoding": "base64"}


def test_spawn_payload_omits_none_and_makes_script_absolute(fake_kernel, monkeypatch, tmp_path):
    k = fake_kernel(lambda req: ok(req.opcode, id=4, name="worker", pid=99, status="running"))
    c = client_for(k)
    monkeypatch.chdir(tmp_path)
    r = c.spawn(name="worker", script="agent.py", python="/usr/bin/python3",
                args=["--fast"], restart_backoff_ms=500, custom_field=1)
    assert r.id == 4 and r["pid"] == 99 and r.isolation is None
    assert k.frames[0].json() == {
        "name": "worker", "script": str(tmp_path / "agent.py"),
        "python": "/usr/bin/python3", "args": ["--fast"], "sandboxed": True,
        "network": False, "restart_policy": "never", "restart_backoff_ms": 500,
        "custom_field": 1}


def test_spawn_keeps_the_original_positional_order(fake_kernel):
    k = fake_kernel(lambda req: ok(req.opcode, id=1))
    client_for(k).spawn("w", "/a.py", False, True, {"memory": 1}, "always", 3, 60)
    assert k.frames[0].json() == {
        "name": "w", "script": "/a.py", "sandboxed": False, "network": True,
        "limits": {"memory": 1}, "restart_policy": "always", "max_restarts": 3,
        "restart_window": 60}


def test_spawn_permissions_level_or_policy(fake_kernel):
    k = fake_kernel(lambda req: ok(req.opcode, id=2, level="readonly",
                                   permissions={"can_read": True}, sandboxed=True))
    c = client_for(k)
    r = c.spawn(name="r", script="/a.py", permissions="readonly")
    assert r.level == "readonly" and r.permissions == {"can_read": True}
    c.spawn(name="p", script="/a.py",
            permissions={"level": "standard", "llm": {"max_calls": 5}})
    assert k.frames[0].json()["permissions"] == "readonly"
    assert k.frames[1].json()["permissions"] == {"level": "standard",
                                                 "llm": {"max_calls": 5}}
    c.spawn(name="n", script="/a.py")
    assert "permissions" not in k.frames[2].json()


def test_get_and_set_permissions_payloads(fake_kernel):
    policy = {"can_read": True, "can_write": False}
    k = fake_kernel(lambda req: ok(req.opcode, agent_id=4, role="agent", level="readonly",
                                   permissions=policy, work_dir="/s/agents/4"))
    c = client_for(k)
    r = c.get_permissions()
    assert isinstance(r, PermissionsResult)
    assert r.level == "readonly" and r.permissions == policy and r.work_dir == "/s/agents/4"
    c.get_permissions(4)
    c.set_permissions(4, level="readonly")
    c.set_permissions(permissions="minimal")
    c.set_permissions(4, permissions={"level": "standard", "can_http": True})
    assert [f.opcode for f in k.frames] == [Opcode.GET_PERMS, Opcode.GET_PERMS] + \
        [Opcode.SET_PERMS] * 3
    assert [f.json() for f in k.frames] == [
        {}, {"agent_id": 4}, {"agent_id": 4, "level": "readonly"},
        {"permissions": "minimal"},
        {"agent_id": 4, "permissions": {"level": "standard", "can_http": True}}]
    with pytest.raises(ValueError):
        c.set_permissions(4)
    with pytest.raises(ValueError):
        c.set_permissions(4, permissions="minimal", level="minimal")


def test_permission_denial_raises_eacces(fake_kernel):
    k = fake_kernel(lambda req: error(req.opcode, "EACCES",
                                      "SET_PERMS of agent 4 refused: permissions.can_http"))
    with pytest.raises(CloveError) as info:
        client_for(k).set_permissions(level="unrestricted")
    assert info.value.code == "EACCES"
    assert "can_http" in str(info.value)


def test_readme_example_runs_as_written(fake_kernel, monkeypatch):
    k = fake_kernel(lambda req: ok(req.opcode, id=1, stdout="", stderr="", exit_code=0))
    monkeypatch.setenv("CLOVE_FD", str(k.client_sock.fileno()))
    with CloveClient() as client:
        client.spawn(
            name="worker",
            script="/path/to/agent.py",
            sandboxed=True,
            limits={"memory": 256*1024*1024}
        )
        client.exec("ls -la /tmp")
    assert [f.opcode for f in k.frames] == [Opcode.SPAWN, Opcode.EXEC]
    assert k.frames[0].json()["limits"] == {"memory": 268435456}


@pytest.mark.parametrize("method,opcode,key", [
    ("kill", Opcode.KILL, "killed"), ("pause", Opcode.PAUSE, "paused"),
    ("resume", Opcode.RESUME, "resumed")])
def test_agent_selectors(fake_kernel, method, opcode, key):
    k = fake_kernel(lambda req: ok(req.opcode, agent_id=4, **{key: True}))
    c = client_for(k)
    call = getattr(c, method)
    r = call(4)
    assert getattr(r, key) is True and r.agent_id == 4 and r[key] is True
    call("worker")
    call(name="worker")
    assert [f.json() for f in k.frames] == [{"id": 4}, {"name": "worker"}, {"name": "worker"}]
    assert {f.opcode for f in k.frames} == {opcode}
    with pytest.raises(ValueError):
        call()
    with pytest.raises(ValueError):
        call(4, name="worker")
    with pytest.raises(TypeError):
        call(True)


def test_kill_grace_and_wait(fake_kernel):
    k = fake_kernel(lambda req: ok(req.opcode, killed=True, agent_id=4, state="killed",
                                   signal=15))
    r = client_for(k).kill(4, grace=0, wait=False)
    assert r.state == "killed" and r.signal == 15
    assert k.frames[0].json() == {"id": 4, "grace": 0, "wait": False}


def test_list_agents_bare_array(fake_kernel):
    agents = [{"id": 4, "name": "worker", "pid": 5678, "state": "running", "running": True},
              {"id": 5, "name": "done", "pid": 0, "state": "exited", "running": False,
               "exit_code": 0}]
    k = fake_kernel(lambda req: frame(req.opcode, agents))
    r = client_for(k).list_agents()
    assert all(isinstance(a, AgentInfo) for a in r)
    assert [a.name for a in r] == ["worker", "done"]
    assert r[1]["exit_code"] == 0 and r[0].exit_code is None
    assert k.frames[0].opcode == Opcode.LIST


def test_list_agents_error_raises(fake_kernel):
    k = fake_kernel(lambda req: error(req.opcode, "EACCES", "no"))
    with pytest.raises(CloveError):
        client_for(k).list_agents()


def test_poll_async_parses_payloads(fake_kernel):
    done = {"success": True, "stdout": "hi\n", "stderr": "", "exit_code": 0}
    failed = {"success": False, "error": "timed out", "code": "ETIMEDOUT"}
    reply = {"success": True, "count": 2, "pending": 1, "results": [
        {"request_id": 7, "opcode": 2, "opcode_name": "EXEC", "payload": json.dumps(done)},
        {"request_id": 8, "opcode": 2, "opcode_name": "EXEC", "payload": json.dumps(failed)}]}
    k = fake_kernel(lambda req: frame(req.opcode, reply))
    got = client_for(k).poll_async(max=4)
    assert k.frames[0].json() == {"max": 4}
    assert got.pending == 1 and got.reply["count"] == 2 and len(got) == 2
    first, second = got
    assert isinstance(first.payload, ExecResult)
    assert first.payload.stdout == "hi\n" and first["payload"]["exit_code"] == 0
    assert first.payload_raw == json.dumps(done)
    assert first.ok and first.result() is first.payload
    assert not second.ok
    with pytest.raises(CloveError) as info:
        second.result()
    assert info.value.code == "ETIMEDOUT"


def test_call_generic_shapes(fake_kernel):
    def handler(req):
        if req.opcode == Opcode.LIST:
            return frame(req.opcode, [{"id": 1}])
        if req.opcode == Opcode.NOOP:
            return frame(req.opcode, req.payload)
        return ok(req.opcode, value=req.payload.decode() or "empty")
    k = fake_kernel(handler)
    c = client_for(k)
    assert c.call(Opcode.LIST)[0].id == 1
    assert c.call(Opcode.NOOP, b"\x01\x02") == b"\x01\x02"
    assert c.call(Opcode.FETCH, {"key": "k"}).value == '{"key":"k"}'
    assert c.call(Opcode.KEYS).value == "empty"
    assert c.call(Opcode.KEYS, "raw text").value == "raw text"
    assert c.call_raw(Opcode.KEYS, b"x") == json.dumps(
        {"success": True, "value": "x"}).encode()


def test_alias_and_exports():
    assert AgentOSClient is CloveClient
    assert clove_sdk.__version__ == "0.1.0"
    assert issubclass(CloveConnectionError, CloveError)
    for name in clove_sdk.__all__:
        assert hasattr(clove_sdk, name), name


# -- connection choice -------------------------------------------------------

def test_clove_fd_is_used_and_left_open(fake_kernel, monkeypatch):
    k = fake_kernel(lambda req: ok(req.opcode, **dict(HELLO_REPLY, role="agent")))
    fd = k.client_sock.fileno()
    monkeypatch.setenv("CLOVE_FD", str(fd))
    monkeypatch.setenv("CLOVE_AGENT_ID", "7")
    monkeypatch.setenv("CLOVE_SOCKET", "/nonexistent/clove.sock")
    with CloveClient() as c:
        assert c.fd == fd and c.socket_path is None and c.agent_id == 7
        assert c.hello().role == "agent"
    os.fstat(fd)  # a closed client leaves the inherited fd open
    with CloveClient(timeout=0.5) as c2:  # a second client shares the stream
        assert c2.hello().role == "agent"
    assert len(k.frames) == 2


def test_explicit_socket_path_beats_clove_fd(monkeypatch, tmp_path):
    monkeypatch.setenv("CLOVE_FD", "999")
    c = CloveClient(tmp_path / "k.sock")
    assert c.fd is None and c.socket_path == str(tmp_path / "k.sock")


def test_bad_clove_fd(monkeypatch):
    monkeypatch.setenv("CLOVE_FD", "not-a-number")
    with pytest.raises(CloveConnectionError):
        CloveClient()
    r, w = os.pipe()
    try:
        monkeypatch.setenv("CLOVE_FD", str(r))
        with pytest.raises(CloveConnectionError) as info:
            CloveClient().hello()
        assert "CLOVE_FD" in info.value.message
    finally:
        os.close(r)
        os.close(w)


def test_default_socket_path(monkeypatch):
    monkeypatch.delenv("CLOVE_FD", raising=False)
    monkeypatch.setenv("CLOVE_SOCKET", "/x/y.sock")
    assert CloveClient().socket_path == "/x/y.sock"
    monkeypatch.delenv("CLOVE_SOCKET")
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    assert clove_sdk.default_socket_path() == "/run/clove/clove.sock"
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.setenv("XDG_RUNTIME_DIR", "/run/user/1000")
    assert clove_sdk.default_socket_path() == "/run/user/1000/clove/clove.sock"
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    assert clove_sdk.default_socket_path() == "/run/user/1000/clove/clove.sock"


def test_connects_to_a_socket_path_from_clove_socket(monkeypatch, tmp_path):
    path = str(tmp_path / "clove.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(1)
    server.settimeout(5)

    def serve():
        conn, _ = server.accept()
        with conn:
            head = conn.recv(HEADER.size, socket.MSG_WAITALL)
            size = HEADER.unpack(head)[3]
            conn.recv(size, socket.MSG_WAITALL) if size else b""
            conn.sendall(ok(Opcode.HELLO, hid=3, **dict(HELLO_REPLY, agent_id=3)))
    t = threading.Thread(target=serve, daemon=True)
    t.start()
    monkeypatch.delenv("CLOVE_FD", raising=False)
    monkeypatch.setenv("CLOVE_SOCKET", path)
    try:
        with CloveClient(timeout=5) as c:
            assert c.socket_path == path
            assert c.hello().agent_id == 3 and c.agent_id == 3
    finally:
        t.join(5)
        server.close()


def test_missing_socket_path_raises_with_errno(tmp_path, monkeypatch):
    monkeypatch.delenv("CLOVE_FD", raising=False)
    c = CloveClient(str(tmp_path / "absent.sock"))
    with pytest.raises(CloveConnectionError) as info:
        c.connect()
    assert info.value.code == "ENOENT"
    assert "absent.sock" in info.value.message
