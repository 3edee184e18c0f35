# SPDX-License-Identifier: MIT
"""The `openai` provider: any server speaking OpenAI's /chat/completions
(OpenAI, Ollama, vLLM, llama.cpp's server), through the standard library's
http.client — no SDK, so the worker needs nothing to reach a local model.
OPENAI_BASE_URL (default https://api.openai.com/v1) and OPENAI_API_KEY, which
only api.openai.com requires."""

from __future__ import annotations

import base64
import http.client
import json
import socket
import urllib.parse
from typing import Any, Mapping, Optional

from llm_worker.calls import Call
from llm_worker.errors import ProviderError, http_error
from llm_worker.request import Think

DEFAULT_BASE_URL = "https://api.openai.com/v1"
DEFAULT_MODEL = "gpt-4o-mini"
MAX_ERROR_BODY = 64 * 1024
MAX_LINE = 4 * 1024 * 1024


def build_body(model: str, req: Think, stream: bool, official: bool) -> dict[str, Any]:
    msgs: list[dict[str, Any]] = []
    if req.system_instruction:
        msgs.append({"role": "system", "content": req.system_instruction})
    image = None
    if req.image is not None:
        data, mime = req.image
        url = f"data:{mime};base64,{base64.b64encode(data).decode()}"
        image = {"type": "image_url", "image_url": {"url": url}}
    for i, (role, text) in enumerate(req.turns):
        content: Any = text
        if image is not None and i == req.image_turn:
            content = [{"type": "text", "text": text}, image]
        msgs.append({"role": role, "content": content})
    if image is not None and req.image_turn < 0:
        msgs.append({"role": "user", "content": [image]})
    body: dict[str, Any] = {"model": model, "messages": msgs}
    if req.temperature is not None:
        body["temperature"] = req.temperature
    if req.max_tokens is not None:
        # OpenAI's reasoning models refuse max_tokens; local servers may not
        # know its successor.
        body["max_completion_tokens" if official else "max_tokens"] = req.max_tokens
    if req.thinking_level is not None:
        body["reasoning_effort"] = req.thinking_level
    if req.tools:
        body["tools"] = [{"type": "function", "function": {
            k: v for k, v in (("name", t["name"]), ("description", t.get("description")),
                              ("parameters", t.get("parameters"))) if v is not None}}
            for t in req.tools]
    if stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return body


class _Answer:
    """Collects a completion, whole or from stream chunks."""

    def __init__(self, model: str) -> None:
        self.model = model
        self.texts: list[str] = []
        self.tools: dict[int, dict[str, str]] = {}  # by tool call index
        self.finish: Optional[str] = None
        self.usage: Optional[dict[str, Any]] = None

    def add_choice(self, choice: dict[str, Any], part: dict[str, Any],
                   call: Optional[Call]) -> None:
        text = part.get("content")
        if isinstance(text, str) and text:
            self.texts.append(text)
            if call is not None:
                call.chunk(text)
        for i, tc in enumerate(part.get("tool_calls") or []):
            slot = self.tools.setdefault(tc.get("index", i), {"name": "", "arguments": ""})
            fn = tc.get("function") or {}
            slot["name"] += fn.get("name") or ""
            slot["arguments"] += fn.get("arguments") or ""
        self.finish = choice.get("finish_reason") or self.finish

    def add(self, obj: Any, call: Optional[Call], delta: bool) -> None:
        if not isinstance(obj, dict):
            raise ProviderError("EPROTO", "the provider's answer is not a JSON object")
        if isinstance(obj.get("error"), dict):
            raise ProviderError("EIO", f"the provider failed: {obj['error'].get('message')}")
        self.model = obj.get("model") or self.model
        self.usage = obj.get("usage") or self.usage
        for choice in (obj.get("choices") or [])[:1]:
            part = choice.get("delta" if delta else "message") or {}
            self.add_choice(choice, part, call)

    def result(self) -> dict[str, Any]:
        calls = []
        for _, tc in sorted(self.tools.items()):
            try:
                args: Any = json.loads(tc["arguments"]) if tc["arguments"] else {}
            except ValueError:
                args = tc["arguments"]  # the model wrote bad JSON: hand it over as is
            calls.append({"name": tc["name"], "args": args})
        u = self.usage or {}
        prompt, completion = int(u.get("prompt_tokens") or 0), int(u.get("completion_tokens") or 0)
        return {"content": "".join(self.texts), "function_calls": calls,
                "tokens": {"prompt": prompt, "completion": completion,
                           "total": int(u.get("total_tokens") or prompt + completion)},
                "model": self.model, "finish_reason": self.finish or ""}


