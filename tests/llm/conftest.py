# SPDX-License-Identifier: MIT
"""Fixtures of the llm suite: one fake provider per module, reset before
each test; a factory of workers (`python -m llm_worker` pointed at the fake)
killed at teardown; and `provider`, which runs a test once per provider.
Every test has a timeout, so a hung worker fails the test instead of the run."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Callable, Iterator

import pytest

from llm_util import FakeLLM, WorkerProc, worker_env

TEST_TIMEOUT = 60
HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.timeout(TEST_TIMEOUT))


@pytest.fixture(scope="module")
def fake_server() -> Iterator[FakeLLM]:
    server = FakeLLM()
    yield server
    assert server.stop() == 0, "the fake provider did not exit 0 on SIGTERM"


@pytest.fixture
def fake(fake_server: FakeLLM) -> FakeLLM:
    fake_server.reset()
    return fake_server


@pytest.fixture(params=["gemini", "openai"])
def provider(request: pytest.FixtureRequest) -> str:
    if request.param == "gemini" and importlib.util.find_spec("google.genai") is None:
        pytest.skip("google-genai is not installed in this interpreter "
                    "(deploy/dev/setup.sh installs it)")
    return request.param


@pytest.fixture
def start_worker(tmp_path: Path) -> Iterator[Callable[..., WorkerProc]]:
    """start_worker(env) -> a worker whose `ready` frame was read and kept
    in .ready. env defaults to the fake's settings (worker_env)."""
    workers: list[WorkerProc] = []

    def start(env: dict[str, str]) -> WorkerProc:
        w = WorkerProc(env, tmp_path / f"worker-{len(workers)}.stderr")
        workers.append(w)
        w.ready = w.next()
        assert w.ready is not None and w.ready["type"] == "ready", w.ready
        return w

    yield start
    for w in workers:
        w.stop()
        # Captured: pytest shows it with a failing test only.
        print(f"--- worker {w.proc.pid} stderr:\n" + w.stderr_text())


@pytest.fixture
def worker(fake: FakeLLM, start_worker: Callable[..., WorkerProc]) -> WorkerProc:
    return start_worker(worker_env(fake))
