# SPDX-License-Identifier: MIT
"""Events: SUBSCRIBE, UNSUBSCRIBE, POLL_EVENTS (max, wait) and EMIT. The kernel's lifecycle events
(agent_spawned, agent_exited with exit code, signal and reason, agent_restarting, agent_failed,
agent_paused, agent_resumed), message_received and syscall_blocked; custom events; the bounded
queue that counts what it dropped instead of losing it silently; and who sees what (an agent only
events of its own tree).
"""

import sys
import time

import pytest

import wire
from clove_harness import agent_source, wait_report
from hub_util import (HUB_PRELUDE, OP_EMIT, OP_POLL_EVENTS, OP_SEND, OP_SUBSCRIBE,
                      OP_UNSUBSCRIBE, call, err, hub_agent, ok)

SLEEPER = """
ready()
sleep_forever()
"""


def poll_until(sock, want, timeout=20.0, types=None):
    """POLL_EVENTS (waiting) until want events (of types, when given) came; returns them."""
    got = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = ok(call(sock, OP_POLL_EVENTS, {"max": 1000, "wait": 1}))
        got += [e for e in r["events"] if types is None or e["type"] in types]
        if len(got) >= want:
            break
    return got


def by_type(events, agent_id=None):
    return [e["type"] for e in events if agent_id is None or e["data"].get("agent_id") == agent_id]


def test_lifecycle_events(kernel, agent_script):
    s = kernel.connect()
    r = ok(call(s, OP_SUBSCRIBE, {"event_types": ["agent_spawned", "AGENT_EXITED",
                                                  "agent_paused", "agent_resumed"]}))
    assert r["subscribed"] == ["agent_spawned", "agent_exited", "agent_paused", "agent_resumed"]
    before = time.time()
    a = hub_agent(kernel, agent_script, "time.sleep(1.5)\nsys.exit(3)\n", "quits")
    ok(kernel.request(wire.OP_PAUSE, {"id": a["id"]}))
    ok(kernel.request(wire.OP_RESUME, {"id": a["id"]}))
    ev = poll_until(s, 4)
    assert by_type(ev, a["id"]) == ["agent_spawned", "agent_paused", "agent_resumed",
                                    "agent_exited"]
    spawned, exited = ev[0], ev[3]
    assert spawned["data"]["name"] == "quits" and spawned["data"]["pid"] == a["pid"]
    assert spawned["source_agent_id"] == a["id"]
    assert before - 5 < spawned["timestamp"] < time.time() + 5
    assert isinstance(spawned["id"], int) and exited["id"] > spawned["id"]
    assert exited["data"]["exit_code"] == 3 and exited["data"]["signal"] is None
    assert exited["data"]["reason"] == "exited"


def test_kill_restart_and_failure_events(kernel, agent_script):
    s = kernel.connect()
    ok(call(s, OP_SUBSCRIBE, {"event_types": ["*"]}))
    v = hub_agent(kernel, agent_script, SLEEPER, "victim")
    ok(kernel.request(wire.OP_KILL, {"id": v["id"], "grace": 5}))
    c = hub_agent(kernel, agent_script, "sys.exit(1)\n", "crashy", restart_policy="always",
                  max_restarts=1, restart_backoff_ms=10)
    allev = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and "agent_failed" not in by_type(allev):
        allev += ok(call(s, OP_POLL_EVENTS, {"max": 1000, "wait": 1}))["events"]
    kernel.wait_agent("victim", lambda a: a["state"] == "killed")
    allev += ok(call(s, OP_POLL_EVENTS, {"max": 1000}))["events"]
    assert [e["id"] for e in allev] == sorted(e["id"] for e in allev)
    kills = [e for e in allev if e["data"].get("agent_id") == v["id"]]
    assert [e["type"] for e in kills] == ["agent_spawned", "agent_exited"]
    assert kills[1]["data"]["reason"] == "killed" and kills[1]["data"]["signal"] == 15
    crash = by_type(allev, c["id"])
    assert crash[0] == "agent_spawned" and crash[-1] == "agent_failed"
    assert "agent_restarting" in crash
    assert crash.count("agent_exited") == 2


