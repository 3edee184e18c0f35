# SPDX-License-Identifier: MIT
"""Resource limits through cgroups, on the real cgroupfs of this machine (hybrid here: v1
memory/cpu/pids plus the v2 tree at /sys/fs/cgroup/unified; pure v2 elsewhere): what SPAWN
reports is what the files hold; a memory hog is OOM-killed alone while its neighbour keeps
answering; a spinning agent stays within its CPU quota (measured from its cgroup's own usage
counter, not wall clock); a fork bomb stops at max_pids with EAGAIN; KILL leaves no descendant,
not even one that left the session; PAUSE freezes and RESUME thaws; cgroups go when agents end,
and a SIGKILLed kernel's leftovers go at the next start; EXEC runs inside the agent's cgroup; a
limited agent is still bound by its permission policy, and its children get both.

Every hog is bounded (at most 4x its limit, at most 200 forks) and starts only after the test has
seen its limit in the cgroup's files; every cgroup lives under this kernel instance's own parent.
"""

import errno
import json
import os
import subprocess
import sys
import time

import pytest

import wire
from clove_harness import (agent_source, cgroup_dir, cgroup_procs, pid_alive, proc_stat,
                           read_keyed, read_reports, spawn_agent, wait_log, wait_report,
                           wait_until)

SLEEPER = """
ready()
sleep_forever()
"""

SPINNER = """
ready()
while True:
    pass
"""


@pytest.fixture
def cg_kernel(kernel):
    if os.geteuid() != 0:
        pytest.skip("cgroup limits need root (cloved cannot create cgroups otherwise)")
    hello = kernel.request(wire.OP_HELLO, {})
    if not hello["features"].get("cgroups"):
        pytest.skip("this host gives cloved no cgroups: %s" % kernel.log_tail(20))
    return kernel


def work_dir(kernel, agent_id):
    return os.path.join(kernel.state_dir, "agents", str(agent_id))


def go(kernel, agent_id):
    with open(os.path.join(work_dir(kernel, agent_id), "go"), "w") as f:
        f.write("go")


WAIT_FOR_GO = """
ready()
for _ in range(3000):
    if os.path.exists("go"):
        break
    time.sleep(0.02)
else:
    sys.exit(9)
"""


def all_dirs(reply):
    return dict((reply["isolation"]["cgroup"] or {}).get("dirs") or {})


def read_int(path):
    """An integer control file; "max" and v1's near-2^63 "unlimited" read as -1."""
    with open(path) as f:
        v = f.read().strip()
    return -1 if v == "max" or int(v) >= 1 << 62 else int(v)


def memory_limit_in_files(reply):
    d = all_dirs(reply)
    if "memory" in d:
        return read_int(os.path.join(d["memory"], "memory.limit_in_bytes"))
    return read_int(os.path.join(d["unified"], "memory.max"))


def pids_limit_in_files(reply):
    d = all_dirs(reply)
    return read_int(os.path.join(d.get("pids") or d["unified"], "pids.max"))


def cpu_limit_in_files(reply):
    d = all_dirs(reply)
    if "cpu" in d:
        return (read_int(os.path.join(d["cpu"], "cpu.cfs_quota_us")),
                read_int(os.path.join(d["cpu"], "cpu.cfs_period_us")))
    with open(os.path.join(d["unified"], "cpu.max")) as f:
        q, p = f.read().split()
    return (-1 if q == "max" else int(q), int(p))


def cpu_usage_us(reply):
    """The agent cgroup's own CPU time counter (v2 cpu.stat, or v1 cpuacct)."""
    d = all_dirs(reply)
    if "unified" in d:
        return read_keyed(os.path.join(d["unified"], "cpu.stat"))["usage_usec"]
    with open(os.path.join(d["cpu"], "cpuacct.usage")) as f:
        return int(f.read()) // 1000


