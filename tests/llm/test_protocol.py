# SPDX-License-Identifier: MIT
"""The worker side of the protocol: `ready` first, exit 0 at stdin EOF (even
with calls in flight), exit 2 on frames the protocol forbids, `cancel` drops
the call's result (and, for openai, cuts the connection), and calls run
concurrently, one thread each."""

from __future__ import annotations

import os
import queue
import struct
import time

import msgpack
import pytest

from llm_util import encode


def test_ready_comes_first_and_describes_the_worker(worker):
    r = worker.ready
    assert r["version"] == 1
    assert r["pid"] == worker.proc.pid
    assert set(r["providers"]) == {"gemini", "openai"}
    for status in r["providers"].values():
        assert status["configured"] is True and isinstance(status["model"], str)


def test_stdin_eof_exits_0(worker):
    worker.close_stdin()
    assert worker.wait() == 0
    assert worker.next() is None  # stdout closed, nothing after ready


def test_stdin_eof_exits_0_with_a_call_in_flight(provider, fake, worker):
    fake.config(fail=[{"hang": True}])
    worker.think(1, provider, {"prompt": "hi"}, timeout_ms=60_000)
    deadline = time.monotonic() + 10
    while fake.stats()["in_flight"] == 0:  # the call reached the provider
        assert time.monotonic() < deadline, "the call never reached the fake"
        time.sleep(0.05)
    worker.close_stdin()
    assert worker.wait() == 0


@pytest.mark.parametrize("data", [
    # Refused from the header alone, before any payload byte arrives.
    pytest.param(struct.pack("<I", 16 * 1024 * 1024 + 1), id="length-over-16MiB"),
    pytest.param(struct.pack("<I", 0), id="length-zero"),
    pytest.param(encode([1, 2, 3]), id="payload-not-a-map"),
    pytest.param(struct.pack("<I", 3) + b"\xc1\xc1\xc1", id="payload-not-msgpack"),
    pytest.param(encode({1: "x"}), id="non-string-key"),
    pytest.param(encode({"type": "launch", "id": 1}), id="unknown-type"),
    pytest.param(encode({"type": "think", "provider": "openai"}), id="think-without-id"),
    pytest.param(encode({"type": "cancel", "id": -1}), id="negative-id"),
])
def test_protocol_error_exits_2(worker, data):
    worker.send_raw(data)  # stdin stays open: the frame alone must end the worker
    assert worker.wait() == 2
    assert "protocol error" in worker.stderr_text()


@pytest.mark.parametrize("data", [
    pytest.param(struct.pack("<I", 100) + b"\x80" * 10, id="eof-inside-payload"),
    pytest.param(b"\x05\x00", id="eof-inside-header"),
])
def test_truncated_frame_exits_2(worker, data):
    worker.send_raw(data)
    worker.close_stdin()
    assert worker.wait() == 2
    assert "protocol error" in worker.stderr_text()


def test_duplicate_running_id_exits_2(fake, worker):
    fake.config(latency_ms=2000)
    worker.think(7, "openai", {"prompt": "a"})
    worker.think(7, "openai", {"prompt": "b"})
    assert worker.wait() == 2


def test_an_id_can_be_reused_after_its_result(provider, fake, worker):
    assert worker.call(7, provider, {"prompt": "a"})["ok"] is True
    assert worker.call(7, provider, {"prompt": "b"})["ok"] is True


def wait_in_flight(fake, n: int) -> None:
    deadline = time.monotonic() + 10
    while fake.stats()["in_flight"] < n:
        assert time.monotonic() < deadline, f"{n} calls never reached the fake"
        time.sleep(0.05)