def test_poll_wait_blocks_only_the_caller_and_wakes_on_emit(kernel):
    s, e = kernel.connect(), kernel.connect()
    ok(call(s, OP_SUBSCRIBE, {"event": "job_done"}))
    wire.send_frame(s, OP_POLL_EVENTS, {"wait": 30})
    assert ok(kernel.request(wire.OP_HELLO, {}))
    assert not wire.readable(s, 0.3)
    r = ok(call(e, OP_EMIT, {"event": "job_done", "data": {"job": 7}}))
    assert r["event"] == "job_done" and r["delivered_to"] == 1
    hdr, data = wire.read_frame(s)
    got = ok(wire.decode_json(data))
    assert hdr.opcode == OP_POLL_EVENTS and got["count"] == 1
    assert got["events"][0]["type"] == "job_done"
    assert got["events"][0]["data"] == {"job": 7}
    assert got["events"][0]["source_agent_id"] == call(e, wire.OP_HELLO, {})["agent_id"]
    t0 = time.monotonic()
    assert ok(call(s, OP_POLL_EVENTS, {"wait": 0.4}))["count"] == 0
    assert time.monotonic() - t0 >= 0.3


def test_custom_events_reach_star_and_custom_subscribers(kernel):
    star, custom, other = kernel.connect(), kernel.connect(), kernel.connect()
    ok(call(star, OP_SUBSCRIBE, {"events": ["*"]}))
    ok(call(custom, OP_SUBSCRIBE, {"event": "CUSTOM"}))
    ok(call(other, OP_SUBSCRIBE, {"event": "something_else"}))
    assert ok(kernel.request(OP_EMIT, {"event": "ping", "data": [1]}))["delivered_to"] == 2
    assert [e["type"] for e in ok(call(star, OP_POLL_EVENTS, {}))["events"]] == ["ping"]
    assert [e["data"] for e in ok(call(custom, OP_POLL_EVENTS, {}))["events"]] == [[1]]
    assert ok(call(other, OP_POLL_EVENTS, {}))["count"] == 0


def test_unsubscribe(kernel):
    s = kernel.connect()
    ok(call(s, OP_SUBSCRIBE, {"event_types": ["a", "b", "c"]}))
    r = ok(call(s, OP_UNSUBSCRIBE, {"event": "a"}))
    assert r["event_types"] == ["b", "c"]
    ok(kernel.request(OP_EMIT, {"event": "a"}))
    ok(kernel.request(OP_EMIT, {"event": "b"}))
    assert [e["type"] for e in ok(call(s, OP_POLL_EVENTS, {}))["events"]] == ["b"]
    assert ok(call(s, OP_UNSUBSCRIBE, {"all": True}))["event_types"] == []
    ok(kernel.request(OP_EMIT, {"event": "c"}))
    assert ok(call(s, OP_POLL_EVENTS, {}))["count"] == 0


def test_full_queue_drops_oldest_and_counts(kernel):
    s = kernel.connect()
    ok(call(s, OP_SUBSCRIBE, {"event": "spam"}))
    e = kernel.connect()
    for i in range(1100):
        wire.send_frame(e, OP_EMIT, {"event": "spam", "data": i})
        if i % 50 == 49:
            for _ in range(50):
                wire.read_frame(e)
    for _ in range(1100 % 50):
        wire.read_frame(e)
    r = ok(call(s, OP_POLL_EVENTS, {"max": 1000}))
    assert r["count"] == 1000 and r["dropped"] == 76 and r["pending"] == 24
    assert r["events"][0]["data"] == 76  # the oldest went
    r = ok(call(s, OP_POLL_EVENTS, {"max": 1000}))
    assert r["count"] == 24 and r["dropped"] == 0 and r["events"][-1]["data"] == 1099


