# SPDX-License-Identifier: MIT
"""Messaging: REGISTER, SEND, BROADCAST and RECV. Covers every field error, unknown targets (an
error, where the original answered success), the bounded mailbox (EAGAIN as backpressure), RECV
with ``wait`` blocking only its caller, the default reachability rule (an agent reaches its own
tree and operators), that nobody reads another's mailbox, and durability: accepted messages to a
named mailbox survive ``kill -9`` of cloved and a restart, and a received message never comes
back.
"""

import os
import sqlite3
import sys
import textwrap
import time

import pytest

import wire
from clove_harness import agent_source, wait_report, wait_until
from hub_util import (HUB_PRELUDE, OP_BROADCAST, OP_RECV, OP_REGISTER, OP_SEND, call, crash,
                      err, hub_agent, ok, restart_on_same_state)

SLEEPER = """
ready()
sleep_forever()
"""

# Receives argv[2] messages (waiting), reports them.
RECEIVER = """
want = int(sys.argv[2])
got = []
while len(got) < want:
    r = req(OP_RECV, {"max": 100, "wait": 5})
    assert r["success"], r
    got += r["messages"]
report(messages=got)
sleep_forever()
"""


def my_id(sock):
    return wire.call_json(sock, wire.OP_HELLO, {})[1]["agent_id"]


def db_count(kernel, where):
    con = sqlite3.connect(os.path.join(kernel.state_dir, "clove.db"), timeout=5)
    try:
        return con.execute("SELECT count(*) FROM messages WHERE " + where).fetchone()[0]
    finally:
        con.close()


# ---------------------------------------------------------------------------------------------
# between operators


def test_register_send_recv_between_operators(kernel):
    a, b = kernel.connect(), kernel.connect()
    ra = ok(call(a, OP_REGISTER, {"name": "alice"}))
    assert ra["name"] == "alice" and ra["agent_id"] == my_id(a)
    before = time.time()
    s = ok(call(b, OP_SEND, {"to_name": "alice", "message": {"n": 1, "text": "héllo"}}))
    assert s["delivered_to"] == ra["agent_id"]
    assert isinstance(s["message_id"], int)
    ok(call(b, OP_SEND, {"to": ra["agent_id"], "message": [1, 2]}))
    r = ok(call(a, OP_RECV, {}))
    assert r["count"] == 2 and len(r["messages"]) == 2
    m = r["messages"][0]
    assert m["message"] == {"n": 1, "text": "héllo"}
    assert m["from"] == my_id(b) and m["from_name"] is None
    assert m["id"] == s["message_id"]
    assert before - 5 <= m["sent_at"] <= time.time() + 5
    assert isinstance(m["age_ms"], int) and m["age_ms"] >= 0
    assert r["messages"][1]["message"] == [1, 2]
    # Delivered once: gone after the RECV that returned it.
    assert ok(call(a, OP_RECV, {}))["count"] == 0


def test_recv_max_returns_oldest_first(kernel):
    a = kernel.connect()
    me = my_id(a)
    for i in range(5):
        ok(call(a, OP_SEND, {"to": me, "message": i}))
    r = ok(call(a, OP_RECV, {"max": 3}))
    assert [m["message"] for m in r["messages"]] == [0, 1, 2]
    r = ok(call(a, OP_RECV, {"max": 10}))
    assert [m["message"] for m in r["messages"]] == [3, 4]


@pytest.mark.parametrize("payload, code", [
    ({"message": 1}, "EINVAL"),
    ({"to": 1, "to_name": "x", "message": 1}, "EINVAL"),
    ({"to": "1", "message": 1}, "EINVAL"),
    ({"to": 0, "message": 1}, "EINVAL"),
    ({"to": 2 ** 40, "message": 1}, "EINVAL"),
    ({"to_name": 5, "message": 1}, "EINVAL"),
    ({"to": 999999, "message": 1}, "ENOENT"),
    ({"to_name": "nobody-here", "message": 1}, "ENOENT"),
])
def test_send_errors(kernel, payload, code):
    err(kernel.request(OP_SEND, payload), code)


def test_send_needs_message_and_limits_its_size(kernel):
    me = my_id(kernel.op)
    err(kernel.request(OP_SEND, {"to": me}), "EINVAL")
    e = err(kernel.request(OP_SEND, {"to": me, "message": "x" * 70000}), "EMSGSIZE")
    assert "65536" in e["error"]
    ok(kernel.request(OP_SEND, {"to": me, "message": "x" * 60000}))
    # Any JSON value is a message.
    for v in (None, 0, "s", [1], {"a": {"b": []}}):
        ok(kernel.request(OP_SEND, {"to": me, "message": v}))
    r = ok(kernel.request(OP_RECV, {"max": 10}))
    assert [m["message"] for m in r["messages"]][1:] == [None, 0, "s", [1], {"a": {"b": []}}]


