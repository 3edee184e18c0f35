# SPDX-License-Identifier: MIT
"""ProviderError, the one failure a provider raises, carrying the errno-like
code of docs/llm.md, and helpers both providers use to read Retry-After."""

from __future__ import annotations

import email.utils
import time
from typing import Any, Optional

RETRYABLE = {"EAGAIN", "EIO"}


class ProviderError(Exception):
    def __init__(self, code: str, message: str, status: Optional[int] = None,
                 retry_after_ms: Optional[int] = None) -> None:
        super().__init__(message)
        self.code = code
        self.status = status
        self.retry_after_ms = retry_after_ms

    def frame(self, call_id: int) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "result", "id": call_id, "ok": False,
                               "error": str(self), "code": self.code,
                               "retryable": self.code in RETRYABLE}
        if self.status is not None:
            out["status"] = self.status
        if self.retry_after_ms is not None:
            out["retry_after_ms"] = self.retry_after_ms
        return out


def code_for_status(status: int) -> str:
    if status == 429:
        return "EAGAIN"
    if status >= 500:
        return "EIO"
    return "EINVAL"


def parse_retry_after(value: Optional[str]) -> Optional[int]:
    """Retry-After in milliseconds: delta-seconds (integer or not) or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0, int(float(value) * 1000))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0, int((when.timestamp() - time.time()) * 1000))


def http_error(status: int, message: str, retry_after: Optional[str]) -> ProviderError:
    code = code_for_status(status)
    return ProviderError(code, f"provider answered {status}: {message}", status,
                         parse_retry_after(retry_after) if code == "EAGAIN" else None)
