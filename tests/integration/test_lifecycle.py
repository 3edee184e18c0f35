# SPDX-License-Identifier: MIT
"""The daemon's own life: SIGTERM stops every agent (also one that ignores SIGTERM and has
children of its own, and a paused one) and every running command, removes the socket and exits
0; a second cloved on the same socket refuses to start and leaves the first alone, while a
stale socket file of a dead kernel does not stop a new one; readiness is signalled through
NOTIFY_SOCKET; the socket is mode 0660 in a directory nobody else can write.
"""

import os
import socket
import stat
import subprocess
import time
import uuid

import pytest

import wire
from clove_harness import (descendants, pid_alive, proc_state, socket_is_listening,
                           spawn_agent, wait_log, wait_paused, wait_report, wait_until)

STUBBORN_WITH_CHILD = """
import subprocess
signal.signal(signal.SIGTERM, signal.SIG_IGN)
subprocess.Popen(["sh", "-c", "trap '' TERM; sleep 1000 & wait"])
ready()
sleep_forever()
"""

SLEEPER = """
ready()
sleep_forever()
"""


@pytest.mark.timeout(90)
def test_sigterm_stops_all_agents_and_their_children_and_exits_zero(make_kernel, agent_script):
    k = make_kernel()
    stubborn = spawn_agent(k, agent_script, STUBBORN_WITH_CHILD, "stubborn")
    plain = spawn_agent(k, agent_script, SLEEPER, "plain")
    wait_log(stubborn["log_path"], "READY")
    wait_log(plain["log_path"], "READY")
    wait_until(lambda: len(descendants(stubborn["pid"])) >= 2, 10, 0.05,
               "the stubborn agent's children to start")
    t0 = time.monotonic()
    rc = k.terminate(timeout=40)
    elapsed = time.monotonic() - t0
    assert rc is not None, "cloved still running 40 s after SIGTERM"
    assert rc == 0
    assert elapsed < 30, "shutdown took %.1f s" % elapsed
    # two agents, the stubborn one's sh and its sleep
    assert len(k.tracked) >= 4, "expected agents and children in %r" % k.tracked
    left = k.survivors(3)
    assert not left, "processes outlived cloved: %r" % sorted(left)
    assert not os.path.exists(k.socket), "socket file left behind"


def test_sigterm_without_agents_exits_zero_and_removes_socket(make_kernel):
    k = make_kernel()
    assert os.path.exists(k.socket)
    assert k.terminate() == 0
    assert not os.path.exists(k.socket)


@pytest.mark.timeout(60)
def test_sigterm_with_a_paused_agent_still_stops_it(make_kernel, agent_script):
    k = make_kernel()
    r = spawn_agent(k, agent_script, SLEEPER, "paused")
    wait_log(r["log_path"], "READY")
    p = k.request(wire.OP_PAUSE, {"id": r["id"]})
    assert p["success"] is True
    wait_paused(p, r, [r["pid"]])
    assert k.terminate(timeout=30) == 0
    assert not k.survivors(3)


@pytest.mark.timeout(60)
def test_sigterm_while_exec_runs_kills_the_command(make_kernel, tmp_path):
    k = make_kernel()
    pidfile = tmp_path / "exec.pid"
    s = k.connect()
    s.sendall(wire.pack(wire.OP_EXEC, {"command": "echo $$ > %s; exec sleep 100" % pidfile,
                                       "timeout": 120}))
    wait_until(lambda: pidfile.exists() and pidfile.read_text().strip(), 10, 0.05,
               "the command to start")
    pid = int(pidfile.read_text())
    k.track(pid)
    assert k.terminate(timeout=30) == 0
    wait_until(lambda: not pid_alive(pid), 3, 0.05, "the EXEC'd command %d to die" % pid)


