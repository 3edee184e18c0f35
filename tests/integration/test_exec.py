# SPDX-License-Identifier: MIT
"""EXEC from an operator: shell commands and shell-free argv (no injection through argv
elements, unlike the original which built ``cd <cwd> && ...`` command lines), separate stdout
and stderr, exit codes and signals, env, cwd and stdin, the output cap, timeouts that kill the
whole process tree, missing programs, and that a running command never blocks the kernel —
other connections are served meanwhile and async EXEC answers at once, its result collected
later with ASYNC_POLL.
"""

import json
import os
import time

import pytest

import wire
from clove_harness import pid_alive, wait_until


def run(kernel, **fields):
    return kernel.request(wire.OP_EXEC, fields)


def test_shell_command_with_pipe(kernel):
    r = run(kernel, command="echo hello | tr a-z A-Z")
    assert r["success"] is True
    assert r["stdout"] == "HELLO\n"
    assert r["stderr"] == ""
    assert r["exit_code"] == 0
    assert r["signal"] is None
    assert r["timed_out"] is False
    assert r["truncated"] is False
    assert isinstance(r["duration_ms"], int) and r["duration_ms"] >= 0


def test_argv_is_passed_without_a_shell(kernel, tmp_path):
    marker = tmp_path / "pwned"
    arg = "a;b $(id) `touch %s` && touch %s | x" % (marker, marker)
    r = run(kernel, argv=["/bin/echo", arg])
    assert r["success"] is True
    assert r["stdout"] == arg + "\n"
    assert not marker.exists()


def test_argv_program_is_looked_up_in_path(kernel):
    r = run(kernel, argv=["echo", "from", "PATH"])
    assert r["stdout"] == "from PATH\n"


def test_stdout_and_stderr_are_kept_apart(kernel):
    r = run(kernel, command="echo out; echo err >&2; echo out2")
    assert r["stdout"] == "out\nout2\n"
    assert r["stderr"] == "err\n"


def test_nonzero_exit_code_is_reported_with_success_true(kernel):
    r = run(kernel, command="exit 7")
    assert r["success"] is True
    assert r["exit_code"] == 7
    assert r["signal"] is None


def test_command_killed_by_signal_reports_signal(kernel):
    r = run(kernel, argv=["/bin/sh", "-c", "kill -USR1 $$"])
    assert r["success"] is True
    assert r["signal"] == 10
    assert r["exit_code"] == 128 + 10


def test_env_is_added_to_a_minimal_environment(make_kernel):
    k = make_kernel(env={"CLOVE_TEST_KERNEL_ONLY": "do-not-pass-on"})
    r = run(k, argv=["/usr/bin/env"], env={"FOO": "bar baz", "EMPTY": ""})
    lines = r["stdout"].splitlines()
    assert "FOO=bar baz" in lines
    assert "EMPTY=" in lines
    names = {line.split("=", 1)[0] for line in lines}
    assert "PATH" in names
    assert "CLOVE_TEST_KERNEL_ONLY" not in names, "the kernel's environment leaked into EXEC"


def test_cwd_is_honoured(kernel, tmp_path):
    r = run(kernel, command="pwd", cwd=str(tmp_path))
    assert os.path.realpath(r["stdout"].strip()) == os.path.realpath(tmp_path)


def test_operator_default_cwd_is_root(kernel):
    assert run(kernel, command="pwd")["stdout"] == "/\n"


def test_missing_cwd_is_an_error(kernel, tmp_path):
    r = run(kernel, command="pwd", cwd=str(tmp_path / "nope"))
    assert r["success"] is False
    assert r["code"] == "ENOENT"


def test_stdin_is_fed_to_the_command(kernel):
    r = run(kernel, argv=["cat"], stdin="line1\nline2 ✓\n")
    assert r["stdout"] == "line1\nline2 ✓\n"


def test_stdin_defaults_to_empty(kernel):
    r = run(kernel, argv=["cat"], timeout=10)
    assert r["success"] is True
    assert r["stdout"] == ""


def test_large_stdin_and_stdout_do_not_deadlock(kernel):
    data = "x" * 500000 + "\n"
    r = run(kernel, argv=["cat"], stdin=data, timeout=20)
    assert r["success"] is True
    assert r["stdout"] == data


