# SPDX-License-Identifier: MIT
"""Call: one `think` in flight. Its result can come from three places — the
provider thread, the timeout watchdog and a `cancel` frame — and exactly one
of them wins: the first to mark the call done. Later results and chunks are
dropped, so the kernel sees at most one `result` per id and no chunk after it."""

from __future__ import annotations

import threading
from typing import Any, Callable, Optional

from llm_worker.errors import ProviderError


class Call:
    def __init__(self, call_id: int, send: Callable[[dict[str, Any]], None],
                 forget: Callable[[int], None]) -> None:
        self.id = call_id
        self._send = send
        self._forget = forget
        self._lock = threading.Lock()
        self._done = False
        self._abort: Optional[Callable[[], None]] = None

    @property
    def done(self) -> bool:
        return self._done

    def chunk(self, text: str) -> None:
        if not text:
            return
        # Sent under the call's lock, so a timeout result cannot slip in
        # between the check and the write and be followed by this chunk.
        with self._lock:
            if not self._done:
                self._send({"type": "chunk", "id": self.id, "text": text})

    def finish(self, frame: dict[str, Any]) -> bool:
        with self._lock:
            if self._done:
                return False
            self._done = True
            self._send(frame)
        self._forget(self.id)
        return True

    def cancel(self) -> None:
        """The caller went away: no result, and the provider call is cut off
        when the provider registered a way to."""
        with self._lock:
            if self._done:
                return
            self._done = True
        self._forget(self.id)
        self._run_abort()

    def expire(self, timeout_ms: int) -> None:
        err = ProviderError("ETIMEDOUT", f"no answer from the provider within {timeout_ms} ms")
        if self.finish(err.frame(self.id)):
            self._run_abort()

    def set_abort(self, fn: Optional[Callable[[], None]]) -> None:
        """Registers how to cut the provider call short (e.g. shut its socket
        down); runs it at once when the call is already over."""
        with self._lock:
            self._abort = fn
            done = self._done
        if done:
            self._run_abort()

    def _run_abort(self) -> None:
        with self._lock:
            fn, self._abort = self._abort, None
        if fn is not None:
            try:
                fn()
            except OSError:
                pass  # the connection is already gone: that was the point
