# SPDX-License-Identifier: MIT
"""Agents: SPAWN, LIST, KILL, PAUSE, RESUME and restart policies, driven by small Python agent
scripts the tests write at run time (they embed ``wire.py`` and talk over the inherited
``CLOVE_FD``). Covers what an agent sees (env, argv, cwd, log file, only its own fds), that its
identity is the fd and cannot be forged through the header, the parent/child permission rule
(the original checked no permission on SPAWN/KILL), KILL's grace period running on a timer
while the kernel keeps serving (the original slept 5 s on its loop), and the restart budget.
"""

import json
import os
import signal
import sys
import time

import pytest

import wire
from clove_harness import (agent_source, descendants, log_text, pid_alive, proc_state,
                           wait_log, wait_paused, wait_report, wait_resumed, wait_until)
from clove_harness import spawn_agent as spawn

SLEEPER = """
ready()
sleep_forever()
"""

IGNORES_TERM = """
signal.signal(signal.SIGTERM, signal.SIG_IGN)
ready()
sleep_forever()
"""

# argv[2]: seconds to live, argv[3]: exit status. Says hello first so restarts prove a fresh
# connection; the random token tells processes apart (inside a sandbox every agent is pid 2).
CRASHER = """
_, h = call_json(SOCK, OP_HELLO, {})
print("START", os.getpid(), h["agent_id"], os.urandom(8).hex(), flush=True)
time.sleep(float(sys.argv[2]))
sys.exit(int(sys.argv[3]))
"""


def pid_gone(pid, timeout=10.0):
    wait_until(lambda: not pid_alive(pid), timeout, 0.05, "pid %d to exit" % pid)


def script_procs(pid, script):
    """Host pids of the processes (pid or below it) that run script."""
    out = []
    for p in [pid, *descendants(pid)]:
        try:
            with open("/proc/%d/cmdline" % p, "rb") as f:
                if script.encode() in f.read():
                    out.append(p)
        except OSError:
            pass
    return out


# ---------------------------------------------------------------------------------------------
# SPAWN and what the agent sees


def test_spawn_reply_fields(kernel, agent_script):
    r = spawn(kernel, agent_script, SLEEPER, "fields")
    assert r["success"] is True
    assert isinstance(r["id"], int) and r["id"] > 0
    assert r["name"] == "fields"
    assert isinstance(r["pid"], int) and r["pid"] > 1
    assert pid_alive(r["pid"])
    assert r["status"] == "running"
    assert r["restart_policy"] == "never"
    assert r["parent_id"] == 0
    assert os.path.realpath(r["log_path"]) == os.path.realpath(
        os.path.join(kernel.state_dir, "logs", "fields.log"))
    iso = r["isolation"]
    assert isinstance(iso, dict)
    assert isinstance(iso["sandboxed"], bool)
    assert isinstance(iso["namespaces"], list)
    assert isinstance(iso["seccomp"], bool)
    assert iso["cgroup"] is None or isinstance(iso["cgroup"], dict)
    assert r["exit_reason"] is None


NS_ALIASES = {"pid": "pid", "mnt": "mnt", "mount": "mnt", "uts": "uts", "ipc": "ipc",
              "net": "net", "network": "net", "user": "user", "cgroup": "cgroup"}


