# SPDX-License-Identifier: MIT
"""The audit log: lifecycle changes, operator actions and permission denials recorded durably;
GET_AUDIT_LOG with its filters (category, agent, id, time, event type) and its limits; what an
agent may see; SET_AUDIT_CONFIG (operators only) turning categories on and off and applying
retention; entries and configuration surviving ``kill -9`` and a restart; ``clove audit``.
"""

import json
import os
import subprocess
import sys
import time

import pytest

import wire
from clove_harness import wait_report
from hub_util import (OP_FETCH, OP_GET_AUDIT_LOG, OP_SET_AUDIT_CONFIG, OP_STORE, crash, err,
                      hub_agent, ok, restart_on_same_state)
from shm_wire import ShmClient

SLEEPER = """
ready()
sleep_forever()
"""


def audit(k, **q):
    return ok(k.request(OP_GET_AUDIT_LOG, q))


def events_of(entries):
    return [e["event_type"] for e in entries]


def test_lifecycle_entries(kernel, agent_script):
    a = hub_agent(kernel, agent_script, "time.sleep(0.3)\nsys.exit(2)\n", "short")
    kernel.wait_agent("short", lambda x: x["state"] == "exited")
    r = audit(kernel, category="AGENT_LIFECYCLE", agent_id=a["id"])
    assert events_of(r["entries"]) == ["AGENT_SPAWNED", "AGENT_EXITED"]
    ex = r["entries"][1]
    assert ex["details"]["exit_code"] == 2 and ex["details"]["reason"] == "exited"
    assert ex["agent_name"] == "short" and ex["caller_role"] == "kernel"
    assert ex["timestamp"].endswith("Z") and abs(ex["ts"] - time.time()) < 60
    assert r["count"] == 2 and r["last_id"] == ex["id"]


def test_operator_actions_and_outcomes(kernel, agent_script):
    a = hub_agent(kernel, agent_script, SLEEPER, "target")
    err(kernel.request(wire.OP_KILL, {"id": 999999}), "ENOENT")
    ok(kernel.request(wire.OP_KILL, {"id": a["id"], "grace": 0}))
    ok(kernel.request(wire.OP_WRITE, {"path": "/tmp/clove-audit-test-%d" % os.getpid(),
                                      "content": "x" * 100000}))
    os.unlink("/tmp/clove-audit-test-%d" % os.getpid())
    r = audit(kernel, category="operator")
    kinds = [(e["event_type"], e["success"]) for e in r["entries"]]
    assert kinds == [("SPAWN", True), ("KILL", False), ("KILL", True), ("WRITE", True)]
    kill = r["entries"][2]
    assert kill["agent_id"] == a["id"] and kill["caller_role"] == "operator"
    assert kill["caller_uid"] == os.getuid() and kill["details"]["args"]["grace"] == 0
    # Bulk is summarised, not copied into the log.
    assert r["entries"][3]["details"]["args"]["content"] == "<100002 bytes>"


def test_outcomes_of_calls_over_the_rings(kernel, tmp_path):
    # Replies on the rings are msgpack, not JSON: the log still tells failures from successes.
    c, _ = ShmClient.attach(kernel.connect())
    err(c.call(wire.OP_KILL, {"id": 999999}), "ENOENT")
    ok(c.call(wire.OP_WRITE, {"path": str(tmp_path / "f"), "content": "x"}))
    r = audit(kernel, category="operator")
    assert [(e["event_type"], e["success"]) for e in r["entries"]] == \
        [("KILL", False), ("WRITE", True)]
    c.close()


def test_permission_denials_are_recorded(kernel, agent_script):
    v = hub_agent(kernel, agent_script, SLEEPER, "bystander")
    x = hub_agent(kernel, agent_script, """
report(kill=req(0x11, {"id": int(sys.argv[2])}),
       cfg=req(0x77, {"log_ipc": True}),
       mine=req(0x76, {}))
sleep_forever()
""", "rogue", args=[str(v["id"])])
    rep = wait_report(x["log_path"])[0]
    err(rep["kill"], "EACCES")
    err(rep["cfg"], "EACCES")
    # The audit log is the unrestricted level's (docs/permissions.md).
    err(rep["mine"], "EACCES")
    r = audit(kernel, category="SECURITY", event_type="PERMISSION_DENIED")
    denied = [e for e in r["entries"] if e["agent_id"] == x["id"]]
    assert [e["details"]["syscall"] for e in denied] == ["KILL", "SET_AUDIT_CONFIG",
                                                          "GET_AUDIT_LOG"]
    assert all(e["success"] is False and e["caller_role"] == "agent" for e in denied)


def test_an_unrestricted_agent_sees_only_its_own_entries(kernel, agent_script):
    x = hub_agent(kernel, agent_script, """
report(mine=req(0x76, {"limit": 1000}))
sleep_forever()
""", "trusted", permissions="unrestricted")
    mine = ok(wait_report(x["log_path"])[0]["mine"])["entries"]
    assert mine and all(x["id"] in (e["agent_id"], e["caller_id"]) for e in mine)


