# SPDX-License-Identifier: MIT
"""THINK end to end: a real cloved, its real llm_worker processes and the fake provider
(tests/fakes/fake_llm.py), for both providers. What the fake's log shows is what the provider
received: every THINK field, images, tools; replies with function calls; streaming over the socket
and the shared-memory rings; quotas (EDQUOT, never reaching the provider); the request-rate
limit; retries on 429 honouring Retry-After; a provider that is down; a worker killed mid-call;
an agent killed mid-call; async THINK; a kernel that keeps answering while calls are slow; and
fairness between a heavy agent and light ones."""

import base64
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

import wire
from clove_harness import spawn_agent, wait_report, wait_until
from think_util import FakeLLM, llm_kernel_args

OP_LLM_REPORT = 0xF0
PROVIDERS = ["gemini", "openai"]


@pytest.fixture(scope="module")
def fake():
    f = FakeLLM().start()
    yield f
    f.stop()


@pytest.fixture
def llm_kernel(make_kernel, fake, tmp_path):
    """make(provider="gemini", extra_args=(), **llm_settings) -> a kernel whose workers call the
    fake, which is reset first."""
    fake.reset()

    def make(provider="gemini", extra_args=(), env=None, **settings):
        args, kenv = llm_kernel_args(tmp_path / ("cfg-%d" % len(make_kernel.kernels)), fake,
                                     provider=provider, **settings)
        kenv.update(env or {})
        return make_kernel(args + list(extra_args), env=kenv)
    return make


def think(sock, obj):
    return wire.call_json(sock, wire.OP_THINK, obj)[1]


def hello_llm(k):
    return k.request(wire.OP_HELLO, {})["kernel"]["llm"]


def bodies(fake):
    return [e["body"] for e in fake.log()]


# ---------------------------------------------------------------------------------------------
# fields


@pytest.mark.parametrize("provider", PROVIDERS)
def test_every_field_reaches_the_provider(llm_kernel, fake, provider):
    k = llm_kernel(provider)
    r = think(k.op, {
        "messages": [{"role": "user", "content": "first question"},
                     {"role": "assistant", "content": "first answer"}],
        "prompt": "second question", "system_instruction": "answer tersely",
        "temperature": 0.25, "max_tokens": 40, "model": "fake-model-7",
        "thinking_level": "low"})
    assert r["success"] is True, r
    assert r["content"].startswith("fake reply:"), r
    t = r["tokens"]
    assert t["total"] == t["prompt"] + t["completion"] and t["completion"] > 0
    assert r["model"] == "fake-model-7" and r["provider"] == provider
    assert r["function_calls"] == [] and r["finish_reason"] in ("STOP", "stop")
    assert r["latency_ms"] >= r["provider_ms"] >= 0

    log = fake.log()
    assert len(log) == 1
    entry, body = log[0], log[0]["body"]
    text = json.dumps(body)
    for needle in ("first question", "first answer", "second question", "answer tersely"):
        assert needle in text, (needle, body)
    # The key goes in a header and is never logged.
    assert "dummy-" not in json.dumps(entry)
    if provider == "gemini":
        assert "/models/fake-model-7:generateContent" in entry["path"]
        cfg = body["generationConfig"]
        assert cfg["temperature"] == 0.25 and cfg["maxOutputTokens"] == 40
        assert "low" in json.dumps(cfg.get("thinkingConfig")).lower(), cfg
        assert [c["role"] for c in body["contents"]] == ["user", "model", "user"]
        assert "answer tersely" in json.dumps(body["systemInstruction"])
    else:
        assert entry["path"] == "/v1/chat/completions"
        assert body["model"] == "fake-model-7"
        assert body["temperature"] == 0.25 and body["max_tokens"] == 40
        assert body["reasoning_effort"] == "low"
        assert [m["role"] for m in body["messages"]] == ["system", "user", "assistant", "user"]
        assert body["messages"][0]["content"] == "answer tersely"


