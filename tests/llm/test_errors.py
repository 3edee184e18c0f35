# SPDX-License-Identifier: MIT
"""Failures come back as the error codes of docs/llm.md, never as a hang:
429 (EAGAIN with the provider's Retry-After), 5xx (EIO), other 4xx (EINVAL),
an answer that is not readable (EPROTO), no answer in time (ETIMEDOUT), a
provider that is not there (ECONNREFUSED), no key (ENOKEY). A failure is
consumed by one call: the next one succeeds."""

from __future__ import annotations

import socket
import time

import pytest

from llm_util import worker_env


def assert_error(result, code, retryable, status=None):
    assert result["type"] == "result" and result["ok"] is False, result
    assert result["code"] == code, result
    assert result["retryable"] is retryable, result
    assert isinstance(result["error"], str) and result["error"], result
    if status is not None:
        assert result["status"] == status, result


@pytest.mark.parametrize("stream", [False, True])
def test_429_is_eagain_with_retry_after(provider, fake, worker, stream):
    fake.config(fail=[{"status": 429, "retry_after": 3}])
    worker.think(1, provider, {"prompt": "hi"}, stream=stream)
    chunks, result = worker.collect(1)
    assert chunks == []
    assert_error(result, "EAGAIN", True, 429)
    assert result["retry_after_ms"] == 3000
    # The failure was consumed: the same call now goes through.
    assert worker.call(2, provider, {"prompt": "hi"})["ok"] is True


def test_429_without_retry_after_has_no_retry_after_ms(provider, fake, worker):
    fake.config(fail=[{"status": 429}])
    result = worker.call(1, provider, {"prompt": "hi"})
    assert_error(result, "EAGAIN", True, 429)
    assert "retry_after_ms" not in result


@pytest.mark.parametrize("stream", [False, True])
def test_500_is_eio_and_retryable(provider, fake, worker, stream):
    fake.config(fail=[{"status": 500}])
    worker.think(1, provider, {"prompt": "hi"}, stream=stream)
    _, result = worker.collect(1)
    assert_error(result, "EIO", True, 500)
    assert "retry_after_ms" not in result


def test_other_4xx_is_einval_and_final(provider, fake, worker):
    fake.config(fail=[{"status": 400, "message": "temperature out of range"}])
    result = worker.call(1, provider, {"prompt": "hi"})
    assert_error(result, "EINVAL", False, 400)
    assert "temperature out of range" in result["error"]


@pytest.mark.parametrize("stream", [False, True])
def test_unreadable_answer_is_eproto(provider, fake, worker, stream):
    fake.config(fail=[{"garbage": True}])
    worker.think(1, provider, {"prompt": "hi"}, stream=stream)
    _, result = worker.collect(1)
    assert_error(result, "EPROTO", False)
    assert worker.call(2, provider, {"prompt": "hi"})["ok"] is True


@pytest.mark.parametrize("stream", [False, True])
def test_hang_is_etimedout_within_the_timeout(provider, fake, worker, stream):
    fake.config(fail=[{"hang": True}])
    started = time.monotonic()
    worker.think(1, provider, {"prompt": "hi"}, stream=stream, timeout_ms=1500)
    _, result = worker.collect(1, timeout=20)
    elapsed = time.monotonic() - started
    assert_error(result, "ETIMEDOUT", False)
    assert elapsed >= 1.4, f"gave up after {elapsed:.2f} s, before the 1.5 s timeout"
    # Generous upper bound: this checks "no hang", not speed.
    assert elapsed < 10, f"ETIMEDOUT took {elapsed:.2f} s for a 1.5 s timeout"
    assert worker.call(2, provider, {"prompt": "hi"})["ok"] is True


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed when this returns: nobody listens there