def test_spawn_isolation_report_is_honest(kernel, agent_script):
    r = spawn(kernel, agent_script, SLEEPER, "honest")
    wait_log(r["log_path"], "READY")
    iso = r["isolation"]
    procs = script_procs(r["pid"], r["_script"])
    assert procs, "cannot find the agent's python process under pid %d" % r["pid"]
    agent = procs[-1]
    claimed = {NS_ALIASES.get(n, n) for n in iso["namespaces"]}
    unknown = claimed - set(NS_ALIASES.values())
    assert not unknown, "unknown namespace names %r" % unknown
    for ns in sorted(set(NS_ALIASES.values())):
        mine = os.readlink("/proc/%d/ns/%s" % (kernel.pid, ns))
        theirs = os.readlink("/proc/%d/ns/%s" % (agent, ns))
        if ns in claimed:
            assert theirs != mine, "isolation claims a %s namespace the agent does not have" % ns
        else:
            assert theirs == mine, "agent has its own %s namespace but isolation omits it" % ns
    with open("/proc/%d/status" % agent) as f:
        seccomp = [l.split()[1] for l in f if l.startswith("Seccomp:")][0]
    assert (seccomp == "2") == iso["seccomp"], "Seccomp: %s vs claimed %r" % (seccomp,
                                                                               iso["seccomp"])
    with open("/proc/%d/cgroup" % agent) as f:
        agent_cg = f.read()
    with open("/proc/%d/cgroup" % kernel.pid) as f:
        kernel_cg = f.read()
    if iso["cgroup"] is None or iso["cgroup"]["path"] is None:
        assert agent_cg == kernel_cg, "agent is in its own cgroup but isolation says none"
    else:
        assert "0::%s\n" % iso["cgroup"]["path"] in agent_cg
    if iso["sandboxed"]:
        assert claimed, "sandboxed with no namespaces"
    if not (iso["sandboxed"] and iso["seccomp"] and iso["cgroup"]):
        assert isinstance(iso.get("reason"), str) and iso["reason"], \
            "isolation lacks something but gives no reason: %r" % iso


ENV_REPORTER = """
fd = int(os.environ["CLOVE_FD"])
import stat
fds = {}
for entry in os.listdir("/proc/self/fd"):
    try:
        fds[entry] = os.readlink("/proc/self/fd/" + entry)
    except OSError:
        pass
report(env={k: v for k, v in os.environ.items() if k.startswith("CLOVE_") or k == "KEY"},
       argv=sys.argv, cwd=os.getcwd(), fds=fds,
       fd_is_socket=stat.S_ISSOCK(os.fstat(fd).st_mode),
       stdin=os.readlink("/proc/self/fd/0"))
"""


def test_agent_sees_its_environment_and_argv(kernel, agent_script):
    r = spawn(kernel, agent_script, ENV_REPORTER, "envy", args=["--fast", "two words"],
              env={"KEY": "value"})
    rep = wait_report(r["log_path"])[0]
    env = rep["env"]
    assert env["CLOVE_AGENT_ID"] == str(r["id"])
    assert env["CLOVE_AGENT_NAME"] == "envy"
    assert env["CLOVE_SOCKET"] == kernel.socket
    assert int(env["CLOVE_FD"]) > 2
    assert rep["fd_is_socket"] is True
    assert env["KEY"] == "value"
    assert rep["argv"][1] == kernel.socket
    assert rep["argv"][2:] == ["--fast", "two words"]
    assert rep["stdin"] == "/dev/null"


FULL_ENV_REPORTER = """
report(env=dict(os.environ))
"""


def test_agent_gets_a_minimal_environment_not_the_kernels(make_kernel, agent_script):
    k = make_kernel(env={"CLOVE_TEST_SECRET": "kernel-only", "LANG": "C.UTF-8"})
    r = spawn(k, agent_script, FULL_ENV_REPORTER, "minimal", env={"KEY": "value"})
    env = wait_report(r["log_path"])[0]["env"]
    assert "CLOVE_TEST_SECRET" not in env, "the kernel's environment leaked into an agent"
    assert env["HOME"] == os.path.join(k.state_dir, "agents", str(r["id"]))
    assert env["LANG"] == "C.UTF-8"
    assert env["KEY"] == "value"
    assert "PATH" in env
    extra = set(env) - {"PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "HOME", "KEY",
                        "CLOVE_FD", "CLOVE_AGENT_ID", "CLOVE_AGENT_NAME", "CLOVE_SOCKET"}
    # The interpreter may add a few of its own (e.g. LC_CTYPE coercion).
    assert not {e for e in extra if not e.startswith(("PYTHON", "LC_"))}, extra


