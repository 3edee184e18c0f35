# SPDX-License-Identifier: MIT
"""The demo's isolation scenarios — the seed README's table "What Clove can do
that Python frameworks can't", live: an agent in an infinite loop throttled to
its CPU quota, a memory leak OOM-killed alone, malicious code denied, all at
once while a neighbour keeps answering promptly."""
from __future__ import annotations

import json
import os
import socket
import statistics
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(agent) -> float:
    """CPU time of everything in the agent: its v2 cgroup's cpu.stat when it has one, else its
    main process from /proc (the demo runs on the same host)."""
    cgroup = (agent.get("isolation") or {}).get("cgroup") or {}
    unified = (cgroup.get("dirs") or {}).get("unified")
    if unified:
        with open(os.path.join(unified, "cpu.stat")) as f:
            for line in f:
                key, value = line.split()
                if key == "usage_usec":
                    return int(value) / 1e6
    with open(f"/proc/{agent['pid']}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def echo_latencies_ms(client, seconds: float) -> list[float]:
    samples = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        t0 = time.perf_counter()
        client.echo(b"are you there?")
        samples.append((time.perf_counter() - t0) * 1000)
        time.sleep(0.01)
    return samples


def last_json_line(path: str) -> dict | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = [line for line in f if line.startswith("{")]
    except FileNotFoundError:
        return None
    return json.loads(lines[-1]) if lines else None


def run(demo, client) -> None:
    print("5. misbehaving agents, all at once, next to a well-behaved one")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    try:
        spinner = demo.spawn(client, "spinner", "spinner.py",
                             limits={"cpu_quota": 20000, "cpu_period": 100000})
        leaker = demo.spawn(client, "leaker", "leaker.py", limits={"memory": 64 << 20})
        bad = demo.spawn(client, "malicious", "malicious.py", args=[str(port)],
                         limits={"max_pids": 16})
        time.sleep(0.5)  # let the spinner reach its quota
        cpu0, t0 = cpu_seconds(spinner), time.monotonic()
        latencies = echo_latencies_ms(client, 3.0)
        share = (cpu_seconds(spinner) - cpu0) / (time.monotonic() - t0)
        demo.record("infinite loop throttled to its 20% CPU quota",
                    f"spinner used {share:.0%} of a CPU over 3 s", share <= 0.25)
        p50 = statistics.median(latencies)
        demo.record("its neighbour still answers promptly",
                    f"kernel round trip p50 {p50:.2f} ms over {len(latencies)} calls "
                    "while the spinner spun", p50 < 50)

        leak = demo.wait_for(lambda: (a := demo.agent(client, "leaker")) and
                             not a["running"] and a, 20, 0.1) or demo.agent(client, "leaker")
        demo.record("memory leak OOM-killed alone (64 MiB limit)",
                    f"leaker: state={leak['state']} exit_reason={leak.get('exit_reason')}",
                    leak.get("exit_reason") == "oom")

        outcome = demo.wait_for(lambda: last_json_line(bad["log_path"]), 20, 0.1) or {}
        for attempt, result in outcome.items():
            demo.record(f"malicious code: {attempt}", result,
                        result.startswith("denied") or result.startswith("stopped"))
        if not outcome:
            demo.record("malicious code reported its attempts", "no report", False)

        steady = demo.agent(client, "steady")
        demo.record("the neighbour was never touched",
                    f"steady: state={steady['state']} restarts={steady['restarts']}",
                    steady["state"] == "running" and steady["restarts"] == 0)
        for name in ("spinner", "malicious"):
            client.kill(name, grace=0)
    finally:
        listener.close()
