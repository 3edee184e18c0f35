# SPDX-License-Identifier: MIT
"""Test harness for the integration suite: start a real ``cloved`` in a temporary directory, talk
to it, watch the processes it creates, and stop it while checking that it cleans up after itself.

``Kernel`` wraps one ``cloved`` process (its socket, state directory, stderr log and process
handle); the procfs helpers read ``/proc/<pid>/stat`` so tests can tell a live process from a
zombie or from a recycled pid; ``agent_source`` builds the text of a small agent script that
embeds ``wire.py`` so it runs with nothing but the standard library. Nothing here touches the
host's ``/run/clove`` or ``/tmp/clove.sock``: every path lives under the test's own temp dir.
"""

import json
import os
import signal
import socket
import subprocess
import textwrap
import time
from pathlib import Path

import wire

HERE = Path(__file__).resolve().parent
START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0


# ---------------------------------------------------------------------------------------------
# waiting


def wait_until(fn, timeout=10.0, interval=0.05, what="condition"):
    """Poll fn() until it returns something truthy; return that value or raise AssertionError."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = fn()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %.1f s waiting for %s (last value: %r)"
                                 % (timeout, what, last))
        time.sleep(interval)


# ---------------------------------------------------------------------------------------------
# procfs


def proc_stat(pid):
    """Fields of /proc/<pid>/stat we care about, or None when there is no such process."""
    try:
        with open("/proc/%d/stat" % pid, "rb") as f:
            raw = f.read().decode("utf-8", "replace")
    except (FileNotFoundError, ProcessLookupError):
        return None
    except OSError:
        return None
    rp = raw.rindex(")")
    rest = raw[rp + 2:].split()
    # rest[0] is field 3 (state); starttime is field 22.
    return {
        "pid": pid,
        "comm": raw[raw.index("(") + 1:rp],
        "state": rest[0],
        "ppid": int(rest[1]),
        "pgrp": int(rest[2]),
        "sid": int(rest[3]),
        "starttime": int(rest[19]),
    }


def pid_alive(pid, starttime=None):
    """True when pid is a live (non-zombie) process, and the same one when starttime is given."""
    st = proc_stat(pid)
    if st is None or st["state"] in ("Z", "X", "x"):
        return False
    return starttime is None or st["starttime"] == starttime


def proc_state(pid):
    st = proc_stat(pid)
    return st["state"] if st else None


def all_procs():
    out = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            st = proc_stat(int(name))
            if st is not None:
                out[st["pid"]] = st
    return out


def descendants(root_pid, sessions=()):
    """{pid: starttime} of live processes below root_pid, plus members of the given sessions.

    Sessions catch processes that were re-parented (a backgrounded grandchild whose parent
    died) but still live in an agent's or a command's session.
    """
    procs = all_procs()
    children = {}
    for st in procs.values():
        children.setdefault(st["ppid"], []).append(st["pid"])
    found = {}
    todo = [root_pid]
    while todo:
        p = todo.pop()
        for c in children.get(p, ()):
            if c not in found and procs[c]["state"] not in ("Z", "X"):
                found[c] = procs[c]["starttime"]
                todo.append(c)
    sessions = set(sessions) | {p for p in found}
    for st in procs.values():
        if st["sid"] in sessions and st["pid"] != root_pid and st["state"] not in ("Z", "X"):
            found.setdefault(st["pid"], st["starttime"])
    return found


def raise_nofile(want):
    """Raise this process's soft RLIMIT_NOFILE to want (capped by the hard limit)."""
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= want:
        return soft
    target = want if hard == resource.RLIM_INFINITY else min(want, hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return target


def vm_rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS for pid %d" % pid)


# ---------------------------------------------------------------------------------------------
# cgroups


def cgroup_dir(reply, hierarchy="unified"):
    """The absolute cgroup directory of an agent (SPAWN reply or LIST entry) in one hierarchy
    ("unified", "memory", "cpu", "pids"), or None when it has none there."""
    cg = (reply.get("isolation") or {}).get("cgroup") or {}
    return (cg.get("dirs") or {}).get(hierarchy)


def read_keyed(path):
    """A cgroup "key value" file (cgroup.events, memory.events, cpu.stat ...) as a dict."""
    out = {}
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) == 2:
                out[parts[0]] = int(parts[1])
    return out