@pytest.mark.timeout(60)
def test_second_kernel_on_same_socket_refuses_and_leaves_the_first_alone(make_kernel, tmp_path):
    k = make_kernel()
    other_state = tmp_path / "other-state"
    err_path = tmp_path / "second.stderr"
    with open(err_path, "wb") as err:
        second = subprocess.Popen(k.argv(state_dir=str(other_state)), stdin=subprocess.DEVNULL,
                                  stdout=subprocess.DEVNULL, stderr=err,
                                  start_new_session=True)
    try:
        rc = second.wait(15)
    except subprocess.TimeoutExpired:
        second.kill()
        second.wait()
        pytest.fail("a second cloved on %s kept running" % k.socket)
    message = err_path.read_text("utf-8", "replace")
    assert rc != 0
    low = message.lower()
    assert any(w in low for w in ("already", "another", "in use", "running")), \
        "stderr does not say another kernel runs: %r" % message
    # the first kernel is untouched and still owns the socket
    assert os.path.exists(k.socket)
    assert k.request(wire.OP_HELLO, {})["kernel"]["pid"] == k.pid
    s = wire.connect(k.socket, 5)
    assert wire.call_json(s, wire.OP_HELLO, {})[1]["kernel"]["pid"] == k.pid
    s.close()


def test_stale_socket_file_does_not_stop_a_new_kernel(make_kernel):
    k = make_kernel(start=False)
    run = os.path.dirname(k.socket)
    os.makedirs(run, mode=0o700, exist_ok=True)
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(k.socket)
    stale.close()  # a socket file nobody listens on: what a crashed kernel leaves
    assert os.path.exists(k.socket) and not socket_is_listening(k.socket)
    k.start()
    assert k.request(wire.OP_HELLO, {})["kernel"]["pid"] == k.pid


def _wait_ready_datagram(dgram, timeout=15.0):
    deadline = time.monotonic() + timeout
    got = []
    while time.monotonic() < deadline:
        dgram.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            data = dgram.recv(4096)
        except socket.timeout:
            break
        got.append(data)
        if b"READY=1" in data.split(b"\n"):
            return got
    raise AssertionError("no READY=1 datagram within %.0f s; got %r" % (timeout, got))


@pytest.mark.timeout(60)
def test_notify_socket_receives_ready(make_kernel, tmp_path):
    path = str(tmp_path / "notify.sock")
    dgram = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    dgram.bind(path)
    k = make_kernel(env={"NOTIFY_SOCKET": path}, start=False)
    k.start(wait=False)
    _wait_ready_datagram(dgram)
    # ready means ready: the socket accepts right away
    assert socket_is_listening(k.socket)
    dgram.close()


@pytest.mark.timeout(60)
def test_notify_socket_in_abstract_namespace_receives_ready(make_kernel):
    name = "clove-test-%s" % uuid.uuid4().hex
    dgram = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    dgram.bind("\0" + name)
    k = make_kernel(env={"NOTIFY_SOCKET": "@" + name}, start=False)
    k.start(wait=False)
    _wait_ready_datagram(dgram)
    dgram.close()


@pytest.mark.timeout(60)
def test_agents_do_not_inherit_notify_socket(make_kernel, tmp_path, agent_script):
    # NOTIFY_SOCKET is the service manager's channel to cloved alone (sd_notify(3) unsets it
    # for children); an agent that inherits it could report readiness or status in its name.
    path = str(tmp_path / "notify.sock")
    dgram = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    dgram.bind(path)
    k = make_kernel(env={"NOTIFY_SOCKET": path}, start=False)
    k.start(wait=False)
    _wait_ready_datagram(dgram)
    k.wait_ready()
    body = """
report(notify=os.environ.get("NOTIFY_SOCKET"))
"""
    r = spawn_agent(k, agent_script, body, "notified")
    assert wait_report(r["log_path"])[0]["notify"] is None
    dgram.close()


