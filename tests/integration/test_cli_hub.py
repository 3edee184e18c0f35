# SPDX-License-Identifier: MIT
"""The clove CLI's hub commands against a real kernel: ``clove events`` (once, and following
with -f until interrupted) and ``clove audit``. The CLI binary comes from $CLOVE_CLI."""

import json
import os
import select
import signal
import subprocess
import sys
import time

import pytest

import wire
from hub_util import OP_EMIT, ok

SLEEPER = """
ready()
sleep_forever()
"""


@pytest.fixture
def cli():
    path = os.environ.get("CLOVE_CLI")
    if not path or not os.access(path, os.X_OK):
        pytest.skip("CLOVE_CLI is not set to the clove binary")
    return path


def run(cli, kernel, *args, timeout=30):
    return subprocess.run([cli, "--socket", kernel.socket, *args], capture_output=True,
                          text=True, timeout=timeout)


def read_line(proc, timeout=15.0):
    deadline = time.monotonic() + timeout
    buf = b""
    while time.monotonic() < deadline:
        r, _, _ = select.select([proc.stdout], [], [], 0.2)
        if r:
            c = os.read(proc.stdout.fileno(), 1)
            if not c:
                break
            buf += c
            if c == b"\n":
                return buf.decode()
    raise AssertionError("no line from clove within %.0f s (got %r)" % (timeout, buf))


def test_events_once_prints_nothing_without_events(cli, kernel):
    r = run(cli, kernel, "events", "--wait", "0.3")
    assert r.returncode == 0, r.stderr
    assert r.stdout == ""


def test_events_follow_prints_until_interrupted(cli, kernel, agent_script):
    proc = subprocess.Popen([cli, "--socket", kernel.socket, "--json", "events", "-f",
                             "agent_spawned", "greeting"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        # The subscription is made once the CLI runs: emit until it shows.
        deadline = time.monotonic() + 15
        line = None
        while line is None and time.monotonic() < deadline:
            ok(kernel.request(OP_EMIT, {"event": "greeting", "data": {"hi": 1}}))
            r, _, _ = select.select([proc.stdout], [], [], 0.3)
            if r:
                line = read_line(proc)
        assert line is not None, "clove events printed nothing"
        ev = json.loads(line)
        assert ev["type"] == "greeting" and ev["data"] == {"hi": 1}
        kernel.spawn(name="seen", script=agent_script(SLEEPER), python=sys.executable)
        while True:
            ev = json.loads(read_line(proc))
            if ev["type"] == "agent_spawned":
                break
        assert ev["data"]["name"] == "seen"
        proc.send_signal(signal.SIGINT)
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()


def test_events_text_format(cli, kernel):
    proc = subprocess.Popen([cli, "--socket", kernel.socket, "events", "-f", "note"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        line = None
        deadline = time.monotonic() + 15
        while line is None and time.monotonic() < deadline:
            ok(kernel.request(OP_EMIT, {"event": "note", "data": [1, 2]}))
            r, _, _ = select.select([proc.stdout], [], [], 0.3)
            if r:
                line = read_line(proc)
        assert line and " note " in line and "[1,2]" in line and "source=" in line
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()
        proc.stderr.close()


def test_events_bad_type_is_an_error(cli, kernel):
    r = run(cli, kernel, "events", "bad type!")
    assert r.returncode == 1 and "EINVAL" in r.stderr