def cgroup_procs(directory):
    with open(os.path.join(directory, "cgroup.procs")) as f:
        return {int(x) for x in f.read().split()}


def wait_paused(pause_reply, agent_reply, pids, timeout=5.0):
    """After PAUSE: frozen by the cgroup freezer (the reply says so and cgroup.events agrees,
    with every pid inside), or stopped by SIGSTOP (state T) when the kernel has no freezer."""
    if "frozen" in pause_reply:
        assert pause_reply["frozen"] is True, pause_reply
        d = cgroup_dir(agent_reply)
        assert read_keyed(os.path.join(d, "cgroup.events"))["frozen"] == 1
        inside = cgroup_procs(d)
        for pid in pids:
            assert pid in inside, "pid %d is not in the frozen cgroup %s" % (pid, d)
        return
    for pid in pids:
        wait_until(lambda: proc_state(pid) == "T", timeout, 0.02, "pid %d to be stopped" % pid)


def wait_resumed(agent_reply, pids, timeout=5.0):
    d = cgroup_dir(agent_reply)
    if d is not None:
        wait_until(lambda: read_keyed(os.path.join(d, "cgroup.events"))["frozen"] == 0,
                   timeout, 0.02, "cgroup %s to thaw" % d)
    for pid in pids:
        wait_until(lambda: proc_state(pid) not in ("T", None), timeout, 0.02,
                   "pid %d to continue" % pid)


# ---------------------------------------------------------------------------------------------
# the kernel


def short_root(tmp_path):
    """A directory whose socket path fits in sun_path (108 bytes)."""
    if len(str(tmp_path)) + len("/run/clove.sock") < 100:
        return Path(tmp_path)
    import tempfile
    return Path(tempfile.mkdtemp(prefix="clove-it-"))


