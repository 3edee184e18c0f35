# SPDX-License-Identifier: MIT
"""Helpers of the THINK tests (a module of their own, named apart from tests/llm's llm_util): the fake provider (tests/fakes/fake_llm.py) as a subprocess with its
control API, and a kernel started against it with real llm_worker processes.

``FakeLLM`` starts the fake on a free port, reads its ``listening <port>`` line and wraps
``/_fake/config``, ``/_fake/log``, ``/_fake/reset`` and ``/_fake/stats``. ``llm_kernel_args``
gives the environment and config file that point a kernel's workers at it: the provider's base
URL, a dummy key, the tree's ``llm_worker/`` on ``PYTHONPATH`` (so ``python -m llm_worker`` is the tree's).
"""

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FAKE = REPO / "tests" / "fakes" / "fake_llm.py"


class FakeLLM:
    """The fake provider, running until stop()."""

    def __init__(self, python=None):
        self.python = python or sys.executable
        self.proc = None
        self.port = None

    def start(self, timeout=30.0):
        if not FAKE.exists():
            raise AssertionError("the fake provider %s is missing" % FAKE)
        self.proc = subprocess.Popen([self.python, str(FAKE), "--port", "0"],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     start_new_session=True)
        deadline = time.monotonic() + timeout
        line = self.proc.stdout.readline().decode("utf-8", "replace").strip()
        if not line.startswith("listening "):
            self.stop()
            raise AssertionError("the fake provider said %r, not 'listening <port>'" % line)
        self.port = int(line.split()[1])
        while time.monotonic() < deadline:
            try:
                self.stats()
                return self
            except OSError:
                time.sleep(0.05)
        raise AssertionError("the fake provider does not answer on port %d" % self.port)

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def _call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            text = r.read().decode("utf-8")
        return json.loads(text) if text else None

    def config(self, **settings):
        return self._call("POST", "/_fake/config", settings)

    def reset(self):
        return self._call("POST", "/_fake/reset", {})

    def log(self):
        return self._call("GET", "/_fake/log")

    def stats(self):
        return self._call("GET", "/_fake/stats")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        if self.proc:
            for f in (self.proc.stdout, self.proc.stderr):
                if f:
                    f.close()


def llm_kernel_args(root, fake, provider="gemini", **settings):
    """(extra_args, env) for a kernel whose workers call the fake: settings become llm_* config
    keys (workers=2 -> "llm_workers": 2)."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    cfg = {"llm_provider": provider}
    for key, value in settings.items():
        cfg["llm_" + key] = value
    cfg_path = root / "llm-config.json"
    cfg_path.write_text(json.dumps(cfg))
    env = {
        "CLOVE_GEMINI_BASE_URL": fake.url,
        "GEMINI_API_KEY": "dummy-gemini-key",
        "OPENAI_BASE_URL": fake.url + "/v1",
        "OPENAI_API_KEY": "dummy-openai-key",
        "PYTHONPATH": str(REPO / "llm_worker"),
    }
    return ["--config", str(cfg_path)], env


def think_body(entry):
    """The JSON body the provider received, from a fake log entry."""
    body = entry.get("body")
    if isinstance(body, str):
        try:
            return json.loads(body)
        except ValueError:
            return body
    return body