def oom_kills(reply):
    d = all_dirs(reply)
    if "memory" in d:
        return read_keyed(os.path.join(d["memory"], "memory.oom_control"))["oom_kill"]
    return read_keyed(os.path.join(d["unified"], "memory.events"))["oom_kill"]


def host_pid(reply, pid):
    """The host pid of the agent's process whose pid it sees is pid (sandboxed agents have their
    own PID namespace; /proc/<p>/status NSpid lists a process's pid in each), or None."""
    d = all_dirs(reply)
    for p in cgroup_procs(d.get("unified") or next(iter(d.values()))):
        try:
            with open("/proc/%d/status" % p) as f:
                nspid = [l.split()[1:] for l in f if l.startswith("NSpid:")][0]
        except (OSError, IndexError):
            continue
        if int(nspid[-1]) == pid:
            return p
    return None


def dirs_gone(reply, timeout=15.0):
    dirs = all_dirs(reply)
    assert dirs, "no cgroup directories in %r" % reply["isolation"]
    wait_until(lambda: not any(os.path.exists(p) for p in dirs.values()), timeout, 0.05,
               "the cgroup directories %r to be removed" % sorted(dirs.values()))


# ---------------------------------------------------------------------------------------------
# what SPAWN says


def test_isolation_reports_exactly_the_limits_set(cg_kernel, agent_script):
    limits = {"memory": 128 << 20, "cpu_quota": 50000, "cpu_period": 100000,
              "cpu_shares": 512, "max_pids": 32}
    r = spawn_agent(cg_kernel, agent_script, SLEEPER, "exact", limits=limits)
    cg = r["isolation"]["cgroup"]
    assert cg["version"] in ("v1", "hybrid", "v2")
    assert cg["memory"] == 128 << 20
    assert cg["cpu"] == {"quota": 50000, "period": 100000}
    assert cg["shares"] == 512
    assert cg["pids"] == 32
    assert "unenforced" not in cg, cg
    # ... and the files agree: nothing claimed that is not in force.
    assert memory_limit_in_files(r) == 128 << 20
    assert cpu_limit_in_files(r) == (50000, 100000)
    assert pids_limit_in_files(r) == 32
    wait_log(r["log_path"], "READY")
    for d in all_dirs(r).values():
        assert r["pid"] in cgroup_procs(d), "agent pid not in %s" % d
    if cg["path"]:
        with open("/proc/%d/cgroup" % r["pid"]) as f:
            assert "0::%s\n" % cg["path"] in f.read()
    listed = cg_kernel.agent(r["id"])
    assert listed["isolation"]["cgroup"] == cg


def test_no_limits_claims_none(cg_kernel, agent_script):
    r = spawn_agent(cg_kernel, agent_script, SLEEPER, "unlimited")
    cg = r["isolation"]["cgroup"]
    assert (cg["memory"], cg["cpu"], cg["shares"], cg["pids"]) == (None, None, None, None)
    assert memory_limit_in_files(r) == -1
    assert pids_limit_in_files(r) == -1
    assert cpu_limit_in_files(r)[0] == -1


@pytest.mark.parametrize("limits, word", [
    ({"memory": 1}, "memory"),
    ({"memory": 1 << 62}, "memory"),
    ({"cpu_quota": 10}, "cpu_quota"),
    ({"cpu_quota": 100000 * 4096}, "cpu_quota"),
    ({"cpu_period": 100000}, "cpu_period"),
    ({"cpu_quota": 50000, "cpu_period": 10}, "cpu_period"),
    ({"cpu_shares": 1}, "cpu_shares"),
    ({"max_pids": 0}, "max_pids"),
    ({"max_pids": 1 << 40}, "max_pids"),
])
def test_invalid_limits_are_einval(kernel, limits, word):
    reply = kernel.request(wire.OP_SPAWN, {"script": os.path.abspath(__file__),
                                           "limits": limits})
    assert reply["success"] is False, reply
    assert reply["code"] == "EINVAL", reply
    assert word in reply["error"], reply
    assert kernel.list_agents() == []