def test_agent_cwd_is_its_work_directory(kernel, agent_script):
    r = spawn(kernel, agent_script, ENV_REPORTER, "cwd")
    rep = wait_report(r["log_path"])[0]
    assert os.path.realpath(rep["cwd"]) == os.path.realpath(
        os.path.join(kernel.state_dir, "agents", str(r["id"])))


def test_agent_has_no_fds_but_stdio_and_its_socket(kernel, agent_script):
    # Spawn one agent first so a second one could inherit its socket if fds leaked.
    spawn(kernel, agent_script, SLEEPER, "first")
    r = spawn(kernel, agent_script, ENV_REPORTER, "second")
    rep = wait_report(r["log_path"])[0]
    own = {"0", "1", "2", rep["env"]["CLOVE_FD"]}
    extra = {fd: target for fd, target in rep["fds"].items()
             if fd not in own and not target.endswith("/fd")}
    assert not extra, "agent inherited fds it should not have: %r" % extra


def test_agent_stdout_and_stderr_land_in_log_path(kernel, agent_script):
    body = """
print("marker-on-stdout", flush=True)
print("marker-on-stderr", file=sys.stderr, flush=True)
"""
    r = spawn(kernel, agent_script, body, "logger")
    wait_log(r["log_path"], "marker-on-stdout")
    wait_log(r["log_path"], "marker-on-stderr")


def test_agent_hello_reports_agent_role_and_own_id(kernel, agent_script):
    body = """
hdr, hello = call_json(SOCK, OP_HELLO, {})
report(hdr_id=hdr.agent_id, hello=hello)
"""
    r = spawn(kernel, agent_script, body, "greeter")
    rep = wait_report(r["log_path"])[0]
    assert rep["hello"]["success"] is True
    assert rep["hello"]["role"] == "agent"
    assert rep["hello"]["agent_id"] == r["id"]
    assert rep["hello"]["agent_name"] == "greeter"
    assert rep["hdr_id"] == r["id"]


def test_agent_cannot_forge_its_id_in_the_header(kernel, agent_script):
    victim = spawn(kernel, agent_script, SLEEPER, "victim")
    body = """
other = int(sys.argv[2])
h1, data = call(SOCK, OP_NOOP, b"x", agent_id=other)
h2, hello = call_json(SOCK, OP_HELLO, {}, agent_id=other)
report(noop_id=h1.agent_id, hello_hdr_id=h2.agent_id, hello_id=hello["agent_id"])
"""
    r = spawn(kernel, agent_script, body, "forger", args=[str(victim["id"])])
    rep = wait_report(r["log_path"])[0]
    assert rep == {"noop_id": r["id"], "hello_hdr_id": r["id"], "hello_id": r["id"]}


def test_operator_ids_do_not_collide_with_agent_ids(kernel, agent_script):
    a = spawn(kernel, agent_script, SLEEPER, "a1")
    s = kernel.connect()
    hdr, _ = wire.call(s, wire.OP_NOOP, b"")
    assert hdr.agent_id != a["id"]


def test_agent_cannot_kill_pause_or_resume_an_agent_it_did_not_spawn(kernel, agent_script):
    victim = spawn(kernel, agent_script, SLEEPER, "victim")
    wait_log(victim["log_path"], "READY")
    body = """
v, vn = int(sys.argv[2]), sys.argv[3]
out = {}
for label, op, obj in [("kill", OP_KILL, {"id": v, "grace": 0}),
                       ("kill_by_name", OP_KILL, {"name": vn, "grace": 0}),
                       ("pause", OP_PAUSE, {"id": v}),
                       ("resume", OP_RESUME, {"id": v})]:
    out[label] = call_json(SOCK, op, obj)[1]
report(**out)
"""
    r = spawn(kernel, agent_script, body, "attacker", args=[str(victim["id"]), "victim"])
    rep = wait_report(r["log_path"])[0]
    for label in ("kill", "kill_by_name", "pause", "resume"):
        assert rep[label]["success"] is False, (label, rep[label])
        assert rep[label]["code"] == "EACCES", (label, rep[label])
    entry = kernel.agent(victim["id"])
    assert entry["state"] == "running"
    assert pid_alive(victim["pid"])
    assert proc_state(victim["pid"]) != "T"


