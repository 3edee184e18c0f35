# SPDX-License-Identifier: MIT
"""The SDK against a real kernel: starts the cloved named by $CLOVED on a
temporary socket and state directory and drives it through clove_sdk —
hello, echo, exec, files, async, and agents spawned with the SDK inside them
(talking through their inherited CLOVE_FD). Every test that takes a client
runs twice: over the socket and over the shared-memory fast path (libclove
through ctypes; skipped with the reason when libclove cannot be loaded).
Skipped, with the reason, when $CLOVED is not set or not an executable
file."""

from __future__ import annotations

import json
import os
import pathlib
import signal
import sys
import time
from typing import Any, Callable, Iterator

import pytest

from clove_sdk import (AgentInfo, AsyncAccepted, CloveClient, CloveError,
                       ExecResult, Opcode)
from clove_sdk import fastpath
from live_kernel import run_cloved

pytestmark = pytest.mark.timeout(180)

SDK_SRC = pathlib.Path(__file__).resolve().parents[2] / "sdk" / "python" / "src"


def wait_until(check: Callable[[], Any], what: str, timeout: float = 10.0) -> Any:
    """Polls ``check`` until it returns something truthy; fails after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


@pytest.fixture(scope="module")
def cloved(tmp_path_factory) -> Iterator[str]:
    """A running cloved; yields its socket path. SIGTERM and wait on teardown."""
    yield from run_cloved(tmp_path_factory)


@pytest.fixture
def state_dir(cloved: str) -> pathlib.Path:
    return pathlib.Path(cloved).parent / "state"


@pytest.fixture(params=["socket", "shm"])
def transport(request) -> str:
    """Which transport the test's clients use."""
    if request.param == "shm" and fastpath.load_libclove() is None:
        pytest.skip(f"libclove cannot be loaded ({fastpath.library_error()}); set LIBCLOVE")
    return request.param


def open_client(cloved: str, transport: str) -> CloveClient:
    c = CloveClient(cloved, timeout=30, fast_path=transport == "shm").connect()
    assert c.fast_path_active is (transport == "shm"), \
        f"the {transport} transport was asked for but not used"
    return c


@pytest.fixture
def client(cloved: str, transport: str) -> Iterator[CloveClient]:
    with open_client(cloved, transport) as c:
        yield c


def agent_log(state_dir: pathlib.Path, name: str) -> str:
    path = state_dir / "logs" / f"{name}.log"
    return path.read_text(errors="replace") if path.exists() else f"(no {path})"


def find_agent(client: CloveClient, name: str) -> AgentInfo | None:
    return next((a for a in client.list_agents() if a.name == name), None)


def spawn_sdk_agent(client: CloveClient, tmp_path: pathlib.Path, name: str, body: str,
                    args: list[str] | None = None, **fields: Any):
    """Spawns a Python agent running ``body`` with clove_sdk importable; the
    agent's own client uses the same transport as ``client``. ``fields`` go
    to SPAWN as they are."""
    script = tmp_path / f"{name}.py"
    script.write_text(body)
    env = {"PYTHONPATH": str(SDK_SRC),
           "CLOVE_FAST_PATH": "1" if client.fast_path_active else "0"}
    if os.environ.get("LIBCLOVE"):
        env["LIBCLOVE"] = os.environ["LIBCLOVE"]
    return client.spawn(name=name, script=str(script), python=sys.executable,
                        args=args, env=env, sandboxed=False, **fields)


# -- basics -------------------------------------------------------------------

def test_hello(client):
    r = client.hello()
    assert r.success is True
    assert r.protocol_version == 1
    assert r.role == "operator"
    assert isinstance(r.kernel_version, str) and r.kernel_version
    assert isinstance(r.features, dict) and r.features.get("exec") is True
    assert client.agent_id == r.agent_id


def test_echo_bytes_and_text(client):
    data = bytes(range(256)) * 16
    assert client.echo(data) == data
    assert client.echo("héllo ✓") == "héllo ✓"
    assert client.noop(b"") == b""


def test_errors_leave_the_connection_usable(client):
    with pytest.raises(CloveError) as info:
        client.call(0x13, {})
    assert info.value.code == "ENOSYS"
    with pytest.raises(CloveError) as info:
        client.call(Opcode.EXEC, b"{not json")
    assert info.value.code == "EBADMSG"
    with pytest.raises(CloveError) as info:
        client.call(Opcode.EXEC, {})
    assert info.value.code == "EINVAL"
    assert client.hello().protocol_version == 1


