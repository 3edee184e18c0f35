# SPDX-License-Identifier: MIT
"""A fake LLM provider: a local HTTP server speaking Gemini's generateContent
and streamGenerateContent (alt=sse) and OpenAI's /v1/chat/completions (plain
and streamed), for the tests, the benchmarks and the offline demo. Stdlib only.

Its behaviour is set through /_fake/config (latency, capacity, tokens per
reply, stream chunks, a script of replies and function calls matched on the
prompt, a list of failures consumed one per call) and it keeps a log of every
call and concurrency stats; docs/llm.md is the reference. Token counts are
deterministic so tests can assert them: prompt tokens are the words of all
text the request carries (system instruction and every turn), completion
tokens the words of the reply, which by default is min(tokens_per_reply,
max_tokens) words long.

Run: python fake_llm.py [--port 0] [--latency-ms N] [--capacity N]
[--script FILE.json]; the first stdout line is "listening <port>".
"""

from __future__ import annotations

import argparse
import json
import select
import signal
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Optional

DEFAULTS = {
    "latency_ms": 0,
    "capacity": 16,
    "tokens_per_reply": 16,
    "chunks": 4,
    "chunk_delay_ms": 0,
    "script": [],
    "fail": [],
}
# google-genai 3.x calls v1 by default, older releases and most docs v1beta.
GEMINI_PREFIXES = ("/v1beta/models/", "/v1/models/")
SECRET_HEADERS = {"authorization", "x-goog-api-key", "api-key", "x-api-key"}
HANG_LIMIT_S = 300.0  # a hung call ends anyway, so a lost client never pins a thread


class State:
    """Settings, log and stats shared by the handler threads, under one
    condition variable (capacity waits on it, so a new capacity applies to the
    calls already in line)."""

    def __init__(self, initial: dict[str, Any]) -> None:
        self.initial = initial
        self.cond = threading.Condition()
        self.stopping = threading.Event()
        self.reset()

    def reset(self) -> None:
        with self.cond:
            self.config = json.loads(json.dumps(self.initial))
            self.log: list[dict[str, Any]] = []
            self.served = 0
            self.in_flight = 0
            # Calls still running (a previous test's, say) end in an older
            # epoch: they no longer count in the new one's in_flight and
            # served, but keep holding their capacity slot (active) until
            # they end, so capacity is never exceeded.
            self.epoch = getattr(self, "epoch", 0) + 1
            self.active = getattr(self, "active", 0)
            self.max_concurrency = self.active
            self.cond.notify_all()

    def configure(self, changes: dict[str, Any]) -> Optional[str]:
        unknown = set(changes) - set(DEFAULTS)
        if unknown:
            return f"unknown settings: {sorted(unknown)}"
        for k in ("latency_ms", "capacity", "tokens_per_reply", "chunks", "chunk_delay_ms"):
            if k in changes and (not isinstance(changes[k], int) or changes[k] < 0):
                return f"{k} must be an integer >= 0"
        for k in ("script", "fail"):
            if k in changes and not isinstance(changes[k], list):
                return f"{k} must be a list"
        with self.cond:
            self.config.update(changes)
            self.cond.notify_all()
        return None

    def begin(self, entry: dict[str, Any]) -> tuple[dict[str, Any], Optional[dict]]:
        """Logs a call and takes the next failure; returns a snapshot of the
        settings for this call and the failure (or None)."""
        with self.cond:
            entry["epoch"] = self.epoch
            self.log.append(entry)
            self.in_flight += 1
            fail = self.config["fail"].pop(0) if self.config["fail"] else None
            return dict(self.config), fail

    def acquire(self) -> bool:
        with self.cond:
            while self.active >= max(self.config["capacity"], 1):
                if self.stopping.is_set():
                    return False
                self.cond.wait(0.2)
            self.active += 1
            self.max_concurrency = max(self.max_concurrency, self.active)
            return True

    def release(self) -> None:
        with self.cond:
            self.active -= 1
            self.cond.notify_all()

    def end(self, entry: dict[str, Any], status: int) -> None:
        with self.cond:
            entry["ended"] = time.time()
            entry["status"] = status
            if entry["epoch"] == self.epoch:
                self.in_flight -= 1
                self.served += 1

    def stats(self) -> dict[str, Any]:
        with self.cond:
            return {"served": self.served, "in_flight": self.in_flight,
                    "active": self.active, "max_concurrency": self.max_concurrency}