def test_socket_is_0660_in_a_directory_only_its_owner_can_write(make_kernel):
    k = make_kernel()
    st = os.stat(k.socket)
    assert stat.S_ISSOCK(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o660, oct(st.st_mode)
    assert st.st_uid == os.getuid()
    dst = os.stat(os.path.dirname(k.socket))
    assert stat.S_IMODE(dst.st_mode) & 0o022 == 0, "socket dir is %o" % stat.S_IMODE(dst.st_mode)
    assert dst.st_uid == os.getuid()


def test_state_dir_is_created(make_kernel):
    k = make_kernel()
    assert os.path.isdir(k.state_dir)


@pytest.mark.timeout(90)
def test_kill_waiting_when_sigterm_arrives_still_gets_its_reply(make_kernel, agent_script):
    """A KILL that waits for a stubborn agent is answered by the shutdown that ends the agent,
    before the kernel exits: the last replies are sent, not dropped."""
    k = make_kernel()
    stubborn = spawn_agent(k, agent_script, STUBBORN_WITH_CHILD, "stubborn")
    wait_log(stubborn["log_path"], "READY")
    s = k.connect()
    s.sendall(wire.pack(wire.OP_KILL, {"name": "stubborn", "grace": 60}))
    assert not wire.readable(s, 0.5), "KILL answered before the 60 s grace ended"
    k.snapshot()
    k.proc.send_signal(15)
    hdr, data = wire.read_frame(s)
    reply = wire.decode_json(data)
    assert hdr.opcode == wire.OP_KILL
    assert reply["success"] is True and reply["killed"] is True, reply
    k.returncode = k.proc.wait(30)
    assert k.returncode == 0


def test_without_io_uring_cloved_names_the_cause_and_the_fix(tmp_path):
    """With io_uring_setup refused as Docker's default seccomp profile does, cloved exits
    non-zero at once and its message names the cause and what to do about it."""
    helper = os.environ.get("CLOVE_NO_URING")
    if not helper or not os.path.exists(helper):
        pytest.skip("CLOVE_NO_URING helper not built (run through meson test)")
    out = subprocess.run([helper, os.environ["CLOVED"], "--socket", str(tmp_path / "s.sock"),
                          "--state-dir", str(tmp_path / "state")],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode != 0
    assert "io_uring" in out.stderr
    assert "seccomp" in out.stderr and "io_uring_setup" in out.stderr, out.stderr
    assert not os.path.exists(tmp_path / "s.sock")


@pytest.mark.timeout(60)
def test_ids_continue_after_a_restart_so_work_dirs_are_never_reused(make_kernel, tmp_path):
    script = tmp_path / "nothing.py"
    script.write_text("")
    k1 = make_kernel(name="first")
    first = k1.request(wire.OP_SPAWN, {"name": "one", "script": str(script),
                                        "python": "/bin/true"})
    assert first["success"] is True, first
    assert k1.terminate(30) == 0
    k2 = make_kernel(name="first")  # same root: same socket and state directory
    second = k2.request(wire.OP_SPAWN, {"name": "two", "script": str(script),
                                         "python": "/bin/true"})
    assert second["success"] is True, second
    assert second["id"] > first["id"], (first["id"], second["id"])


@pytest.mark.timeout(60)
def test_running_out_of_fds_does_not_spin_the_accept(make_kernel, tmp_path):
    import resource

    def low_fds():
        resource.setrlimit(resource.RLIMIT_NOFILE, (48, 48))
    k = make_kernel(start=False)
    k.preexec = low_fds
    k.start()
    held = []
    for _ in range(80):
        try:
            held.append(wire.connect(k.socket, 2.0))
        except OSError:
            break
    time.sleep(1.5)
    for s in held:
        s.close()
    log = k.log()
    assert log.count("accept:") <= 3, "accept failures logged %d times" % log.count("accept:")
    # Once fds free up, the kernel accepts again.
    s = wire.connect(k.socket, 10.0)
    assert wire.call(s, wire.OP_NOOP, b"back")[1] == b"back"
    s.close()
