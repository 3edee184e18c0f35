# SPDX-License-Identifier: MIT
"""The fast path's own behaviour against a real kernel: libclove's asynchronous, batched calls
(clove_submit/clove_complete through ctypes, completions out of order and matched by id), the
Python client's fallback to the socket with a one-line notice when libclove is missing, timeouts,
threads sharing one client, and big payloads. The syscall tests themselves run over both
transports in test_sdk_live.py."""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
import threading
import time

import msgpack
import pytest

from clove_sdk import CloveClient, CloveTimeoutError, Opcode, fastpath

from test_sdk_live import SDK_SRC, cloved  # noqa: F401  (the module's kernel fixture)

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def lib() -> ctypes.CDLL:
    lib = fastpath.load_libclove()
    if lib is None:
        pytest.skip(f"libclove cannot be loaded ({fastpath.library_error()}); set LIBCLOVE")
    return lib


class Completion(ctypes.Structure):
    _fields_ = [("id", ctypes.c_uint64), ("opcode", ctypes.c_uint8), ("error", ctypes.c_int),
                ("reply", ctypes.c_void_p), ("len", ctypes.c_size_t)]


def c_client(lib, path: str, attach: bool = True) -> ctypes.c_void_p:
    lib.clove_connect.argtypes = [ctypes.c_char_p, ctypes.POINTER(ctypes.c_void_p)]
    lib.clove_submit.argtypes = [ctypes.c_void_p, ctypes.c_uint8, ctypes.c_char_p,
                                 ctypes.c_size_t, ctypes.POINTER(ctypes.c_uint64)]
    lib.clove_complete.argtypes = [ctypes.c_void_p, ctypes.POINTER(Completion), ctypes.c_uint,
                                   ctypes.c_int]
    lib.clove_shm_attached.argtypes = [ctypes.c_void_p]
    lib.clove_pending.argtypes = [ctypes.c_void_p]
    c = ctypes.c_void_p()
    assert lib.clove_connect(path.encode(), ctypes.byref(c)) == 0
    if attach:
        assert lib.clove_shm_attach(c, None, None) == 0
        assert lib.clove_shm_attached(c) == 1
    return c


def submit(lib, c, opcode: int, payload: bytes) -> int:
    rid = ctypes.c_uint64()
    r = lib.clove_submit(c, opcode, payload, len(payload), ctypes.byref(rid))
    assert r == 0, os.strerror(-r)
    return rid.value


def complete(lib, c, want: int, timeout_ms: int = 30000) -> list[tuple[int, int, bytes]]:
    out = (Completion * 64)()
    got = []
    deadline = time.monotonic() + timeout_ms / 1000
    while len(got) < want:
        n = lib.clove_complete(c, out, 64, timeout_ms)
        assert n >= 0, os.strerror(-n)
        for i in range(n):
            got.append((out[i].id, out[i].opcode, ctypes.string_at(out[i].reply, out[i].len)))
            lib.clove_free(out[i].reply)
        assert time.monotonic() < deadline, f"{len(got)} of {want} completions"
    return got


@pytest.mark.parametrize("attach", [True, False], ids=["shm", "socket"])
def test_submit_and_complete_in_batches(lib, cloved, attach):
    c = c_client(lib, cloved, attach)
    try:
        for batch in range(20):
            ids = [submit(lib, c, Opcode.NOOP, b"batch-%d-%d" % (batch, i))
                   for i in range(64 if attach else 32)]
            got = complete(lib, c, len(ids))
            # Each id exactly once, each with its own payload.
            assert sorted(g[0] for g in got) == sorted(ids)
            by_id = {g[0]: g[2] for g in got}
            for i, rid in enumerate(ids):
                assert by_id[rid] == b"batch-%d-%d" % (batch, i)
        assert lib.clove_pending(c) == 0
        # Nothing in flight: complete returns 0 at once.
        assert lib.clove_complete(c, (Completion * 1)(), 1, -1) == 0
    finally:
        lib.clove_close(c)


