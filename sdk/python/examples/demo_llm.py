# SPDX-License-Identifier: MIT
"""The demo's LLM scenarios — "10 agents need the LLM: fair queuing, not race
conditions". Without an API key the model is the scripted fake provider the
tests use (tests/fakes/fake_llm.py, speaking Gemini's REST API on loopback),
and the demo says so; with GEMINI_API_KEY (or OPENAI_API_KEY /
OPENAI_BASE_URL) set, the same scenarios run against the real provider."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
FAKE = HERE.parents[2] / "tests" / "fakes" / "fake_llm.py"

# The fake's capacity (calls it serves at once) and the kernel's concurrency
# limit match, so the kernel's queues decide who goes next.
CAPACITY = 2
SCRIPT = [
    {"match": "What is Clove", "reply": "Clove runs AI agents as isolated processes and "
     "schedules their LLM calls fairly, like an operating system kernel."},
    {"match": "weather", "call": {"name": "get_weather", "args": {"city": "Paris"}}},
]
WEATHER_TOOL = {"name": "get_weather", "description": "Current weather of a city",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                               "required": ["city"]}}


class Provider:
    """The model the kernel's workers call: a real one when a key is set,
    else the fake provider started here."""

    def __init__(self, tmp: Path) -> None:
        self.proc: subprocess.Popen | None = None
        self.env: dict[str, str] = {}
        self.config: dict[str, object] = {}
        if os.environ.get("GEMINI_API_KEY") or os.environ.get("GOOGLE_API_KEY"):
            self.label, self.offline = "Gemini (GEMINI_API_KEY is set)", False
            return
        if os.environ.get("OPENAI_API_KEY") or os.environ.get("OPENAI_BASE_URL"):
            self.label, self.offline = "an OpenAI-compatible server", False
            self.env = {"CLOVE_LLM_PROVIDER": "openai"}
            return
        script = tmp / "fake-llm-script.json"
        script.write_text(json.dumps(SCRIPT))
        self.proc = subprocess.Popen(
            [sys.executable, str(FAKE), "--port", "0", "--latency-ms", "100",
             "--capacity", str(CAPACITY), "--tokens-per-reply", "24", "--chunks", "6",
             "--script", str(script)],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.proc.stdout.readline().split()
        if len(line) != 2 or line[0] != "listening":
            raise SystemExit(f"the fake LLM provider did not start ({FAKE})")
        port = int(line[1])
        self.label, self.offline = f"the scripted fake provider on 127.0.0.1:{port} (offline; " \
            "set GEMINI_API_KEY for the real model)", True
        self.env = {"CLOVE_LLM_PROVIDER": "gemini", "GEMINI_API_KEY": "offline-demo",
                    "CLOVE_GEMINI_BASE_URL": f"http://127.0.0.1:{port}"}
        self.config = {"llm_concurrency": CAPACITY}

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


def answers(log_path: str) -> list[int]:
    try:
        with open(log_path, encoding="utf-8", errors="replace") as f:
            return [int(l.split()[1]) for l in f if l.startswith("answer ")]
    except FileNotFoundError:
        return []


def jain(xs: list[float]) -> float:
    return sum(xs) ** 2 / (len(xs) * sum(x * x for x in xs)) if any(xs) else 0.0


def run(demo, client, provider: Provider) -> None:
    print(f"6. agents that need the LLM — model: {provider.label}")
    r = client.think("What is Clove?")
    demo.record("THINK answered through the kernel's scheduler",
                f"{r.content[:60]!r}… ({r.tokens['total']} tokens, {r.latency_ms} ms)",
                bool(r.content) and r.tokens["total"] > 0)

    stream = client.think_stream("What is Clove? Answer in pieces.")
    pieces = list(stream)
    demo.record("THINK streams its answer as it arrives",
                f"{len(pieces)} pieces, joined = the final answer: "
                f"{''.join(pieces) == stream.result.content}",
                len(pieces) > 1 and "".join(pieces) == stream.result.content)

    r = client.think("What is the weather in Paris?", tools=[WEATHER_TOOL])
    calls = r.function_calls or []
    demo.record("tool calls come back to the agent",
                f"function_calls = {calls}",
                bool(calls) and calls[0].get("name") == "get_weather")

    fairness(demo, client)
    quota(demo, client)


def fairness(demo, client) -> None:
    """One heavy agent with ten calls in flight against three light agents
    with one each: the kernel serves them in turn, so the light agents get
    their share of the model instead of queueing behind the heavy one."""
    heavy = demo.spawn(client, "heavy", "thinker.py", args=["heavy", "10"])
    light = [demo.spawn(client, f"light-{i}", "thinker.py", args=["light"]) for i in range(3)]
    agents = [heavy] + light
    time.sleep(1.0)  # every agent has its queue filled
    start = [len(answers(a["log_path"])) for a in agents]
    time.sleep(5.0)
    served = [len(answers(a["log_path"])) - s for a, s in zip(agents, start)]
    for a in agents:
        client.kill(a["name"], grace=1)
    index = jain([float(x) for x in served])
    demo.record("a heavy agent (10x the demand) does not starve light ones",
                f"calls served in 5 s: heavy {served[0]}, light {served[1:]}; "
                f"Jain's fairness index {index:.2f}",
                index >= 0.9 and min(served) > 0)


def quota(demo, client) -> None:
    q = demo.spawn(client, "frugal", "quota.py",
                   permissions={"level": "standard", "llm": {"max_calls": 3}})
    done = demo.wait_for(lambda: "done" in open(q["log_path"]).read(), 30)
    lines = [l.strip() for l in open(q["log_path"]) if l.startswith("call ")]
    demo.record("an agent over its LLM quota is refused (EDQUOT)",
                "; ".join(lines), bool(done) and lines[3:] == ["call 3: EDQUOT",
                                                               "call 4: EDQUOT"])