# ---------------------------------------------------------------------------------------------
# memory


MEMORY_HOG = WAIT_FOR_GO + """
limit = int(sys.argv[2])
chunk = 4 << 20
held = []
for i in range(4 * limit // chunk):
    held.append(bytearray(b"\\x01") * chunk)   # written, so really resident
    print("HELD", (i + 1) * chunk, flush=True)
report(survived=True, held=len(held) * chunk)
"""

NEIGHBOUR = """
ready()
n = 0
while True:
    _, h = call_json(SOCK, OP_HELLO, {})
    n += 1
    print("BEAT", n, flush=True)
    time.sleep(0.05)
"""


def beats(log_path):
    with open(log_path) as f:
        return sum(1 for line in f if line.startswith("BEAT "))


@pytest.mark.timeout(120)
def test_memory_hog_is_oom_killed_alone(cg_kernel, agent_script):
    limit = 64 << 20
    n = spawn_agent(cg_kernel, agent_script, NEIGHBOUR, "neighbour")
    h = spawn_agent(cg_kernel, agent_script, MEMORY_HOG, "hog", args=[str(limit)],
                    limits={"memory": limit})
    assert h["isolation"]["cgroup"]["memory"] == limit
    wait_log(h["log_path"], "READY")
    # The limit is in force before the hog starts.
    assert memory_limit_in_files(h) == limit
    assert h["pid"] in cgroup_procs(all_dirs(h).get("memory") or all_dirs(h)["unified"])
    wait_log(n["log_path"], "BEAT", count=3)
    before = oom_kills(h)
    go(cg_kernel, h["id"])

    a = cg_kernel.wait_agent(h["id"], lambda a: a["state"] != "running", 60, "the hog to end")
    assert a["exit_reason"] == "oom", (a, read_reports(h["log_path"]))
    assert a["signal"] == 9 and a["state"] == "exited"
    assert not read_reports(h["log_path"]), "the hog outgrew its limit"
    assert before == 0
    # The neighbour never noticed: same process, still answering.
    at_oom = beats(n["log_path"])
    wait_until(lambda: beats(n["log_path"]) >= at_oom + 5, 15, 0.05, "the neighbour to go on")
    nb = cg_kernel.agent(n["id"])
    assert (nb["state"], nb["pid"], nb["restarts"]) == ("running", n["pid"], 0)
    assert cg_kernel.request(wire.OP_HELLO, {})["success"] is True
    cli = os.environ.get("CLOVE_CLI")
    if cli:
        out = subprocess.run([cli, "--socket", cg_kernel.socket, "ps"], capture_output=True,
                             text=True, timeout=30).stdout
        assert "REASON" in out.splitlines()[0]
        hog_line = [l for l in out.splitlines() if " hog " in l]
        assert hog_line and hog_line[0].split()[-1] == "oom", out


# ---------------------------------------------------------------------------------------------
# CPU


@pytest.mark.timeout(120)
def test_cpu_quota_holds_a_spinner_to_its_share(cg_kernel, agent_script):
    r = spawn_agent(cg_kernel, agent_script, SPINNER, "spinner",
                    limits={"cpu_quota": 20000, "cpu_period": 100000})
    assert r["isolation"]["cgroup"]["cpu"] == {"quota": 20000, "period": 100000}
    assert cpu_limit_in_files(r) == (20000, 100000)
    wait_log(r["log_path"], "READY")
    u0, t0 = cpu_usage_us(r), time.monotonic()
    time.sleep(5)
    u1, t1 = cpu_usage_us(r), time.monotonic()
    share = (u1 - u0) / ((t1 - t0) * 1e6)
    print("spinner at a 20%% quota used %.1f%% of one CPU over %.1f s" % (share * 100, t1 - t0))
    assert 0 < share <= 0.25, "a 20%% quota let the spinner use %.1f%%" % (share * 100)


