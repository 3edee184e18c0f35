# SPDX-License-Identifier: MIT
"""The fake provider itself, where the other tests and the benchmarks lean on
its behaviour: capacity makes calls wait in line, failures are consumed one
per call, keys never reach the log, command-line settings are what reset goes
back to, and SIGTERM ends it cleanly."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request

import pytest

from llm_util import FakeLLM


def post(fake: FakeLLM, path: str, body: dict, headers: dict | None = None):
    """(status, headers, body) of one call straight to the fake."""
    req = urllib.request.Request(fake.url + path, data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=20) as resp:
            return resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def chat(fake: FakeLLM, prompt: str = "hi", **extra):
    return post(fake, "/v1/chat/completions",
                {"model": "m", "messages": [{"role": "user", "content": prompt}], **extra})


def test_capacity_makes_calls_wait_in_line(fake):
    fake.config(capacity=2, latency_ms=300)
    statuses = []
    threads = [threading.Thread(target=lambda: statuses.append(chat(fake)[0]))
               for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses == [200] * 5
    stats = fake.stats()
    assert stats["max_concurrency"] == 2
    assert stats["served"] == 5 and stats["in_flight"] == 0 and stats["active"] == 0
    # Five calls of 0.3 s, two at a time: three rounds, so the last ends
    # at least 0.9 s after the first started.
    log = fake.log()
    assert max(e["ended"] for e in log) - min(e["started"] for e in log) >= 0.85


def test_failures_are_consumed_one_per_call(fake):
    fake.config(fail=[{"status": 429, "retry_after": 7}, {"status": 500}])
    first, second, third = chat(fake), chat(fake), chat(fake)
    assert first[0] == 429 and first[1]["Retry-After"] == "7"
    assert json.loads(first[2])["error"]["code"] == 429
    assert second[0] == 500 and second[1]["Retry-After"] is None
    assert third[0] == 200
    assert [e["status"] for e in fake.log()] == [429, 500, 200]


def test_gemini_shapes(fake):
    fake.config(tokens_per_reply=5)
    status, _, body = post(fake, "/v1beta/models/gm:generateContent",
                           {"contents": [{"role": "user", "parts": [{"text": "a b c"}]}]})
    assert status == 200
    answer = json.loads(body)
    assert answer["candidates"][0]["content"] == {"role": "model", "parts": [
        {"text": "fake reply: a b c"}]}
    assert answer["candidates"][0]["finishReason"] == "STOP"
    assert answer["usageMetadata"] == {"promptTokenCount": 3, "candidatesTokenCount": 5,
                                       "totalTokenCount": 8}
    assert answer["modelVersion"] == "gm"


def test_keys_never_reach_the_log(fake):
    post(fake, "/v1beta/models/gm:generateContent?key=secret-query-key",
         {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]},
         {"x-goog-api-key": "secret-header-key"})
    post(fake, "/v1/chat/completions", {"model": "m", "messages": []},
         {"Authorization": "Bearer secret-bearer-key"})
    text = json.dumps(fake.log())
    assert "secret" not in text
    assert text.count("<redacted>") == 3
    assert fake.log()[0]["path"] == "/v1beta/models/gm:generateContent?key=<redacted>"


def test_a_hang_ends_when_the_client_goes(fake):
    fake.config(fail=[{"hang": True}])
    req = urllib.request.Request(fake.url + "/v1/chat/completions", data=b"{}",
                                 headers={"Content-Type": "application/json"})
    with pytest.raises(OSError):  # urllib's timeout: the fake answered nothing
        urllib.request.urlopen(req, timeout=0.5)
    # The client closed its socket; the fake notices and frees the thread.
    deadline = time.monotonic() + 10
    while fake.stats()["in_flight"]:
        assert time.monotonic() < deadline, "the hung call outlived its client"
        time.sleep(0.05)


def test_bad_config_is_refused(fake):
    status, _, body = post(fake, "/_fake/config", {"latency": 5})
    assert status == 400 and "unknown" in json.loads(body)["error"]
    status, _, _ = post(fake, "/_fake/config", {"capacity": -1})
    assert status == 400


def test_command_line_settings_and_sigterm(tmp_path):
    script = tmp_path / "script.json"
    script.write_text(json.dumps([{"match": "ping", "reply": "pong"}]))
    fake = FakeLLM("--latency-ms", "50", "--capacity", "3", "--script", str(script))
    try:
        config = fake._call("GET", "/_fake/config")
        assert config["latency_ms"] == 50 and config["capacity"] == 3
        fake.config(latency_ms=0, script=[])
        fake.reset()  # back to the command line's settings, not the defaults
        config = fake._call("GET", "/_fake/config")
        assert config["latency_ms"] == 50 and config["script"] == [
            {"match": "ping", "reply": "pong"}]
        status, _, body = chat(fake, "ping?")
        assert json.loads(body)["choices"][0]["message"]["content"] == "pong"
        assert fake.log()[0]["ended"] - fake.log()[0]["started"] >= 0.05
    finally:
        assert fake.stop() == 0


def test_a_call_that_outlives_a_reset(fake):
    """A call still running at a reset belongs to the old epoch: it is not in the new epoch's
    in_flight or served (tests sharing one fake see only their own calls), but it keeps its
    capacity slot until it ends."""
    fake.config(latency_ms=1500, capacity=1)
    t = threading.Thread(target=lambda: chat(fake), daemon=True)
    t.start()
    deadline = time.monotonic() + 10
    while fake.stats()["in_flight"] < 1:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    fake.reset()
    st = fake.stats()
    assert st["in_flight"] == 0 and st["active"] == 1 and st["served"] == 0
    t.join(10)
    st = fake.stats()
    assert st["in_flight"] == 0 and st["active"] == 0 and st["served"] == 0
