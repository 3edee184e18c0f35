# SPDX-License-Identifier: MIT
"""Fixtures of the SDK tests: ``fake_kernel(handler)`` starts a FakeKernel
(see sdk_fakes.py) and closes it, re-raising any failure of its thread."""

from __future__ import annotations

import pytest

from sdk_fakes import FakeKernel, Handler


@pytest.fixture
def fake_kernel():
    """Factory: ``fake_kernel(handler)`` -> a started FakeKernel, closed after."""
    made: list[FakeKernel] = []

    def make(handler: Handler) -> FakeKernel:
        k = FakeKernel(handler)
        made.append(k)
        return k

    yield make
    for k in made:
        k.close()