@pytest.mark.parametrize("provider", PROVIDERS)
def test_image_reaches_the_provider(llm_kernel, fake, provider):
    k = llm_kernel(provider)
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(64))
    data = base64.b64encode(png).decode()
    r = think(k.op, {"prompt": "what is this?", "image": {"data": data, "mime_type": "image/png"}})
    assert r["success"] is True, r
    body = bodies(fake)[-1]
    if provider == "gemini":
        parts = body["contents"][-1]["parts"]
        inline = [p["inlineData"] for p in parts if "inlineData" in p]
        assert len(inline) == 1, body
        # google-genai sends the bytes base64url-encoded.
        assert base64.urlsafe_b64decode(inline[0]["data"]) == png
        assert inline[0].get("mimeType", inline[0].get("mime_type")) == "image/png"
    else:
        assert "data:image/png;base64," + data in json.dumps(body), body


@pytest.mark.parametrize("provider", PROVIDERS)
def test_tools_reach_the_provider_and_function_calls_come_back(llm_kernel, fake, provider):
    k = llm_kernel(provider)
    fake.config(script=[{"match": "weather", "call": {"name": "get_weather",
                                                      "args": {"city": "Paris"}}}])
    tool = {"name": "get_weather", "description": "Weather of a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                           "required": ["city"]}}
    r = think(k.op, {"prompt": "what is the weather in Paris?", "tools": [tool]})
    assert r["success"] is True, r
    assert r["function_calls"] == [{"name": "get_weather", "args": {"city": "Paris"}}], r
    text = json.dumps(bodies(fake)[-1])
    assert "get_weather" in text and "Weather of a city" in text and '"city"' in text


# ---------------------------------------------------------------------------------------------
# streaming


def read_stream(sock):
    """The replies of one streaming request: (partials, final)."""
    partials = []
    while True:
        hdr, reply = wire.read_frame(sock)
        assert hdr.opcode == wire.OP_THINK
        reply = json.loads(reply)
        if not reply.get("partial"):
            return partials, reply
        assert reply["success"] is True and set(reply) == {"success", "partial", "delta"}
        partials.append(reply["delta"])


@pytest.mark.parametrize("provider", PROVIDERS)
def test_stream_on_the_socket(llm_kernel, fake, provider):
    k = llm_kernel(provider)
    fake.config(chunks=4, chunk_delay_ms=50)
    s = k.connect()
    wire.send_frame(s, wire.OP_THINK, {"prompt": "tell me a story", "stream": True})
    partials, final = read_stream(s)
    assert final["success"] is True, final
    assert len(partials) >= 2, partials
    assert "".join(partials) == final["content"]
    entry = fake.log()[-1]
    if provider == "gemini":
        assert ":streamGenerateContent" in entry["path"], entry
    else:
        assert entry["body"]["stream"] is True, entry


def test_stream_keeps_the_reply_order(llm_kernel, fake):
    """A streaming request behind a slow one on the same connection: it finishes first, but its
    partials wait (coalesced) for the slow request's reply, then come before its own final one."""
    k = llm_kernel("openai")
    s = k.connect()
    fake.config(latency_ms=4000)
    wire.send_frame(s, wire.OP_THINK, {"prompt": "slow one"})
    wait_until(lambda: fake.stats()["in_flight"] >= 1, 30, 0.05, "the slow call")
    fake.config(latency_ms=0, chunks=4, chunk_delay_ms=10)
    wire.send_frame(s, wire.OP_THINK, {"prompt": "streamed one", "stream": True})

    def streamed_done():
        return [e for e in fake.log() if "streamed one" in json.dumps(e["body"]) and e["ended"]]
    wait_until(streamed_done, 30, 0.05, "the streamed call")
    slow = [e for e in fake.log() if "slow one" in json.dumps(e["body"])][0]
    assert slow["ended"] is None, "the slow call ended first: nothing was held"
    hdr, first = wire.read_frame(s)
    first = json.loads(first)
    assert "partial" not in first and "slow one" in first["content"], first
    partials, final = read_stream(s)
    assert final["success"] and "streamed one" in final["content"]
    # Held while the slow one ran: they come coalesced, whole.
    assert partials == [final["content"]], partials


SDK_STREAM = r"""
import json, sys
from clove_sdk import CloveClient, ThinkStream
out = {}
for fast in (False, True):
    with CloveClient(sys.argv[1], timeout=60, fast_path=fast) as c:
        c.hello()
        stream = c.think_stream("stream over the rings" if fast else "stream on the socket",
                                max_tokens=30)
        assert isinstance(stream, ThinkStream)
        deltas = list(stream)
        out["fast" if fast else "socket"] = {
            "active": c.fast_path_active, "deltas": deltas, "text": stream.text,
            "content": stream.result.content, "total": stream.result.tokens["total"],
            # The connection is in step afterwards: plain calls work.
            "after": c.think("and now plainly").content, "echo": c.echo("ok")}
print(json.dumps(out))
"""


def sanitizer_env(lib):
    """The environment to load lib (libclove) in a Python process: an ASan build of it needs the
    ASan runtime loaded first."""
    env = dict(os.environ)
    if not lib:
        return env
    ldd = subprocess.run(["ldd", lib], capture_output=True, text=True).stdout
    runtime = [l.split("=>")[1].split()[0] for l in ldd.splitlines()
               if "libasan" in l and "=>" in l]
    if runtime:
        env["LD_PRELOAD"] = runtime[0]
        env["ASAN_OPTIONS"] = "detect_leaks=0"
    return env


def test_stream_after_a_dropped_partial_stops(llm_kernel, fake):
    """A streaming request held behind a slow one passes the 1 MiB it may hold: its partials stop
    for good — those that come once it heads the reply order are dropped too, so what was
    streamed is a prefix of the content, never text with a hole in it."""
    k = llm_kernel("openai")
    s = k.connect()
    fake.config(latency_ms=2500)
    wire.send_frame(s, wire.OP_THINK, {"prompt": "slow one"})
    wait_until(lambda: fake.stats()["in_flight"] >= 1, 30, 0.05, "the slow call")
    # About 2.9 MB in 30 pieces, 100 ms apart: more than 1 MiB before the slow call ends.
    fake.config(latency_ms=0, tokens_per_reply=400000, chunks=30, chunk_delay_ms=100)
    wire.send_frame(s, wire.OP_THINK, {"prompt": "streamed one", "stream": True})
    hdr, first = wire.read_frame(s)
    assert "slow one" in json.loads(first)["content"]
    partials, final = read_stream(s)
    assert final["success"], final
    text = "".join(partials)
    assert 0 < len(text) <= 1 << 20, len(text)
    assert final["content"].startswith(text), "a hole in the stream"


def test_stream_to_a_client_that_does_not_read_is_bounded(llm_kernel, fake):
    """A client that does not read: the kernel's unsent output stops growing at its high mark,
    further text is coalesced (at most 1 MiB) and then partials stop; the final reply still
    carries all of it."""
    k = llm_kernel("openai")
    s = k.connect()
    # About 8 MB in 40 pieces.
    fake.config(tokens_per_reply=1000000, chunks=40, chunk_delay_ms=20)
    wire.send_frame(s, wire.OP_THINK, {"prompt": "a long one", "stream": True})
    wait_until(lambda: [e for e in fake.log() if e["ended"]], 60, 0.1, "the call")
    time.sleep(1)
    partials, final = read_stream(s)
    assert final["success"], final
    text = "".join(partials)
    assert len(final["content"]) > 7000000
    # Unsent output (4 MiB) + held text (1 MiB) + what the socket took: well short of it all.
    assert len(text) < len(final["content"]) - 1000000, (len(text), len(final["content"]))
    assert final["content"].startswith(text)


def test_stream_over_shm_and_sdk(llm_kernel, fake):
    """clove_sdk's think_stream over the socket and over the shared-memory rings (libclove
    through ctypes, in a process of its own so a sanitizer build of libclove can be loaded)."""
    k = llm_kernel("gemini")
    fake.config(chunks=5, chunk_delay_ms=30)
    env = sanitizer_env(os.environ.get("LIBCLOVE"))
    r = subprocess.run([sys.executable, "-c", SDK_STREAM, k.socket], capture_output=True,
                       text=True, timeout=120, env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout.splitlines()[-1])
    for name, got in out.items():
        assert got["active"] is (name == "fast"), got
        assert len(got["deltas"]) >= 2, got
        assert "".join(got["deltas"]) == got["content"] == got["text"], got
        assert got["total"] > 0 and got["after"].startswith("fake reply:"), got
        assert got["echo"] == "ok"


# ---------------------------------------------------------------------------------------------
# quotas


def test_call_quota_is_edquot_and_never_reaches_the_provider(llm_kernel, fake):
    k = llm_kernel("openai", extra_args=[
        "--operator-permissions", '{"level": "unrestricted", "llm": {"max_calls": 2}}'])
    s = k.connect()
    assert think(s, {"prompt": "one"})["success"]
    assert think(s, {"prompt": "two"})["success"]
    r = think(s, {"prompt": "three"})
    assert r["success"] is False and r["code"] == "EDQUOT", r
    assert "max_calls" in r["error"]
    assert len(fake.log()) == 2


def test_token_quota_counts_replies_and_reports(llm_kernel, fake):
    k = llm_kernel("gemini", extra_args=[
        "--operator-permissions", '{"level": "unrestricted", "llm": {"max_tokens": 30}}'])
    fake.config(tokens_per_reply=25)
    s = k.connect()
    r = think(s, {"prompt": "spend some"})
    assert r["success"] and r["tokens"]["total"] >= 25, r
    r = think(s, {"prompt": "spend more"})  # over 30 after this one
    assert r["success"], r
    r = think(s, {"prompt": "no more"})
    assert r["code"] == "EDQUOT" and "max_tokens" in r["error"], r
    assert len(fake.log()) == 2
    # LLM_REPORT counts too: a fresh connection (an operator's usage is per connection).
    s2 = k.connect()
    assert wire.call_json(s2, OP_LLM_REPORT, {"tokens": 30})[1]["success"]
    assert think(s2, {"prompt": "x"})["code"] == "EDQUOT"
    assert len(fake.log()) == 2


def warm_up(k, fake):
    """Workers ready (they start on the first THINK; the operator connection's usage is its
    own), and the fake's log empty."""
    assert think(k.op, {"prompt": "warm up"})["success"]
    wait_until(lambda: hello_llm(k)["workers"]["ready"] == 2, 30, 0.05, "both workers")
    fake.reset()


def test_calls_that_time_out_count_towards_the_call_quota(llm_kernel, fake):
    """A call stopped at its worker (here: its timeout) counts as a call: giving up early is no
    way round llm.max_calls."""
    k = llm_kernel("openai", extra_args=[
        "--operator-permissions", '{"level": "unrestricted", "llm": {"max_calls": 2}}'])
    warm_up(k, fake)
    fake.config(latency_ms=5000)
    s = k.connect()
    assert think(s, {"prompt": "one", "timeout": 0.5})["code"] == "ETIMEDOUT"
    assert think(s, {"prompt": "two", "timeout": 0.5})["code"] == "ETIMEDOUT"
    wait_until(lambda: len(fake.log()) == 2, 10, 0.05, "two calls at the provider")
    r = think(s, {"prompt": "three", "timeout": 0.5})
    assert r["success"] is False and r["code"] == "EDQUOT", r
    assert "max_calls" in r["error"]
    assert len(fake.log()) == 2
    assert hello_llm(k)["calls"] == 3


def test_streamed_text_of_a_timed_out_call_counts_as_tokens(llm_kernel, fake):
    """The text a stopped call streamed is charged (bytes / 4): a long stream cut by a short
    timeout is no way round llm.max_tokens."""
    k = llm_kernel("openai", extra_args=[
        "--operator-permissions", '{"level": "unrestricted", "llm": {"max_tokens": 30}}'])
    warm_up(k, fake)
    fake.config(tokens_per_reply=400, chunks=20, chunk_delay_ms=100)
    s = k.connect()
    wire.send_frame(s, wire.OP_THINK, {"prompt": "x", "stream": True, "max_tokens": 100000,
                                       "timeout": 1})
    partials, final = read_stream(s)
    assert final["code"] == "ETIMEDOUT", final
    assert len("".join(partials)) >= 200, partials
    usage = hello_llm(k)
    assert usage["calls"] == 2 and usage["completion_tokens"] >= 50, usage
    r = think(s, {"prompt": "more"})
    assert r["code"] == "EDQUOT" and "max_tokens" in r["error"], r


AGENT_THINKS = """
out = []
for i in range(int(sys.argv[2])):
    r = call_json(SOCK, OP_THINK, {"prompt": "agent call %d" % i})[1]
    out.append(r.get("code") if not r.get("success") else "ok")
report(results=out)
sleep_forever()
"""


def test_agent_quota_and_usage_in_list_and_cli(llm_kernel, fake, agent_script):
    k = llm_kernel("openai")
    fake.config(tokens_per_reply=10)
    r = spawn_agent(k, agent_script, "import sys\n" + AGENT_THINKS, "thinker", args=["3"],
                    permissions={"level": "standard", "llm": {"max_calls": 2}})
    rep = wait_report(r["log_path"], timeout=60)[0]
    assert rep["results"] == ["ok", "ok", "EDQUOT"]
    llm = k.agent("thinker")["llm"]
    assert llm["calls"] == 2 and llm["errors"] == 1
    assert llm["completion_tokens"] == 20 and llm["total_tokens"] == llm["prompt_tokens"] + 20
    assert llm["queued"] == 0 and llm["in_flight"] == 0
    cli = os.environ.get("CLOVE_CLI")
    if cli:
        out = subprocess.run([cli, "--socket", k.socket, "ps"], capture_output=True,
                             text=True, timeout=30).stdout
        line = [l for l in out.splitlines() if " thinker " in l][0]
        assert " 2 " in line and " %d " % llm["total_tokens"] in line, out
        status = subprocess.run([cli, "--socket", k.socket, "status"], capture_output=True,
                                text=True, timeout=30).stdout
        assert "llm usage    2 calls" in status, status
    k.request(wire.OP_KILL, {"name": "thinker", "grace": 0})


# ---------------------------------------------------------------------------------------------
# limits, retries, failures


def test_request_rate_limit_spreads_calls(llm_kernel, fake):
    k = llm_kernel("openai", rpm=60)  # one a second, a burst of one
    s = k.connect()
    for i in range(4):
        assert think(s, {"prompt": "rate %d" % i, "async": True})["status"] == "accepted"
    wait_until(lambda: len([e for e in fake.log() if e["ended"]]) == 4, 40, 0.1, "4 calls")
    starts = sorted(e["started"] for e in fake.log())
    gaps = [b - a for a, b in zip(starts, starts[1:])]
    assert all(g >= 0.85 for g in gaps), gaps
    results = wire.call_json(s, wire.OP_ASYNC_POLL, {"max": 10})[1]["results"]
    assert len(results) == 4
    assert all(json.loads(x["payload"])["success"] for x in results)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_retry_after_429_honours_retry_after(llm_kernel, fake, provider):
    k = llm_kernel(provider)
    fake.config(fail=[{"status": 429, "retry_after": 1}])
    r = think(k.op, {"prompt": "rate limited once"})
    assert r["success"] is True and r["retries"] == 1, r
    log = fake.log()
    assert [e["status"] for e in log] == [429, 200]
    assert log[1]["started"] - log[0]["ended"] >= 0.95, log


def test_retries_end_with_the_providers_error(llm_kernel, fake):
    k = llm_kernel("openai")
    fake.config(fail=[{"status": 500}] * 4)
    t0 = time.monotonic()
    r = think(k.op, {"prompt": "always failing"})
    assert r["success"] is False and r["code"] == "EIO", r
    assert r["status"] == 500 and r["retries"] == 3 and r["provider"] == "openai", r
    assert [e["status"] for e in fake.log()] == [500] * 4
    # Backoff 0.5 + 1 + 2 s.
    assert time.monotonic() - t0 >= 3.4


def test_provider_down_fails_fast_and_clearly(make_kernel, tmp_path):
    # A port nobody listens on.
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()

    class Down:
        url = "http://127.0.0.1:%d" % port
    args, env = llm_kernel_args(tmp_path / "down", Down(), provider="openai")
    k = make_kernel(args, env=env)
    t0 = time.monotonic()
    r = think(k.op, {"prompt": "anyone there?"})
    assert r["success"] is False and r["code"] == "ECONNREFUSED", r
    assert time.monotonic() - t0 < 15
    assert k.request(wire.OP_HELLO, {})["success"]


def test_timeout_cancels_the_call(llm_kernel, fake):
    k = llm_kernel("openai")
    fake.config(latency_ms=5000)
    t0 = time.monotonic()
    r = think(k.op, {"prompt": "too slow", "timeout": 0.5})
    assert r["code"] == "ETIMEDOUT", r
    assert time.monotonic() - t0 < 3
    assert hello_llm(k)["in_flight"] == 0


def test_worker_killed_mid_call(llm_kernel, fake):
    k = llm_kernel("openai")
    assert think(k.op, {"prompt": "warm up"})["success"]
    pids = hello_llm(k)["workers"]["pids"]
    assert len(pids) == 2
    fake.config(latency_ms=2000)
    s = k.connect()
    wire.send_frame(s, wire.OP_THINK, {"prompt": "interrupted"})
    wait_until(lambda: fake.stats()["in_flight"] >= 1, 30, 0.05, "the call at the provider")
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    # The kernel keeps serving meanwhile.
    assert wire.call(k.connect(), wire.OP_NOOP, b"alive")[1] == b"alive"
    hdr, r = wire.read_frame(s)
    r = json.loads(r)
    # Retried once on a restarted worker, or a clear failure.
    assert r["success"] is True or (r["code"] == "EIO" and "llm worker died" in r["error"]), r
    fake.config(latency_ms=0)
    assert think(k.op, {"prompt": "after the crash"})["success"]
    workers = hello_llm(k)["workers"]
    assert workers["restarts"] >= 2 and not set(workers["pids"]) & set(pids)


AGENT_SLOW_THINK = """
ready()
r = call_json(SOCK, OP_THINK, {"prompt": "agent waits long"})
report(r=r)
"""


STUCK_WORKER = """
import os, struct, time
# ready, then never read stdin again: {"type": "ready", "version": 1} in msgpack.
msg = b"\\x82\\xa4type\\xa5ready\\xa7version\\x01"
os.write(1, struct.pack("<I", len(msg)) + msg)
while True:
    time.sleep(60)
"""


def test_worker_that_stops_reading_is_restarted(llm_kernel, fake, tmp_path):
    """A worker alive after ready but not reading its stdin: past 64 MiB of frames queued for it
    the kernel gives it up (kills it, starts another) instead of queueing without limit."""
    pkg = tmp_path / "stuck" / "llm_worker"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "__main__.py").write_text(STUCK_WORKER)
    k = llm_kernel("openai", env={"PYTHONPATH": str(pkg.parent)}, workers=1, concurrency=1024)
    prompt = "x" * 1000000
    socks = [k.connect() for _ in range(2)]
    for i in range(80):
        wire.send_frame(socks[i % 2], wire.OP_THINK, {"prompt": prompt, "timeout": 120})
    wait_until(lambda: hello_llm(k)["workers"]["restarts"] >= 1, 60, 0.2, "a restart")
    for s in socks:
        s.close()
    assert k.request(wire.OP_HELLO, {})["success"]


