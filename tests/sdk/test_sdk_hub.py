# SPDX-License-Identifier: MIT
"""The SDK's hub methods against a real kernel: messaging (register_name, send_message,
recv_messages, broadcast), the state store, events, the audit log and recording, with the
original SDK's method names. Agents spawned here use the SDK over their inherited CLOVE_FD."""

from __future__ import annotations

import json
import time

import pytest

from clove_sdk import CloveClient, CloveError
from test_sdk_live import (agent_log, client, cloved, transport, find_agent,  # noqa: F401
                           spawn_sdk_agent, state_dir, wait_until)

pytestmark = pytest.mark.timeout(180)

ECHO_AGENT = """
from clove_sdk import CloveClient
with CloveClient() as c:
    c.register_name("sdk-echo")
    while True:
        r = c.recv_messages(max_messages=5, wait=10)
        for m in r.messages:
            c.send_message({"echo": m["message"]}, to=m["from"])
"""


def test_messaging_between_operators(cloved):
    with CloveClient(cloved, timeout=30) as a, CloveClient(cloved, timeout=30) as b:
        r = a.register_name("sdk-a")
        assert r.name == "sdk-a" and r.agent_id == a.agent_id
        s = b.send_message({"x": 1}, to_name="sdk-a")
        assert s.delivered_to == a.agent_id
        b.send_message("two", to=a.agent_id)
        got = a.recv_messages(max_messages=10)
        assert got.count == 2
        assert [m["message"] for m in got.messages] == [{"x": 1}, "two"]
        assert got.messages[0]["from"] == b.agent_id
        t0 = time.monotonic()
        assert a.recv_messages(wait=0.3).count == 0
        assert time.monotonic() - t0 >= 0.25
        with pytest.raises(CloveError) as e:
            b.send_message("x", to_name="no-such-name")
        assert e.value.code == "ENOENT"


def test_agent_answers_an_operator(cloved, state_dir, tmp_path):
    # Over the socket only: the agent registers a durable name, which a second run against
    # the same kernel (the other transport) would find taken.
    with CloveClient(cloved, fast_path=False) as client:
        _agent_answers_an_operator(client, state_dir, tmp_path)


def _agent_answers_an_operator(client, state_dir, tmp_path):
    spawn_sdk_agent(client, tmp_path, "sdk-echo-agent", ECHO_AGENT)
    wait_until(lambda: _try_send(client), "the agent to register", timeout=30)
    got = []
    deadline = time.monotonic() + 30
    while not got and time.monotonic() < deadline:
        got = client.recv_messages(wait=2).messages
    assert got, agent_log(state_dir, "sdk-echo-agent")
    assert got[0]["message"] == {"echo": "ping"}
    assert got[0]["from_name"] == "sdk-echo"
    b = client.broadcast("to everyone")
    assert b.delivered_count >= 1
    client.kill("sdk-echo-agent", grace=0)


def _try_send(client):
    try:
        client.send_message("ping", to_name="sdk-echo")
        return True
    except CloveError as e:
        if e.code != "ENOENT":
            raise
        return False


def test_state_store(client):
    r = client.store("sdk/k", {"v": 1})
    assert r.version > 0 and r.scope == "global"
    f = client.fetch("sdk/k")
    assert f.exists and f.value == {"v": 1} and f.version == r.version
    client.store("sdk/k", None, if_version=r.version)
    with pytest.raises(CloveError) as e:
        client.store("sdk/k", 3, if_version=r.version)
    assert e.value.code == "ESTALE" and e.value.reply["value"] is None
    client.store("sdk/mine", "x", scope="agent", ttl=60)
    keys = client.list_keys("sdk/")
    assert keys["keys"] == ["sdk/k", "sdk/mine"] and keys.count == 2
    assert [e["scope"] for e in keys.entries] == ["global", "agent"]
    assert client.delete_key("sdk/k").deleted is True
    assert client.fetch("sdk/k").exists is False
    assert client.delete_key("sdk/k").deleted is False


def test_events(cloved):
    with CloveClient(cloved, timeout=30) as a, CloveClient(cloved, timeout=30) as b:
        r = a.subscribe(["build_done", "AGENT_SPAWNED"])
        assert r.subscribed == ["build_done", "agent_spawned"]
        assert b.emit_event("build_done", {"ok": True}).delivered_to == 1
        got = a.poll_events(wait=5)
        assert got.count == 1 and got.dropped == 0
        ev = got.events[0]
        assert ev["type"] == "build_done" and ev["data"] == {"ok": True}
        assert ev["source_agent_id"] == b.agent_id
        assert a.unsubscribe("build_done").event_types == ["agent_spawned"]
        b.emit_event("build_done")
        assert a.poll_events(wait=0.2).count == 0
        assert a.unsubscribe().event_types == []
        with pytest.raises(CloveError) as e:
            b.emit_event("agent_exited")
        assert e.value.code == "EINVAL"


def test_audit_log(client):
    cfg = client.set_audit_config()
    assert cfg.config["log_security"] is True
    client.store("sdk/audited", 1)
    log = client.get_audit_log(category="OPERATOR", limit=5)
    assert log.count >= 1 and log.entries[-1]["event_type"] == "STORE"
    more = client.get_audit_log(since_id=log.last_id)
    assert more.count == 0
    with pytest.raises(CloveError) as e:
        client.set_audit_config(log_everything=True)
    assert e.value.code == "EINVAL"


RANDOM_AGENT = """
from clove_sdk import CloveClient, CloveError
import json
with CloveClient() as c:
    try:
        out = c.exec("head -c 8 /dev/urandom | od -An -tx1").stdout
    except CloveError as e:
        out = "ERROR " + str(e.code)
    print("OUT " + json.dumps(out), flush=True)
"""


def _agent_out(state_dir, name, count):
    def outs():
        text = agent_log(state_dir, name)
        got = [json.loads(line[4:]) for line in text.splitlines() if line.startswith("OUT ")]
        return got if len(got) >= count else None
    return wait_until(outs, f"{count} OUT line(s) from {name}", timeout=30)


def test_record_and_replay(cloved, state_dir, tmp_path):
    # Over the socket only: replay state is kernel-wide, so this test must not run twice
    # against one kernel. Record/replay over the fast path: tests/integration/test_record.py.
    with CloveClient(cloved, fast_path=False) as client:
        _record_and_replay(client, state_dir, tmp_path, "sdk-rr")


def _record_and_replay(client, state_dir, tmp_path, name):
    client.start_recording(include_think=False, include_http=False)
    spawn_sdk_agent(client, tmp_path, name, RANDOM_AGENT)
    first = _agent_out(state_dir, name, 1)[0]
    wait_until(lambda: client.get_recording_status().entry_count == 1, "one entry")
    data = client.get_recording_status(export=True).recording_data
    stop = client.stop_recording()
    assert stop.entries_recorded == 1 and stop.path.endswith(".jsonl")
    r = client.start_replay(data)
    assert r.total_entries == 1
    wait_until(lambda: find_agent(client, name).state == "exited", "sdk-rr to exit")
    spawn_sdk_agent(client, tmp_path, name, RANDOM_AGENT)
    assert _agent_out(state_dir, name, 2)[1] == first
    assert client.get_replay_status().state == "completed"
    assert client.stop_replay().state == "idle"