def test_completions_out_of_order_and_mixed_with_calls(lib, cloved):
    c = c_client(lib, cloved)
    try:
        slow = submit(lib, c, Opcode.EXEC, msgpack.packb({"command": "sleep 0.5; echo slow"}))
        fast = [submit(lib, c, Opcode.NOOP, b"n%d" % i) for i in range(5)]
        # A blocking call in between: the completions it passes are kept.
        reply, n = ctypes.c_void_p(), ctypes.c_size_t()
        assert lib.clove_call(c, Opcode.NOOP, b"blocking", 8, ctypes.byref(reply),
                              ctypes.byref(n)) == 0
        assert ctypes.string_at(reply, n.value) == b"blocking"
        lib.clove_free(reply)
        got = complete(lib, c, 6)
        order = [g[0] for g in got]
        assert order.index(slow) == 5, "the slow EXEC finished last"
        assert order[:5] == fast
        assert msgpack.unpackb(got[5][2])["stdout"] == "slow\n"
    finally:
        lib.clove_close(c)


def test_many_in_flight_is_backpressure_not_loss(lib, cloved):
    c = c_client(lib, cloved)
    try:
        # Far more than the kernel's in-flight limit and the rings' room, without reading:
        # submit waits for room and keeps the completions it reads meanwhile.
        payload = b"x" * 3000
        ids = [submit(lib, c, Opcode.NOOP, payload) for _ in range(2000)]
        got = complete(lib, c, len(ids))
        assert [g[0] for g in got] == ids
        assert all(g[2] == payload for g in got)
    finally:
        lib.clove_close(c)


def test_big_request_and_reply_in_fragments(cloved, lib, tmp_path):
    with CloveClient(cloved, timeout=30, fast_path=True) as c:
        assert c.fast_path_active
        blob = os.urandom(1 << 20)
        assert c.echo(blob) == blob
        (tmp_path / "big").write_bytes(blob * 4)
        r = c.read_file(tmp_path / "big")
        assert r.data == blob * 4


def test_timeout_raises_and_the_next_call_reconnects(cloved, lib):
    c = CloveClient(cloved, timeout=30, fast_path=True).connect()
    try:
        with pytest.raises(CloveTimeoutError):
            c.call(Opcode.EXEC, {"command": "sleep 5"}, timeout=0.3)
        assert not c.connected
        assert c.echo(b"after") == b"after"
        assert c.fast_path_active
    finally:
        c.close()


def test_threads_share_one_fast_path_client(cloved, lib):
    errors = []
    with CloveClient(cloved, timeout=30, fast_path=True) as c:
        assert c.fast_path_active

        def work(n):
            try:
                for i in range(300):
                    data = b"thread-%d-%d" % (n, i)
                    assert c.echo(data) == data
            except BaseException as e:  # surfaced below
                errors.append(e)
        threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert not errors, errors[0]


def test_second_client_on_one_connection_uses_the_socket(cloved, lib):
    # Agents share their inherited CLOVE_FD: the first client attaches, a second one on the
    # same connection is refused the rings by the kernel and quietly uses the socket.
    import socket as socketmod
    sock = socketmod.socket(socketmod.AF_UNIX, socketmod.SOCK_STREAM)
    sock.connect(cloved)
    env = dict(os.environ, CLOVE_FD=str(sock.fileno()))
    code = (
        "from clove_sdk import CloveClient\n"
        "a = CloveClient(timeout=30).connect(); b = CloveClient(timeout=30).connect()\n"
        "print(a.fast_path_active, b.fast_path_active, a.echo(b'a'), b.echo(b'b'))\n")
    out = subprocess.run([sys.executable, "-c", code], env=env, pass_fds=(sock.fileno(),),
                         capture_output=True, text=True, timeout=60)
    sock.close()
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True", "False", "b'a'", "b'b'"]
    assert out.stderr == ""


def test_missing_libclove_falls_back_with_one_line_notice(cloved):
    code = (
        "from clove_sdk import CloveClient\n"
        "for _ in range(3):\n"
        "    with CloveClient(%r, timeout=30) as c:\n"
        "        assert c.echo(b'x') == b'x'\n"
        "        print(c.fast_path_active)\n" % cloved)
    env = dict(os.environ, LIBCLOVE="/nonexistent/libclove.so", PYTHONPATH=str(SDK_SRC),
               LD_LIBRARY_PATH="")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False"] * 3
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert "fast path unavailable" in lines[0] and "using the socket" in lines[0]


def test_fast_path_can_be_turned_off(cloved, lib, monkeypatch):
    monkeypatch.setenv("CLOVE_FAST_PATH", "0")
    with CloveClient(cloved, timeout=30) as c:
        assert c.echo(b"s") == b"s" and not c.fast_path_active
    with CloveClient(cloved, timeout=30, fast_path=True) as c:
        assert c.echo(b"f") == b"f" and c.fast_path_active
