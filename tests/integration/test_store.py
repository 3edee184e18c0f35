# SPDX-License-Identifier: MIT
"""The state store: STORE, FETCH, DELETE and KEYS in the scopes global, agent and session, with
ttl, versions, compare-and-swap (if_version) and the limits. Covers every field error, that an
agent cannot read another agent's agent-scoped keys, that a tree shares its session keys, that
agent keys go with their agent unless persisted, durability across ``kill -9`` of cloved and a
restart (versions never reused), and CAS under contention: 8 agents incrementing one counter
1,000 times each end at exactly 8,000.
"""

import json
import sys
import time

import pytest

import wire
from clove_harness import agent_source, wait_report, wait_until
from hub_util import (HUB_PRELUDE, OP_DELETE, OP_FETCH, OP_KEYS, OP_STORE, call, crash, err,
                      hub_agent, ok, restart_on_same_state)

SLEEPER = """
ready()
sleep_forever()
"""


def store(k, **f):
    return ok(k.request(OP_STORE, f))


def fetch(k, **f):
    return ok(k.request(OP_FETCH, f))


def test_store_fetch_roundtrip_and_reply_fields(kernel):
    values = [None, True, 0, -5, 1.5, "", "héllo ✓", [1, [2]], {"a": {"b": None}}]
    for i, v in enumerate(values):
        r = store(kernel, key="k%d" % i, value=v)
        assert r["key"] == "k%d" % i and r["scope"] == "global"
        assert r["expires_at"] is None and r["persist"] is False
        f = fetch(kernel, key="k%d" % i)
        assert f["exists"] is True and f["value"] == v and f["scope"] == "global"
        assert f["version"] == r["version"]
    missing = fetch(kernel, key="nope")
    assert missing["exists"] is False and missing["value"] is None and missing["scope"] is None


def test_versions_only_grow(kernel):
    v1 = store(kernel, key="a", value=1)["version"]
    v2 = store(kernel, key="b", value=1)["version"]
    v3 = store(kernel, key="a", value=2)["version"]
    assert v1 < v2 < v3
    ok(kernel.request(OP_DELETE, {"key": "a"}))
    v4 = store(kernel, key="a", value=3)["version"]
    assert v4 > v3, "a re-created key must not get an old version back"


def test_compare_and_swap(kernel):
    ok(kernel.request(OP_STORE, {"key": "c", "value": 1, "if_version": 0}))  # create only
    e = err(kernel.request(OP_STORE, {"key": "c", "value": 9, "if_version": 0}), "ESTALE")
    cur = fetch(kernel, key="c")
    assert e["exists"] is True and e["version"] == cur["version"] and e["value"] == 1
    r = store(kernel, key="c", value=2, if_version=cur["version"])
    e = err(kernel.request(OP_STORE, {"key": "c", "value": 3, "if_version": cur["version"]}),
            "ESTALE")
    assert e["version"] == r["version"] and e["value"] == 2
    e = err(kernel.request(OP_STORE, {"key": "absent", "value": 3, "if_version": 7}), "ESTALE")
    assert e["exists"] is False and e["version"] == 0
    e = err(kernel.request(OP_DELETE, {"key": "c", "if_version": 1}), "ESTALE")
    assert e["version"] == r["version"]
    assert ok(kernel.request(OP_DELETE, {"key": "c", "if_version": r["version"]}))["deleted"]


def test_scopes_and_search_order(kernel):
    store(kernel, key="x", value="global")
    store(kernel, key="x", value="mine", scope="agent")
    assert fetch(kernel, key="x") == dict(fetch(kernel, key="x", scope="agent"))
    assert fetch(kernel, key="x")["value"] == "mine"
    assert fetch(kernel, key="x", scope="global")["value"] == "global"
    assert fetch(kernel, key="x", scope="session")["exists"] is False
    d = ok(kernel.request(OP_DELETE, {"key": "x"}))
    assert d == {"deleted": True, "scope": "agent", "success": True}
    assert fetch(kernel, key="x")["value"] == "global"
    d = ok(kernel.request(OP_DELETE, {"key": "x"}))
    assert d["deleted"] is True and d["scope"] == "global"
    assert ok(kernel.request(OP_DELETE, {"key": "x"}))["deleted"] is False