def _read_sse(resp: http.client.HTTPResponse, answer: _Answer, call: Call) -> None:
    data: list[bytes] = []
    while not call.done:
        line = resp.readline(MAX_LINE)
        if not line:
            break
        line = line.rstrip(b"\r\n")
        if line.startswith(b"data:"):
            data.append(line[5:].removeprefix(b" "))
            continue
        if line or not data:
            continue  # comments, other fields, blank lines between events
        event, data = b"\n".join(data), []
        if event == b"[DONE]":
            return
        answer.add(json.loads(event), call, delta=True)
    if not call.done and answer.finish is None:
        raise ProviderError("EPROTO", "the provider's stream ended before the answer did")


class OpenAI:
    name = "openai"

    def __init__(self, env: Mapping[str, str]) -> None:
        self.base_url = (env.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")
        self.key = env.get("OPENAI_API_KEY") or None
        self.url = urllib.parse.urlsplit(self.base_url)
        self.official = self.url.hostname == "api.openai.com"
        use = env.get("CLOVE_LLM_PROVIDER") == "openai"
        self.model = (use and env.get("CLOVE_LLM_MODEL")) or DEFAULT_MODEL

    def status(self) -> dict[str, Any]:
        out: dict[str, Any] = {"configured": True, "model": self.model}
        if self.url.scheme not in ("http", "https") or not self.url.hostname:
            out.update(configured=False, error=f"OPENAI_BASE_URL is not an http(s) URL")
        elif self.official and not self.key:
            out.update(configured=False, error="OPENAI_API_KEY is not set")
        return out

    def _connect(self, timeout_s: float) -> http.client.HTTPConnection:
        if self.url.scheme not in ("http", "https") or not self.url.hostname:
            raise ProviderError("EINVAL", f"OPENAI_BASE_URL {self.base_url!r} is not an http(s) URL")
        cls = http.client.HTTPSConnection if self.url.scheme == "https" else http.client.HTTPConnection
        conn = cls(self.url.hostname, self.url.port, timeout=timeout_s)
        try:
            conn.connect()
        except (socket.timeout, TimeoutError):
            raise ProviderError("ETIMEDOUT", f"no connection to {self.base_url} in time") from None
        except OSError as e:  # refused, unreachable, unknown host
            raise ProviderError("ECONNREFUSED", f"cannot reach {self.base_url}: {e}") from None
        return conn

    def think(self, call: Call, model: str, req: Think, stream: bool,
              timeout_ms: int) -> dict[str, Any]:
        if self.official and not self.key:
            raise ProviderError("ENOKEY", "no OpenAI API key: set OPENAI_API_KEY")
        payload = json.dumps(build_body(model, req, stream, self.official)).encode()
        headers = {"Content-Type": "application/json", "User-Agent": "clove-llm-worker/1",
                   "Accept": "text/event-stream" if stream else "application/json"}
        if self.key:
            headers["Authorization"] = f"Bearer {self.key}"
        conn = self._connect(timeout_ms / 1000)
        # A shut-down socket wakes the thread blocked reading it: a cheap abort.
        call.set_abort(lambda: conn.sock and conn.sock.shutdown(socket.SHUT_RDWR))
        try:
            conn.request("POST", self.url.path + "/chat/completions", payload, headers)
            resp = conn.getresponse()
            if resp.status != 200:
                raise http_error(resp.status, _error_text(resp.read(MAX_ERROR_BODY)),
                                 resp.getheader("Retry-After"))
            answer = _Answer(model)
            if stream:
                _read_sse(resp, answer, call)
            else:
                answer.add(json.loads(resp.read()), None, delta=False)
            return answer.result()
        except (socket.timeout, TimeoutError):
            raise ProviderError("ETIMEDOUT", f"{self.base_url} did not answer in time") from None
        except (http.client.HTTPException, OSError, ValueError) as e:
            raise ProviderError("EPROTO", f"unreadable answer from {self.base_url}: "
                                f"{type(e).__name__}: {e}") from None
        finally:
            call.set_abort(None)
            conn.close()


def _error_text(body: bytes) -> str:
    try:
        err = json.loads(body).get("error")
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])
        if isinstance(err, str):
            return err
    except (ValueError, AttributeError):
        pass
    return body[:300].decode(errors="replace")
