# SPDX-License-Identifier: MIT
"""Helpers of the llm suite: FakeLLM, the fake provider server
(tests/fakes/fake_llm.py) run as a subprocess on port 0 with its control
endpoints wrapped; and WorkerProc, `python -m llm_worker` run as a subprocess
with a frame client for its stdin and stdout. (A module of its own, not
conftest, so importing it never clashes with another suite's conftest.)"""

from __future__ import annotations

import json
import os
import queue
import select
import signal
import struct
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any, Optional

import msgpack

TOP = Path(__file__).resolve().parents[2]
FAKE = TOP / "tests" / "fakes" / "fake_llm.py"
LENGTH = struct.Struct("<I")


class FakeLLM:
    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen([sys.executable, str(FAKE), "--port", "0", *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("listening "):
            self.stop()
            raise RuntimeError(f"fake provider did not start: {line!r} {self.proc.stderr.read()}")
        self.port = int(line.split()[1])
        self.url = f"http://127.0.0.1:{self.port}"

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read())

    def config(self, **settings: Any) -> None:
        self._call("POST", "/_fake/config", settings)

    def reset(self) -> None:
        self._call("POST", "/_fake/reset", {})

    def log(self) -> list[dict[str, Any]]:
        return self._call("GET", "/_fake/log")

    def stats(self) -> dict[str, Any]:
        return self._call("GET", "/_fake/stats")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for f in (self.proc.stdout, self.proc.stderr):
            f.close()
        return self.proc.returncode


def encode(obj: Any) -> bytes:
    payload = msgpack.packb(obj, use_bin_type=True)
    return LENGTH.pack(len(payload)) + payload


class WorkerProc:
    """`python -m llm_worker` with frames on its stdin and stdout. A reader
    thread queues every frame it sends; stderr goes to a file for failing
    tests to show."""

    def __init__(self, env: dict[str, str], stderr_path: Path) -> None:
        self.stderr_path = stderr_path
        self.stderr = open(stderr_path, "wb")
        self.proc = subprocess.Popen([sys.executable, "-m", "llm_worker"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.stderr, env=env, close_fds=True)
        self.frames: "queue.Queue[Optional[dict]]" = queue.Queue()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        out = self.proc.stdout
        while True:
            head = out.read(LENGTH.size)
            if len(head) < LENGTH.size:
                break
            payload = out.read(LENGTH.unpack(head)[0])
            self.frames.put(msgpack.unpackb(payload, raw=False))
        self.frames.put(None)  # end of the worker's stdout

    def send(self, obj: Any) -> None:
        self.send_raw(encode(obj))

    def send_raw(self, data: bytes) -> None:
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def next(self, timeout: float = 15) -> Optional[dict[str, Any]]:
        """The next frame, or None when the worker closed its stdout."""
        return self.frames.get(timeout=timeout)

    def think(self, call_id: int, provider: str, request: dict[str, Any], stream: bool = False,
              timeout_ms: int = 10_000, model: str = "test-model") -> None:
        self.send({"type": "think", "id": call_id, "provider": provider, "model": model,
                   "timeout_ms": timeout_ms, "stream": stream, "request": request})

    def collect(self, call_id: int, timeout: float = 15) -> tuple[list[str], dict[str, Any]]:
        """Chunks and the result of one call, the only one running."""
        chunks = []
        deadline = time.monotonic() + timeout
        while True:
            frame = self.next(max(0.1, deadline - time.monotonic()))
            assert frame is not None, "the worker closed its stdout"
            assert frame.get("id") == call_id, frame
            if frame["type"] == "chunk":
                chunks.append(frame["text"])
            else:
                assert frame["type"] == "result", frame
                return chunks, frame

    def call(self, call_id: int, provider: str, request: dict[str, Any],
             **kw: Any) -> dict[str, Any]:
        self.think(call_id, provider, request, **kw)
        chunks, result = self.collect(call_id)
        assert not chunks
        return result

    def close_stdin(self) -> None:
        if not self.proc.stdin.closed:
            self.proc.stdin.close()

    def wait(self, timeout: float = 10) -> int:
        return self.proc.wait(timeout)

    def stderr_text(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.close_stdin()
        self.proc.stdout.close()
        self.stderr.close()


def worker_env(fake: Optional[FakeLLM], **extra: str) -> dict[str, str]:
    """The environment the kernel gives a worker (docs/llm.md), pointed at the fake."""
    env = {k: os.environ[k] for k in ("PATH", "LANG", "HOME") if k in os.environ}
    env["PYTHONPATH"] = str(TOP / "llm_worker")
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    if fake is not None:
        env.update(GEMINI_API_KEY="test-gemini-key", CLOVE_GEMINI_BASE_URL=fake.url,
                   OPENAI_API_KEY="test-openai-key", OPENAI_BASE_URL=fake.url + "/v1")
    env.update(extra)
    return {k: v for k, v in env.items() if v != ""}
