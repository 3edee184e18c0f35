# SPDX-License-Identifier: MIT
"""Record and replay of EXEC: RECORD_START/STOP/STATUS capture an agent's calls and replies and
save them as JSON Lines; REPLAY_START serves them back so a run whose commands print random bytes
reproduces exactly; a call that differs from the recording is refused with EILSEQ and says what
was expected. Both with the agent calling over its socket and over the shared-memory rings
(msgpack payloads and replies: the recording still holds the JSON values). Also the field errors
and that only operators may record or replay.
"""

import json
import os

import pytest

from clove_harness import HERE, wait_report
from hub_util import (OP_RECORD_START, OP_RECORD_STATUS, OP_RECORD_STOP, OP_REPLAY_START,
                      OP_REPLAY_STATUS, err, hub_agent, ok)

# argv[2]: "same" or "other" (the second run of the divergence test changes a command).
RANDOM_RUN = """
cmds = ["head -c 16 /dev/urandom | od -An -tx1", "date +%s%N"]
if sys.argv[2] == "other":
    cmds[1] = "echo something else"
outs = []
for c in cmds:
    r = req(0x02, {"command": c})
    outs.append(r.get("stdout") if r["success"] else r)
r = req(0x02, {"argv": ["sh", "-c", "exit 3"]})
outs.append(r.get("exit_code") if r["success"] else r)
report(outs=outs)
"""


# Put before RANDOM_RUN, the agent attaches the fast path and makes every call over the rings.
# It imports shm_wire from the test directory, which a sandboxed agent's view does not show.
OVER_SHM = """
sys.path.insert(0, %r)
from shm_wire import ShmClient
RINGS, _ = ShmClient.attach(SOCK)
def req(op, obj=None):
    return RINGS.call(op, obj if obj is not None else {})
"""

TRANSPORTS = ["socket", "shm"]


def run_agent(kernel, agent_script, mode="same", name="rr", transport="socket"):
    body, fields = RANDOM_RUN, {}
    if transport == "shm":
        body, fields = OVER_SHM % str(HERE) + RANDOM_RUN, {"sandboxed": False}
    a = hub_agent(kernel, agent_script, body, name, args=[mode], **fields)
    reports = wait_report(a["log_path"], timeout=30, count=1)
    return a, reports