# ---------------------------------------------------------------------------------------------
# processes


FORK_BOMB = WAIT_FOR_GO + """
kids = []
err = None
for i in range(200):
    try:
        pid = os.fork()
    except OSError as e:
        err = e.errno
        break
    if pid == 0:
        time.sleep(60)
        os._exit(0)
    kids.append(pid)
report(forked=len(kids), errno=err, kids=kids)
time.sleep(0.5)
sys.exit(1)
"""


@pytest.mark.timeout(120)
def test_fork_bomb_stops_at_max_pids(cg_kernel, agent_script):
    r = spawn_agent(cg_kernel, agent_script, FORK_BOMB, "bomb", limits={"max_pids": 16})
    assert r["isolation"]["cgroup"]["pids"] == 16
    wait_log(r["log_path"], "READY")
    assert pids_limit_in_files(r) == 16
    go(cg_kernel, r["id"])
    rep = wait_report(r["log_path"], 30)[0]
    # The kids' pids are the agent's (its PID namespace): found on the host while they live.
    kids = [p for p in (host_pid(r, k) for k in rep["kids"]) if p]
    for kid in kids:
        cg_kernel.track(kid)
    assert rep["errno"] == errno.EAGAIN, rep
    assert 1 <= rep["forked"] < 16, rep
    a = cg_kernel.wait_agent(r["id"], lambda a: a["state"] != "running", 30, "the bomb to end")
    assert a["exit_reason"] == "pids", a
    for kid in kids:
        wait_until(lambda: not pid_alive(kid), 10, 0.05, "forked pid %d to be killed" % kid)
    dirs_gone(r)  # an empty cgroup: no kid is left
    # The host is fine: the kernel answers and can still start processes.
    e = cg_kernel.request(wire.OP_EXEC, {"argv": ["true"]})
    assert e["success"] is True and e["exit_code"] == 0


DAEMONIZER = """
if sys.argv[2] == "ignore-term":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
pid = os.fork()
if pid == 0:
    os.setsid()
    if os.fork() == 0:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        with open("daemon.pid.tmp", "w") as f:
            f.write(str(os.getpid()))
        os.rename("daemon.pid.tmp", "daemon.pid")
        time.sleep(300)
        os._exit(0)
    os._exit(0)
os.waitpid(pid, 0)
while not os.path.exists("daemon.pid"):
    time.sleep(0.02)
ready()
sleep_forever()
"""


@pytest.mark.timeout(60)
@pytest.mark.parametrize("mode", ["dies-on-term", "ignore-term"])
def test_kill_leaves_no_descendant(cg_kernel, agent_script, mode):
    r = spawn_agent(cg_kernel, agent_script, DAEMONIZER, "daemonizer", args=[mode])
    wait_log(r["log_path"], "READY")
    with open(os.path.join(work_dir(cg_kernel, r["id"]), "daemon.pid")) as f:
        daemon = host_pid(r, int(f.read()))
    assert daemon, "the daemon is not in the agent's cgroup"
    cg_kernel.track(daemon)
    st, agent = proc_stat(daemon), proc_stat(r["pid"])
    # It really escaped: another session and process group, no longer a child (in a sandbox
    # its orphan is adopted by the agent's PID 1, the pid SPAWN replied).
    assert st["sid"] != agent["sid"] and st["pgrp"] != agent["pgrp"]
    assert st["ppid"] != r["pid"] or r["isolation"]["sandboxed"]
    assert daemon in cgroup_procs(all_dirs(r)["unified"] if "unified" in all_dirs(r)
                                  else next(iter(all_dirs(r).values())))
    k = cg_kernel.request(wire.OP_KILL, {"id": r["id"], "grace": 1})
    assert k["success"] is True and k["exit_reason"] == "killed", k
    wait_until(lambda: not pid_alive(daemon), 10, 0.05, "the double-forked daemon to die")
    dirs_gone(r)


# ---------------------------------------------------------------------------------------------
# freezer


