# SPDX-License-Identifier: MIT
"""Typed replies. Every reply is a ``Result``: a dict (``r["stdout"]``,
``r.get("x")``, JSON-serialisable as is) that also reads its keys as
attributes (``r.stdout``). Subclasses only declare the documented fields, so
IDEs and type checkers know them; a declared field missing from a reply reads
as None, an undeclared one raises AttributeError."""

from __future__ import annotations

import base64
import json
from typing import Any, ClassVar, Optional

from .errors import CloveError
from .protocol import Opcode


class Result(dict[str, Any]):
    """A kernel reply: a dict with attribute access to its keys."""

    _fields: ClassVar[frozenset[str]] = frozenset()

    success: bool

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        names: set[str] = set()
        for klass in cls.__mro__:
            names.update(vars(klass).get("__annotations__", {}))
        names.discard("_fields")
        cls._fields = frozenset(names)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        try:
            return self[name]
        except KeyError:
            if name in type(self)._fields:
                return None
            raise AttributeError(
                f"{type(self).__name__} has no field {name!r}") from None

    def __dir__(self) -> list[str]:
        keys = [k for k in self if isinstance(k, str) and k.isidentifier()]
        return sorted(set(super().__dir__()) | set(keys))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({dict.__repr__(self)})"


Result.__init_subclass__()  # the base's own fields


def _decoded(text: Optional[str], encoding: Optional[str]) -> bytes:
    """Bytes the kernel sent as text, or as base64 when encoding says so."""
    if encoding == "base64":
        return base64.b64decode(text or "")
    return (text or "").encode("utf-8")


class HelloResult(Result):
    """HELLO: versions, role and the features this kernel has."""

    protocol_version: int
    kernel_version: str
    agent_id: int
    role: str
    agent_name: Optional[str]
    features: dict[str, bool]
    limits: dict[str, int]
    kernel: dict[str, Any]


class ExecResult(Result):
    """EXEC: a command that ran to its end, whatever its exit status."""

    stdout: str
    stderr: str
    exit_code: int
    signal: Optional[int]
    timed_out: bool
    truncated: bool
    duration_ms: int


class ThinkResult(Result):
    """THINK: the model's answer and what it cost."""

    content: str
    tokens: dict[str, int]
    function_calls: list[dict[str, Any]]
    model: str
    finish_reason: str
    latency_ms: int
    provider_ms: int
    provider: str
    retries: int


class ReadResult(Result):
    """READ: ``content`` is text, or base64 when ``encoding == "base64"``."""

    content: str
    size: int
    bytes_read: int
    truncated: bool
    encoding: str

    @property
    def data(self) -> bytes:
        """The bytes read, whatever the encoding."""
        return _decoded(self.get("content"), self.get("encoding"))


class HttpResult(Result):
    """HTTP: the response as the server sent it. Any status is a result
    (``status_code`` 404 is not an error); ``body`` is text, or base64 when
    ``body_encoding == "base64"``; ``.data`` is always the bytes. ``headers``
    has lower-case names, repeated headers joined with ", "; ``header_list``
    keeps every ``[name, value]`` as received."""

    status_code: int
    headers: dict[str, str]
    header_list: list[list[str]]
    body: str
    body_encoding: str
    truncated: bool
    url: str
    redirects: int
    elapsed_ms: int
    redirect_url: Optional[str]

    @property
    def data(self) -> bytes:
        """The body's bytes, whatever the encoding."""
        return _decoded(self.get("body"), self.get("body_encoding"))

    @property
    def ok(self) -> bool:
        """True for a 2xx status."""
        return 200 <= int(self.get("status_code") or 0) < 300

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.data)


class WriteResult(Result):
    """WRITE: how many bytes reached the file."""

    bytes_written: int


class SpawnResult(Result):
    """SPAWN: the new agent, the isolation actually in force, and the
    permission policy it was given (``level`` is ``"custom"`` when the policy
    is no level exactly)."""

    id: int
    name: str
    pid: int
    status: str
    restart_policy: str
    log_path: str
    parent_id: int
    exit_reason: Optional[str]
    isolation: dict[str, Any]
    sandboxed: bool
    level: str
    permissions: dict[str, Any]