def test_exit_says_goodbye(cloved, transport):
    c = open_client(cloved, transport)
    assert c.hello().success
    assert c.exit() is True
    assert not c.connected
    assert c.hello().success  # a later call opens a new connection
    assert c.fast_path_active is (transport == "shm")
    c.close()


# -- exec ---------------------------------------------------------------------

def test_exec_nonzero_exit_is_a_result(client):
    r = client.exec("echo out; echo err >&2; exit 3")
    assert isinstance(r, ExecResult)
    assert r.success is True
    assert (r.exit_code, r.stdout, r.stderr) == (3, "out\n", "err\n")
    assert r["timed_out"] is False


def test_exec_argv_stdin_env_cwd(client, tmp_path):
    r = client.exec(argv=["sh", "-c", 'read x; echo "$x $FOO $(pwd)"'],
                    stdin="hi\n", env={"FOO": "bar"}, cwd=str(tmp_path))
    assert r.exit_code == 0
    assert r.stdout == f"hi bar {os.path.realpath(tmp_path)}\n"


def test_exec_missing_program(client):
    with pytest.raises(CloveError) as info:
        client.exec(argv=["/nonexistent/program"])
    assert info.value.code == "ENOENT"


def test_exec_timeout_kills_and_raises(client):
    start = time.monotonic()
    with pytest.raises(CloveError) as info:
        client.exec("echo started; sleep 20", timeout=1)
    assert time.monotonic() - start < 15
    assert info.value.code == "ETIMEDOUT"
    assert info.value.reply.get("timed_out") is True
    assert client.hello().success


def test_exec_async_then_poll(client):
    accepted = client.exec("echo hi", async_=True)
    assert isinstance(accepted, AsyncAccepted)
    assert accepted["async"] is True and accepted.status == "accepted"

    found: list = []

    def poll():
        found.extend(r for r in client.poll_async() if r.request_id == accepted.request_id)
        return found
    result = wait_until(poll, "the async EXEC result")[0]
    assert result.opcode == Opcode.EXEC and result.opcode_name == "EXEC"
    assert isinstance(result.payload, ExecResult)
    assert result.payload.stdout == "hi\n" and result.payload.exit_code == 0
    assert json.loads(result.payload_raw)["stdout"] == "hi\n"


# -- files --------------------------------------------------------------------

def test_write_then_read_text_and_append(client, tmp_path):
    path = str(tmp_path / "note.txt")
    assert client.write_file(path, "hello ").bytes_written == 6
    assert client.write_file(path, "wörld", mode="append").bytes_written == len("wörld".encode())
    r = client.read_file(path)
    assert r.content == "hello wörld" and r.encoding == "utf-8"
    assert r.size == len("hello wörld".encode()) and r.truncated is False
    assert pathlib.Path(path).read_text() == "hello wörld"
    part = client.read_file(path, offset=6, max_bytes=1)
    assert part.content == "w" and part.bytes_read == 1


def test_write_then_read_binary(client, tmp_path):
    blob = bytes(range(256))
    path = tmp_path / "blob.bin"
    assert client.write_file(str(path), blob).bytes_written == 256
    assert path.read_bytes() == blob
    r = client.read_file(path)
    assert r.encoding == "base64" and r.data == blob


def test_read_missing_file(client, tmp_path):
    with pytest.raises(CloveError) as info:
        client.read_file(str(tmp_path / "absent"))
    assert info.value.code == "ENOENT"


# -- agents -------------------------------------------------------------------

AGENT_WRITES_AND_EXITS = """\
import json, os, sys
from clove_sdk import CloveClient

with CloveClient() as c:
    h = c.hello()
    c.write_file("out.json", json.dumps({
        "fd": c.fd, "role": h.role, "agent_id": h.agent_id,
        "env_id": os.environ.get("CLOVE_AGENT_ID"), "argv": sys.argv[1:],
        "fast_path": c.fast_path_active,
    }))
"""

AGENT_WAITS = """\
import time
from clove_sdk import CloveClient

with CloveClient() as c:
    c.write_file("ready", "1")
time.sleep(120)
"""


def test_spawned_agent_talks_through_clove_fd(client, cloved, state_dir, tmp_path, transport):
    name = f"sdk-writer-{transport}"  # one kernel serves both runs: names must differ
    spawned = spawn_sdk_agent(client, tmp_path, name, AGENT_WRITES_AND_EXITS, ["--flag"])
    assert spawned.name == name and spawned.pid > 0 and spawned.status == "running"
    out = state_dir / "agents" / str(spawned.id) / "out.json"

    def exited():
        info = find_agent(client, name)
        return info if info and info.state in ("exited", "failed") else None
    info = wait_until(exited, f"agent {name} to exit; log:\n{agent_log(state_dir, name)}")
    assert info.exit_code == 0, agent_log(state_dir, name)
    assert out.exists(), f"{out} missing; log:\n{agent_log(state_dir, name)}"
    report = json.loads(out.read_text())
    assert report["fd"] is not None and report["role"] == "agent"
    assert report["agent_id"] == spawned.id and report["env_id"] == str(spawned.id)
    assert report["argv"] == [cloved, "--flag"]
    assert report["fast_path"] is client.fast_path_active
    assert info.running is False and info.pid == 0