def test_keys_prefix_limit_scope(kernel):
    for name in ["app/a", "app/b", "app/c", "apq", "other", "app/é"]:
        store(kernel, key=name, value=1)
    store(kernel, key="app/mine", value=1, scope="agent")
    r = ok(kernel.request(OP_KEYS, {"prefix": "app/"}))
    assert r["keys"] == ["app/a", "app/b", "app/c", "app/mine", "app/é"]
    assert r["count"] == 5
    assert {i["key"]: i["scope"] for i in r["entries"]}["app/mine"] == "agent"
    r = ok(kernel.request(OP_KEYS, {"prefix": "app/", "scope": "global", "limit": 2}))
    assert r["keys"] == ["app/a", "app/b"]
    assert ok(kernel.request(OP_KEYS, {}))["count"] == 7
    assert ok(kernel.request(OP_KEYS, {"prefix": "zzz"}))["keys"] == []


def test_ttl_expires(kernel):
    r = store(kernel, key="t", value=1, ttl=0.3)
    assert r["expires_at"] is not None and abs(r["expires_at"] - time.time() - 0.3) < 5
    assert fetch(kernel, key="t")["exists"] is True
    time.sleep(0.5)
    assert fetch(kernel, key="t")["exists"] is False
    assert "t" not in ok(kernel.request(OP_KEYS, {}))["keys"]
    # An expired key counts as absent for compare-and-swap, too.
    ok(kernel.request(OP_STORE, {"key": "t", "value": 2, "if_version": 0}))
    assert fetch(kernel, key="t")["expires_at"] is None


@pytest.mark.parametrize("op, payload, code", [
    (OP_STORE, {"value": 1}, "EINVAL"),
    (OP_STORE, {"key": "", "value": 1}, "EINVAL"),
    (OP_STORE, {"key": "k" * 513, "value": 1}, "EINVAL"),
    (OP_STORE, {"key": 5, "value": 1}, "EINVAL"),
    (OP_STORE, {"key": "k"}, "EINVAL"),
    (OP_STORE, {"key": "k", "value": 1, "scope": "world"}, "EINVAL"),
    (OP_STORE, {"key": "k", "value": 1, "ttl": 0}, "EINVAL"),
    (OP_STORE, {"key": "k", "value": 1, "ttl": "5"}, "EINVAL"),
    (OP_STORE, {"key": "k", "value": 1, "if_version": -1}, "EINVAL"),
    (OP_STORE, {"key": "k", "value": 1, "persist": 1}, "EINVAL"),
    (OP_STORE, {"key": "k", "value": 1, "scope": "agent", "persist": True}, "EINVAL"),
    (OP_STORE, {"key": "k", "value": "x" * 70000}, "EMSGSIZE"),
    (OP_STORE, {"key": "k", "value": 1, "agent_id": 999999}, "ENOENT"),
    (OP_FETCH, {}, "EINVAL"),
    (OP_FETCH, {"key": "k", "scope": 3}, "EINVAL"),
    (OP_DELETE, {}, "EINVAL"),
    (OP_DELETE, {"key": "k", "if_version": "1"}, "EINVAL"),
    (OP_KEYS, {"prefix": 1}, "EINVAL"),
    (OP_KEYS, {"limit": 0}, "EINVAL"),
    (OP_KEYS, {"limit": 10001}, "EINVAL"),
])
def test_field_errors(kernel, op, payload, code):
    err(kernel.request(op, payload), code)