def test_agent_can_spawn_and_kill_its_own_child(kernel, agent_script):
    # A sandboxed parent can only give its child a script it can see itself: it writes one
    # into its work directory.
    body = """
kid = os.path.abspath("kid.py")
with open(kid, "w") as f:
    f.write(os.environ["CHILD_SRC"])
_, sp = call_json(SOCK, OP_SPAWN, {"name": "kid", "script": kid,
                                   "python": sys.executable})
_, lst = call_json(SOCK, OP_LIST, {})
_, k = call_json(SOCK, OP_KILL, {"id": sp.get("id"), "grace": 2})
report(spawn=sp, list=lst, kill=k)
sleep_forever()
"""
    parent = spawn(kernel, agent_script, body, "parent", env={"CHILD_SRC": agent_source(SLEEPER)})
    rep = wait_report(parent["log_path"], timeout=30)[0]
    sp = rep["spawn"]
    assert sp["success"] is True, sp
    assert sp["parent_id"] == parent["id"]
    kernel.track(sp["pid"])
    seen = [a for a in rep["list"] if a["id"] == sp["id"]]
    assert seen and seen[0]["parent_id"] == parent["id"]
    assert rep["kill"]["success"] is True, rep["kill"]
    assert rep["kill"]["killed"] is True
    pid_gone(sp["pid"])
    entry = kernel.agent(sp["id"])
    assert entry["state"] == "killed"
    assert entry["parent_id"] == parent["id"]


def test_duplicate_live_name_is_eexist(kernel, agent_script):
    spawn(kernel, agent_script, SLEEPER, "twin")
    script = agent_script(SLEEPER, name="twin2")
    r = kernel.request(wire.OP_SPAWN, {"name": "twin", "script": script,
                                       "python": sys.executable})
    assert r["success"] is False
    assert r["code"] == "EEXIST"


def test_name_is_free_again_after_the_agent_ends(kernel, agent_script):
    first = spawn(kernel, agent_script, SLEEPER, "reuse")
    kernel.request(wire.OP_KILL, {"id": first["id"], "grace": 0})
    second = spawn(kernel, agent_script, SLEEPER, "reuse")
    assert second["id"] != first["id"]


def test_default_name_is_agent_id(kernel, agent_script):
    script = agent_script(SLEEPER, name="anon")
    r = kernel.spawn(script=script, python=sys.executable)
    assert r["name"] == "agent-%d" % r["id"]


@pytest.mark.parametrize("script,code", [
    ("relative/agent.py", "EINVAL"),
    ("/nonexistent/agent.py", "ENOENT"),
])
def test_spawn_bad_script_is_refused(kernel, script, code):
    r = kernel.request(wire.OP_SPAWN, {"script": script, "python": sys.executable})
    assert r["success"] is False
    assert r["code"] == code


def test_spawn_missing_interpreter_is_enoent(kernel, agent_script):
    script = agent_script(SLEEPER, name="nopython")
    r = kernel.request(wire.OP_SPAWN, {"name": "nopython", "script": script,
                                       "python": "/nonexistent/python3"})
    assert r["success"] is False
    assert r["code"] == "ENOENT"
    assert "/nonexistent/python3" in r["error"]


# ---------------------------------------------------------------------------------------------
# LIST