@pytest.mark.timeout(60)
def test_pause_freezes_and_resume_thaws(cg_kernel, agent_script):
    r = spawn_agent(cg_kernel, agent_script, SPINNER, "icicle")
    wait_log(r["log_path"], "READY")
    unified = all_dirs(r).get("unified")
    p = cg_kernel.request(wire.OP_PAUSE, {"id": r["id"]})
    assert p["success"] is True and p["paused"] is True and p["frozen"] is True, p
    if unified:
        assert read_keyed(os.path.join(unified, "cgroup.events"))["frozen"] == 1
    u0 = cpu_usage_us(r)
    time.sleep(1.0)
    assert cpu_usage_us(r) - u0 < 20000, "a frozen spinner kept running"
    assert cg_kernel.agent(r["id"])["state"] == "paused"
    q = cg_kernel.request(wire.OP_RESUME, {"id": r["id"]})
    assert q["success"] is True and q["frozen"] is False, q
    if unified:
        assert read_keyed(os.path.join(unified, "cgroup.events"))["frozen"] == 0
    u1 = cpu_usage_us(r)
    wait_until(lambda: cpu_usage_us(r) > u1 + 10000, 15, 0.1, "the thawed spinner to run")


# ---------------------------------------------------------------------------------------------
# removal and leftovers


CRASHER = """
time.sleep(0.3)
sys.exit(3)
"""


def test_cgroups_are_removed_when_agents_end(make_kernel, agent_script):
    k = make_kernel()
    if not k.request(wire.OP_HELLO, {})["features"].get("cgroups"):
        pytest.skip("this host gives cloved no cgroups")
    killed = spawn_agent(k, agent_script, SLEEPER, "killed")
    ended = spawn_agent(k, agent_script, CRASHER, "ended")
    wait_log(killed["log_path"], "READY")
    k.request(wire.OP_KILL, {"id": killed["id"], "grace": 0})
    dirs_gone(killed)
    a = k.wait_agent(ended["id"], lambda a: a["state"] == "exited", 15, "the crasher to end")
    assert a["exit_reason"] == "exited" and a["exit_code"] == 3
    dirs_gone(ended)
    # At shutdown the instance's own directories go too.
    instance = {os.path.dirname(p) for p in all_dirs(killed).values()}
    assert all(os.path.isdir(p) for p in instance)
    assert k.terminate() == 0
    assert not any(os.path.exists(p) for p in instance), instance


CHILD_KEEPER = """
child = subprocess.Popen(["sleep", "300"])
report(child=child.pid)
ready()
sleep_forever()
"""


@pytest.mark.timeout(90)
def test_leftovers_of_a_killed_kernel_are_removed_at_next_start(make_kernel, agent_script):
    k1 = make_kernel(name="same")
    if not k1.request(wire.OP_HELLO, {})["features"].get("cgroups"):
        pytest.skip("this host gives cloved no cgroups")
    r = spawn_agent(k1, agent_script, "import subprocess\n" + CHILD_KEEPER, "orphan")
    wait_log(r["log_path"], "READY")
    child = host_pid(r, wait_report(r["log_path"])[0]["child"])
    assert child, "the agent's child is not in its cgroup"
    pids = [r["pid"], child]
    k1.proc.kill()
    k1.proc.wait()
    k1.proc = None  # killed on purpose: its teardown has nothing to check
    # The crash left the agent running, in its cgroups.
    assert all(pid_alive(p) for p in pids)
    assert all(os.path.isdir(p) for p in all_dirs(r).values())
    k2 = make_kernel(name="same")
    for p in pids:
        wait_until(lambda: not pid_alive(p), 15, 0.05, "leftover pid %d to be killed" % p)
    dirs_gone(r)
    assert "left by an earlier kernel" in k2.log()


# ---------------------------------------------------------------------------------------------
# EXEC counts against the agent