def test_agent_killed_mid_call(llm_kernel, fake, agent_script):
    k = llm_kernel("openai")
    fake.config(latency_ms=4000)
    r = spawn_agent(k, agent_script, AGENT_SLOW_THINK, "doomed")
    wait_until(lambda: fake.stats()["in_flight"] >= 1, 40, 0.05, "the agent's call")
    assert k.agent("doomed")["llm"]["in_flight"] == 1
    k.request(wire.OP_KILL, {"name": "doomed", "grace": 0})
    # The slot is free at once, while the provider still works on the call.
    llm = wait_until(lambda: (lambda x: x if x["in_flight"] == 0 else None)(hello_llm(k)), 5,
                     0.05, "the slot to be freed")
    assert llm["queued"] == 0
    assert any("agent waits long" in json.dumps(b) for b in bodies(fake))
    assert k.agent("doomed")["llm"]["in_flight"] == 0
    assert k.request(wire.OP_HELLO, {})["success"]
    fake.config(latency_ms=0)
    assert think(k.op, {"prompt": "next"})["success"]


def test_async_think_and_poll(llm_kernel, fake):
    k = llm_kernel("gemini")
    s = k.connect()
    a = think(s, {"prompt": "async one", "async": True, "request_id": 41, "stream": True})
    assert a == {"success": True, "async": True, "request_id": 41, "status": "accepted"}

    def polled():
        res = wire.call_json(s, wire.OP_ASYNC_POLL, {})[1]["results"]
        return res or None
    res = wait_until(polled, 30, 0.1, "the async result")
    assert res[0]["request_id"] == 41 and res[0]["opcode_name"] == "THINK"
    payload = json.loads(res[0]["payload"])
    assert payload["success"] and "async one" in payload["content"]