class Kernel:
    """One cloved process on a private socket and state directory."""

    def __init__(self, cloved, root, extra_args=(), env=None, name="cloved"):
        self.cloved = cloved
        self.root = Path(root)
        self.socket = str(self.root / "run" / "clove.sock")
        self.state_dir = str(self.root / "state")
        self.log_path = self.root / ("%s.stderr" % name)
        self.out_path = self.root / ("%s.stdout" % name)
        self.extra_args = list(extra_args)
        self.env = env
        # Runs in the child before cloved starts (e.g. to lower a limit).
        self.preexec = None
        self.proc = None
        self.returncode = None
        self.tracked = {}  # pid -> starttime of every process the kernel made that we saw
        self._clients = []
        self._op = None

    # -- process ------------------------------------------------------------------------------

    def argv(self, socket_path=None, state_dir=None):
        return [self.cloved, "--socket", socket_path or self.socket,
                "--state-dir", state_dir or self.state_dir, "--log-level", "debug",
                *self.extra_args]

    def start(self, wait=True):
        self.root.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        env.pop("NOTIFY_SOCKET", None)
        env.pop("CLOVE_SOCKET", None)
        if self.env:
            env.update(self.env)
        with open(self.log_path, "ab") as err, open(self.out_path, "ab") as out:
            # Own session: anything left in it after the kernel exits is a leak we can find.
            self.proc = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=err, env=env, start_new_session=True,
                                         close_fds=True, preexec_fn=self.preexec)
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout=START_TIMEOUT):
        deadline = time.monotonic() + timeout
        while True:
            rc = self.proc.poll()
            if rc is not None:
                raise AssertionError("cloved exited with %s before accepting connections:\n%s"
                                     % (rc, self.log_tail()))
            try:
                s = wire.connect(self.socket, timeout=2)
            except (FileNotFoundError, ConnectionRefusedError, OSError):
                if time.monotonic() >= deadline:
                    raise AssertionError("cloved did not accept on %s within %.0f s:\n%s"
                                         % (self.socket, timeout, self.log_tail())) from None
                time.sleep(0.02)
                continue
            s.close()
            return

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def log(self):
        try:
            return self.log_path.read_text("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines=150):
        return "\n".join(self.log().splitlines()[-lines:])

    def rss_kib(self):
        return vm_rss_kib(self.pid)

    # -- clients ------------------------------------------------------------------------------

    def connect(self, timeout=30.0):
        s = wire.connect(self.socket, timeout)
        self._clients.append(s)
        return s

    @property
    def op(self):
        """A shared operator connection for tests that do not care which connection they use."""
        if self._op is None:
            self._op = self.connect()
        return self._op

    def call(self, opcode, payload=None, agent_id=0):
        return wire.call(self.op, opcode, payload, agent_id)

    def call_json(self, opcode, obj=None, agent_id=0):
        return wire.call_json(self.op, opcode, obj, agent_id)

    def request(self, opcode, obj=None):
        """call_json on the shared connection; returns only the decoded payload."""
        hdr, reply = wire.call_json(self.op, opcode, obj)
        assert hdr.opcode == opcode, "reply opcode %#x for request %#x" % (hdr.opcode, opcode)
        return reply

    def close_clients(self):
        for s in self._clients:
            try:
                s.close()
            except OSError:
                pass
        self._clients.clear()
        self._op = None

    # -- agents -------------------------------------------------------------------------------

    def track(self, pid):
        st = proc_stat(pid) if pid else None
        if st is not None and st["state"] not in ("Z", "X"):
            self.tracked.setdefault(pid, st["starttime"])

    def spawn(self, **fields):
        reply = self.request(wire.OP_SPAWN, fields)
        assert reply.get("success") is True, "SPAWN %r failed: %r" % (fields, reply)
        self.track(reply["pid"])
        return reply

    def list_agents(self):
        reply = self.request(wire.OP_LIST, {})
        assert isinstance(reply, list), "LIST did not reply an array: %r" % (reply,)
        for a in reply:
            if isinstance(a, dict) and isinstance(a.get("pid"), int):
                self.track(a["pid"])
        return reply

    def agent(self, ident):
        """The LIST entry of the agent with this id (int) or name (str), or None."""
        key = "id" if isinstance(ident, int) else "name"
        for a in self.list_agents():
            if a.get(key) == ident:
                return a
        return None

    def wait_agent(self, ident, pred, timeout=15.0, what="agent state"):
        def check():
            a = self.agent(ident)
            return a if a is not None and pred(a) else None
        try:
            return wait_until(check, timeout, 0.05, what)
        except AssertionError as e:
            raise AssertionError("%s; LIST entry now: %r" % (e, self.agent(ident))) from None

    # -- stopping -----------------------------------------------------------------------------

    def snapshot(self):
        """Record every live process the kernel made (LIST pids and its process tree)."""
        if not self.alive():
            return
        try:
            s = wire.connect(self.socket, timeout=5)
            try:
                _, agents = wire.call_json(s, wire.OP_LIST, {})
            finally:
                s.close()
            if isinstance(agents, list):
                for a in agents:
                    if isinstance(a, dict) and isinstance(a.get("pid"), int):
                        self.track(a["pid"])
        except (OSError, EOFError, wire.ProtocolError):
            pass
        sessions = set(self.tracked) | {self.pid}
        for pid, start in descendants(self.pid, sessions).items():
            self.tracked.setdefault(pid, start)

    def terminate(self, timeout=STOP_TIMEOUT):
        """SIGTERM the kernel and wait; returns its exit status, or None if it did not stop."""
        self.snapshot()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.returncode = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        return self.returncode

    def survivors(self, timeout=3.0):
        """Tracked processes still alive after waiting up to timeout for them to go."""
        deadline = time.monotonic() + timeout
        while True:
            alive = {p: s for p, s in self.tracked.items() if pid_alive(p, s)}
            if not alive or time.monotonic() >= deadline:
                return alive
            time.sleep(0.05)

    def kill_everything(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for p, s in self.tracked.items():
            if pid_alive(p, s):
                try:
                    os.kill(p, signal.SIGKILL)
                except ProcessLookupError:
                    pass

    def shutdown(self):
        """Stop the kernel as a service manager would; returns a list of problems found."""
        problems = []
        self.close_clients()
        if self.proc is None:
            return problems
        if self.proc.poll() is None:
            rc = self.terminate()
            if rc is None:
                problems.append("cloved did not exit within %.0f s of SIGTERM" % STOP_TIMEOUT)
        else:
            rc = self.proc.returncode
            if self.returncode is None:
                problems.append("cloved died during the test (exit status %s)" % rc)
        self.returncode = rc
        if rc not in (None, 0) and not problems:
            problems.append("cloved exited with status %s after SIGTERM" % rc)
        left = self.survivors()
        if left:
            desc = ", ".join("%d (%s)" % (p, (proc_stat(p) or {}).get("comm")) for p in left)
            problems.append("processes cloved started outlived it: %s" % desc)
        self.kill_everything()
        return problems


# ---------------------------------------------------------------------------------------------
# agent scripts

AGENT_PRELUDE = '''
# ---- test agent prelude -------------------------------------------------------------------
import json, os, signal, socket, sys, time
SOCK = socket.socket(fileno=int(os.environ["CLOVE_FD"]))
SOCK.settimeout(60)

def report(**kw):
    print("REPORT " + json.dumps(kw), flush=True)

def ready():
    print("READY", flush=True)

def sleep_forever():
    while True:
        time.sleep(3600)
# ---- agent body -------------------------------------------------------------------------
'''


def agent_source(body):
    """Script text: wire.py, the prelude (SOCK, report, ready, sleep_forever), then body."""
    return (HERE / "wire.py").read_text() + AGENT_PRELUDE + textwrap.dedent(body)


def spawn_agent(kernel, agent_script, body, name, **fields):
    """SPAWN a test agent named name running body under this interpreter; returns the reply.

    The reply gets an extra key ``_script`` (ours, not the kernel's): the script's path, so a
    test can find the agent's process by its command line.
    """
    import sys
    script = agent_script(body, name=name + "-script")
    req = {"name": name, "script": script, "python": sys.executable}
    req.update(fields)
    reply = kernel.spawn(**req)
    reply["_script"] = script
    return reply


def read_reports(log_path):
    """The REPORT lines an agent printed to its log, decoded, in order."""
    try:
        text = Path(log_path).read_text("utf-8", "replace")
    except FileNotFoundError:
        return []
    return [json.loads(line[7:]) for line in text.splitlines() if line.startswith("REPORT ")]


def wait_report(log_path, timeout=15.0, count=1):
    """Wait until the log holds at least count REPORT lines; return the list."""
    def check():
        reps = read_reports(log_path)
        return reps if len(reps) >= count else None
    try:
        return wait_until(check, timeout, 0.05, "%d REPORT line(s) in %s" % (count, log_path))
    except AssertionError as e:
        raise AssertionError("%s\n--- agent log ---\n%s" % (e, log_text(log_path))) from None


def log_text(log_path):
    try:
        return Path(log_path).read_text("utf-8", "replace")
    except FileNotFoundError:
        return "(no log file)"


def wait_log(log_path, needle, timeout=15.0, count=1):
    def check():
        return log_text(log_path).count(needle) >= count
    try:
        wait_until(check, timeout, 0.05, "%r x%d in %s" % (needle, count, log_path))
    except AssertionError as e:
        raise AssertionError("%s\n--- agent log ---\n%s" % (e, log_text(log_path))) from None


def socket_is_listening(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(2)
    try:
        s.connect(path)
        return True
    except OSError:
        return False
    finally:
        s.close()
