# SPDX-License-Identifier: MIT
"""A sandboxed agent's life: its PID 1 (the small init in C that the sandbox leaves as its
namespace's first process) forwards the kernel's SIGTERM exactly once, reaps orphans, lets PAUSE
stop everything inside, and reports the agent's own exit status, so that KILL, LIST and the
restart policies see the agent rather than its init. The escape attempts are in
test_sandbox_escape.py.
"""

import os
import signal
import time

import wire
from clove_harness import descendants, wait_log, wait_report, wait_until
from clove_harness import spawn_agent as spawn

COUNTS_TERM = """
terms = []
def on_term(sig, frame):
    terms.append(sig)
    print("TERM", len(terms), flush=True)
signal.signal(signal.SIGTERM, on_term)
ready()
while not terms:
    time.sleep(0.05)
time.sleep(1.0)          # a second TERM, if one came, would show up here
print("DONE", len(terms), flush=True)
sys.exit(0)
"""


def agent_pid(kernel, r):
    """Host pid of the agent's own process, below its PID 1."""
    def find():
        for pid in descendants(r["pid"]):
            try:
                with open("/proc/%d/cmdline" % pid, "rb") as f:
                    if r["_script"].encode() in f.read():
                        return pid
            except OSError:
                pass
        return None
    return wait_until(find, 15, 0.05, "the agent's process")


def test_kill_delivers_sigterm_to_the_agent_once(kernel, agent_script):
    r = spawn(kernel, agent_script, COUNTS_TERM, "counter")
    wait_log(r["log_path"], "READY")
    k = kernel.request(wire.OP_KILL, {"id": r["id"], "grace": 10})
    assert k["success"] is True and k["state"] == "killed", k
    wait_log(r["log_path"], "DONE")
    log = open(r["log_path"]).read()
    assert log.count("TERM ") == 1, log
    assert "DONE 1" in log
    assert k["exit_code"] == 0 and k["signal"] is None


def test_sigterm_to_the_pid_in_list_reaches_the_agent(kernel, agent_script):
    r = spawn(kernel, agent_script, COUNTS_TERM, "direct")
    wait_log(r["log_path"], "READY")
    os.kill(r["pid"], signal.SIGTERM)  # the pid SPAWN and LIST give: the agent's init
    wait_log(r["log_path"], "DONE")
    assert open(r["log_path"]).read().count("TERM ") == 1
    a = kernel.wait_agent(r["id"], lambda a: not a["running"], 15, "the agent to end")
    assert a["exit_code"] == 0 and a["state"] == "exited"


def test_the_agents_own_status_is_reported(kernel, agent_script):
    r = spawn(kernel, agent_script, "os.kill(os.getpid(), signal.SIGSEGV)", "segv")
    a = kernel.wait_agent(r["id"], lambda a: not a["running"], 15, "the agent to end")
    assert a["signal"] == signal.SIGSEGV and a["exit_code"] is None
    r = spawn(kernel, agent_script, "sys.exit(42)", "code")
    a = kernel.wait_agent(r["id"], lambda a: not a["running"], 15, "the agent to end")
    assert a["exit_code"] == 42 and a["signal"] is None


ORPHANS = """
for i in range(3):
    if os.fork() == 0:          # child: leaves a grandchild behind and exits at once
        if os.fork() == 0:
            time.sleep(0.3)
            os._exit(0)
        os._exit(0)
    os.wait()
time.sleep(1.5)                 # the grandchildren have ended by now
zombies = []
for p in os.listdir("/proc"):
    if p.isdigit():
        try:
            with open("/proc/%s/stat" % p) as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    zombies.append(int(p))
        except OSError:
            pass
report(zombies=zombies, procs=sorted(int(p) for p in os.listdir("/proc") if p.isdigit()))
sleep_forever()
"""


def test_init_reaps_orphans(kernel, agent_script):
    r = spawn(kernel, agent_script, ORPHANS, "orphans")
    rep = wait_report(r["log_path"], timeout=30)[0]
    assert rep["zombies"] == []
    assert rep["procs"] == [1, 2], rep


TICKER = """
ready()
if os.fork() == 0:              # a child ticks too: PAUSE must stop it as well
    while True:
        print("CHILD", time.monotonic(), flush=True)
        time.sleep(0.05)
while True:
    print("TICK", time.monotonic(), flush=True)
    time.sleep(0.05)
"""


def ticks(log_path):
    return sum(1 for l in open(log_path) if l.startswith(("TICK", "CHILD")))


def test_pause_stops_everything_inside(kernel, agent_script):
    r = spawn(kernel, agent_script, TICKER, "ticker")
    wait_log(r["log_path"], "CHILD")
    p = kernel.request(wire.OP_PAUSE, {"id": r["id"]})
    assert p["success"] is True, p
    time.sleep(0.3)                 # let a tick already under way land
    n = ticks(r["log_path"])
    time.sleep(1.0)
    assert ticks(r["log_path"]) == n, "something inside kept running while paused"
    assert kernel.request(wire.OP_RESUME, {"id": r["id"]})["success"] is True
    wait_until(lambda: ticks(r["log_path"]) > n + 4, 10, 0.05, "ticks after RESUME")
    k = kernel.request(wire.OP_KILL, {"id": r["id"], "grace": 0})
    assert k["signal"] == signal.SIGKILL


def test_hello_says_sandboxes_are_available(kernel):
    hello = kernel.request(wire.OP_HELLO, {})
    assert hello["features"]["sandbox"] is True


def test_restarted_agent_gets_a_fresh_sandbox(kernel, agent_script):
    body = """
print("START", socket.gethostname(), os.getpid(), sorted(os.listdir("/tmp")), flush=True)
open("/tmp/leftover", "w").close()
sys.exit(3)
"""
    r = spawn(kernel, agent_script, body, "again", restart_policy="on-failure",
              max_restarts=1, restart_backoff_ms=50)
    wait_log(r["log_path"], "START", 30, count=2)
    lines = [l for l in open(r["log_path"]).read().splitlines() if l.startswith("START")]
    assert all(l.startswith("START again 2 ") for l in lines), lines
    assert all("leftover" not in l for l in lines), "the /tmp of a restart is not fresh"
