# SPDX-License-Identifier: MIT
"""CloveClient: one method per kernel syscall, with the original Clove SDK's
names and keywords. Builds the request, runs it over a Transport (the socket,
or the shared-memory fast path next to it when the kernel offers it), and
turns the reply into a typed Result or raises CloveError. Connection choice:
an explicit ``socket_path``; else the agent's inherited ``CLOVE_FD``; else
``$CLOVE_SOCKET`` or the default path."""

from __future__ import annotations

import base64
import json
import operator
import os
import socket
from typing import Any, Mapping, Optional, Sequence, Union

from .errors import CloveConnectionError, CloveError
from .hub import HubCalls
from .llm import LlmCalls
from .protocol import Opcode, opcode_name
from .results import (AgentInfo, AsyncAccepted, AsyncResult, AsyncResults,
                      ExecResult, HelloResult, HttpResult, KillResult,
                      PauseResult,
                      PermissionsResult, ReadResult, Result, ResumeResult,
                      SpawnResult, WriteResult, result_for)
from .transport import DEFAULT, Transport, default_socket_path

Payload = Union[Mapping[str, Any], bytes, bytearray, memoryview, str, None]
PathLike = Union[str, "os.PathLike[str]"]

EXEC_DEFAULT_TIMEOUT = 30  # seconds, the kernel's default for EXEC
HTTP_DEFAULT_TIMEOUT = 30  # seconds, the kernel's default for HTTP
KILL_DEFAULT_GRACE = 5  # seconds, the kernel's default for KILL
REPLY_MARGIN = 5  # seconds the socket waits beyond a kernel-side time limit


def _fast_path_default(fast_path: Optional[bool]) -> bool:
    """The fast path is on unless asked off (argument, or ``CLOVE_FAST_PATH=0``)."""
    if fast_path is not None:
        return bool(fast_path)
    return os.environ.get("CLOVE_FAST_PATH", "1").strip().lower() not in (
        "0", "no", "false", "off")


def _compact(**fields: Any) -> dict[str, Any]:
    """The fields that are not None: the kernel applies its own defaults."""
    return {k: v for k, v in fields.items() if v is not None}


def _selector(verb: str, agent_id: Union[int, str, None],
              name: Optional[str]) -> dict[str, Any]:
    """``{"id": n}`` or ``{"name": s}``; a str first argument is a name."""
    if isinstance(agent_id, str):
        if name is not None:
            raise TypeError(f"{verb}: give an agent id or a name, not two names")
        agent_id, name = None, agent_id
    if isinstance(agent_id, bool):
        raise TypeError(f"{verb}: agent id must be an int, not bool")
    if agent_id is not None and name is not None:
        raise ValueError(f"{verb}: give an agent id or a name, not both")
    if agent_id is not None:
        return {"id": operator.index(agent_id)}
    if name is not None:
        return {"name": name}
    raise ValueError(f"{verb}: needs an agent id or a name")


