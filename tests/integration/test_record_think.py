# SPDX-License-Identifier: MIT
"""Record and replay of an agent that thinks: a run whose THINK calls went to the LLM provider
(the fake, tests/fakes/fake_llm.py) and whose EXEC prints random bytes is recorded; then the
provider is stopped — a live run now fails — and the replayed run produces the very same output,
answered from the recording alone (the provider's log shows no call of the replay)."""

from clove_harness import wait_report
from hub_util import (OP_RECORD_START, OP_RECORD_STOP, OP_REPLAY_START, OP_REPLAY_STATUS,
                      hub_agent, ok)
from think_util import FakeLLM, llm_kernel_args

THINKER = """
outs = []
for q in ("plan the day", "summarise the plan"):
    r = req(0x01, {"prompt": q, "max_tokens": 16})
    outs.append([r["content"], r["tokens"]] if r["success"] else r.get("code"))
r = req(0x02, {"command": "head -c 8 /dev/urandom | od -An -tx1"})
outs.append(r.get("stdout") if r["success"] else r.get("code"))
report(outs=outs)
"""


def run(kernel, agent_script, name):
    a = hub_agent(kernel, agent_script, THINKER, name)
    outs = wait_report(a["log_path"], timeout=60, count=1)[-1]["outs"]
    kernel.wait_agent(a["id"], lambda x: x["state"] == "exited", 30, "%s to end" % name)
    return outs


def test_replay_of_a_thinking_agent_needs_no_provider(make_kernel, agent_script, tmp_path):
    fake = FakeLLM().start()
    try:
        args, env = llm_kernel_args(tmp_path / "cfg", fake)
        k = make_kernel(args, env=env)
        ok(k.request(OP_RECORD_START, {"include_think": True, "include_exec": True}))
        first = run(k, agent_script, "thinker")
        assert all(isinstance(o, list) and o[0] for o in first[:2]), first
        assert first[0] != first[1]
        saved = ok(k.request(OP_RECORD_STOP, {}))
        assert saved["entries_recorded"] == 3
        live_calls = len(fake.log())
        assert live_calls == 2
    finally:
        fake.stop()

    # The provider is gone: thinking live fails now.
    live = run(k, agent_script, "thinker-live")
    assert live[0] in ("ECONNREFUSED", "EIO", "ETIMEDOUT"), live

    ok(k.request(OP_REPLAY_START, {"path": saved["path"]}))
    assert run(k, agent_script, "thinker") == first
    st = ok(k.request(OP_REPLAY_STATUS, {}))
    assert st["state"] == "completed" and st["entries_replayed"] == 3