def test_output_cap_truncates_and_keeps_exactly_max_output(kernel):
    r = run(kernel, command="head -c 200000 /dev/zero | tr '\\0' a; echo done >&2",
            max_output=1000)
    assert r["success"] is True
    assert r["truncated"] is True
    assert len(r["stdout"]) == 1000
    assert r["stdout"] == "a" * 1000
    assert r["stderr"] == "done\n"
    assert r["exit_code"] == 0


@pytest.mark.timeout(60)
def test_chatty_command_does_not_stall_past_the_cap(kernel):
    # 20 MB of output through an 8 KiB cap: the kernel reads and drops, the command finishes.
    r = run(kernel, command="head -c 20000000 /dev/zero", max_output=8192, timeout=30)
    assert r["success"] is True
    assert r["truncated"] is True
    assert len(r["stdout"]) == 8192


@pytest.mark.timeout(60)
def test_timeout_kills_the_whole_process_tree(kernel, tmp_path):
    pidfile = tmp_path / "child.pid"
    cmd = "sh -c 'sleep 100 & echo $! > %s; sleep 100'" % pidfile
    t0 = time.monotonic()
    r = run(kernel, command=cmd, timeout=1)
    elapsed = time.monotonic() - t0
    assert r["success"] is False
    assert r["code"] == "ETIMEDOUT"
    assert r["timed_out"] is True
    assert elapsed < 15, "timeout of 1 s answered after %.1f s" % elapsed
    child = int(pidfile.read_text())
    wait_until(lambda: not pid_alive(child), 2.0, 0.05,
               "background child %d of the timed-out command to be killed" % child)


@pytest.mark.timeout(60)
def test_background_children_end_with_the_command(kernel, tmp_path):
    # The command exits at once; what it left running in its group must not outlive it.
    pidfile = tmp_path / "bg.pid"
    r = run(kernel, command="sleep 100 >/dev/null 2>&1 & echo $! > %s" % pidfile, timeout=30)
    assert r["success"] is True and r["exit_code"] == 0, r
    child = int(pidfile.read_text())
    wait_until(lambda: not pid_alive(child), 5.0, 0.05,
               "background child %d of the finished command to be killed" % child)


def test_async_must_be_a_boolean(kernel):
    r = run(kernel, command="true", **{"async": "yes"})
    assert r["success"] is False and r["code"] == "EINVAL", r
    assert "async" in r["error"]


def test_timeout_reply_keeps_output_gathered_so_far(kernel):
    r = run(kernel, command="echo early; sleep 100", timeout=1)
    assert r["code"] == "ETIMEDOUT"
    assert r["stdout"] == "early\n"


def test_timeout_kills_a_command_that_ignores_sigterm(kernel, tmp_path):
    pidfile = tmp_path / "p"
    r = run(kernel, command="trap '' TERM; echo $$ > %s; sleep 100" % pidfile, timeout=1)
    assert r["code"] == "ETIMEDOUT"
    pid = int(pidfile.read_text())
    wait_until(lambda: not pid_alive(pid), 2.0, 0.05, "pid %d to be gone" % pid)


@pytest.mark.parametrize("argv", [["/nonexistent/program"], ["no-such-program-clove-test"]])
def test_missing_program_is_enoent(kernel, argv):
    r = run(kernel, argv=argv)
    assert r["success"] is False
    assert r["code"] == "ENOENT"
    assert argv[0] in r["error"]


def test_non_executable_program_is_eacces(kernel, tmp_path):
    prog = tmp_path / "noexec.sh"
    prog.write_text("#!/bin/sh\necho hi\n")
    os.chmod(prog, 0o644)
    r = run(kernel, argv=[str(prog)])
    assert r["success"] is False
    assert r["code"] == "EACCES"


@pytest.mark.timeout(60)
def test_slow_exec_on_one_connection_does_not_delay_another(kernel):
    a = kernel.connect()
    b = kernel.connect()
    wire.call(b, wire.OP_NOOP, b"warm")
    a.sendall(wire.pack(wire.OP_EXEC, {"command": "sleep 3; echo done"}))
    time.sleep(0.2)
    t0 = time.monotonic()
    hdr, data = wire.call(b, wire.OP_NOOP, b"quick")
    elapsed = time.monotonic() - t0
    assert data == b"quick"
    # The structural check: B was answered while A's EXEC was still running.
    assert not wire.readable(a, 0), "the EXEC finished before the NOOP came back"
    assert elapsed < 2.0, "NOOP took %.2f s while another connection ran EXEC" % elapsed
    hdr, data = wire.read_frame(a)
    assert json.loads(data)["stdout"] == "done\n"


