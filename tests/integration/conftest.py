# SPDX-License-Identifier: MIT
"""Fixtures of the integration suite: a real ``cloved`` per test on a private socket and state
directory, a factory for tests that need several kernels or special environments, and a writer
of agent scripts.

The binary comes from the ``CLOVED`` environment variable (meson sets it); without it every test
is skipped with the reason. Each kernel is started with ``--log-level debug`` and its stderr kept
in a file that is attached to the report of a failing test. On teardown the kernel gets SIGTERM
and must exit 0 within 10 s, and no process it started (agents seen via LIST, its whole process
tree and the sessions of those processes) may outlive it — otherwise the test errors.
"""

import os
import shutil

import pytest

from clove_harness import Kernel, agent_source, short_root

DEFAULT_TIMEOUT = 60


def pytest_configure(config):
    config.addinivalue_line("markers", "timeout(seconds): per-test timeout (pytest-timeout)")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(DEFAULT_TIMEOUT))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    rep = yield
    if rep.failed:
        kernels = []
        for value in (getattr(item, "funcargs", None) or {}).values():
            if isinstance(value, Kernel):
                kernels.append(value)
            elif isinstance(value, KernelFactory):
                kernels.extend(value.kernels)
        for k in kernels:
            rep.sections.append(("cloved stderr (%s)" % k.root, k.log_tail()))
    return rep


@pytest.fixture(scope="session")
def cloved_path():
    path = os.environ.get("CLOVED")
    if not path:
        pytest.skip("CLOVED is not set: run through `meson test` or set CLOVED=<path to cloved>")
    if not os.path.isfile(path) or not os.access(path, os.X_OK):
        pytest.skip("CLOVED=%s is not an executable file (build it first)" % path)
    return path


class KernelFactory:
    """Starts kernels on demand; every one is shut down and checked at teardown."""

    def __init__(self, cloved, base):
        self.cloved = cloved
        self.base = base
        self.kernels = []

    def __call__(self, extra_args=(), env=None, start=True, name=None):
        sub = self.base / (name or "k%d" % len(self.kernels))
        k = Kernel(self.cloved, sub, extra_args=extra_args, env=env)
        self.kernels.append(k)
        if start:
            k.start()
        return k

    def shutdown_all(self):
        problems = []
        for k in self.kernels:
            problems += ["%s: %s" % (k.root, p) for p in k.shutdown()]
        return problems


def _finish(problems, kernels):
    if problems:
        logs = "\n".join("--- %s ---\n%s" % (k.root, k.log_tail(60)) for k in kernels)
        pytest.fail("kernel teardown: " + "; ".join(problems) + "\n" + logs, pytrace=False)


@pytest.fixture
def make_kernel(cloved_path, tmp_path):
    root = short_root(tmp_path)
    factory = KernelFactory(cloved_path, root)
    yield factory
    _finish(factory.shutdown_all(), factory.kernels)
    if root != tmp_path:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def kernel(cloved_path, tmp_path):
    """A fresh cloved for one test."""
    root = short_root(tmp_path)
    k = Kernel(cloved_path, root / "kernel")
    k.start()
    yield k
    _finish(k.shutdown(), [k])
    if root != tmp_path:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def module_kernel(cloved_path, tmp_path_factory):
    """One cloved shared by the read-only tests of a module (each must leave it as it found it)."""
    root = short_root(tmp_path_factory.mktemp("mod"))
    k = Kernel(cloved_path, root / "kernel")
    k.start()
    yield k
    _finish(k.shutdown(), [k])


@pytest.fixture
def agent_script(tmp_path):
    """make(body, name) -> absolute path of an agent script embedding wire.py and a prelude."""
    def make(body, name="agent"):
        path = tmp_path / ("%s.py" % name)
        path.write_text(agent_source(body))
        return str(path)
    return make