def test_unknown_target_after_the_operator_left(kernel):
    a = kernel.connect()
    gone = my_id(a)
    a.close()
    wait_until(lambda: kernel.request(OP_SEND, {"to": gone, "message": 1})
               .get("code") == "ENOENT", 10, 0.05, "SEND to a closed connection to fail")


@pytest.mark.parametrize("payload", [
    {"max": 0}, {"max": 257}, {"max": "3"}, {"wait": -1}, {"wait": "x"}, {"wait": 3601},
])
def test_recv_errors(kernel, payload):
    err(kernel.request(OP_RECV, payload), "EINVAL")


@pytest.mark.parametrize("payload", [
    {}, {"name": ""}, {"name": "bad name"}, {"name": "x" * 65}, {"name": 7},
    {"name": "agent-12"},
])
def test_register_errors(kernel, payload):
    err(kernel.request(OP_REGISTER, payload), "EINVAL")


def test_register_name_is_unique(kernel, agent_script):
    a, b = kernel.connect(), kernel.connect()
    ok(call(a, OP_REGISTER, {"name": "taken"}))
    ok(call(a, OP_REGISTER, {"name": "taken"}))  # again, same caller: fine
    err(call(b, OP_REGISTER, {"name": "taken"}), "EEXIST")
    # A registered name is as taken for SPAWN as a live agent's name...
    e = kernel.request(wire.OP_SPAWN, {"name": "taken", "script": agent_script(SLEEPER),
                                       "python": sys.executable})
    err(e, "EEXIST")
    # ... and a live agent's name cannot be registered.
    hub_agent(kernel, agent_script, SLEEPER, "livename")
    err(call(b, OP_REGISTER, {"name": "livename"}), "EEXIST")
    # The name is free again once its holder has gone.
    a.close()
    wait_until(lambda: call(b, OP_REGISTER, {"name": "taken"}).get("success"), 10, 0.05,
               "the name to be free")


def test_register_moves_pending_messages(kernel):
    a, b = kernel.connect(), kernel.connect()
    aid = my_id(a)
    ok(call(b, OP_SEND, {"to": aid, "message": "one"}))
    ok(call(b, OP_SEND, {"to": aid, "message": "two"}))
    ok(call(a, OP_REGISTER, {"name": "renamed"}))
    ok(call(b, OP_SEND, {"to_name": "renamed", "message": "three"}))
    r = ok(call(a, OP_RECV, {"max": 10}))
    assert [m["message"] for m in r["messages"]] == ["one", "two", "three"]


# ---------------------------------------------------------------------------------------------
# wait


def test_recv_wait_blocks_only_its_caller_and_wakes_on_send(kernel):
    a = kernel.connect()
    ok(call(a, OP_REGISTER, {"name": "sleepy"}))
    t0 = time.monotonic()
    wire.send_frame(a, OP_RECV, {"wait": 30})
    # The kernel keeps serving others meanwhile.
    for _ in range(3):
        assert kernel.request(wire.OP_HELLO, {})["success"] is True
    assert not wire.readable(a, 0.3), "RECV answered before any message arrived"
    ok(kernel.request(OP_SEND, {"to_name": "sleepy", "message": "wake up"}))
    hdr, r = wire.read_frame(a)
    r = wire.decode_json(r)
    assert hdr.opcode == OP_RECV
    assert ok(r)["count"] == 1 and r["messages"][0]["message"] == "wake up"
    assert time.monotonic() - t0 < 25


def test_recv_wait_times_out_empty(kernel):
    t0 = time.monotonic()
    r = ok(kernel.request(OP_RECV, {"wait": 0.5}))
    assert r["count"] == 0 and r["messages"] == []
    assert time.monotonic() - t0 >= 0.4


def test_recv_wait_true_returns_at_once_when_messages_wait(kernel):
    me = my_id(kernel.op)
    ok(kernel.request(OP_SEND, {"to": me, "message": 1}))
    t0 = time.monotonic()
    assert ok(kernel.request(OP_RECV, {"wait": True}))["count"] == 1
    assert time.monotonic() - t0 < 20


def test_waiting_recv_of_a_closed_connection_is_dropped(kernel):
    a = kernel.connect()
    wire.send_frame(a, OP_RECV, {"wait": 30})
    time.sleep(0.2)
    a.close()
    time.sleep(0.2)
    assert kernel.request(wire.OP_HELLO, {})["success"] is True


def test_shutdown_answers_a_waiting_recv(kernel):
    a = kernel.connect()
    wire.send_frame(a, OP_RECV, {"wait": 60})
    time.sleep(0.2)
    t0 = time.monotonic()
    assert kernel.terminate(timeout=15) == 0
    assert time.monotonic() - t0 < 10
    hdr, r = wire.read_frame(a)
    assert hdr.opcode == OP_RECV and wire.decode_json(r)["count"] == 0


