# SPDX-License-Identifier: MIT
"""THINK and LLM_REPORT where no provider is needed: field validation, the permission check, a
kernel whose workers cannot start (it must answer at once, never hang, and keep serving), the
llm settings in HELLO and SPAWN's llm {weight, priority}."""

import sys
import time

import pytest

import wire
from clove_harness import wait_until


def think(sock, obj):
    return wire.call_json(sock, wire.OP_THINK, obj)[1]


BAD_FIELDS = [
    ({}, "one of 'prompt' and 'messages' is required"),
    ({"prompt": 5}, "'prompt'"),
    ({"prompt": "x", "temperature": 2.5}, "'temperature'"),
    ({"prompt": "x", "temperature": "hot"}, "'temperature'"),
    ({"prompt": "x", "max_tokens": 0}, "'max_tokens'"),
    ({"prompt": "x", "max_tokens": 1.5}, "'max_tokens'"),
    ({"prompt": "x", "thinking_level": "extreme"}, "'thinking_level'"),
    ({"prompt": "x", "model": "../../etc"}, "'model'"),
    ({"prompt": "x", "model": ""}, "'model'"),
    ({"prompt": "x", "timeout": 0}, "'timeout'"),
    ({"prompt": "x", "timeout": 4000}, "'timeout'"),
    ({"prompt": "x", "stream": "yes"}, "'stream'"),
    ({"messages": "hi"}, "'messages'"),
    ({"messages": [{"role": "robot", "content": "x"}]}, "'messages[0].role'"),
    ({"messages": [{"role": "user"}]}, "'messages[0].content'"),
    ({"messages": [{"role": "user", "content": "x", "name": "y"}]}, "'messages[0]'"),
    ({"prompt": "x", "image": "abc"}, "'image'"),
    ({"prompt": "x", "image": {"data": "aGk="}}, "'image'"),
    ({"prompt": "x", "image": {"data": "aGk=", "mime_type": "text/plain"}}, "'image.mime_type'"),
    ({"prompt": "x", "image": {"data": "!!!", "mime_type": "image/png"}}, "'image.data'"),
    ({"prompt": "x", "tools": {}}, "'tools'"),
    ({"prompt": "x", "tools": [{"description": "no name"}]}, "'tools[0]'"),
    ({"prompt": "x", "tools": [{"name": "f", "parameters": "schema"}]}, "'tools[0]'"),
]


@pytest.mark.parametrize("fields,needle", BAD_FIELDS, ids=[str(i) for i in range(len(BAD_FIELDS))])
def test_bad_fields_are_einval_naming_the_field(module_kernel, fields, needle):
    r = think(module_kernel.op, fields)
    assert r["success"] is False and r["code"] == "EINVAL", r
    assert needle in r["error"], r


def test_llm_report_validates_and_counts(module_kernel):
    s = module_kernel.connect()
    for bad in ({}, {"tokens": -1}, {"tokens": "5"}, {"tokens": 10**10}):
        r = wire.call_json(s, 0xF0, bad)[1]
        assert r["code"] == "EINVAL", r
    assert wire.call_json(s, 0xF0, {"tokens": 40})[1]["total_tokens"] == 40
    assert wire.call_json(s, 0xF0, {"tokens": 2})[1] == {
        "success": True, "reported": 2, "total_tokens": 42}
    llm = wire.call_json(s, wire.OP_HELLO, {})[1]["kernel"]["llm"]
    assert llm["reported_tokens"] >= 42
    s.close()


def test_hello_reports_llm_settings_and_lazy_workers(make_kernel, tmp_path):
    cfg = tmp_path / "cfg.json"
    cfg.write_text('{"llm_provider": "openai", "llm_model": "m1", "llm_workers": 3, '
                   '"llm_concurrency": 7, "llm_rpm": 120, "llm_tpm": 9000}')
    k = make_kernel(["--config", str(cfg)])
    hello = k.request(wire.OP_HELLO, {})
    assert hello["features"]["think"] is True
    llm = hello["kernel"]["llm"]
    assert (llm["provider"], llm["model"], llm["concurrency"], llm["rpm"], llm["tpm"]) == \
        ("openai", "m1", 7, 120, 9000)
    # Nothing starts before the first THINK.
    assert llm["workers"]["workers"] == 3 and llm["workers"]["started"] is False
    assert llm["workers"]["pids"] == []