@pytest.mark.timeout(60)
def test_concurrent_execs_run_in_parallel(kernel, tmp_path):
    # Each command waits until all four have started: run one after another, the first one
    # would wait in vain and time out.
    socks = [kernel.connect() for _ in range(4)]
    for i, s in enumerate(socks):
        cmd = ("touch started-%d; while [ $(ls | grep -c started-) -lt 4 ]; do sleep 0.05; done;"
               " echo all-started" % i)
        s.sendall(wire.pack(wire.OP_EXEC, {"command": cmd, "cwd": str(tmp_path), "timeout": 20}))
    for s in socks:
        hdr, data = wire.read_frame(s)
        r = json.loads(data)
        assert r["success"] is True, r
        assert r["stdout"] == "all-started\n"


def test_async_exec_is_accepted_at_once_and_polled_later(kernel):
    s = kernel.connect()
    hdr, r = wire.call_json(s, wire.OP_EXEC,
                            {"command": "sleep 1; echo async-out", "async": True,
                             "request_id": 7})
    assert hdr.opcode == wire.OP_EXEC
    assert r == {"success": True, "async": True, "request_id": 7, "status": "accepted"}
    _, first = wire.call_json(s, wire.OP_ASYNC_POLL, {})
    assert first["pending"] == 1, "async EXEC answered only after the command ended: %r" % first

    def poll():
        _, p = wire.call_json(s, wire.OP_ASYNC_POLL, {})
        assert p["success"] is True
        return p if p["results"] else None
    p = wait_until(poll, 15, 0.1, "the async EXEC result")
    assert p["count"] == 1
    res = p["results"][0]
    assert res["request_id"] == 7
    assert res["opcode"] == wire.OP_EXEC
    assert res["opcode_name"] == "EXEC"
    assert isinstance(res["payload"], str)
    inner = json.loads(res["payload"])
    assert inner["success"] is True
    assert inner["stdout"] == "async-out\n"
    # removed once returned
    _, again = wire.call_json(s, wire.OP_ASYNC_POLL, {})
    assert again["results"] == [] and again["count"] == 0


def test_async_exec_without_request_id_gets_unique_ids(kernel):
    s = kernel.connect()
    ids = []
    for _ in range(3):
        _, r = wire.call_json(s, wire.OP_EXEC, {"command": "true", "async": True})
        assert r["status"] == "accepted"
        assert isinstance(r["request_id"], int)
        ids.append(r["request_id"])
    assert len(set(ids)) == 3

    got = []

    def poll():
        _, p = wire.call_json(s, wire.OP_ASYNC_POLL, {"max": 256})
        got.extend(x["request_id"] for x in p["results"])
        return len(got) >= 3
    wait_until(poll, 15, 0.1, "three async results")
    assert sorted(got) == sorted(ids)


def test_async_poll_reports_pending_requests(kernel):
    s = kernel.connect()
    wire.call_json(s, wire.OP_EXEC, {"command": "sleep 2", "async": True, "request_id": 1})
    _, p = wire.call_json(s, wire.OP_ASYNC_POLL, {})
    assert p["success"] is True
    assert p["pending"] == 1
    assert p["results"] == []

    def poll():
        _, q = wire.call_json(s, wire.OP_ASYNC_POLL, {})
        return q if q["results"] else None
    q = wait_until(poll, 15, 0.1, "the async result")
    assert q["pending"] == 0


def test_async_results_belong_to_their_connection(kernel):
    a, b = kernel.connect(), kernel.connect()
    wire.call_json(a, wire.OP_EXEC, {"command": "echo mine", "async": True, "request_id": 3})
    time.sleep(0.5)
    _, pb = wire.call_json(b, wire.OP_ASYNC_POLL, {})
    assert pb["results"] == []

    def poll():
        _, p = wire.call_json(a, wire.OP_ASYNC_POLL, {})
        return p["results"] or None
    res = wait_until(poll, 15, 0.1, "the result on the requesting connection")
    assert res[0]["request_id"] == 3