EXEC_CGROUP = """
first = not os.path.exists("ran")
open("ran", "a").close()
if first and sys.argv[2] == "restart":
    sys.exit(1)
_, rep = call_json(SOCK, OP_EXEC, {"argv": ["cat", "/proc/self/cgroup"]})
report(own=open("/proc/self/cgroup").read(), exec=rep.get("stdout"), ok=rep.get("success"))
ready()
sleep_forever()
"""


@pytest.mark.parametrize("mode", ["first-start", "restart"])
def test_exec_runs_inside_the_agents_cgroup(cg_kernel, agent_script, mode):
    r = spawn_agent(cg_kernel, agent_script, EXEC_CGROUP, "execer", args=[mode],
                    restart_policy="on-failure", restart_backoff_ms=50,
                    limits={"memory": 256 << 20})
    rep = wait_report(r["log_path"], 30)[0]
    assert rep["ok"] is True, rep
    cg = r["isolation"]["cgroup"]
    if r["isolation"]["sandboxed"]:
        # The agent's cgroups are the roots of its cgroup namespace, in every hierarchy (a
        # process outside them would show a path with ".."); the host sees where they are.
        for text in (rep["own"], rep["exec"]):
            assert text and all(l.endswith(":/") for l in text.splitlines()), text
        with open("/proc/%d/cgroup" % host_pid(r, 2)) as f:
            seen = [f.read()]
    else:
        seen = [rep["own"], rep["exec"]]
    # A restart joins the (killed) cgroup through cgroup.procs rather than clone3.
    for text in seen:
        if cg["path"]:
            assert "0::%s\n" % cg["path"] in text, text
        memory_dir = all_dirs(r).get("memory")
        if memory_dir:
            assert memory_dir.endswith(
                [l.split(":", 2)[2] for l in text.splitlines() if ":memory:" in l][0]), text
    if mode == "restart":
        assert cg_kernel.agent(r["id"])["restarts"] == 1


# ---------------------------------------------------------------------------------------------
# limits and permissions together


# A sandboxed agent can only hand its children files it can see itself: the kid's script comes
# in CHILD_SRC and is written into the parent's work directory.
OWN_KID_SCRIPT = """
def own_kid_script():
    path = os.path.abspath("kid.py")
    with open(path, "w") as f:
        f.write(os.environ["CHILD_SRC"])
    return path
"""

LIMITED_PARENT = OWN_KID_SCRIPT + """
prog, kid_script = sys.argv[2], own_kid_script()
_, ex = call_json(SOCK, OP_EXEC, {"argv": ["cat", "/proc/self/cgroup"]})
_, refused = call_json(SOCK, OP_EXEC, {"argv": [prog]})
kid_req = {"script": kid_script, "python": sys.executable,
           "limits": {"memory": 64 << 20, "max_pids": 8}}
_, kid = call_json(SOCK, OP_SPAWN, dict(kid_req, name="limited-kid", permissions="readonly"))
_, greedy = call_json(SOCK, OP_SPAWN, dict(kid_req, name="greedy-kid",
                                           permissions="unrestricted"))
_, listed = call_json(SOCK, OP_LIST, {})
report(exec=ex, refused=refused, kid=kid, greedy=greedy, listed=listed)
ready()
sleep_forever()
"""