def test_list_pause_resume_kill(client, state_dir, tmp_path, transport):
    name = f"sdk-sleeper-{transport}"
    spawned = spawn_sdk_agent(client, tmp_path, name, AGENT_WAITS)
    ready = state_dir / "agents" / str(spawned.id) / "ready"
    try:
        wait_until(ready.exists, f"agent {name} to start; log:\n{agent_log(state_dir, name)}")
        agents = client.list_agents()
        assert all(isinstance(a, AgentInfo) for a in agents)
        info = next(a for a in agents if a.name == name)
        assert (info.id, info.state, info.running) == (spawned.id, "running", True)
        assert info.pid == spawned.pid

        with pytest.raises(CloveError) as dup:
            spawn_sdk_agent(client, tmp_path, name, AGENT_WAITS)
        assert dup.value.code == "EEXIST"

        assert client.pause(name).paused is True
        assert find_agent(client, name).state == "paused"
        with pytest.raises(CloveError) as again:
            client.pause(spawned.id)
        assert again.value.code == "ESRCH"
        r = client.resume(spawned.id)
        assert r.resumed is True and r.agent_id == spawned.id
        assert find_agent(client, name).state == "running"

        k = client.kill(name, grace=2)
        assert k.killed is True and k.agent_id == spawned.id and k.state == "killed"
        info = find_agent(client, name)
        assert info.state == "killed" and info.running is False
        with pytest.raises(CloveError) as gone:
            client.kill(spawned.id)
        assert gone.value.code == "ESRCH"
    finally:
        try:
            os.kill(spawned.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def test_kill_unknown_agent(client):
    with pytest.raises(CloveError) as info:
        client.kill(name="no-such-agent")
    assert info.value.code == "ENOENT"


# -- permissions ----------------------------------------------------------------

AGENT_PERMISSIONS = """\
import json
from clove_sdk import CloveClient, CloveError

def outcome(fn):
    try:
        return fn().level
    except CloveError as e:
        return e.code

with CloveClient() as c:
    own = c.get_permissions()
    out = {"level": own.level, "agent_id": own.agent_id, "work_dir": own.work_dir,
           "raise": outcome(lambda: c.set_permissions(level="unrestricted")),
           "lower": outcome(lambda: c.set_permissions(permissions="readonly"))}
    try:
        c.write_file("after.txt", "x")
        out["write_after"] = "ok"
    except CloveError as e:
        out["write_after"] = e.code
    print("PERMS " + json.dumps(out), flush=True)
"""


def test_permissions_from_the_sdk(client, state_dir, tmp_path, transport):
    name = f"sdk-perms-{transport}"  # one kernel serves both runs: names must differ
    spawned = spawn_sdk_agent(client, tmp_path, name, AGENT_PERMISSIONS,
                              permissions="standard")
    assert spawned.level == "standard" and spawned.permissions["can_exec"] is True

    def reported():
        for line in agent_log(state_dir, name).splitlines():
            if line.startswith("PERMS "):
                return json.loads(line[6:])
        return None
    out = wait_until(reported, f"agent {name} to report; log:\n{agent_log(state_dir, name)}")
    assert out["level"] == "standard" and out["agent_id"] == spawned.id
    assert out["work_dir"].endswith(f"/agents/{spawned.id}")
    assert out["raise"] == "EACCES"
    assert out["lower"] == "readonly"
    assert out["write_after"] == "EACCES"
    assert client.get_permissions(spawned.id).level == "readonly"
    assert client.set_permissions(spawned.id, level="standard").level == "standard"
    own = client.get_permissions()
    assert own.role == "operator" and own.level == "unrestricted" and own.agent_id is None


def test_spawn_with_a_policy_the_kernel_refuses(client, tmp_path):
    script = tmp_path / "never.py"
    script.write_text("")
    with pytest.raises(CloveError) as info:
        client.spawn(name="bad-policy", script=str(script), python=sys.executable,
                     permissions={"level": "standard", "exec": ["relative"]})
    assert info.value.code == "EINVAL"
    assert "permissions.exec[0]" in str(info.value)
