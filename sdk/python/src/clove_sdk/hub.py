# SPDX-License-Identifier: MIT
"""The hub syscalls of CloveClient — messaging, the state store, events,
the audit log, record and replay — with the original Clove SDK's method
names and keywords. A mixin: CloveClient supplies ``_request`` and
``_wait_for``. Every method returns the kernel's reply as a Result (a dict
with attribute access) and raises CloveError when the kernel refuses."""

from __future__ import annotations

from typing import Any, Mapping, Optional, Sequence, Union

from .protocol import Opcode
from .results import Result
from .transport import DEFAULT


def _compact(**fields: Any) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v is not None}


class HubCalls:
    """Messaging, state, events, audit and recording (docs/protocol.md)."""

    def _request(self, opcode: int, payload: Mapping[str, Any],
                 timeout: Optional[float] = DEFAULT) -> Any:
        raise NotImplementedError  # supplied by CloveClient

    def _wait_for(self, seconds: float) -> Optional[float]:
        raise NotImplementedError  # supplied by CloveClient

    def _hub(self, opcode: int, payload: Mapping[str, Any],
             timeout: Optional[float] = DEFAULT) -> Result:
        return Result(self._request(opcode, payload, timeout))

    # -- messaging ------------------------------------------------------------

    def register_name(self, name: str) -> Result:
        """REGISTER: takes ``name`` as this caller's name (``to_name`` of
        SEND reaches it; its mailbox becomes durable under that name)."""
        return self._hub(Opcode.REGISTER, {"name": name})

    def send_message(self, message: Any, to: Optional[int] = None,
                     to_name: Optional[str] = None) -> Result:
        """SEND: ``message`` (any JSON value) to agent or operator ``to``
        (id) or ``to_name``. A full mailbox raises CloveError ``EAGAIN``."""
        return self._hub(Opcode.SEND, _compact(message=message, to=to,
                                               to_name=to_name))

    def recv_messages(self, max_messages: int = 10,
                      wait: Union[float, bool, None] = None) -> Result:
        """RECV: up to ``max_messages`` messages, oldest first, each removed
        as it is returned. ``wait`` (seconds) waits for one to arrive."""
        payload = _compact(max=max_messages, wait=wait)
        seconds = 60.0 if wait is True else float(wait or 0)
        return self._hub(Opcode.RECV, payload, self._wait_for(seconds))

    def broadcast(self, message: Any, include_self: bool = False) -> Result:
        """BROADCAST: ``message`` to every live agent this caller may
        message; ``delivered_count`` says how many got it."""
        return self._hub(Opcode.BROADCAST, {"message": message,
                                            "include_self": include_self})

    # -- state store ----------------------------------------------------------

    def store(self, key: str, value: Any, scope: str = "global",
              ttl: Optional[float] = None, *, persist: Optional[bool] = None,
              if_version: Optional[int] = None,
              agent_id: Optional[int] = None) -> Result:
        """STORE: ``value`` (any JSON) under ``key`` in ``scope`` (``global``,
        ``agent`` or ``session``), expiring after ``ttl`` seconds. With
        ``if_version`` (0: only if absent) it is a compare-and-swap: a
        mismatch raises CloveError ``ESTALE`` whose ``reply`` carries the
        current ``version`` and ``value``. The reply has the new ``version``."""
        return self._hub(Opcode.STORE, _compact(
            key=key, value=value, scope=scope, ttl=ttl, persist=persist,
            if_version=if_version, agent_id=agent_id) | {"value": value})

    def fetch(self, key: str, scope: Optional[str] = None, *,
              agent_id: Optional[int] = None) -> Result:
        """FETCH: ``exists``, ``value``, ``scope``, ``version``. Without
        ``scope`` the agent, session and global scopes are searched in that
        order."""
        return self._hub(Opcode.FETCH, _compact(key=key, scope=scope,
                                                agent_id=agent_id))

    def delete_key(self, key: str, scope: Optional[str] = None, *,
                   if_version: Optional[int] = None,
                   agent_id: Optional[int] = None) -> Result:
        """DELETE: ``deleted`` says whether the key existed."""
        return self._hub(Opcode.DELETE, _compact(
            key=key, scope=scope, if_version=if_version, agent_id=agent_id))

    def list_keys(self, prefix: str = "", scope: Optional[str] = None, *,
                  limit: Optional[int] = None,
                  agent_id: Optional[int] = None) -> Result:
        """KEYS: ``r["keys"]`` (names, sorted; ``r.keys`` is the dict method)
        and ``entries`` ({key, scope,
        version, expires_at}) of the keys starting with ``prefix``."""
        return self._hub(Opcode.KEYS, _compact(
            prefix=prefix or None, scope=scope, limit=limit,
            agent_id=agent_id))

    # -- events ---------------------------------------------------------------

    def subscribe(self, event_types: Union[str, Sequence[str]]) -> Result:
        """SUBSCRIBE: to kernel event types (``agent_spawned``, ...), custom
        ones, ``"custom"`` (every EMITted type) or ``"*"`` (all)."""
        if isinstance(event_types, str):
            event_types = [event_types]
        return self._hub(Opcode.SUBSCRIBE, {"event_types": list(event_types)})

    def unsubscribe(self, event_types: Union[str, Sequence[str], None] = None,
                    all: bool = False) -> Result:
        """UNSUBSCRIBE: from the given types, or from all (``all=True`` or
        no types)."""
        if isinstance(event_types, str):
            event_types = [event_types]
        payload: dict[str, Any] = {"all": bool(all or not event_types)}
        if event_types:
            payload["event_types"] = list(event_types)
        return self._hub(Opcode.UNSUBSCRIBE, payload)

    def poll_events(self, max_events: int = 10,
                    wait: Union[float, bool, None] = None) -> Result:
        """POLL_EVENTS: ``events`` ({id, type, data, source_agent_id,
        timestamp}), oldest first, and ``dropped`` (lost to a full queue
        since the last poll). ``wait`` (seconds) waits for one to arrive."""
        seconds = 60.0 if wait is True else float(wait or 0)
        return self._hub(Opcode.POLL_EVENTS,
                         _compact(max=max_events, wait=wait),
                         self._wait_for(seconds))

    def emit_event(self, event_type: str, data: Any = None) -> Result:
        """EMIT: a custom event to its subscribers (``delivered_to`` of
        them); kernel event names are reserved."""
        return self._hub(Opcode.EMIT, _compact(event=event_type, data=data))

    # -- audit log ------------------------------------------------------------

    def get_audit_log(self, category: Optional[str] = None,
                      agent_id: Optional[int] = None, since_id: int = 0,
                      limit: int = 100, *, since: Optional[float] = None,
                      until: Optional[float] = None,
                      event_type: Optional[str] = None) -> Result:
        """GET_AUDIT_LOG: ``entries`` oldest first (without ``since_id``: the
        latest ``limit``), ``count`` and ``last_id`` (pass it as
        ``since_id`` to continue). ``since``/``until`` are epoch seconds."""
        return self._hub(Opcode.GET_AUDIT_LOG, _compact(
            category=category, agent_id=agent_id, since_id=since_id or None,
            limit=limit, since=since, until=until, event_type=event_type))

    def set_audit_config(self, **kwargs: Any) -> Result:
        """SET_AUDIT_CONFIG (the unrestricted level: operators): ``max_entries``,
        ``retention_days`` and ``log_<category>`` switches (``log_security``,
        ``log_lifecycle``, ``log_ipc``, ``log_state``, ``log_resource``,
        ``log_syscalls``, ``log_network``, ``log_world``, ``log_operator``).
        No arguments: returns the current ``config``."""
        return self._hub(Opcode.SET_AUDIT_CONFIG, dict(kwargs))

    # -- record and replay ----------------------------------------------------

    def start_recording(self, include_think: bool = True,
                        include_http: bool = True, include_exec: bool = True,
                        filter_agents: Optional[Sequence[Union[int, str]]] = None,
                        max_entries: Optional[int] = None) -> Result:
        """RECORD_START (the unrestricted level): records agents' THINK, HTTP and
        EXEC calls with their replies (``filter_agents``: ids or names)."""
        return self._hub(Opcode.RECORD_START, _compact(
            include_think=include_think, include_http=include_http,
            include_exec=include_exec, max_entries=max_entries,
            filter_agents=list(filter_agents) if filter_agents is not None
            else None))

    def stop_recording(self) -> Result:
        """RECORD_STOP: ``entries_recorded`` and the JSON Lines file's
        ``path``."""
        return self._hub(Opcode.RECORD_STOP, {})

    def get_recording_status(self, export: bool = False,
                             get_entries: bool = False,
                             limit: Optional[int] = None,
                             since_id: Optional[int] = None) -> Result:
        """RECORD_STATUS: counters; ``recording_data`` (JSON Lines) with
        ``export``, ``entries`` with ``get_entries``."""
        return self._hub(Opcode.RECORD_STATUS, _compact(
            export=export or None, get_entries=get_entries or None,
            limit=limit, since_id=since_id))

    def start_replay(self, recording_data: Union[str, Sequence[Any], None] = None,
                     *, path: Optional[str] = None,
                     agents: Optional[Sequence[str]] = None) -> Result:
        """REPLAY_START: agents with the recorded names get the recorded
        replies instead of live calls, in order; a call that differs raises
        CloveError ``EILSEQ`` in the agent (``reply["divergence"]``)."""
        payload = _compact(path=path,
                           agents=list(agents) if agents is not None else None)
        if recording_data is not None:
            payload["recording_data"] = (recording_data
                                         if isinstance(recording_data, str)
                                         else list(recording_data))
        return self._hub(Opcode.REPLAY_START, payload)

    def stop_replay(self) -> Result:
        """REPLAY_START with ``stop``: calls run live again."""
        return self._hub(Opcode.REPLAY_START, {"stop": True})

    def get_replay_status(self) -> Result:
        """REPLAY_STATUS: ``state`` (idle, replaying, completed, diverged),
        ``entries_replayed``, ``total_entries``, ``last_error``, per-agent
        ``agents``."""
        return self._hub(Opcode.REPLAY_STATUS, {})