# ---------------------------------------------------------------------------------------------
# bounds


def test_full_mailbox_refuses_with_eagain_until_drained(kernel):
    a = kernel.connect()
    ok(call(a, OP_REGISTER, {"name": "fills"}))
    for i in range(1000):
        ok(kernel.request(OP_SEND, {"to_name": "fills", "message": i}))
    e = err(kernel.request(OP_SEND, {"to_name": "fills", "message": "no room"}), "EAGAIN")
    assert e["limit"] == 1000
    r = ok(call(a, OP_RECV, {"max": 256}))
    assert [m["message"] for m in r["messages"]] == list(range(256))
    ok(kernel.request(OP_SEND, {"to_name": "fills", "message": "room again"}))


# ---------------------------------------------------------------------------------------------
# agents: the tree rule and privacy

# A sandboxed parent can give its child only a script it can see: it writes one into its work
# directory (the source comes in CHILD_SRC).
WRITE_CHILD = """
child = os.path.abspath("child.py")
with open(child, "w") as f:
    f.write(os.environ["CHILD_SRC"])
"""

PARENT = WRITE_CHILD + """
me = int(os.environ["CLOVE_AGENT_ID"])
c1 = req(0x10, {"name": "kid1", "script": child, "python": sys.executable,
                "args": ["kid2"]})
c2 = req(0x10, {"name": "kid2", "script": child, "python": sys.executable,
                "args": ["-"]})
assert c1["success"] and c2["success"], (c1, c2)
# Parent -> child (descendant).
s = req(OP_SEND, {"to": c1["id"], "message": {"from_parent": me}})
got = []
while len(got) < 1:
    got += req(OP_RECV, {"wait": 5})["messages"]
report(sent=s, got=got, kid1=c1["id"], kid2=c2["id"])
sleep_forever()
"""

# argv[2]: a sibling's name to forward to, or "-" to answer the sender's parent.
CHILD = """
target = sys.argv[2]
got = []
while not got:
    got = req(OP_RECV, {"wait": 5})["messages"]
m = got[0]
if target != "-":
    r = req(OP_SEND, {"to_name": target, "message": {"relay": m["message"]}})
else:
    r = req(OP_SEND, {"to": int(m["message"]["relay"]["from_parent"]),
                      "message": {"back": m["from_name"]}})
report(got=m, sent=r)
sleep_forever()
"""


def test_agent_tree_messaging(kernel, agent_script):
    child = agent_source(HUB_PRELUDE + textwrap.dedent(CHILD))
    p = hub_agent(kernel, agent_script, PARENT, "tree-parent", env={"CHILD_SRC": child})
    rep = wait_report(p["log_path"], timeout=30)[0]
    assert rep["sent"]["success"] is True
    # parent -> kid1 -> (sibling) kid2 -> (ancestor) parent
    assert rep["got"][0]["message"] == {"back": "kid1"}
    assert rep["got"][0]["from_name"] == "kid2"
    assert rep["got"][0]["from"] == rep["kid2"]


CROSS = """
other = sys.argv[2]
op = int(sys.argv[3])
r1 = req(OP_SEND, {"to_name": other, "message": "psst"})
r2 = req(OP_SEND, {"to": op, "message": "hello operator"})
r3 = req(OP_BROADCAST, {"message": "all", "include_self": True})
report(to_other=r1, to_op=r2, bcast=r3)
sleep_forever()
"""


def test_agents_of_different_trees_cannot_message_each_other(kernel, agent_script):
    hub_agent(kernel, agent_script, SLEEPER, "island")
    me = my_id(kernel.op)
    a = hub_agent(kernel, agent_script, CROSS, "crosser", args=["island", str(me)])
    rep = wait_report(a["log_path"])[0]
    e = err(rep["to_other"], "EACCES")
    assert "tree" in e["error"]
    ok(rep["to_op"])
    # Its broadcast reaches only its own tree: itself.
    assert ok(rep["bcast"])["delivered_count"] == 1
    assert rep["bcast"]["delivered_to"] == [a["id"]]
    m = ok(kernel.request(OP_RECV, {}))["messages"]
    assert [(x["message"], x["from"], x["from_name"]) for x in m] == \
        [("hello operator", a["id"], "crosser")]