def test_cancel_sends_no_result(provider, fake, worker):
    fake.config(fail=[{"hang": True}])
    worker.think(1, provider, {"prompt": "slow"}, timeout_ms=1500)
    wait_in_flight(fake, 1)
    worker.send({"type": "cancel", "id": 1})
    # Past call 1's timeout, so neither its answer nor its ETIMEDOUT can be
    # still on the way; call 2's result must be the only frame.
    time.sleep(2)
    assert worker.call(2, provider, {"prompt": "quick"})["ok"] is True
    with pytest.raises(queue.Empty):
        worker.next(timeout=0.5)


def test_cancel_cuts_the_openai_connection(fake, worker):
    fake.config(fail=[{"hang": True}])
    worker.think(1, "openai", {"prompt": "slow"}, timeout_ms=60_000)
    wait_in_flight(fake, 1)
    worker.send({"type": "cancel", "id": 1})
    # The fake's hang ends when the client closes its end: the worker's abort.
    deadline = time.monotonic() + 10
    while fake.stats()["in_flight"]:
        assert time.monotonic() < deadline, "the cancelled call's connection stayed open"
        time.sleep(0.05)
    assert fake.log()[0]["ended"] is not None


def test_cancel_mid_stream_stops_the_chunks(provider, fake, worker):
    fake.config(tokens_per_reply=40, chunks=20, chunk_delay_ms=150)
    worker.think(1, provider, {"prompt": "long story"}, stream=True)
    first = worker.next()
    assert first["type"] == "chunk" and first["id"] == 1, first
    worker.send({"type": "cancel", "id": 1})
    # A chunk already written may still be in the pipe; after it, nothing.
    late = []
    try:
        while True:
            late.append(worker.next(timeout=1.5))
    except queue.Empty:
        pass
    assert all(f["type"] == "chunk" for f in late), late
    assert len(late) <= 1, late


def test_cancel_of_an_unknown_id_is_ignored(provider, fake, worker):
    worker.send({"type": "cancel", "id": 999})
    assert worker.call(1, provider, {"prompt": "hi"})["ok"] is True


def test_calls_run_concurrently(provider, fake, worker):
    fake.config(latency_ms=800, capacity=16)
    n = 6
    for i in range(n):
        worker.think(100 + i, provider, {"prompt": f"call {i}"})
    results = {}
    while len(results) < n:
        frame = worker.next(timeout=20)
        assert frame is not None and frame["type"] == "result", frame
        results[frame["id"]] = frame
    assert sorted(results) == [100 + i for i in range(n)]
    for i in range(n):
        assert results[100 + i]["ok"] is True
        assert results[100 + i]["content"].startswith(f"fake reply: call {i}")
    assert fake.stats()["max_concurrency"] == n


def test_results_of_different_calls_interleave(fake, worker):
    """A slow call does not hold up a quick one behind it."""
    fake.config(script=[{"match": "slow", "reply": "late"}], fail=[{"hang": True}])
    worker.think(1, "openai", {"prompt": "slow"}, timeout_ms=3000)
    wait_in_flight(fake, 1)
    worker.think(2, "openai", {"prompt": "quick"})
    first = worker.next()
    assert first["id"] == 2 and first["ok"] is True, first
    second = worker.next()
    assert second["id"] == 1 and second["code"] == "ETIMEDOUT", second


def test_stdout_carries_frames_only(fake, start_worker, tmp_path):
    """Stray output in the worker process lands on stderr, not in the frames."""
    from llm_util import worker_env
    hook = tmp_path / "sitecustomize.py"
    # Written to fd 1 itself, as a C library would, after the worker started.
    hook.write_text("import os, threading, time\n"
                    "def noise():\n"
                    "    time.sleep(0.3)\n"
                    "    os.write(1, b'stray output\\n')\n"
                    "threading.Thread(target=noise, daemon=True).start()\n")
    env = worker_env(fake)
    env["PYTHONPATH"] = f"{tmp_path}{os.pathsep}{env['PYTHONPATH']}"
    w = start_worker(env)
    time.sleep(0.6)
    assert w.call(1, "openai", {"prompt": "hi"})["ok"] is True
    assert "stray output" in w.stderr_text()