def test_list_fields(kernel, agent_script):
    t0 = time.time()
    r = spawn(kernel, agent_script, SLEEPER, "listed")
    agents = kernel.list_agents()
    assert isinstance(agents, list)
    mine = [a for a in agents if a["id"] == r["id"]]
    assert len(mine) == 1
    a = mine[0]
    assert a["name"] == "listed"
    assert a["pid"] == r["pid"]
    assert a["state"] == "running"
    assert a["running"] is True
    assert a["exit_code"] is None
    assert a["signal"] is None
    assert a["restarts"] == 0
    assert isinstance(a["started_at"], (int, float))
    assert t0 - 5 <= a["started_at"] <= time.time() + 5
    assert a["parent_id"] == 0
    assert a["restart_policy"] == "never"
    assert a["log_path"] == r["log_path"]
    assert isinstance(a["uptime_ms"], int) and a["uptime_ms"] >= 0


def test_list_is_empty_array_without_agents(kernel):
    assert kernel.list_agents() == []


# ---------------------------------------------------------------------------------------------
# KILL


def test_kill_by_id_ends_the_process(kernel, agent_script):
    r = spawn(kernel, agent_script, SLEEPER, "victim")
    wait_log(r["log_path"], "READY")
    k = kernel.request(wire.OP_KILL, {"id": r["id"]})
    assert k["success"] is True
    assert k["killed"] is True
    assert k["agent_id"] == r["id"]
    assert k["state"] == "killed"
    assert k["signal"] == signal.SIGTERM
    pid_gone(r["pid"])
    a = kernel.agent(r["id"])
    assert a["state"] == "killed"
    assert a["running"] is False
    assert a["pid"] == 0


def test_kill_by_name_ends_the_process(kernel, agent_script):
    r = spawn(kernel, agent_script, SLEEPER, "byname")
    wait_log(r["log_path"], "READY")
    k = kernel.request(wire.OP_KILL, {"name": "byname"})
    assert k["success"] is True and k["agent_id"] == r["id"]
    pid_gone(r["pid"])
    assert kernel.agent(r["id"])["state"] == "killed"


def test_kill_ends_the_agents_whole_process_group(kernel, agent_script):
    body = """
import subprocess
subprocess.Popen(["sleep", "1000"])
ready()
sleep_forever()
"""
    r = spawn(kernel, agent_script, body, "family")
    wait_log(r["log_path"], "READY")
    kids = descendants(r["pid"])
    assert kids, "the agent's child process did not show up"
    for p in kids:
        kernel.track(p)
    kernel.request(wire.OP_KILL, {"id": r["id"], "grace": 2})
    for p, start in kids.items():
        wait_until(lambda: not pid_alive(p, start), 10, 0.05, "agent child %d to exit" % p)


@pytest.mark.timeout(60)
def test_kill_grace_runs_on_a_timer_and_then_sigkills(kernel, agent_script):
    r = spawn(kernel, agent_script, IGNORES_TERM, "stubborn")
    wait_log(r["log_path"], "READY")
    a = kernel.connect()
    b = kernel.connect()
    t0 = time.monotonic()
    a.sendall(wire.pack(wire.OP_KILL, {"id": r["id"], "grace": 1}))
    time.sleep(0.1)
    hdr, data = wire.call(b, wire.OP_NOOP, b"during grace")
    during = time.monotonic() - t0
    assert data == b"during grace"
    # Structural: B was answered while A's KILL was still waiting out the grace period.
    assert not wire.readable(a, 0), "KILL answered before its grace ended (%.2f s)" % during
    assert pid_alive(r["pid"]), "agent ignoring SIGTERM died before the grace ended"
    hdr, data = wire.read_frame(a)
    elapsed = time.monotonic() - t0
    k = json.loads(data)
    assert k["success"] is True
    assert k["signal"] == signal.SIGKILL
    assert 0.8 <= elapsed < 8, "SIGKILL came %.2f s after KILL with grace 1" % elapsed
    pid_gone(r["pid"], 2)