def test_async_timeout_result_is_etimedout(kernel):
    s = kernel.connect()
    wire.call_json(s, wire.OP_EXEC, {"command": "sleep 100", "timeout": 1, "async": True,
                                     "request_id": 9})

    def poll():
        _, p = wire.call_json(s, wire.OP_ASYNC_POLL, {})
        return p["results"] or None
    res = wait_until(poll, 15, 0.1, "the timed-out result")
    inner = json.loads(res[0]["payload"])
    assert inner["success"] is False
    assert inner["code"] == "ETIMEDOUT"
    assert inner["timed_out"] is True


def test_exec_child_does_not_inherit_kernel_fds(kernel):
    # Every kernel fd is O_CLOEXEC: the command sees only stdin, stdout and stderr.
    r = run(kernel, command="ls /proc/self/fd")
    fds = sorted(int(x) for x in r["stdout"].split())
    # ls itself opens one fd for the directory listing
    assert len([f for f in fds if f > 2]) <= 1, "leaked fds: %r" % fds


def test_cwd_with_shell_metacharacters_is_not_interpreted(kernel, tmp_path):
    # The original ran "cd <cwd> && <command>": a cwd like this one ran commands.
    weird = tmp_path / "a b; echo injected; $(echo injected2 >&2) `echo x` 'q\""
    weird.mkdir()
    r = run(kernel, argv=["pwd"], cwd=str(weird))
    assert r["success"] is True, r
    assert r["stdout"] == str(weird) + "\n"
    assert r["stderr"] == ""


@pytest.mark.timeout(180)
def test_unclaimed_async_results_are_bounded_with_eagain(kernel):
    s = kernel.connect()
    n = 300
    s.sendall(b"".join(wire.pack(wire.OP_EXEC, {"argv": ["true"], "async": True})
                       for _ in range(n)))
    accepted, refused = [], []
    for _ in range(n):
        _, data = wire.read_frame(s)
        r = json.loads(data)
        if r.get("success"):
            accepted.append(r["request_id"])
        else:
            assert r["code"] == "EAGAIN", r
            refused.append(r)
    assert len(accepted) == 256, "accepted %d async requests without a poll" % len(accepted)
    assert len(refused) == n - 256
    got = []

    def poll():
        _, p = wire.call_json(s, wire.OP_ASYNC_POLL, {"max": 256})
        got.extend(x["request_id"] for x in p["results"])
        return len(got) >= 256
    wait_until(poll, 120, 0.2, "all 256 async results")
    assert sorted(got) == sorted(accepted)
    # claimed: room again
    _, r = wire.call_json(s, wire.OP_EXEC, {"argv": ["true"], "async": True})
    assert r["success"] is True


@pytest.mark.timeout(60)
@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
def test_command_dies_when_its_client_goes_away(kernel, tmp_path, asynchronous):
    pidfile = tmp_path / "cmd.pid"
    s = kernel.connect()
    req = {"command": "echo $$ > %s; exec sleep 300" % pidfile, "timeout": 600}
    if asynchronous:
        req["async"] = True
    s.sendall(wire.pack(wire.OP_EXEC, req))
    wait_until(lambda: pidfile.exists() and pidfile.read_text().strip(), 10, 0.05,
               "the command to start")
    pid = int(pidfile.read_text())
    assert pid_alive(pid)
    s.close()
    wait_until(lambda: not pid_alive(pid), 10, 0.05,
               "the command %d to be killed after its client left" % pid)


@pytest.mark.timeout(60)
def test_output_full_of_control_bytes_is_cut_to_fit_one_reply(kernel):
    # 2 MiB of \x01 on each stream would be 24 MiB of JSON: the reply is cut, not refused.
    cmd = "head -c 2097152 /dev/zero | tr '\\000' '\\001'; " \
          "head -c 2097152 /dev/zero | tr '\\000' '\\001' >&2"
    r = run(kernel, command=cmd, max_output=2 << 20, timeout=30)
    assert r["success"] is True, {k: v for k, v in r.items() if k not in ("stdout", "stderr")}
    assert r["truncated"] is True
    assert 0 < len(r["stdout"]) < 2 << 20 and set(r["stdout"]) == {"\x01"}