def test_limited_agents_keep_their_permission_rules(cg_kernel, agent_script, tmp_path):
    """An agent with limits is still bound by its policy, and the agents it spawns get both a
    cgroup of their own and a policy within its own."""
    prog = tmp_path / "not-allowed"
    prog.write_text("#!/bin/sh\nexit 0\n")
    prog.chmod(0o755)
    r = spawn_agent(cg_kernel, agent_script, LIMITED_PARENT, "limited-parent",
                    args=[str(prog)], env={"CHILD_SRC": agent_source(SLEEPER)},
                    permissions="standard",
                    limits={"memory": 128 << 20, "max_pids": 32})
    assert r["level"] == "standard" and r["permissions"]["can_exec"] is True
    cg = r["isolation"]["cgroup"]
    assert (cg["memory"], cg["pids"]) == (128 << 20, 32)
    rep = wait_report(r["log_path"], 30)[0]
    kid = rep["kid"]
    if kid.get("pid"):
        cg_kernel.track(kid["pid"])

    # EXEC: an allowed program runs in the agent's cgroup, another is refused.
    assert rep["exec"]["success"] is True, rep["exec"]
    if r["isolation"]["sandboxed"]:
        # The command is in the agent's cgroup namespace, at its root: the agent's cgroup.
        assert "0::/\n" in rep["exec"]["stdout"]
    elif cg["path"]:
        assert "0::%s\n" % cg["path"] in rep["exec"]["stdout"]
    assert rep["refused"]["code"] == "EACCES", rep["refused"]
    assert str(prog) in rep["refused"]["error"]

    # SPAWN: the child's limits in its own cgroup, its policy no more than the parent's.
    assert kid["success"] is True, kid
    assert kid["parent_id"] == r["id"] and kid["level"] == "readonly"
    kcg = kid["isolation"]["cgroup"]
    assert (kcg["memory"], kcg["pids"]) == (64 << 20, 8)
    assert memory_limit_in_files(kid) == 64 << 20
    assert pids_limit_in_files(kid) == 8
    assert set(all_dirs(kid).values()).isdisjoint(all_dirs(r).values())
    assert rep["greedy"]["code"] == "EACCES", rep["greedy"]
    assert "greedy-kid" not in [a["name"] for a in cg_kernel.list_agents()]

    # LIST from the agent: itself and its child, each with its cgroup.
    assert sorted(a["id"] for a in rep["listed"]) == sorted([r["id"], kid["id"]])
    assert all(a["isolation"]["cgroup"] for a in rep["listed"])
    assert cg_kernel.agent(kid["id"])["isolation"]["cgroup"] == kcg


INHERITING_PARENT = OWN_KID_SCRIPT + """
kid_script = own_kid_script()
base = {"script": kid_script, "python": sys.executable}
_, plain = call_json(SOCK, OP_SPAWN, dict(base, name="plain-kid"))
_, smaller = call_json(SOCK, OP_SPAWN, dict(base, name="small-kid",
                                            limits={"memory": 32 << 20, "max_pids": 4}))
_, bigger = call_json(SOCK, OP_SPAWN, dict(base, name="big-kid", limits={"memory": 1 << 30}))
_, more_pids = call_json(SOCK, OP_SPAWN, dict(base, name="pids-kid", limits={"max_pids": 64}))
_, more_cpu = call_json(SOCK, OP_SPAWN, dict(base, name="cpu-kid",
                                             limits={"cpu_quota": 90000, "cpu_period": 100000}))
report(plain=plain, smaller=smaller, bigger=bigger, more_pids=more_pids, more_cpu=more_cpu)
ready()
sleep_forever()
"""


def test_children_never_get_more_resources_than_their_parent(cg_kernel, agent_script):
    """A limited agent cannot escape its limits by spawning: a child gets the parent's limits by
    default, may ask for less, and asking for more is refused."""
    r = spawn_agent(cg_kernel, agent_script, INHERITING_PARENT, "inheriting-parent",
                    env={"CHILD_SRC": agent_source(SLEEPER)}, limits={"memory": 128 << 20, "max_pids": 32,
                                               "cpu_quota": 50000, "cpu_period": 100000})
    rep = wait_report(r["log_path"], 30)[0]
    for kid in (rep["plain"], rep["smaller"]):
        if kid.get("pid"):
            cg_kernel.track(kid["pid"])
    plain = rep["plain"]["isolation"]["cgroup"]
    assert (plain["memory"], plain["pids"]) == (128 << 20, 32), plain
    assert plain["cpu"] == {"quota": 50000, "period": 100000}, plain
    assert memory_limit_in_files(rep["plain"]) == 128 << 20
    small = rep["smaller"]["isolation"]["cgroup"]
    assert (small["memory"], small["pids"]) == (32 << 20, 4), small
    for name in ("bigger", "more_pids", "more_cpu"):
        assert rep[name]["success"] is False and rep[name]["code"] == "EACCES", rep[name]
        assert "parent" in rep[name]["error"]