def test_kill_grace_zero_sigkills_at_once(kernel, agent_script):
    r = spawn(kernel, agent_script, IGNORES_TERM, "nograce")
    wait_log(r["log_path"], "READY")
    t0 = time.monotonic()
    k = kernel.request(wire.OP_KILL, {"id": r["id"], "grace": 0})
    assert time.monotonic() - t0 < 4, "grace 0 still waited"
    assert k["signal"] == signal.SIGKILL
    pid_gone(r["pid"], 2)


def test_kill_without_wait_replies_before_the_agent_is_gone(kernel, agent_script):
    r = spawn(kernel, agent_script, IGNORES_TERM, "nowait")
    wait_log(r["log_path"], "READY")
    k = kernel.request(wire.OP_KILL, {"id": r["id"], "grace": 3, "wait": False})
    assert k["success"] is True
    assert pid_alive(r["pid"]), "KILL with wait false replied only after the agent was gone"
    pid_gone(r["pid"], 10)
    kernel.wait_agent(r["id"], lambda a: a["state"] == "killed", 10, "state killed")


def test_kill_unknown_agent_is_enoent(kernel):
    for obj in ({"id": 987654}, {"name": "nobody"}):
        k = kernel.request(wire.OP_KILL, obj)
        assert k["success"] is False
        assert k["code"] == "ENOENT"


def test_kill_of_an_ended_agent_is_esrch(kernel, agent_script):
    r = spawn(kernel, agent_script, "sys.exit(0)\n", "quick")
    kernel.wait_agent(r["id"], lambda a: a["state"] == "exited", 15, "state exited")
    k = kernel.request(wire.OP_KILL, {"id": r["id"]})
    assert k["success"] is False
    assert k["code"] == "ESRCH"


# ---------------------------------------------------------------------------------------------
# PAUSE / RESUME


@pytest.mark.timeout(60)
def test_pause_stops_and_resume_continues_the_agent(kernel, agent_script):
    body = """
import subprocess
subprocess.Popen(["sleep", "1000"])
ready()
sleep_forever()
"""
    r = spawn(kernel, agent_script, body, "napper")
    wait_log(r["log_path"], "READY")
    group = [r["pid"], *descendants(r["pid"])]
    for p in group:
        kernel.track(p)
    p = kernel.request(wire.OP_PAUSE, {"id": r["id"]})
    assert p["success"] is True and p["paused"] is True and p["agent_id"] == r["id"], p
    wait_paused(p, r, group)
    assert kernel.agent(r["id"])["state"] == "paused"
    q = kernel.request(wire.OP_RESUME, {"name": "napper"})
    assert q["success"] is True and q["resumed"] is True and q["agent_id"] == r["id"]
    wait_resumed(r, group)
    assert kernel.agent(r["id"])["state"] == "running"


def test_pause_twice_and_resume_running_are_esrch(kernel, agent_script):
    r = spawn(kernel, agent_script, SLEEPER, "twice")
    wait_log(r["log_path"], "READY")
    q = kernel.request(wire.OP_RESUME, {"id": r["id"]})
    assert (q["success"], q["code"]) == (False, "ESRCH")
    assert kernel.request(wire.OP_PAUSE, {"id": r["id"]})["success"] is True
    p = kernel.request(wire.OP_PAUSE, {"id": r["id"]})
    assert (p["success"], p["code"]) == (False, "ESRCH")
    assert kernel.request(wire.OP_RESUME, {"id": r["id"]})["success"] is True


def test_kill_of_a_paused_agent_works(kernel, agent_script):
    r = spawn(kernel, agent_script, SLEEPER, "frozen")
    wait_log(r["log_path"], "READY")
    p = kernel.request(wire.OP_PAUSE, {"id": r["id"]})
    wait_paused(p, r, [r["pid"]])
    k = kernel.request(wire.OP_KILL, {"id": r["id"], "grace": 1})
    assert k["success"] is True
    pid_gone(r["pid"], 5)