def test_owner_key_limit(kernel):
    s = kernel.connect()
    for i in range(10000):
        wire.send_frame(s, OP_STORE, {"key": "n%05d" % i, "value": i, "scope": "agent"})
        if i % 64 == 63:
            for _ in range(64):
                assert wire.decode_json(wire.read_frame(s)[1])["success"] is True
    for _ in range(10000 % 64):
        assert wire.decode_json(wire.read_frame(s)[1])["success"] is True
    e = err(call(s, OP_STORE, {"key": "one-more", "value": 1, "scope": "agent"}), "ENOSPC")
    assert "10000" in e["error"]
    # Overwriting an existing key is still fine; other owners are not affected.
    ok(call(s, OP_STORE, {"key": "n00000", "value": "again", "scope": "agent"}))
    ok(kernel.request(OP_STORE, {"key": "one-more", "value": 1, "scope": "agent"}))


# ---------------------------------------------------------------------------------------------
# agents

PRIVATE = """
r = req(OP_STORE, {"key": "secret", "value": "only mine", "scope": "agent"})
report(stored=r)
sleep_forever()
"""

SNOOP = """
report(plain=req(OP_FETCH, {"key": "secret"}),
       agent=req(OP_FETCH, {"key": "secret", "scope": "agent"}),
       keys=req(OP_KEYS, {}),
       by_id=req(OP_FETCH, {"key": "secret", "agent_id": int(sys.argv[2])}),
       delete=req(OP_DELETE, {"key": "secret"}))
sleep_forever()
"""


def test_agent_cannot_read_another_agents_keys(kernel, agent_script):
    a = hub_agent(kernel, agent_script, PRIVATE, "private")
    ok(wait_report(a["log_path"])[0]["stored"])
    s = hub_agent(kernel, agent_script, SNOOP, "snooper", args=[str(a["id"])])
    rep = wait_report(s["log_path"])[0]
    assert rep["plain"]["exists"] is False
    assert rep["agent"]["exists"] is False
    assert rep["keys"]["keys"] == []
    err(rep["by_id"], "EACCES")
    assert rep["delete"]["deleted"] is False
    # The operator may look, by agent id.
    f = fetch(kernel, key="secret", scope="agent", agent_id=a["id"])
    assert f["value"] == "only mine"


SESSION_PARENT = """
child = os.path.abspath("child.py")
with open(child, "w") as f:
    f.write(os.environ["CHILD_SRC"])
ok = req(OP_STORE, {"key": "plan", "value": {"step": 1}, "scope": "session"})
c = req(0x10, {"name": "sess-child", "script": child, "python": sys.executable})
report(stored=ok, child=c)
sleep_forever()
"""

SESSION_CHILD = """
r = req(OP_FETCH, {"key": "plan", "scope": "session"})
w = req(OP_STORE, {"key": "plan", "value": {"step": 2}, "scope": "session",
                   "if_version": r["version"]})
report(read=r, wrote=w)
sleep_forever()
"""

OUTSIDER = """
report(read=req(OP_FETCH, {"key": "plan", "scope": "session"}))
sleep_forever()
"""


def test_session_keys_are_shared_by_a_tree(kernel, agent_script):
    child = agent_source(HUB_PRELUDE + SESSION_CHILD.lstrip("\n"))
    p = hub_agent(kernel, agent_script, SESSION_PARENT, "sess-parent", env={"CHILD_SRC": child})
    ok(wait_report(p["log_path"])[0]["stored"])
    c = kernel.agent("sess-child")
    rep = wait_report(c["log_path"])[0]
    assert rep["read"]["exists"] is True and rep["read"]["value"] == {"step": 1}
    ok(rep["wrote"])
    o = hub_agent(kernel, agent_script, OUTSIDER, "outsider")
    assert wait_report(o["log_path"])[0]["read"]["exists"] is False
    f = fetch(kernel, key="plan", scope="session", agent_id=p["id"])
    assert f["value"] == {"step": 2}


KEEPER = """
req(OP_STORE, {"key": "scratch", "value": 1, "scope": "agent"})
req(OP_STORE, {"key": "memory", "value": {"runs": 1}, "scope": "agent", "persist": True})
report(done=True)
"""

