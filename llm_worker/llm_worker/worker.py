# SPDX-License-Identifier: MIT
"""The worker's main loop: says `ready`, then reads frames from stdin and
runs each `think` on a thread of its own, with a watchdog for its timeout.
stdout carries frames only: fd 1 is pointed at stderr before anything else
runs, so a stray print (ours or a library's) cannot corrupt the stream.
Exit status: 0 when stdin ends (or the kernel stops reading), 2 on a
protocol error."""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
import traceback
from typing import Any, Callable, NoReturn

from llm_worker import PROTOCOL_VERSION
from llm_worker.calls import Call
from llm_worker.errors import ProviderError
from llm_worker.frames import FrameWriter, ProtocolError, read_frame
from llm_worker.gemini import Gemini
from llm_worker.openai_compat import OpenAI
from llm_worker.request import parse_think

# httpx logs every request at INFO; the kernel's log wants our lines only.
QUIET_LOGGERS = ("httpx", "httpx2", "httpcore", "google_genai")

DEFAULT_TIMEOUT_MS = 120_000
log = logging.getLogger("llm_worker")


def _exit(status: int) -> NoReturn:
    # os._exit: threads blocked in provider calls must not hold the exit up.
    sys.stderr.flush()
    os._exit(status)


class Worker:
    def __init__(self, send: Callable[[dict[str, Any]], None], env: dict[str, str]) -> None:
        self.send = send
        self.providers = {p.name: p for p in (Gemini(env), OpenAI(env))}
        self.calls: dict[int, Call] = {}
        self.lock = threading.Lock()

    def ready(self) -> dict[str, Any]:
        return {"type": "ready", "version": PROTOCOL_VERSION, "pid": os.getpid(),
                "providers": {n: p.status() for n, p in self.providers.items()}}

    def forget(self, call_id: int) -> None:
        with self.lock:
            self.calls.pop(call_id, None)

    def handle(self, msg: dict[str, Any]) -> None:
        """Raises ProtocolError on a frame the protocol does not allow."""
        kind, call_id = msg.get("type"), msg.get("id")
        if kind not in ("think", "cancel"):
            raise ProtocolError(f"unknown frame type {kind!r}")
        if isinstance(call_id, bool) or not isinstance(call_id, int) or call_id < 0:
            raise ProtocolError(f"{kind} without a valid id")
        if kind == "cancel":
            with self.lock:
                call = self.calls.get(call_id)
            if call is not None:  # a finished call is nothing to cancel
                call.cancel()
            return
        call = Call(call_id, self.send, self.forget)
        with self.lock:
            if call_id in self.calls:
                raise ProtocolError(f"think {call_id} while that id is still running")
            self.calls[call_id] = call
        timeout_ms = msg.get("timeout_ms")
        if isinstance(timeout_ms, bool) or not isinstance(timeout_ms, int) or timeout_ms <= 0:
            timeout_ms = DEFAULT_TIMEOUT_MS
        watchdog = threading.Timer(timeout_ms / 1000, call.expire, (timeout_ms,))
        watchdog.daemon = True
        watchdog.start()
        threading.Thread(target=self.run, args=(call, msg, timeout_ms, watchdog),
                         name=f"think-{call_id}", daemon=True).start()

    def run(self, call: Call, msg: dict[str, Any], timeout_ms: int,
            watchdog: threading.Timer) -> None:
        started = time.monotonic()
        try:
            provider = self.providers.get(msg.get("provider"))
            if provider is None:
                raise ProviderError("EINVAL", f"unknown provider {msg.get('provider')!r}")
            model = msg.get("model") if isinstance(msg.get("model"), str) else ""
            req = parse_think(msg.get("request"))
            out = provider.think(call, model or provider.model, req,
                                 msg.get("stream") is True, timeout_ms)
            frame = {"type": "result", "id": call.id, "ok": True, **out,
                     "provider_ms": int((time.monotonic() - started) * 1000)}
        except ProviderError as e:
            frame = e.frame(call.id)
        except Exception as e:  # a bug or an answer shaped unlike any we know
            log.error("think %d: %s", call.id, traceback.format_exc())
            frame = ProviderError("EPROTO", f"{type(e).__name__}: {e}").frame(call.id)
        watchdog.cancel()
        call.finish(frame)


def main() -> int:
    frames_fd = os.dup(1)
    os.set_inheritable(frames_fd, False)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    logging.basicConfig(stream=sys.stderr, level=logging.INFO,
                        format=f"llm_worker[{os.getpid()}] %(levelname)s %(message)s")
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    writer = FrameWriter(frames_fd)

    def send(frame: dict[str, Any]) -> None:
        try:
            writer.write(frame)
        except OSError:
            _exit(0)  # the kernel closed our stdout: it is gone, like at EOF

    worker = Worker(send, dict(os.environ))
    send(worker.ready())
    threading.Thread(target=worker.providers["gemini"].warm_up, daemon=True).start()
    stdin = sys.stdin.buffer
    while True:
        try:
            msg = read_frame(stdin)
            if msg is None:
                _exit(0)
            worker.handle(msg)
        except ProtocolError as e:
            log.error("protocol error: %s", e)
            _exit(2)