# ---------------------------------------------------------------------------------------------
# exits and restart policies


def start_lines(log_path):
    return [l.split() for l in log_text(log_path).splitlines() if l.startswith("START ")]


def test_never_policy_ends_exited_with_exit_code(kernel, agent_script):
    r = spawn(kernel, agent_script, CRASHER, "once", args=["0", "7"])
    a = kernel.wait_agent(r["id"], lambda a: a["state"] not in ("running", "restarting"), 15,
                          "the agent to end")
    assert a["state"] == "exited"
    assert a["exit_code"] == 7
    assert a["signal"] is None
    assert a["running"] is False
    assert a["pid"] == 0
    assert a["restarts"] == 0


def test_agent_killed_by_a_signal_reports_the_signal(kernel, agent_script):
    body = """
ready()
os.kill(os.getpid(), signal.SIGUSR1)
sleep_forever()
"""
    r = spawn(kernel, agent_script, body, "signalled")
    a = kernel.wait_agent(r["id"], lambda a: a["running"] is False, 15, "the agent to end")
    assert a["signal"] == signal.SIGUSR1
    assert a["state"] in ("exited", "failed")


@pytest.mark.timeout(90)
def test_on_failure_restarts_a_crashing_agent(kernel, agent_script):
    r = spawn(kernel, agent_script, CRASHER, "phoenix", args=["0.5", "3"],
              restart_policy="on-failure", max_restarts=5, restart_backoff_ms=100)
    assert r["restart_policy"] == "on-failure"
    a = kernel.wait_agent(r["id"], lambda a: a["restarts"] >= 1 and a["pid"] not in
                          (0, r["pid"]), 30, "a restart with a new pid")
    kernel.track(a["pid"])
    assert a["name"] == "phoenix"
    wait_log(r["log_path"], "START", 30, count=2)
    ids = {int(l[2]) for l in start_lines(r["log_path"])}
    assert ids == {r["id"]}, "a restarted agent must keep its id: %r" % ids
    tokens = [l[3] for l in start_lines(r["log_path"])]
    assert len(set(tokens)) == len(tokens), "each start must be a new process"
    kernel.request(wire.OP_KILL, {"id": r["id"], "grace": 1})


@pytest.mark.timeout(90)
def test_on_failure_gives_up_after_max_restarts(kernel, agent_script):
    r = spawn(kernel, agent_script, CRASHER, "doomed", args=["0", "3"],
              restart_policy="on-failure", max_restarts=2, restart_window=300,
              restart_backoff_ms=100)
    a = kernel.wait_agent(r["id"], lambda a: a["state"] == "failed", 45, "state failed")
    assert a["restarts"] == 2
    assert a["exit_code"] == 3
    assert a["running"] is False
    time.sleep(1.0)
    assert len(start_lines(r["log_path"])) == 3, log_text(r["log_path"])
    assert kernel.agent(r["id"])["state"] == "failed"


def test_on_failure_does_not_restart_a_clean_exit(kernel, agent_script):
    r = spawn(kernel, agent_script, CRASHER, "clean", args=["0", "0"],
              restart_policy="on-failure", restart_backoff_ms=100)
    a = kernel.wait_agent(r["id"], lambda a: a["state"] == "exited", 15, "state exited")
    assert a["exit_code"] == 0
    time.sleep(1.0)
    assert kernel.agent(r["id"])["restarts"] == 0
    assert len(start_lines(r["log_path"])) == 1


@pytest.mark.timeout(90)
def test_always_policy_restarts_an_agent_that_exits_zero(kernel, agent_script):
    r = spawn(kernel, agent_script, CRASHER, "loop", args=["0.3", "0"],
              restart_policy="always", max_restarts=20, restart_backoff_ms=100)
    kernel.wait_agent(r["id"], lambda a: a["restarts"] >= 2, 30, "two restarts")
    wait_log(r["log_path"], "START", 30, count=3)
    k = kernel.request(wire.OP_KILL, {"id": r["id"], "grace": 1})
    assert k["success"] is True