class CloveClient(HubCalls, LlmCalls):
    """A connection to the Clove kernel (cloved).

    ``socket_path`` None means: the inherited ``CLOVE_FD`` when set (how
    agents spawned by the kernel talk to it), else ``default_socket_path()``.
    ``timeout`` (seconds, None = wait forever) bounds connecting and each
    reply; EXEC and KILL wait at least their own kernel-side limit.
    Connects on first use or on ``connect()``/``with``. One request at a time:
    threads may share a client, their calls are serialised.

    ``fast_path`` (default on; ``CLOVE_FAST_PATH=0`` turns the default off):
    on connecting, ask the kernel for the shared-memory rings (docs/shm.md)
    and make every call through them via libclove; the API and the results
    are the same. Without libclove or msgpack the client says so once and
    uses the socket; a kernel that does not offer the rings is simply used
    over the socket. ``fast_path_active`` tells which is in use.
    """

    def __init__(self, socket_path: Optional[PathLike] = None,
                 timeout: Optional[float] = None,
                 fast_path: Optional[bool] = None) -> None:
        self.agent_id: int = 0
        self.timeout = timeout
        fast = _fast_path_default(fast_path)
        fd_env = os.environ.get("CLOVE_FD") if socket_path is None else None
        if fd_env:
            try:
                fd = int(fd_env)
            except ValueError:
                raise CloveConnectionError(
                    f"CLOVE_FD={fd_env!r} is not a file descriptor number",
                    "EBADF") from None
            self.socket_path: Optional[str] = None
            self._transport = Transport(fd=fd, timeout=timeout, fast_path=fast)
            env_id = os.environ.get("CLOVE_AGENT_ID", "")
            self.agent_id = int(env_id) if env_id.isdigit() else 0
        else:
            self.socket_path = (os.fspath(socket_path) if socket_path is not None
                                else default_socket_path())
            self._transport = Transport(path=self.socket_path, timeout=timeout,
                                        fast_path=fast)

    @classmethod
    def from_socket(cls, sock: socket.socket, timeout: Optional[float] = None,
                    fast_path: bool = False) -> "CloveClient":
        """A client on an already connected socket; takes ownership of it.
        The fast path is off unless asked for (the socket is already open: it
        is attached on the first call)."""
        self = cls.__new__(cls)
        self.agent_id = 0
        self.timeout = timeout
        self.socket_path = None
        self._transport = Transport(sock=sock, timeout=timeout)
        if fast_path:
            self._transport.fast_path = True
            self._transport.attach_fast_path()
        return self

    # -- connection ---------------------------------------------------------

    @property
    def fd(self) -> Optional[int]:
        """The inherited CLOVE_FD this client uses, or None."""
        return self._transport.fd

    @property
    def connected(self) -> bool:
        return self._transport.connected

    @property
    def fast_path_active(self) -> bool:
        """True while calls go over the shared-memory rings (docs/shm.md)."""
        return self._transport.fast_path_active

    def connect(self) -> "CloveClient":
        """Connects now (calls connect on demand anyway); returns self."""
        self._transport.connect()
        return self

    def close(self) -> None:
        """Closes the connection; a later call reconnects."""
        self._transport.close()

    disconnect = close

    def __enter__(self) -> "CloveClient":
        return self.connect()

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        where = f"fd={self.fd}" if self.fd is not None else f"path={self.socket_path!r}"
        state = "connected" if self.connected else "not connected"
        if self.fast_path_active:
            state += " (fast path)"
        return f"<CloveClient {where} agent_id={self.agent_id} {state}>"

    # -- generic calls ------------------------------------------------------

    def call_raw(self, opcode: int, payload: Payload = None,
                 timeout: Optional[float] = DEFAULT) -> bytes:
        """Sends any payload under any opcode; returns the reply's payload
        bytes as they came (a ``success: false`` reply is not raised here).
        On the fast path the reply travels as msgpack and is given back as
        the same JSON text the socket would carry; bytes sent as payload are
        read as JSON and converted (raw for NOOP and EXIT either way)."""
        body = self._roundtrip(opcode, payload, timeout)
        if self.fast_path_active and opcode not in (Opcode.NOOP, Opcode.EXIT) and body:
            try:
                return json.dumps(self._transport.loads(body), separators=(",", ":"),
                                  ensure_ascii=False).encode("utf-8")
            except ValueError:
                pass
        return bytes(body)

    def _roundtrip(self, opcode: int, payload: Payload,
                   timeout: Optional[float] = DEFAULT) -> bytearray:
        header, body = self._transport.roundtrip(
            self.agent_id, opcode, payload, timeout)
        self.agent_id = header.agent_id
        if header.opcode != opcode:
            self._mismatch(opcode, header.opcode, body)
        return body

    def call(self, opcode: int, payload: Payload = None,
             timeout: Optional[float] = DEFAULT) -> Any:
        """Any syscall: a Result for a JSON object reply (a list of Results
        for LIST), bytes for NOOP and EXIT. A ``success: false`` reply raises
        CloveError."""
        if opcode == Opcode.EXIT:
            return self._exit()
        body = self._roundtrip(opcode, payload, timeout)
        if opcode == Opcode.NOOP:
            return bytes(body)
        reply = self._decode(opcode, body)
        if isinstance(reply, dict):
            return result_for(opcode, reply)
        if isinstance(reply, list):
            kind = AgentInfo if opcode == Opcode.LIST else Result
            return [kind(x) if isinstance(x, dict) else x for x in reply]
        return reply

    def _decode(self, opcode: int, body: Union[bytes, bytearray]) -> Any:
        if not body:
            return {}
        try:
            reply = self._transport.loads(body)
        except ValueError:
            raise CloveError(f"{opcode_name(opcode)}: the reply is not JSON",
                             "EBADMSG", {"raw": body.decode("utf-8", "replace")}) from None
        if isinstance(reply, dict) and reply.get("success") is False:
            raise CloveError.from_reply(reply)
        return reply

    def _mismatch(self, sent: int, got: int, body: bytearray) -> None:
        # The kernel answers a frame it cannot read (bad magic) with opcode
        # 0 and an error, then closes; anything else means the stream is out
        # of step. Either way this connection is done.
        try:
            reply = self._transport.loads(body)
        except ValueError:
            reply = None
        self.close()
        if isinstance(reply, dict) and reply.get("success") is False:
            raise CloveError.from_reply(reply)
        raise CloveConnectionError(
            f"reply for {opcode_name(got)} to a {opcode_name(sent)} request",
            "EPROTO")

    def _request(self, opcode: int, payload: Mapping[str, Any],
                 timeout: Optional[float] = DEFAULT) -> Any:
        return self._decode(opcode, self._roundtrip(opcode, payload, timeout))

    def _wait_for(self, seconds: float) -> Optional[float]:
        """The reply timeout for a call the kernel may take ``seconds`` on."""
        if self.timeout is None:
            return None
        return max(self.timeout, seconds + REPLY_MARGIN)

    # -- basics -------------------------------------------------------------

    def hello(self) -> HelloResult:
        """HELLO: versions, role, features and limits of this kernel."""
        reply = HelloResult(self._request(Opcode.HELLO, {}))
        max_payload = (reply.get("limits") or {}).get("max_payload")
        if isinstance(max_payload, int) and max_payload > 0:
            self._transport.max_request = max_payload
        return reply

    def echo(self, data: Union[bytes, str]) -> Union[bytes, str]:
        """NOOP: the kernel echoes the bytes (str in, str out)."""
        if isinstance(data, str):
            return self.call_raw(Opcode.NOOP, data.encode("utf-8")).decode("utf-8")
        return self.call_raw(Opcode.NOOP, bytes(data))

    noop = echo

    def exit(self) -> bool:
        """EXIT: the kernel says goodbye and closes; so does this client."""
        self._exit()
        return True

    def _exit(self) -> bytes:
        try:
            body = self.call_raw(Opcode.EXIT, b"")
        finally:
            self.close()
        if body != b"goodbye":
            self._decode(Opcode.EXIT, body)  # raises on an error reply
        return body

    # -- commands and files -------------------------------------------------

    def exec(self, command: Union[str, Sequence[str], None] = None,
             cwd: Optional[str] = None, timeout: Optional[float] = None, *,
             argv: Optional[Sequence[str]] = None,
             env: Optional[Mapping[str, str]] = None,
             stdin: Union[str, bytes, None] = None,
             max_output: Optional[int] = None, async_: bool = False,
             request_id: Optional[int] = None,
             **kwargs: Any) -> Union[ExecResult, AsyncAccepted]:
        """EXEC: runs ``command`` with ``/bin/sh -c`` or ``argv`` without a
        shell (a list given as ``command`` is an argv), in the caller's
        sandbox. A non-zero ``exit_code`` is a result, not an error; running
        past ``timeout`` raises CloveError ``ETIMEDOUT`` (output in ``.reply``).
        ``async_=True`` (or ``**{"async": True}``) returns AsyncAccepted at
        once; collect the ExecResult with ``poll_async()``."""
        async_ = bool(kwargs.pop("async", async_))
        if command is not None and not isinstance(command, str):
            if argv is not None:
                raise ValueError("exec: give command or argv, not both")
            command, argv = None, command
        if (command is None) == (argv is None):
            raise ValueError("exec: needs exactly one of command or argv")
        if isinstance(stdin, (bytes, bytearray)):
            stdin = bytes(stdin).decode("utf-8")
        payload = _compact(command=command,
                           argv=list(argv) if argv is not None else None,
                           cwd=os.fspath(cwd) if cwd is not None else None,
                           timeout=timeout,
                           env=dict(env) if env is not None else None,
                           stdin=stdin, max_output=max_output,
                           request_id=request_id, **kwargs)
        if async_:
            payload["async"] = True
        wait = DEFAULT if async_ else self._wait_for(
            timeout if timeout is not None else EXEC_DEFAULT_TIMEOUT)
        reply = self._request(Opcode.EXEC, payload, wait)
        if reply.get("async"):
            return AsyncAccepted(reply)
        return ExecResult(reply)

    def read_file(self, path: PathLike, offset: Optional[int] = None,
                  max_bytes: Optional[int] = None) -> ReadResult:
        """READ: ``.content`` is the text (base64 when ``.encoding`` says so);
        ``.data`` is always the bytes."""
        payload = _compact(path=os.fspath(path), offset=offset, max_bytes=max_bytes)
        return ReadResult(self._request(Opcode.READ, payload))

    def write_file(self, path: PathLike, content: Union[str, bytes],
                   mode: str = "write") -> WriteResult:
        """WRITE: ``mode`` is ``"write"`` (truncate) or ``"append"``; bytes are
        sent base64-encoded."""
        payload: dict[str, Any] = {"path": os.fspath(path), "mode": mode}
        if isinstance(content, str):
            payload["content"] = content
        else:
            payload["content"] = base64.b64encode(bytes(content)).decode("ascii")
            payload["encoding"] = "base64"
        return WriteResult(self._request(Opcode.WRITE, payload))

    # -- network ------------------------------------------------------------

    def http(self, url: str, method: str = "GET",
             headers: Union[Mapping[str, str], Sequence[str], None] = None,
             body: Union[str, bytes, None] = None,
             timeout: Optional[float] = HTTP_DEFAULT_TIMEOUT, *,
             max_bytes: Optional[int] = None,
             follow_redirects: Optional[bool] = None, async_: bool = False,
             request_id: Optional[int] = None,
             **kwargs: Any) -> Union[HttpResult, AsyncAccepted]:
        """HTTP: the kernel makes the request (the caller's policy decides
        where it may go: ``network`` patterns, ``http_methods``; loopback
        and private addresses only when named) and returns an HttpResult.
        Any status code is a result; refusals, DNS and connection failures
        and timeouts raise CloveError (``EACCES``, ``ENXIO``,
        ``ECONNREFUSED``, ``ETIMEDOUT``, ...). ``headers`` is a dict or a
        list of ``"Name: value"`` strings; ``body`` text, or bytes (sent as
        ``body_base64``); ``max_bytes`` caps the body kept (``truncated``);
        redirects are followed (each hop checked) unless
        ``follow_redirects=False``. ``async_=True`` (or
        ``**{"async": True}``) returns AsyncAccepted at once; collect the
        HttpResult with ``poll_async()``."""
        async_ = bool(kwargs.pop("async", async_))
        payload = _compact(url=url, method=method,
                           headers=(dict(headers) if isinstance(headers, Mapping)
                                    else list(headers) if headers is not None
                                    else None),
                           timeout=timeout, max_bytes=max_bytes,
                           follow_redirects=follow_redirects,
                           request_id=request_id, **kwargs)
        if isinstance(body, (bytes, bytearray, memoryview)):
            payload["body_base64"] = base64.b64encode(bytes(body)).decode("ascii")
        elif body is not None:
            payload["body"] = body
        if async_:
            payload["async"] = True
        wait = DEFAULT if async_ else self._wait_for(
            timeout if timeout is not None else HTTP_DEFAULT_TIMEOUT)
        reply = self._request(Opcode.HTTP, payload, wait)
        if reply.get("async"):
            return AsyncAccepted(reply)
        return HttpResult(reply)

    # -- agents -------------------------------------------------------------

    def spawn(self, name: Optional[str] = None, script: Optional[PathLike] = None,
              sandboxed: bool = True, network: bool = False,
              limits: Optional[Mapping[str, int]] = None,
              restart_policy: str = "never", max_restarts: Optional[int] = None,
              restart_window: Optional[float] = None, *,
              python: Optional[str] = None, args: Optional[Sequence[str]] = None,
              env: Optional[Mapping[str, str]] = None,
              restart_backoff_ms: Optional[int] = None,
              permissions: Union[str, Mapping[str, Any], None] = None,
              llm: Optional[Mapping[str, int]] = None,
              **extra: Any) -> SpawnResult:
        """SPAWN: starts ``[python, script, socket_path, *args]`` as a new
        agent (``script`` is made absolute here). Positional order follows the
        original SDK; fields left None take the kernel's defaults. ``limits``
        (``memory`` bytes, ``cpu_quota``/``cpu_period`` µs, ``cpu_shares``,
        ``max_pids``) are enforced through the agent's cgroup; the reply's
        ``isolation["cgroup"]`` says which are in force. ``permissions`` is a
        level name (``"standard"``, ``"readonly"``, ...) or a policy object
        (docs/permissions.md); it can never exceed the caller's own (EACCES).
        By default an agent's child gets its parent's policy and an
        operator's child ``standard``. ``llm`` is ``{"weight": 1..1000,
        "priority": 0..9}``, the agent's share of the LLM scheduler
        (docs/llm.md)."""
        payload = _compact(
            permissions=(permissions if isinstance(permissions, str) or permissions is None
                         else dict(permissions)),
            name=name,
            script=os.path.abspath(os.fspath(script)) if script is not None else None,
            python=python, args=list(args) if args is not None else None,
            env=dict(env) if env is not None else None,
            sandboxed=sandboxed, network=network,
            limits=dict(limits) if limits is not None else None,
            restart_policy=restart_policy, max_restarts=max_restarts,
            restart_window=restart_window, restart_backoff_ms=restart_backoff_ms,
            llm=dict(llm) if llm is not None else None,
            **extra)
        return SpawnResult(self._request(Opcode.SPAWN, payload))

    def kill(self, agent_id: Union[int, str, None] = None, *,
             name: Optional[str] = None, grace: Optional[float] = None,
             wait: Optional[bool] = None) -> KillResult:
        """KILL: SIGTERM to the agent's process group, SIGKILL after ``grace``
        seconds; with ``wait`` (the kernel's default) replies once it exited.
        ``agent_id`` may be the id or the name."""
        payload = _selector("kill", agent_id, name)
        payload.update(_compact(grace=grace, wait=wait))
        timeout = DEFAULT if wait is False else self._wait_for(
            grace if grace is not None else KILL_DEFAULT_GRACE)
        return KillResult(self._request(Opcode.KILL, payload, timeout))

    def pause(self, agent_id: Union[int, str, None] = None, *,
              name: Optional[str] = None) -> PauseResult:
        """PAUSE: stops the agent's process group (SIGSTOP)."""
        payload = _selector("pause", agent_id, name)
        return PauseResult(self._request(Opcode.PAUSE, payload))

    def resume(self, agent_id: Union[int, str, None] = None, *,
               name: Optional[str] = None) -> ResumeResult:
        """RESUME: continues a paused agent (SIGCONT)."""
        payload = _selector("resume", agent_id, name)
        return ResumeResult(self._request(Opcode.RESUME, payload))

    # -- permissions --------------------------------------------------------

    def get_permissions(self, agent_id: Optional[int] = None) -> PermissionsResult:
        """GET_PERMS: the caller's own policy, or that of ``agent_id`` (only
        for operators and the agent's ancestors; others get EACCES)."""
        return PermissionsResult(self._request(Opcode.GET_PERMS,
                                               _compact(agent_id=agent_id)))

    def set_permissions(self, agent_id: Optional[int] = None,
                        permissions: Union[str, Mapping[str, Any], None] = None,
                        level: Optional[str] = None) -> PermissionsResult:
        """SET_PERMS: replaces the policy of ``agent_id`` (default: the
        calling agent itself) with ``permissions`` (a level name or a policy
        object) or ``level``. Needs operator rights or an ancestor of the
        target, and the new policy must be within the caller's own rights:
        an agent can lower its own, never raise it (EACCES)."""
        if (permissions is None) == (level is None):
            raise ValueError("set_permissions: give exactly one of permissions or level")
        payload = _compact(agent_id=agent_id, level=level,
                           permissions=(permissions if isinstance(permissions, str)
                                        or permissions is None else dict(permissions)))
        return PermissionsResult(self._request(Opcode.SET_PERMS, payload))

    def list_agents(self) -> list[AgentInfo]:
        """LIST: live agents and the most recent ended ones."""
        reply = self._request(Opcode.LIST, {})
        if isinstance(reply, dict):  # tolerate {"agents": [...]}
            reply = reply.get("agents") or []
        return [AgentInfo(a) for a in reply]

    # -- async --------------------------------------------------------------

    def poll_async(self, max: int = 16) -> AsyncResults:
        """ASYNC_POLL: finished async requests of this connection, oldest
        first, each ``payload`` parsed (``payload_raw`` keeps the JSON text).
        A failed request is not raised here: see ``AsyncResult.ok/result()``."""
        reply = Result(self._request(Opcode.ASYNC_POLL, {"max": max}))
        results = [self._async_result(item) for item in reply.get("results") or []]
        return AsyncResults(results, reply)

    @staticmethod
    def _async_result(item: Mapping[str, Any]) -> AsyncResult:
        result = AsyncResult(item)
        raw = item.get("payload")
        parsed: Any = raw
        if isinstance(raw, (str, bytes)):
            try:
                parsed = json.loads(raw)
            except ValueError:
                parsed = raw
        else:
            raw = json.dumps(raw)
        if isinstance(parsed, dict):
            parsed = result_for(int(item.get("opcode", -1)), parsed)
        result["payload"] = parsed
        result["payload_raw"] = raw
        return result


AgentOSClient = CloveClient
"""The original SDK's name for the client."""