def test_provider_down_is_econnrefused(provider, start_worker):
    url = f"http://127.0.0.1:{closed_port()}"
    w = start_worker(worker_env(None, GEMINI_API_KEY="k", CLOVE_GEMINI_BASE_URL=url,
                                OPENAI_API_KEY="k", OPENAI_BASE_URL=url + "/v1"))
    started = time.monotonic()
    result = w.call(1, provider, {"prompt": "hi"}, timeout_ms=30_000)
    assert_error(result, "ECONNREFUSED", False)
    assert "status" not in result
    # Refused, not timed out: far sooner than the call's 30 s timeout.
    assert time.monotonic() - started < 10


def test_missing_gemini_key_is_enokey(fake, start_worker):
    pytest.importorskip("google.genai", reason="google-genai is not installed")
    w = start_worker(worker_env(None, CLOVE_GEMINI_BASE_URL=fake.url))
    status = w.ready["providers"]["gemini"]
    assert status["configured"] is False and "GEMINI_API_KEY" in status["error"]
    assert_error(w.call(1, "gemini", {"prompt": "hi"}), "ENOKEY", False)
    assert fake.log() == []


def test_google_api_key_also_works_for_gemini(fake, start_worker):
    pytest.importorskip("google.genai", reason="google-genai is not installed")
    w = start_worker(worker_env(None, CLOVE_GEMINI_BASE_URL=fake.url, GOOGLE_API_KEY="g"))
    assert w.ready["providers"]["gemini"]["configured"] is True
    assert w.call(1, "gemini", {"prompt": "hi"})["ok"] is True


def test_missing_openai_key_is_enokey_for_openai_com(fake, start_worker):
    w = start_worker(worker_env(None))  # OPENAI_BASE_URL unset: api.openai.com
    status = w.ready["providers"]["openai"]
    assert status["configured"] is False and "OPENAI_API_KEY" in status["error"]
    assert_error(w.call(1, "openai", {"prompt": "hi"}), "ENOKEY", False)


def test_local_openai_server_needs_no_key(fake, start_worker):
    w = start_worker(worker_env(None, OPENAI_BASE_URL=fake.url + "/v1"))
    assert w.ready["providers"]["openai"]["configured"] is True
    assert w.call(1, "openai", {"prompt": "hi"})["ok"] is True
    assert "Authorization" not in fake.log()[0]["headers"]


@pytest.mark.parametrize("request_fields", [
    {"prompt": 5},
    {"messages": [{"role": "robot", "content": "x"}]},
    {},
    {"prompt": "x", "image": {"data": "not base64!", "mime_type": "image/png"}},
    {"prompt": "x", "temperature": "hot"},
    {"prompt": "x", "max_tokens": 0},
    {"prompt": "x", "thinking_level": "extreme"},
    {"prompt": "x", "tools": [{"description": "no name"}]},
])
def test_bad_request_is_einval_and_the_worker_goes_on(provider, fake, worker, request_fields):
    assert_error(worker.call(1, provider, request_fields), "EINVAL", False)
    assert fake.log() == []
    assert worker.call(2, provider, {"prompt": "hi"})["ok"] is True


def test_unknown_provider_is_einval(fake, worker):
    assert_error(worker.call(1, "claude", {"prompt": "hi"}), "EINVAL", False)


def test_a_trickling_stream_still_ends_at_the_timeout(provider, fake, worker):
    """Each piece comes well within the timeout, so only a deadline on the
    whole call (not a socket read timeout) stops it."""
    fake.config(tokens_per_reply=30, chunks=10, chunk_delay_ms=600)
    started = time.monotonic()
    worker.think(1, provider, {"prompt": "trickle"}, stream=True, timeout_ms=1500)
    chunks, result = worker.collect(1, timeout=20)
    elapsed = time.monotonic() - started
    assert_error(result, "ETIMEDOUT", False)
    assert 1 <= len(chunks) < 10, chunks
    assert elapsed < 5, f"the 1.5 s call ended after {elapsed:.2f} s (the stream takes 5.4 s)"