def test_the_kernel_answers_while_calls_are_slow(llm_kernel, fake):
    k = llm_kernel("openai", concurrency=4)
    # Workers ready first: their start-up (Python imports) is not what is measured.
    assert think(k.op, {"prompt": "warm up"})["success"]
    fake.config(latency_ms=3000)
    busy = [k.connect() for _ in range(4)]
    for i, s in enumerate(busy):
        wire.send_frame(s, wire.OP_THINK, {"prompt": "slow %d" % i})
    wait_until(lambda: fake.stats()["in_flight"] >= 4, 30, 0.05, "4 calls at the provider")
    other = k.connect()
    worst = 0.0
    for _ in range(20):
        t0 = time.monotonic()
        assert wire.call(other, wire.OP_NOOP, b"ping")[1] == b"ping"
        worst = max(worst, time.monotonic() - t0)
    assert worst < 0.5, worst
    for s in busy:
        assert json.loads(wire.read_frame(s)[1])["success"]


# ---------------------------------------------------------------------------------------------
# fairness


def jain(xs):
    return sum(xs) ** 2 / (len(xs) * sum(x * x for x in xs))


def run_fairness(k, seconds, heavy_depth=10, lights=9):
    """One heavy caller keeping heavy_depth calls outstanding on its connection and `lights`
    callers keeping one each; returns per caller the (arrival time, tokens) of each reply."""
    stop = threading.Event()
    got = {}
    errors = []
    request = {"prompt": "fairness probe words here", "max_tokens": 50}

    def caller(name, depth):
        s = k.connect()
        s.settimeout(60)
        mine = got.setdefault(name, [])
        try:
            for _ in range(depth):
                wire.send_frame(s, wire.OP_THINK, request)
            outstanding = depth
            while outstanding:
                _, r = wire.read_frame(s)
                r = json.loads(r)
                outstanding -= 1
                if not r.get("success"):
                    errors.append(r)
                    return
                mine.append((time.monotonic(), r["tokens"]["total"]))
                if not stop.is_set():
                    wire.send_frame(s, wire.OP_THINK, request)
                    outstanding += 1
        except Exception as e:  # reported by the test
            errors.append(repr(e))

    threads = [threading.Thread(target=caller, args=("heavy", heavy_depth))]
    threads += [threading.Thread(target=caller, args=("light%d" % i, 1)) for i in range(lights)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    time.sleep(seconds)
    t_end = time.monotonic()
    stop.set()
    for t in threads:
        t.join(60)
    assert not errors, errors[:3]
    return t0, t_end, got


@pytest.mark.timeout(180)
def test_fairness_heavy_agent_does_not_crowd_out_light_ones(llm_kernel, fake):
    capacity = 2
    k = llm_kernel("openai", concurrency=capacity, workers=2)
    fake.config(capacity=capacity, latency_ms=150, tokens_per_reply=50)
    t0, t_end, got = run_fairness(k, seconds=12)
    # The window where every caller is backlogged: after the start-up, before the stop.
    lo, hi = t0 + 2.0, t_end
    served = {name: sum(tok for t, tok in replies if lo <= t <= hi)
              for name, replies in got.items()}
    index = jain(list(served.values()))
    print("fairness: Jain %.3f over %.1f s; tokens per caller %s" % (index, hi - lo, served))
    assert min(served.values()) > 0, served
    assert index >= 0.95, served
    assert fake.stats()["max_concurrency"] <= capacity