def test_no_worker_answers_at_once_and_the_kernel_keeps_serving(make_kernel, tmp_path):
    cfg = tmp_path / "cfg.json"
    cfg.write_text('{"llm_python": "/nonexistent/python3"}')
    k = make_kernel(["--config", str(cfg)])
    s = k.connect()
    for _ in range(3):
        t0 = time.monotonic()
        r = think(s, {"prompt": "hello", "timeout": 60})
        assert time.monotonic() - t0 < 10
        assert r["success"] is False and r["code"] == "EIO", r
        assert "LLM unavailable" in r["error"] and "/nonexistent/python3" in r["error"], r
    assert wire.call(s, wire.OP_NOOP, b"still here")[1] == b"still here"
    workers = k.request(wire.OP_HELLO, {})["kernel"]["llm"]["workers"]
    assert workers["started"] is True and workers["ready"] == 0
    assert "/nonexistent/python3" in workers["error"]


def test_python_without_llm_worker_says_so(make_kernel, tmp_path):
    # An interpreter that exists but cannot import llm_worker (-I: no PYTHONPATH, no site).
    wrapper = tmp_path / "py"
    wrapper.write_text("#!/bin/sh\nexec %s -I -S \"$@\"\n" % sys.executable)
    wrapper.chmod(0o755)
    cfg = tmp_path / "cfg.json"
    cfg.write_text('{"llm_python": "%s"}' % wrapper)
    k = make_kernel(["--config", str(cfg)], env={"PYTHONPATH": ""})
    r = think(k.op, {"prompt": "hello"})
    assert r["code"] == "EIO", r
    assert "exited with status 1" in r["error"] and "llm_worker" in r["error"], r
    assert "No module named llm_worker" in k.log()


def test_policy_without_can_think_is_eacces(make_kernel):
    k = make_kernel(["--operator-permissions", '{"level": "readonly", "can_think": false}'])
    r = think(k.op, {"prompt": "hello"})
    assert r["code"] == "EACCES", r
    r = wire.call_json(k.op, 0xF0, {"tokens": 1})[1]
    assert r["code"] == "EACCES", r


def test_spawn_llm_params_are_validated_and_listed(kernel, agent_script):
    script = agent_script("sleep_forever()\n", name="idle")
    base = {"script": script, "python": sys.executable}
    for bad in ({"weight": 0}, {"weight": 1001}, {"priority": 10}, {"priority": -1},
                {"share": 1}, "high"):
        r = kernel.request(wire.OP_SPAWN, dict(base, name="bad", llm=bad))
        assert r["code"] == "EINVAL" and "llm" in r["error"], r
    r = kernel.spawn(name="weighted", llm={"weight": 3, "priority": 2}, **base)
    assert r["success"], r
    a = kernel.agent("weighted")
    assert a["llm"]["weight"] == 3 and a["llm"]["priority"] == 2
    assert a["llm"]["calls"] == 0 and a["llm"]["total_tokens"] == 0
    kernel.request(wire.OP_KILL, {"name": "weighted", "grace": 0})


CHILD_PRIORITY = """
import sys
# A sandboxed agent can only hand its children files it can see: the child's
# script comes in CHILD_SRC and is written into this agent's work directory.
child = os.path.abspath("child.py")
with open(child, "w") as f:
    f.write(os.environ["CHILD_SRC"])
def spawn(name, llm):
    return j(OP_SPAWN, {"name": name, "script": child, "python": sys.executable, "llm": llm})
out = {}
out["higher"] = code(spawn("kid-high", {"priority": 3}))
out["same"] = code(spawn("kid-same", {"priority": 1}))
kid = spawn("kid-default", {})
out["default"] = code(kid)
report(**out)
sleep_forever()
"""

HELPERS = """
def j(op, obj):
    return call_json(SOCK, op, obj)[1]
def code(r):
    return "ok" if isinstance(r, (dict, list)) and (not isinstance(r, dict) or r.get("success", True)) else r.get("code")
"""


def test_child_priority_is_capped_by_a_restricted_parent(kernel, agent_script):
    from clove_harness import agent_source, wait_report
    parent = agent_script(HELPERS + CHILD_PRIORITY, name="parent")
    r = kernel.spawn(name="parent", script=parent, python=sys.executable,
                     env={"CHILD_SRC": agent_source("sleep_forever()\n")},
                     permissions="standard", llm={"priority": 1})
    assert r["success"], r
    rep = wait_report(r["log_path"])[0]
    assert rep == {"higher": "EACCES", "same": "ok", "default": "ok"}
    # A child starts at its parent's priority.
    assert kernel.agent("kid-default")["llm"]["priority"] == 1