def test_filters_and_limits(kernel):
    for i in range(5):
        ok(kernel.request(OP_STORE, {"key": "k%d" % i, "value": i}))
    every = audit(kernel, limit=1000)["entries"]
    ids = [e["id"] for e in every]
    assert ids == sorted(ids) and len(ids) == 5
    latest = audit(kernel, limit=2)["entries"]
    assert [e["id"] for e in latest] == ids[-2:]
    after = audit(kernel, since_id=ids[1], limit=2)["entries"]
    assert [e["id"] for e in after] == ids[2:4]
    assert audit(kernel, since=time.time() + 3600)["count"] == 0
    assert audit(kernel, until=time.time() - 3600)["count"] == 0
    assert audit(kernel, since=time.time() - 3600)["count"] == 5
    assert audit(kernel, category="network")["count"] == 0
    assert audit(kernel, event_type="STORE")["count"] == 5
    empty = audit(kernel, since_id=ids[-1])
    assert empty["count"] == 0 and empty["last_id"] == ids[-1]


@pytest.mark.parametrize("payload", [
    {"category": "nonsense"}, {"category": 1}, {"limit": 0}, {"limit": 10001},
    {"since_id": -1}, {"agent_id": "x"}, {"since": "yesterday"},
])
def test_query_errors(kernel, payload):
    err(kernel.request(OP_GET_AUDIT_LOG, payload), "EINVAL")


@pytest.mark.parametrize("payload", [
    {"log_everything": True}, {"log_ipc": 1}, {"max_entries": 5}, {"max_entries": "x"},
    {"retention_days": -1},
])
def test_config_errors(kernel, payload):
    err(kernel.request(OP_SET_AUDIT_CONFIG, payload), "EINVAL")


def test_config_switches_categories(kernel):
    cfg = ok(kernel.request(OP_SET_AUDIT_CONFIG, {}))["config"]
    assert cfg["log_security"] and cfg["log_lifecycle"] and cfg["log_operator"]
    assert not cfg["log_state"] and not cfg["log_syscalls"]
    ok(kernel.request(OP_FETCH, {"key": "x"}))
    assert audit(kernel, category="STATE_STORE")["count"] == 0
    cfg = ok(kernel.request(OP_SET_AUDIT_CONFIG, {"log_state": True, "log_operator": False}))
    assert cfg["config"]["log_state"] is True and cfg["config"]["log_operator"] is False
    ok(kernel.request(OP_FETCH, {"key": "x"}))
    ok(kernel.request(OP_STORE, {"key": "x", "value": 1}))
    # With OPERATOR off, an operator's STORE falls to the category of what it does.
    assert events_of(audit(kernel, category="STATE_STORE")["entries"]) == ["FETCH", "STORE"]
    changes = audit(kernel, event_type="AUDIT_CONFIG_CHANGED")["entries"]
    assert len(changes) == 2 and changes[-1]["details"]["new_config"]["log_operator"] is False


def test_retention_by_count(kernel):
    for i in range(150):
        ok(kernel.request(OP_STORE, {"key": "r%d" % i, "value": i}))
    ok(kernel.request(OP_SET_AUDIT_CONFIG, {"max_entries": 100}))
    r = audit(kernel, limit=10000)
    assert r["count"] <= 100
    assert r["entries"][-1]["event_type"] == "AUDIT_CONFIG_CHANGED"


@pytest.mark.timeout(120)
def test_entries_and_config_survive_kill_9(make_kernel):
    k = make_kernel()
    ok(k.request(OP_SET_AUDIT_CONFIG, {"log_state": True, "retention_days": 7}))
    ok(k.request(OP_STORE, {"key": "durable", "value": 1}))
    before = audit(k, limit=1000)["entries"]
    crash(k)
    k2 = restart_on_same_state(make_kernel, k)
    after = audit(k2, limit=1000)["entries"]
    assert after[:len(before)] == before
    cfg = ok(k2.request(OP_SET_AUDIT_CONFIG, {}))["config"]
    assert cfg["log_state"] is True and cfg["retention_days"] == 7


def test_clove_audit_cli(kernel):
    cli = os.environ.get("CLOVE_CLI")
    if not cli:
        pytest.skip("CLOVE_CLI is not set to the clove binary")
    ok(kernel.request(OP_STORE, {"key": "cli", "value": 1}))
    r = subprocess.run([cli, "--socket", kernel.socket, "audit", "--category", "OPERATOR"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert "OPERATOR" in r.stdout and "STORE" in r.stdout and " ok " in r.stdout
    r = subprocess.run([cli, "--socket", kernel.socket, "--json", "audit", "-n", "1"],
                       capture_output=True, text=True, timeout=30)
    lines = r.stdout.splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["event_type"] == "STORE"
    r = subprocess.run([cli, "--socket", kernel.socket, "audit", "--category", "bogus"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and "EINVAL" in r.stderr
