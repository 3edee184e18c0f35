# SPDX-License-Identifier: MIT
"""Clove's demo: a kernel on a temporary socket, a handful of agents, and a
printed table showing that a crashing agent is restarted while its
neighbours carry on, that PAUSE/RESUME and KILL work, that misbehaving agents
are contained, that agents share the LLM fairly, and how `clove ps` and
`clove logs` show it all. Needs no API key and no network: without one the
model is a scripted fake provider on loopback (demo_llm.py).

Run it through deploy/dev/demo.sh (which builds everything first), or as
`.venv/bin/python sdk/python/examples/demo.py` after a build.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from clove_sdk import CloveClient, CloveError

import demo_isolation
import demo_llm

HERE = Path(__file__).resolve().parent
TOP = HERE.parents[2]
BUILD = Path(os.environ.get("CLOVE_BUILD_DIR", TOP / "build"))
CLOVED = Path(os.environ.get("CLOVED", BUILD / "kernel" / "cloved"))
CLOVE_CLI = Path(os.environ.get("CLOVE_CLI", BUILD / "tools" / "clove"))
# The demo's own clients take the shared-memory fast path through the
# freshly built libclove (agents find theirs where it is installed).
if (BUILD / "sdk" / "c" / "libclove.so").exists():
    os.environ.setdefault("LIBCLOVE", str(BUILD / "sdk" / "c" / "libclove.so"))


def wait_for(predicate, timeout: float, step: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    return predicate()


def count_lines(path: str, prefix: str) -> int:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return sum(1 for line in f if line.startswith(prefix))
    except FileNotFoundError:
        return 0


class Demo:
    wait_for = staticmethod(wait_for)

    def __init__(self) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="clove-demo-"))
        self.socket = str(self.tmp / "run" / "clove.sock")
        self.kernel: subprocess.Popen | None = None
        self.rows: list[tuple[str, str, bool]] = []
        self.provider: demo_llm.Provider | None = None

    def start_kernel(self) -> None:
        (self.tmp / "run").mkdir(mode=0o755)
        self.provider = demo_llm.Provider(self.tmp)
        config = self.tmp / "cloved.json"
        config.write_text(json.dumps(self.provider.config))
        log = open(self.tmp / "cloved.log", "wb")
        self.kernel = subprocess.Popen(
            [str(CLOVED), "--socket", self.socket, "--state-dir", str(self.tmp / "state"),
             "--config", str(config)],
            stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **self.provider.env})
        if not wait_for(lambda: os.path.exists(self.socket), 10):
            raise SystemExit(f"cloved did not start; see {self.tmp / 'cloved.log'}")
        print(f"kernel: {CLOVED} (pid {self.kernel.pid}) on {self.socket}\n")

    def stop_kernel(self) -> None:
        if self.kernel and self.kernel.poll() is None:
            self.kernel.send_signal(signal.SIGTERM)
            try:
                self.kernel.wait(15)
            except subprocess.TimeoutExpired:
                self.kernel.kill()
                self.kernel.wait()

    def record(self, scenario: str, outcome: str, ok: bool) -> None:
        self.rows.append((scenario, outcome, ok))
        print(f"  [{'ok' if ok else 'FAILED'}] {scenario}: {outcome}")

    def spawn(self, client: CloveClient, name: str, script: str, **kw):
        return client.spawn(name=name, script=str(HERE / "agents" / script),
                            python=sys.executable, **kw)

    def agent(self, client: CloveClient, name: str):
        for a in client.list_agents():
            if a["name"] == name:
                return a
        return None

    def cli(self, *args: str) -> str:
        if not CLOVE_CLI.exists():
            return f"(clove CLI not built at {CLOVE_CLI})\n"
        out = subprocess.run([str(CLOVE_CLI), "--socket", self.socket, *args],
                             capture_output=True, text=True, timeout=20)
        return out.stdout + out.stderr

    def run(self) -> int:
        self.start_kernel()
        with CloveClient(self.socket) as client:
            steady = self.spawn(client, "steady", "steady.py")
            self.spawn(client, "crasher", "crasher.py", restart_policy="on-failure",
                       max_restarts=3, restart_window=60, restart_backoff_ms=200)
            ticker = self.spawn(client, "ticker", "ticker.py")
            self.spawn(client, "stubborn", "stubborn.py")
            print("spawned: steady, crasher (restart on-failure, max 3), ticker, stubborn\n")
            self.crash_scenario(client, steady)
            self.pause_scenario(client, ticker)
            self.kill_scenario(client)
            self.neighbour_scenario(client, steady)
            demo_isolation.run(self, client)
            demo_llm.run(self, client, self.provider)
            print("\n$ clove ps")
            print(self.cli("ps"), end="")
            print("\n$ clove logs crasher -n 4")
            print(self.cli("logs", "crasher", "-n", "4"), end="")
        return self.summary()

    def crash_scenario(self, client: CloveClient, steady) -> None:
        print("1. an agent crashes over and over")
        beats_before = count_lines(steady["log_path"], "heartbeat")
        crasher = wait_for(lambda: (a := self.agent(client, "crasher")) and
                           a["state"] == "failed" and a, 30, 0.2)
        crasher = crasher or self.agent(client, "crasher")
        beats_after = count_lines(steady["log_path"], "heartbeat")
        self.record("crashing agent restarted, then given up on",
                    f"state={crasher['state']} restarts={crasher['restarts']} "
                    f"exit_code={crasher['exit_code']}",
                    crasher["state"] == "failed" and crasher["restarts"] == 3)
        self.record("its neighbour kept working meanwhile",
                    f"steady: {beats_after - beats_before} heartbeats while crasher crashed",
                    beats_after - beats_before >= 3)

    def pause_scenario(self, client: CloveClient, ticker) -> None:
        print("2. pause and resume")
        log = ticker["log_path"]
        wait_for(lambda: count_lines(log, "tick") >= 3, 5)
        client.pause("ticker")
        time.sleep(0.3)  # let the last tick in flight land
        frozen = count_lines(log, "tick")
        time.sleep(1.0)
        still = count_lines(log, "tick")
        state = self.agent(client, "ticker")["state"]
        self.record("PAUSE stops the agent", f"state={state}, ticks {frozen} -> {still} in 1 s",
                    state == "paused" and still == frozen)
        client.resume("ticker")
        resumed = wait_for(lambda: count_lines(log, "tick") > still + 3, 5)
        self.record("RESUME continues it", f"ticks {still} -> {count_lines(log, 'tick')}",
                    bool(resumed))

    def kill_scenario(self, client: CloveClient) -> None:
        print("3. kill an agent that ignores SIGTERM")
        t0 = time.monotonic()
        reply = client.kill("stubborn", grace=1)
        took = time.monotonic() - t0
        stubborn = self.agent(client, "stubborn")
        self.record("KILL ends it (SIGTERM, SIGKILL after a 1 s grace)",
                    f"state={stubborn['state']} signal={stubborn['signal']} after {took:.1f} s",
                    bool(reply["killed"]) and stubborn["state"] == "killed")
        client.kill("ticker", grace=1)

    def neighbour_scenario(self, client: CloveClient, steady) -> None:
        print("4. the survivor")
        a = self.agent(client, "steady")
        t0 = time.perf_counter()
        client.echo(b"still there?")
        rtt_us = (time.perf_counter() - t0) * 1e6
        self.record("steady agent untouched by all of the above",
                    f"state={a['state']} restarts={a['restarts']} pid={a['pid']} "
                    f"(same pid as at spawn: {a['pid'] == steady['pid']}); kernel answers in {rtt_us:.0f} us",
                    a["state"] == "running" and a["restarts"] == 0 and a["pid"] == steady["pid"])

    def summary(self) -> int:
        width = max(len(r[0]) for r in self.rows)
        print(f"\n{'What Clove did':<{width}}  | result")
        print("-" * (width + 2) + "+" + "-" * 8)
        for scenario, _, ok in self.rows:
            print(f"{scenario:<{width}}  | {'ok' if ok else 'FAILED'}")
        failed = sum(1 for r in self.rows if not r[2])
        print(f"\n{len(self.rows) - failed} of {len(self.rows)} scenarios behaved as promised.")
        return 1 if failed else 0

    def cleanup(self) -> None:
        self.stop_kernel()
        if self.provider:
            self.provider.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)


def main() -> int:
    if not CLOVED.exists():
        print(f"cloved not found at {CLOVED}; build first (deploy/dev/setup.sh)", file=sys.stderr)
        return 2
    demo = Demo()
    try:
        return demo.run()
    except CloveError as e:
        print(f"demo: kernel error: {e} ({e.code})", file=sys.stderr)
        return 1
    finally:
        demo.cleanup()


if __name__ == "__main__":
    sys.exit(main())