# ---------------------------------------------------------------------------------------------
# the CLI's human forms


def test_cli_run_with_human_limits(cg_kernel, agent_script):
    cli = os.environ.get("CLOVE_CLI")
    if not cli:
        pytest.skip("CLOVE_CLI is not set: run through `meson test`")
    script = agent_script(SLEEPER, name="cli-agent")
    out = subprocess.run([cli, "--socket", cg_kernel.socket, "--json", "run", script,
                          "--name", "human", "--python", sys.executable, "--memory", "64M",
                          "--cpus", "0.5", "--pids", "32"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    reply = json.loads(out.stdout)
    cg_kernel.track(reply["pid"])
    cg = reply["isolation"]["cgroup"]
    assert (cg["memory"], cg["cpu"], cg["pids"]) == (64 << 20, {"quota": 50000,
                                                              "period": 100000}, 32)
    assert memory_limit_in_files(reply) == 64 << 20
    bad = subprocess.run([cli, "--socket", cg_kernel.socket, "run", script, "--memory", "lots"],
                         capture_output=True, text=True, timeout=30)
    assert bad.returncode != 0 and "--memory" in bad.stderr


# ---------------------------------------------------------------------------------------------
# resource_warning


MEMORY_STEPS = """
ready()
held = []
def hold(mib):
    del held[:]
    for _ in range(mib // 4):
        held.append(bytearray(b"\\x01") * (4 << 20))   # written, so really resident
    print("HOLDING", mib, flush=True)
for step, mib in (("up", 112), ("down", 48), ("up2", 112)):
    while not os.path.exists(step):
        time.sleep(0.02)
    hold(mib)
sleep_forever()
"""


def test_memory_near_its_limit_warns_once_per_crossing(cg_kernel, agent_script):
    from hub_util import OP_POLL_EVENTS, OP_SUBSCRIBE, call, ok
    s = cg_kernel.connect()
    ok(call(s, OP_SUBSCRIBE, {"event_types": ["resource_warning"]}))
    limit = 128 << 20
    r = spawn_agent(cg_kernel, agent_script, MEMORY_STEPS, "steps", limits={"memory": limit})
    wait_log(r["log_path"], "READY")

    def warnings(seconds):
        got, deadline = [], time.monotonic() + seconds
        while time.monotonic() < deadline:
            got += ok(call(s, OP_POLL_EVENTS, {"max": 100, "wait": 0.5}))["events"]
        return got

    def step(name, mib, count):
        with open(os.path.join(work_dir(cg_kernel, r["id"]), name), "w"):
            pass
        wait_log(r["log_path"], "HOLDING %d" % mib, count=count)

    # Well below the line: nothing.
    assert warnings(1.5) == []
    step("up", 112, 1)
    ev = warnings(3.5)
    # One event for the crossing, although usage stays above 90% for several checks.
    assert len(ev) == 1, ev
    w = ev[0]
    assert w["type"] == "resource_warning" and w["source_agent_id"] == r["id"]
    assert w["data"]["resource"] == "memory" and w["data"]["limit_bytes"] == limit
    assert w["data"]["percent"] >= 90 and w["data"]["usage_bytes"] >= limit * 9 // 10
    assert w["data"]["name"] == "steps" and w["data"]["agent_id"] == r["id"]
    # Below 80% re-arms it; the next crossing warns again.
    step("down", 48, 1)
    assert warnings(2.5) == []
    step("up2", 112, 2)
    assert len(warnings(3.5)) == 1
    assert cg_kernel.agent(r["id"])["state"] == "running"