KEEPER_AGAIN = """
report(memory=req(OP_FETCH, {"key": "memory"}), scratch=req(OP_FETCH, {"key": "scratch"}))
sleep_forever()
"""


def test_agent_keys_go_with_it_unless_persisted(kernel, agent_script):
    a = hub_agent(kernel, agent_script, KEEPER, "keeper")
    wait_report(a["log_path"])
    kernel.wait_agent("keeper", lambda x: x["state"] == "exited")
    f = fetch(kernel, key="scratch", scope="agent", agent_id=a["id"])
    assert f["exists"] is False
    f = fetch(kernel, key="memory", scope="agent", agent_id=a["id"])
    assert f["value"] == {"runs": 1} and f["persist"] is True
    b = hub_agent(kernel, agent_script, KEEPER_AGAIN, "keeper")
    rep = wait_report(b["log_path"], count=2)[-1]  # the log is the same file
    assert rep["memory"]["value"] == {"runs": 1} and rep["memory"]["scope"] == "agent"
    assert rep["scratch"]["exists"] is False


# ---------------------------------------------------------------------------------------------
# durability


@pytest.mark.timeout(120)
def test_keys_survive_kill_9_and_restart(make_kernel, agent_script):
    k = make_kernel()
    store(k, key="g", value={"n": 1})
    last = store(k, key="g2", value=[1, 2], ttl=3600)["version"]
    a = hub_agent(k, agent_script, """
req(OP_STORE, {"key": "mem", "value": "kept", "scope": "agent", "persist": True})
req(OP_STORE, {"key": "tmp", "value": "scratch", "scope": "agent"})
report(done=True)
sleep_forever()
""", "durable")
    wait_report(a["log_path"])
    crash(k)

    k2 = restart_on_same_state(make_kernel, k)
    assert fetch(k2, key="g")["value"] == {"n": 1}
    g2 = fetch(k2, key="g2")
    assert g2["value"] == [1, 2] and g2["expires_at"] > time.time() + 3000
    assert store(k2, key="new", value=1)["version"] > last + 2
    b = hub_agent(k2, agent_script, KEEPER_AGAIN.replace("memory", "mem").replace(
        "scratch", "tmp"), "durable")
    rep = wait_report(b["log_path"], count=2)[-1]
    assert rep["mem"]["value"] == "kept"
    # Not persisted, but the agent never ended cleanly: it is still there for its name.
    assert rep["tmp"]["value"] == "scratch"


# ---------------------------------------------------------------------------------------------
# contention

COUNTER = """
n = int(sys.argv[2])
done = attempts = 0
cur = req(OP_FETCH, {"key": "counter", "scope": "global"})
version, value = cur["version"], cur["value"] or 0
while done < n:
    attempts += 1
    r = req(OP_STORE, {"key": "counter", "value": value + 1, "if_version": version})
    if r["success"]:
        done += 1
        version, value = r["version"], value + 1
    elif r["code"] == "ESTALE":
        version, value = r["version"], r["value"] or 0
    else:
        raise SystemExit("unexpected reply %r" % (r,))
report(done=done, attempts=attempts)
"""


@pytest.mark.timeout(600)
def test_cas_counter_under_contention_from_8_agents(kernel, agent_script):
    script = agent_script(HUB_PRELUDE + COUNTER.lstrip("\n"), name="counter")
    agents = [kernel.spawn(name="inc%d" % i, script=script, python=sys.executable,
                           args=["1000"]) for i in range(8)]
    reps = [wait_report(a["log_path"], timeout=500)[0] for a in agents]
    assert [r["done"] for r in reps] == [1000] * 8
    f = fetch(kernel, key="counter")
    assert f["value"] == 8000
    attempts = sum(r["attempts"] for r in reps)
    print("8 x 1000 CAS increments took %d attempts" % attempts)
