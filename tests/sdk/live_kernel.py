# SPDX-License-Identifier: MIT
"""A real ``cloved`` for the SDK's live tests: the binary named by $CLOVED on a temporary
socket and state directory (skipped, with the reason, without one), stopped with SIGTERM."""

from __future__ import annotations

import os
import pathlib
import signal
import socket
import subprocess
import tempfile
import time
from typing import Iterator

import pytest

START_TIMEOUT = 10.0


def _accepts(path: str) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        try:
            s.connect(path)
            return True
        except OSError:
            return False


def run_cloved(tmp_path_factory, extra_args: tuple[str, ...] = ()) -> Iterator[str]:
    """Generator for a fixture: starts cloved with extra_args, yields its socket path
    (``<dir>/clove.sock``, state in ``<dir>/state``), then SIGTERMs it and waits."""
    binary = os.environ.get("CLOVED")
    if not binary:
        pytest.skip("CLOVED is not set (the path of the cloved binary to test)")
    if not (os.path.isfile(binary) and os.access(binary, os.X_OK)):
        pytest.skip(f"CLOVED={binary} is not an executable file")
    top = tmp_path_factory.mktemp("cloved")
    if len(str(top / "clove.sock")) > 100:  # sun_path holds 108 bytes
        top = pathlib.Path(tempfile.mkdtemp(prefix="clove-sdk-"))
    sock, state, log_path = top / "clove.sock", top / "state", top / "cloved.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([binary, "--socket", str(sock), "--state-dir", str(state),
                                 *extra_args],
                                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + START_TIMEOUT
    while not _accepts(str(sock)):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            proc.wait()
            pytest.fail(f"cloved did not accept on {sock} within {START_TIMEOUT} s "
                        f"(exit status {proc.returncode}); log:\n{log_path.read_text()}")
        time.sleep(0.05)
    yield str(sock)
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        pytest.fail(f"cloved ignored SIGTERM for 15 s; log:\n{log_path.read_text()}")
