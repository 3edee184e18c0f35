# SPDX-License-Identifier: MIT
"""Exceptions of clove_sdk. A kernel error reply ``{"success": false, "error",
"code"}`` becomes CloveError; a broken or unusable connection becomes
CloveConnectionError (a CloveError too, so one ``except`` catches both)."""

from __future__ import annotations

from typing import Any, Optional


class CloveError(Exception):
    """The kernel refused a request.

    ``code`` is the errno-like name (``"ENOENT"``, ``"EACCES"`` ...),
    ``message`` the kernel's text and ``reply`` the whole reply dict (EXEC's
    ``ETIMEDOUT`` keeps the output gathered so far there)."""

    def __init__(self, message: str, code: Optional[str] = None,
                 reply: Optional[dict[str, Any]] = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.reply: dict[str, Any] = reply if reply is not None else {}

    def __str__(self) -> str:
        return f"[{self.code}] {self.message}" if self.code else self.message

    @classmethod
    def from_reply(cls, reply: dict[str, Any]) -> "CloveError":
        """Builds the error for a ``success: false`` reply."""
        message = reply.get("error") or "request failed"
        code = reply.get("code")
        return cls(str(message), str(code) if code is not None else None, reply)


class CloveConnectionError(CloveError, ConnectionError):
    """No connection to the kernel, or it broke (EOF, reset, a frame that is
    not a Clove frame). The client is closed when this is raised."""

    def __init__(self, message: str, code: Optional[str] = None) -> None:
        CloveError.__init__(self, message, code)


class CloveTimeoutError(CloveConnectionError, TimeoutError):
    """No complete reply within the client's ``timeout``. The reply may still
    come, so the stream is out of step and the client closes it."""