def test_the_messaging_policy_field(kernel, agent_script):
    """messaging "any" reaches another tree; "none" reaches only operators (and itself)."""
    island = hub_agent(kernel, agent_script, SLEEPER, "island")
    me = my_id(kernel.op)
    wide = hub_agent(kernel, agent_script, CROSS, "wide", args=["island", str(me)],
                     permissions={"level": "standard", "messaging": "any"})
    rep = wait_report(wide["log_path"])[0]
    assert ok(rep["to_other"])["delivered_to"] == island["id"]
    assert sorted(ok(rep["bcast"])["delivered_to"]) == sorted([island["id"], wide["id"]])
    shut = hub_agent(kernel, agent_script, CROSS, "shut", args=["wide", str(me)],
                     permissions={"level": "standard", "messaging": "none"})
    rep = wait_report(shut["log_path"])[0]
    e = err(rep["to_other"], "EACCES")
    assert '"none"' in e["error"] and "operators only" in e["error"]
    ok(rep["to_op"])
    assert ok(rep["bcast"])["delivered_to"] == [shut["id"]]
    perms = ok(kernel.request(wire.OP_GET_PERMS, {"agent_id": shut["id"]}))["permissions"]
    assert perms["messaging"] == "none"


SNOOP = """
r = req(OP_RECV, {"max": 10, "to_name": "victim", "name": "victim"})
report(r=r)
sleep_forever()
"""

VICTIM = """
got = []
while not got:
    got = req(OP_RECV, {"wait": 5})["messages"]
report(got=got)
sleep_forever()
"""


def test_an_agent_cannot_read_another_agents_messages(kernel, agent_script):
    v = hub_agent(kernel, agent_script, "time.sleep(1)\n" + VICTIM, "victim")
    ok(kernel.request(OP_SEND, {"to_name": "victim", "message": "secret"}))
    s = hub_agent(kernel, agent_script, SNOOP, "snoop")
    rep = wait_report(s["log_path"])[0]
    assert ok(rep["r"])["count"] == 0
    got = wait_report(v["log_path"])[0]["got"]
    assert [m["message"] for m in got] == ["secret"]


def test_operator_broadcast_reaches_every_live_agent(kernel, agent_script):
    rs = [hub_agent(kernel, agent_script, RECEIVER, "bc%d" % i, args=["1"]) for i in range(3)]
    b = ok(kernel.request(OP_BROADCAST, {"message": {"all": True}}))
    assert b["delivered_count"] == 3
    assert sorted(b["delivered_to"]) == sorted(r["id"] for r in rs)
    assert b["skipped_full"] == []
    for r in rs:
        got = wait_report(r["log_path"])[0]["messages"]
        assert [m["message"] for m in got] == [{"all": True}]
    err(kernel.request(OP_BROADCAST, {}), "EINVAL")
    err(kernel.request(OP_BROADCAST, {"message": 1, "include_self": "yes"}), "EINVAL")


def test_unnamed_agents_mailbox_goes_with_it(kernel, agent_script):
    a = kernel.spawn(script=agent_script(SLEEPER), python=sys.executable)
    assert a["name"] == "agent-%d" % a["id"]
    ok(kernel.request(OP_SEND, {"to": a["id"], "message": "bye"}))
    assert db_count(kernel, "mailbox = '#%d'" % a["id"]) == 1
    ok(kernel.request(wire.OP_KILL, {"id": a["id"], "grace": 0}))
    wait_until(lambda: db_count(kernel, "mailbox = '#%d'" % a["id"]) == 0, 10, 0.05,
               "the unnamed mailbox to be dropped")


# ---------------------------------------------------------------------------------------------
# durability


@pytest.mark.timeout(120)
def test_accepted_messages_survive_kill_9_and_restart(make_kernel, agent_script):
    k = make_kernel()
    hub_agent(k, agent_script, SLEEPER, "worker")
    unnamed = k.spawn(script=agent_script(SLEEPER, name="unnamed"), python=sys.executable)
    for i in range(5):
        ok(k.request(OP_SEND, {"to_name": "worker", "message": {"n": i}}))
    ok(k.request(OP_SEND, {"to": unnamed["id"], "message": "lost with its agent"}))
    # A message received before the crash must not come back after it.
    a = k.connect()
    ok(call(a, OP_REGISTER, {"name": "once"}))
    ok(k.request(OP_SEND, {"to_name": "once", "message": "read"}))
    ok(k.request(OP_SEND, {"to_name": "once", "message": "unread"}))
    assert [m["message"] for m in ok(call(a, OP_RECV, {"max": 1}))["messages"]] == ["read"]
    crash(k)

    k2 = restart_on_same_state(make_kernel, k)
    w = hub_agent(k2, agent_script, RECEIVER, "worker", args=["5"])
    got = wait_report(w["log_path"], timeout=30)[0]["messages"]
    assert [m["message"] for m in got] == [{"n": i} for i in range(5)]
    assert len({m["id"] for m in got}) == 5
    b = k2.connect()
    ok(call(b, OP_REGISTER, {"name": "once"}))
    r = ok(call(b, OP_RECV, {"max": 10}))
    assert [m["message"] for m in r["messages"]] == ["unread"]
    assert db_count(k2, "mailbox LIKE '#%'") == 0