class PermissionsResult(Result):
    """GET_PERMS / SET_PERMS: whose policy (``agent_id`` None and ``role``
    ``"operator"`` for the operators' own), its ``level`` (or ``"custom"``),
    the full ``permissions`` object and the agent's ``work_dir``, which its
    policy always lets it read and write when it can read and write."""

    agent_id: Optional[int]
    role: str
    level: str
    permissions: dict[str, Any]
    work_dir: Optional[str]


class KillResult(Result):
    """KILL: the agent's final state (with ``wait``); ``exit_reason`` is
    ``"killed"`` once it has ended."""

    killed: bool
    agent_id: int
    state: str
    signal: Optional[int]
    exit_code: Optional[int]
    exit_reason: Optional[str]


class PauseResult(Result):
    """PAUSE: the agent is frozen (cgroup freezer: ``frozen`` says it took
    hold) or stopped (SIGSTOP, on hosts without a freezer: no ``frozen``)."""

    paused: bool
    agent_id: int
    frozen: Optional[bool]


class ResumeResult(Result):
    """RESUME: the agent is thawed (or continued with SIGCONT)."""

    resumed: bool
    agent_id: int
    frozen: Optional[bool]


class AgentInfo(Result):
    """One agent of LIST (live, or one of the last ended ones)."""

    id: int
    name: str
    pid: int
    state: str
    running: bool
    exit_code: Optional[int]
    signal: Optional[int]
    # Why the last process ended: "exited", "signal", "killed", "oom"
    # (over its memory limit), "pids" (a fork refused at max_pids).
    exit_reason: Optional[str]
    restarts: int
    started_at: float
    parent_id: int
    restart_policy: str
    log_path: str
    uptime_ms: int
    # {"cgroup": {version, path, dirs, memory, cpu, shares, pids, ...}}
    isolation: dict[str, Any]


class AsyncAccepted(Result):
    """The kernel took an ``async`` request; collect it with ``poll_async``.
    (The ``"async": true`` key is only reachable as ``r["async"]``.)"""

    request_id: int
    status: str


class AsyncResult(Result):
    """One finished async request from ASYNC_POLL. ``payload`` is the reply
    parsed (an ExecResult for EXEC ...); ``payload_raw`` the JSON string."""

    request_id: int
    opcode: int
    opcode_name: str
    payload: Result
    payload_raw: str

    @property
    def ok(self) -> bool:
        """False when the request itself failed (``payload.success`` false)."""
        payload = self.get("payload")
        return not (isinstance(payload, dict) and payload.get("success") is False)

    def result(self) -> Result:
        """The payload, or CloveError when the request failed."""
        payload = self.get("payload")
        if isinstance(payload, dict) and payload.get("success") is False:
            raise CloveError.from_reply(payload)
        if not isinstance(payload, Result):
            raise CloveError(f"async result {self.get('request_id')}: payload is "
                             "not a JSON object", "EBADMSG", dict(self))
        return payload


class AsyncResults(list[AsyncResult]):
    """ASYNC_POLL: a list of AsyncResult, oldest first, plus ``pending`` (async
    requests still running) and ``reply`` (the whole reply)."""

    def __init__(self, results: list[AsyncResult], reply: Result) -> None:
        super().__init__(results)
        self.reply = reply
        self.pending: int = int(reply.get("pending") or 0)


RESULT_TYPES: dict[int, type[Result]] = {
    Opcode.HELLO: HelloResult,
    Opcode.EXEC: ExecResult,
    Opcode.THINK: ThinkResult,
    Opcode.READ: ReadResult,
    Opcode.WRITE: WriteResult,
    Opcode.HTTP: HttpResult,
    Opcode.SPAWN: SpawnResult,
    Opcode.KILL: KillResult,
    Opcode.PAUSE: PauseResult,
    Opcode.RESUME: ResumeResult,
    Opcode.GET_PERMS: PermissionsResult,
    Opcode.SET_PERMS: PermissionsResult,
}
"""Reply class per opcode, for replies whose shape is known (else Result)."""


def result_for(opcode: int, reply: dict[str, Any]) -> Result:
    """Wraps a decoded reply object in the Result class of its opcode."""
    return RESULT_TYPES.get(opcode, Result)(reply)