@pytest.mark.timeout(60)
def test_killed_agent_is_never_restarted(kernel, agent_script):
    r = spawn(kernel, agent_script, SLEEPER, "stays-dead", restart_policy="always",
              restart_backoff_ms=100)
    wait_log(r["log_path"], "READY")
    k = kernel.request(wire.OP_KILL, {"id": r["id"], "grace": 1})
    assert k["success"] is True
    pid_gone(r["pid"])
    time.sleep(1.5)
    a = kernel.agent(r["id"])
    assert a["state"] == "killed"
    assert a["restarts"] == 0
    assert log_text(r["log_path"]).count("READY") == 1


# ---------------------------------------------------------------------------------------------
# what an agent may do with its own connection


def test_agent_relative_paths_and_exec_use_its_work_directory(kernel, agent_script):
    body = """
_, w = call_json(SOCK, OP_WRITE, {"path": "note.txt", "content": "kept"})
_, r = call_json(SOCK, OP_READ, {"path": "note.txt"})
_, e = call_json(SOCK, OP_EXEC, {"argv": ["pwd"]})
report(write=w, read=r, exec=e)
"""
    a = spawn(kernel, agent_script, body, "worker")
    rep = wait_report(a["log_path"])[0]
    work = os.path.realpath(os.path.join(kernel.state_dir, "agents", str(a["id"])))
    assert rep["write"]["success"] is True, rep["write"]
    assert rep["read"]["content"] == "kept"
    with open(os.path.join(work, "note.txt")) as f:
        assert f.read() == "kept"
    assert os.path.realpath(rep["exec"]["stdout"].strip()) == work


def test_agent_exit_closes_its_connection_but_not_its_process(kernel, agent_script):
    body = """
hdr, data = call(SOCK, OP_EXIT, b"")
try:
    eof = SOCK.recv(1) == b""
except ConnectionResetError:
    eof = True
report(reply=data.decode(), opcode=hdr.opcode, eof=eof)
time.sleep(1)
sys.exit(4)
"""
    a = spawn(kernel, agent_script, body, "leaver")
    rep = wait_report(a["log_path"])[0]
    assert rep == {"reply": "goodbye", "opcode": wire.OP_EXIT, "eof": True}
    entry = kernel.agent(a["id"])
    assert entry["running"] is True or entry["exit_code"] == 4, entry
    entry = kernel.wait_agent(a["id"], lambda x: x["state"] == "exited", 15, "state exited")
    assert entry["exit_code"] == 4


@pytest.mark.timeout(240)
def test_list_keeps_at_most_256_ended_agents(kernel, tmp_path):
    # /bin/true as the interpreter: a cheap agent that ends at once.
    script = tmp_path / "nothing.py"
    script.write_text("")
    ids = []
    for i in range(270):
        r = kernel.request(wire.OP_SPAWN, {"name": "brief-%d" % i, "script": str(script),
                                           "python": "/bin/true"})
        assert r["success"] is True, r
        ids.append(r["id"])

    def all_ended():
        agents = kernel.list_agents()
        return agents if all(not a["running"] for a in agents) and len(agents) <= 256 else None
    agents = wait_until(all_ended, 60, 0.2, "every brief agent to end")
    assert len(agents) == 256
    # Eviction goes by end time, and agents spawned back to back may be
    # reaped slightly out of id order: the oldest must be gone, the most
    # recent must all be there.
    listed = {a["id"] for a in agents}
    assert listed <= set(ids), "LIST shows agents this test did not spawn"
    assert set(ids[-200:]) <= listed, "LIST dropped recently ended agents"
    assert not set(ids[:3]) & listed, "LIST kept the first agents to end"