def last_report(a, count):
    return wait_report(a["log_path"], timeout=30, count=count)[-1]["outs"]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_record_then_replay_reproduces_the_run(kernel, agent_script, transport):
    ok(kernel.request(OP_RECORD_START, {"include_exec": True}))
    st = ok(kernel.request(OP_RECORD_STATUS, {}))
    assert st["recording"] is True and st["include_exec"] is True
    a, _ = run_agent(kernel, agent_script, transport=transport)
    first = last_report(a, 1)
    kernel.wait_agent("rr", lambda x: x["state"] == "exited")
    st = ok(kernel.request(OP_RECORD_STATUS, {"export": True, "get_entries": True}))
    assert st["entry_count"] == 3 and len(st["entries"]) == 3
    e = st["entries"][0]
    assert e["agent_name"] == "rr" and e["opcode_name"] == "EXEC" and e["opcode"] == 2
    assert e["payload"] == {"command": "head -c 16 /dev/urandom | od -An -tx1"}
    assert e["response"]["stdout"] == first[0] and e["success"] is True
    assert isinstance(e["duration_us"], int) and e["sequence_id"] == 1
    stop = ok(kernel.request(OP_RECORD_STOP, {}))
    assert stop["recording"] is False and stop["entries_recorded"] == 3
    with open(stop["path"]) as f:
        lines = [json.loads(x) for x in f.read().splitlines()]
    assert lines == st["entries"]
    assert [json.loads(x) for x in st["recording_data"].splitlines()] == lines

    # A live run differs (random bytes, time) ...
    b, _ = run_agent(kernel, agent_script, name="rr-live", transport=transport)
    assert last_report(b, 1)[:2] != first[:2]
    # ... a replayed one does not.
    r = ok(kernel.request(OP_REPLAY_START, {"recording_data": st["recording_data"]}))
    assert r["state"] == "replaying" and r["total_entries"] == 3
    a2, _ = run_agent(kernel, agent_script, transport=transport)
    assert last_report(a2, 2) == first
    s = ok(kernel.request(OP_REPLAY_STATUS, {}))
    assert s["state"] == "completed" and s["entries_replayed"] == 3
    assert s["progress_percent"] == 100 and s["agents"]["rr"]["replayed"] == 3


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_divergence_is_refused_clearly(kernel, agent_script, transport):
    ok(kernel.request(OP_RECORD_START, {}))
    a, _ = run_agent(kernel, agent_script, transport=transport)
    kernel.wait_agent("rr", lambda x: x["state"] == "exited")
    path = ok(kernel.request(OP_RECORD_STOP, {}))["path"]
    ok(kernel.request(OP_REPLAY_START, {"path": path}))
    a2, _ = run_agent(kernel, agent_script, mode="other", transport=transport)
    outs = last_report(a2, 2)
    assert isinstance(outs[0], str)  # the first call still matched
    e = err(outs[1], "EILSEQ")
    assert "diverged at call 2 of agent 'rr'" in e["error"]
    assert "date +%s%N" in e["error"] and "echo something else" in e["error"]
    assert e["divergence"]["expected"]["payload"] == {"command": "date +%s%N"}
    assert e["divergence"]["got"]["payload"] == {"command": "echo something else"}
    # Once diverged, that agent's replay stays refused.
    err(outs[2], "EILSEQ")
    s = ok(kernel.request(OP_REPLAY_STATUS, {}))
    assert s["state"] == "diverged" and "diverged" in s["last_error"]
    assert ok(kernel.request(OP_REPLAY_START, {"stop": True}))["state"] == "idle"


def test_filter_agents_and_other_agents_run_live(kernel, agent_script):
    ok(kernel.request(OP_RECORD_START, {"filter_agents": ["someone-else"]}))
    run_agent(kernel, agent_script)
    kernel.wait_agent("rr", lambda x: x["state"] == "exited")
    assert ok(kernel.request(OP_RECORD_STOP, {}))["entries_recorded"] == 0


@pytest.mark.parametrize("op, payload, code", [
    (OP_RECORD_START, {"include_exec": "yes"}, "EINVAL"),
    (OP_RECORD_START, {"max_entries": 0}, "EINVAL"),
    (OP_RECORD_START, {"max_entries": 100001}, "EINVAL"),
    (OP_RECORD_START, {"filter_agents": "rr"}, "EINVAL"),
    (OP_RECORD_START, {"filter_agents": [1.5]}, "EINVAL"),
    (OP_RECORD_STOP, {}, "EINVAL"),
    (OP_RECORD_STATUS, {"export": 1}, "EINVAL"),
    (OP_REPLAY_START, {}, "EINVAL"),
    (OP_REPLAY_START, {"recording_data": "not json\n"}, "EINVAL"),
    (OP_REPLAY_START, {"recording_data": ""}, "EINVAL"),
    (OP_REPLAY_START, {"recording_data": 5}, "EINVAL"),
    (OP_REPLAY_START, {"path": "/nonexistent/rec.jsonl"}, "EINVAL"),
])
def test_field_errors(kernel, op, payload, code):
    err(kernel.request(op, payload), code)


def test_recording_twice_is_busy(kernel):
    ok(kernel.request(OP_RECORD_START, {}))
    err(kernel.request(OP_RECORD_START, {}), "EBUSY")
    ok(kernel.request(OP_RECORD_STOP, {}))


def test_only_operators_record_and_replay(kernel, agent_script):
    a = hub_agent(kernel, agent_script, """
report(start=req(0x70, {}), status=req(0x72, {}), replay=req(0x73, {"stop": True}),
       rstatus=req(0x74, {}))
""", "wannabe")
    rep = wait_report(a["log_path"])[0]
    for key in ("start", "status", "replay", "rstatus"):
        err(rep[key], "EACCES")