@pytest.mark.parametrize("op, payload", [
    (OP_SUBSCRIBE, {}),
    (OP_SUBSCRIBE, {"event_types": "agent_spawned"}),
    (OP_SUBSCRIBE, {"event_types": [1]}),
    (OP_SUBSCRIBE, {"event": "bad name!"}),
    (OP_SUBSCRIBE, {"event": "x" * 65}),
    (OP_SUBSCRIBE, {"event_types": ["t%d" % i for i in range(65)]}),
    (OP_UNSUBSCRIBE, {"all": "yes"}),
    (OP_POLL_EVENTS, {"max": 0}),
    (OP_POLL_EVENTS, {"max": 1001}),
    (OP_POLL_EVENTS, {"wait": -1}),
    (OP_POLL_EVENTS, {"wait": "1"}),
    (OP_EMIT, {}),
    (OP_EMIT, {"event": "agent_exited"}),
    (OP_EMIT, {"event": "AGENT_SPAWNED"}),
    (OP_EMIT, {"event": "*"}),
    (OP_EMIT, {"event": 5}),
])
def test_field_errors(kernel, op, payload):
    err(kernel.request(op, payload), "EINVAL")


def test_types_per_caller_and_data_size_are_bounded(kernel):
    s = kernel.connect()
    ok(call(s, OP_SUBSCRIBE, {"event_types": ["t%d" % i for i in range(64)]}))
    err(call(s, OP_SUBSCRIBE, {"event": "one-more"}), "E2BIG")
    err(kernel.request(OP_EMIT, {"event": "big", "data": "x" * 17000}), "EMSGSIZE")


def test_message_received_and_syscall_blocked(kernel, agent_script):
    a, watcher = kernel.connect(), kernel.connect()
    ok(call(a, OP_SUBSCRIBE, {"event": "message_received"}))
    ok(call(watcher, OP_SUBSCRIBE, {"event_types": ["message_received", "syscall_blocked"]}))
    aid = call(a, wire.OP_HELLO, {})["agent_id"]
    m = ok(kernel.request(OP_SEND, {"to": aid, "message": "hi"}))
    ev = ok(call(a, OP_POLL_EVENTS, {}))["events"]
    assert [e["type"] for e in ev] == ["message_received"]
    assert ev[0]["data"]["to"] == aid and ev[0]["data"]["message_id"] == m["message_id"]
    # A stranger's agent tries to kill another tree's agent.
    v = hub_agent(kernel, agent_script, SLEEPER, "bystander")
    x = hub_agent(kernel, agent_script, """
report(kill=req(0x11, {"id": int(sys.argv[2])}))
sleep_forever()
""", "rogue", args=[str(v["id"])])
    err(wait_report(x["log_path"])[0]["kill"], "EACCES")
    got = poll_until(watcher, 2, types={"message_received", "syscall_blocked"})
    blocked = [e for e in got if e["type"] == "syscall_blocked"]
    assert blocked and blocked[0]["data"]["opcode_name"] == "KILL"
    assert blocked[0]["source_agent_id"] == x["id"] and blocked[0]["data"]["reason"]


# An agent subscribes to everything, spawns a child that exits, and reports what it saw.
WATCHER = """
child = os.path.abspath("child.py")
with open(child, "w") as f:
    f.write(os.environ["CHILD_SRC"])
req(OP_SUBSCRIBE, {"event_types": ["*"]})
ready()
c = req(0x10, {"name": "watched-child", "script": child, "python": sys.executable})
seen = []
deadline = time.time() + 20
while time.time() < deadline and not any(
        e["type"] == "agent_exited" and e["data"]["agent_id"] == c["id"] for e in seen):
    seen += req(OP_POLL_EVENTS, {"max": 100, "wait": 1})["events"]
time.sleep(1.0)
seen += req(OP_POLL_EVENTS, {"max": 100})["events"]
report(child=c["id"], seen=seen)
sleep_forever()
"""


def test_agents_see_only_their_own_tree(kernel, agent_script):
    child = agent_source(HUB_PRELUDE + "time.sleep(0.5)\n")
    w = hub_agent(kernel, agent_script, WATCHER, "watcher", env={"CHILD_SRC": child})
    from clove_harness import wait_log
    wait_log(w["log_path"], "READY")
    stranger = hub_agent(kernel, agent_script, "sys.exit(0)\n", "stranger")
    ok(kernel.request(OP_EMIT, {"event": "from_operator"}))
    rep = wait_report(w["log_path"], timeout=40)[0]
    about = {e["data"].get("agent_id") for e in rep["seen"] if e["type"].startswith("agent_")}
    assert rep["child"] in about
    assert stranger["id"] not in about
    assert "from_operator" in [e["type"] for e in rep["seen"]]