def words(text: str) -> list[str]:
    return text.split()


def plan_reply(cfg: dict[str, Any], prompt: str, max_tokens: Optional[int]) -> dict[str, Any]:
    """What to answer: the first script entry whose `match` is in the
    prompt, else the default text. Returns {text|call, tokens, truncated}."""
    limit = max_tokens if isinstance(max_tokens, int) and max_tokens > 0 else None
    for entry in cfg["script"]:
        if entry.get("match", "") in prompt:
            if "call" in entry:
                call = entry["call"]
                n = len(words(call["name"] + " " + json.dumps(call.get("args", {}))))
                return {"call": call, "tokens": n, "truncated": False}
            w = words(str(entry.get("reply", "")))
            truncated = limit is not None and len(w) > limit
            w = w[:limit] if truncated else w
            return {"text": " ".join(w), "tokens": len(w), "truncated": truncated}
    n = cfg["tokens_per_reply"]
    truncated = limit is not None and limit < n
    n = min(n, limit) if limit is not None else n
    w = (["fake", "reply:"] + words(prompt)[:6])[:n]
    w += [f"t{i}" for i in range(len(w), n)]
    return {"text": " ".join(w), "tokens": n, "truncated": truncated}


def split_chunks(text: str, n: int) -> list[str]:
    """Splits text into about n pieces on word boundaries that join back to
    exactly the text (each piece but the first starts with its space)."""
    w = text.split(" ")
    n = max(1, min(n, len(w)))
    size = -(-len(w) // n)
    parts = [" ".join(w[i:i + size]) for i in range(0, len(w), size)]
    return [p if i == 0 else " " + p for i, p in enumerate(parts)]


# --- Gemini ----------------------------------------------------------------

def gemini_texts(body: dict[str, Any]) -> tuple[str, str]:
    """(prompt text: all turns, system instruction text)."""
    def parts_text(content: Any) -> str:
        parts = content.get("parts", []) if isinstance(content, dict) else []
        return "\n".join(p["text"] for p in parts if isinstance(p, dict) and "text" in p)
    turns = [parts_text(c) for c in body.get("contents", [])]
    system = body.get("systemInstruction") or body.get("system_instruction")
    return "\n".join(turns), parts_text(system) if system else ""


def gemini_answer(model: str, plan: dict, prompt_tokens: int, parts: list,
                  final: bool) -> dict[str, Any]:
    cand: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
    out: dict[str, Any] = {"candidates": [cand], "modelVersion": model,
                           "responseId": "fake"}
    if final:
        cand["finishReason"] = "MAX_TOKENS" if plan["truncated"] else "STOP"
        out["usageMetadata"] = {"promptTokenCount": prompt_tokens,
                                "candidatesTokenCount": plan["tokens"],
                                "totalTokenCount": prompt_tokens + plan["tokens"]}
    return out


def gemini_reply(h: "Handler", cfg: dict, body: dict, model: str, stream: bool) -> int:
    prompt, system = gemini_texts(body)
    gen = body.get("generationConfig") or {}
    plan = plan_reply(cfg, prompt, gen.get("maxOutputTokens"))
    ptok = len(words(prompt)) + len(words(system))
    if "call" in plan:
        call = plan["call"]
        pieces = [[{"functionCall": {"name": call["name"], "args": call.get("args", {})}}]]
    else:
        pieces = [[{"text": t}] for t in split_chunks(plan["text"], cfg["chunks"] if stream else 1)]
    if not stream:
        return h.send_json(200, gemini_answer(model, plan, ptok, pieces[0], True))
    h.start_sse()
    for i, parts in enumerate(pieces):
        if i:
            time.sleep(cfg["chunk_delay_ms"] / 1000)
        last = i == len(pieces) - 1
        h.send_event(json.dumps(gemini_answer(model, plan, ptok, parts, last)))
    return 200


# --- OpenAI ----------------------------------------------------------------

def openai_texts(body: dict[str, Any]) -> tuple[str, str]:
    """(prompt text: all non-system turns, system text)."""
    def text(content: Any) -> str:
        if isinstance(content, str):
            return content
        if isinstance(content, list):
            return "\n".join(p.get("text", "") for p in content
                             if isinstance(p, dict) and p.get("type") == "text")
        return ""
    msgs = [m for m in body.get("messages", []) if isinstance(m, dict)]
    prompt = "\n".join(text(m.get("content")) for m in msgs if m.get("role") != "system")
    system = "\n".join(text(m.get("content")) for m in msgs if m.get("role") == "system")
    return prompt, system


def openai_reply(h: "Handler", cfg: dict, body: dict, stream: bool) -> int:
    prompt, system = openai_texts(body)
    model = str(body.get("model", ""))
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    plan = plan_reply(cfg, prompt, max_tokens)
    ptok = len(words(prompt)) + len(words(system))
    usage = {"prompt_tokens": ptok, "completion_tokens": plan["tokens"],
             "total_tokens": ptok + plan["tokens"]}
    finish = "tool_calls" if "call" in plan else ("length" if plan["truncated"] else "stop")
    head = {"id": "chatcmpl-fake", "created": int(time.time()), "model": model}
    if not stream:
        msg: dict[str, Any] = {"role": "assistant", "content": plan.get("text")}
        if "call" in plan:
            msg["tool_calls"] = [{"id": "call_0", "type": "function", "function": {
                "name": plan["call"]["name"],
                "arguments": json.dumps(plan["call"].get("args", {}))}}]
        return h.send_json(200, {**head, "object": "chat.completion", "usage": usage,
                                 "choices": [{"index": 0, "message": msg,
                                              "finish_reason": finish}]})
    if "call" in plan:
        args = json.dumps(plan["call"].get("args", {}))
        half = len(args) // 2
        # Arguments arrive in pieces, as real servers send them.
        deltas = [{"role": "assistant", "tool_calls": [{"index": 0, "id": "call_0",
                   "type": "function", "function": {"name": plan["call"]["name"],
                                                    "arguments": args[:half]}}]},
                  {"tool_calls": [{"index": 0, "function": {"arguments": args[half:]}}]}]
    else:
        deltas = [{"content": t} for t in split_chunks(plan["text"], cfg["chunks"])]
        deltas[0]["role"] = "assistant"
    h.start_sse()
    for i, delta in enumerate(deltas):
        if i:
            time.sleep(cfg["chunk_delay_ms"] / 1000)
        h.send_event(json.dumps({**head, "object": "chat.completion.chunk", "choices": [
            {"index": 0, "delta": delta, "finish_reason": None}]}))
    h.send_event(json.dumps({**head, "object": "chat.completion.chunk", "choices": [
        {"index": 0, "delta": {}, "finish_reason": finish}]}))
    if (body.get("stream_options") or {}).get("include_usage"):
        h.send_event(json.dumps({**head, "object": "chat.completion.chunk",
                                 "choices": [], "usage": usage}))
    h.send_event("[DONE]")
    return 200


# --- HTTP ------------------------------------------------------------------

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: "FakeServer"

    def log_message(self, fmt: str, *args: Any) -> None:
        pass  # the call log is the record; stderr stays quiet for the tests

    def send_json(self, status: int, obj: Any, headers: Optional[dict] = None) -> int:
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)
        return status

    def start_sse(self) -> None:
        # No length and no chunked coding: the stream ends when the connection does.
        self.close_connection = True
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()

    def send_event(self, data: str) -> None:
        self.wfile.write(f"data: {data}\r\n\r\n".encode())
        self.wfile.flush()

    def do_GET(self) -> None:
        state = self.server.state
        path = urllib.parse.urlsplit(self.path).path
        if path == "/_fake/log":
            with state.cond:
                self.send_json(200, json.loads(json.dumps(state.log)))
        elif path == "/_fake/stats":
            self.send_json(200, state.stats())
        elif path == "/_fake/config":
            with state.cond:
                self.send_json(200, state.config)
        else:
            self.send_json(404, {"error": {"code": 404, "message": "no such endpoint"}})

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = None
        path = urllib.parse.urlsplit(self.path).path
        if path.startswith("/_fake/"):
            self.control(path, body)
        elif path == "/v1/chat/completions" or path.startswith(GEMINI_PREFIXES):
            self.api_call(path, body, raw)
        else:
            self.send_json(404, {"error": {"code": 404, "message": "no such endpoint"}})

    def control(self, path: str, body: Any) -> None:
        state = self.server.state
        if path == "/_fake/reset":
            state.reset()
            self.send_json(200, {"ok": True})
        elif path == "/_fake/config":
            err = "body must be a JSON object" if not isinstance(body, dict) else \
                state.configure(body)
            self.send_json(400 if err else 200, {"error": err} if err else {"ok": True})
        else:
            self.send_json(404, {"error": "no such control endpoint"})

    def redacted_headers(self) -> dict[str, str]:
        return {k: ("<redacted>" if k.lower() in SECRET_HEADERS else v)
                for k, v in self.headers.items()}

    def api_call(self, path: str, body: Any, raw: bytes) -> None:
        state = self.server.state
        split = urllib.parse.urlsplit(self.path)
        query = ["key=<redacted>" if q.startswith("key=") else q
                 for q in split.query.split("&") if q]
        shown = split.path + ("?" + "&".join(query) if query else "")
        entry = {"path": shown, "method": "POST", "headers": self.redacted_headers(),
                 "body": body if body is not None else raw.decode(errors="replace"),
                 "started": time.time(), "ended": None, "status": None}
        cfg, fail = state.begin(entry)
        status = 599  # the client went away before an answer
        try:
            status = self.answer(path, body, cfg, fail)
        except (BrokenPipeError, ConnectionResetError):
            pass
        finally:
            state.end(entry, status)

    def answer(self, path: str, body: Any, cfg: dict, fail: Optional[dict]) -> int:
        state = self.server.state
        if fail is not None:
            return self.fail(fail)
        if not isinstance(body, dict):
            return self.send_json(400, {"error": {"code": 400, "message": "body is not JSON",
                                                  "status": "INVALID_ARGUMENT"}})
        if not state.acquire():
            return self.send_json(503, {"error": {"code": 503, "message": "shutting down"}})
        try:
            time.sleep(cfg["latency_ms"] / 1000)
            if path == "/v1/chat/completions":
                return openai_reply(self, cfg, body, bool(body.get("stream")))
            model, _, method = path.split("/models/", 1)[1].partition(":")
            if method not in ("generateContent", "streamGenerateContent"):
                return self.send_json(404, {"error": {"code": 404, "message": "no method"}})
            return gemini_reply(self, cfg, body, model, method == "streamGenerateContent")
        finally:
            state.release()

    def fail(self, fail: dict) -> int:
        if fail.get("hang"):
            self.hang()
            self.close_connection = True
            return 599
        if fail.get("garbage"):
            data = b"this is not JSON"
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return 200
        status = int(fail.get("status", 500))
        headers = {}
        if "retry_after" in fail:
            headers["Retry-After"] = str(fail["retry_after"])
        names = {429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}
        return self.send_json(status, {"error": {
            "code": status, "message": fail.get("message", f"fake failure {status}"),
            "status": names.get(status, "INVALID_ARGUMENT")}}, headers)

    def hang(self) -> None:
        """Answers nothing until the client closes its end (or the server stops)."""
        deadline = time.monotonic() + HANG_LIMIT_S
        sock = self.connection
        while time.monotonic() < deadline and not self.server.state.stopping.is_set():
            readable, _, _ = select.select([sock], [], [], 0.1)
            if readable:
                try:
                    if not sock.recv(1, 0x2):  # MSG_PEEK: b"" is the client's EOF
                        return
                except OSError:
                    return
                time.sleep(0.1)  # bytes of a next request: keep hanging, do not spin


class FakeServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr: tuple[str, int], state: State) -> None:
        super().__init__(addr, Handler)
        self.state = state


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(description="fake Gemini/OpenAI provider")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--latency-ms", type=int, default=DEFAULTS["latency_ms"])
    ap.add_argument("--capacity", type=int, default=DEFAULTS["capacity"])
    ap.add_argument("--tokens-per-reply", type=int, default=DEFAULTS["tokens_per_reply"])
    ap.add_argument("--chunks", type=int, default=DEFAULTS["chunks"])
    ap.add_argument("--script", help="JSON file: a list of {match, reply|call}")
    args = ap.parse_args(argv)

    initial = dict(DEFAULTS, latency_ms=args.latency_ms, capacity=args.capacity,
                   tokens_per_reply=args.tokens_per_reply, chunks=args.chunks)
    if args.script:
        with open(args.script, encoding="utf-8") as f:
            initial["script"] = json.load(f)
    state = State(initial)
    server = FakeServer((args.host, args.port), state)

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1})
    thread.start()
    print(f"listening {server.server_address[1]}", flush=True)
    while not stop.wait(0.5):
        pass
    state.stopping.set()
    server.shutdown()
    server.server_close()
    thread.join()
    return 0


if __name__ == "__main__":
    sys.exit(main())
