# SPDX-License-Identifier: MIT
"""The `gemini` provider, through Google's google-genai package. The key is
GEMINI_API_KEY (else GOOGLE_API_KEY); CLOVE_GEMINI_BASE_URL points the client
at another server (the tests' fake provider). google-genai is imported on
first use, so a worker without it still starts and serves `openai`."""

from __future__ import annotations

import re
import threading
from typing import Any, Mapping, Optional

from llm_worker.calls import Call
from llm_worker.errors import ProviderError, http_error
from llm_worker.request import Think

DEFAULT_MODEL = "gemini-2.5-flash"


def _enum_text(value: Any) -> Optional[str]:
    if value is None:
        return None
    return str(getattr(value, "value", value))


def _retry_info_ms(details: Any) -> Optional[int]:
    """Gemini says when to retry in a google.rpc.RetryInfo detail ("23s")
    rather than a Retry-After header."""
    err = details.get("error", details) if isinstance(details, dict) else {}
    for d in err.get("details", []) if isinstance(err, dict) else []:
        if isinstance(d, dict) and str(d.get("@type", "")).endswith("RetryInfo"):
            m = re.fullmatch(r"([0-9.]+)s", str(d.get("retryDelay", "")))
            if m:
                return int(float(m.group(1)) * 1000)
    return None


def _map_error(e: Exception) -> ProviderError:
    from google.genai import errors

    if isinstance(e, errors.APIError) and e.code:
        headers = getattr(getattr(e, "response", None), "headers", None) or {}
        err = http_error(int(e.code), e.message or str(e), headers.get("retry-after"))
        if err.code == "EAGAIN" and err.retry_after_ms is None:
            err.retry_after_ms = _retry_info_ms(e.details)
        return err
    # httpx and httpx2 (whichever google-genai uses) name their errors alike.
    names = {cls.__name__ for cls in type(e).__mro__}
    if "TimeoutException" in names or isinstance(e, TimeoutError):
        return ProviderError("ETIMEDOUT", f"Gemini did not answer in time: {e}")
    if "ConnectError" in names or isinstance(e, ConnectionError):
        return ProviderError("ECONNREFUSED", f"cannot reach Gemini: {e}")
    return ProviderError("EPROTO", f"unreadable answer from Gemini: {type(e).__name__}: {e}")


class _Answer:
    """Collects one answer from one or many GenerateContentResponse pieces."""

    def __init__(self, model: str) -> None:
        self.texts: list[str] = []
        self.calls: list[dict[str, Any]] = []
        self.model = model
        self.finish: Optional[str] = None
        self.usage: Any = None

    def add(self, resp: Any, call: Optional[Call]) -> None:
        self.model = resp.model_version or self.model
        self.usage = resp.usage_metadata or self.usage
        for cand in (resp.candidates or [])[:1]:
            self.finish = _enum_text(cand.finish_reason) or self.finish
            for part in (cand.content.parts if cand.content else None) or []:
                if part.thought:
                    continue  # thought summaries are not the answer
                if part.text:
                    self.texts.append(part.text)
                    if call is not None:
                        call.chunk(part.text)
                if part.function_call:
                    fc = part.function_call
                    self.calls.append({"name": fc.name or "", "args": dict(fc.args or {})})
        if not resp.candidates and resp.prompt_feedback and resp.prompt_feedback.block_reason:
            self.finish = _enum_text(resp.prompt_feedback.block_reason)

    def result(self) -> dict[str, Any]:
        u = self.usage
        prompt = (u.prompt_token_count or 0) if u else 0
        completion = ((u.candidates_token_count or 0) + (u.thoughts_token_count or 0)) if u else 0
        total = (u.total_token_count or prompt + completion) if u else 0
        return {"content": "".join(self.texts), "function_calls": self.calls,
                "tokens": {"prompt": prompt, "completion": completion, "total": total},
                "model": self.model, "finish_reason": self.finish or ""}


class Gemini:
    name = "gemini"

    def __init__(self, env: Mapping[str, str]) -> None:
        self.key = env.get("GEMINI_API_KEY") or env.get("GOOGLE_API_KEY") or None
        self.base_url = env.get("CLOVE_GEMINI_BASE_URL") or None
        use = env.get("CLOVE_LLM_PROVIDER", "gemini") == "gemini"
        self.model = (use and env.get("CLOVE_LLM_MODEL")) or DEFAULT_MODEL
        self._client: Any = None
        self._lock = threading.Lock()

    def status(self) -> dict[str, Any]:
        out: dict[str, Any] = {"configured": bool(self.key), "model": self.model}
        if not self.key:
            out["error"] = "GEMINI_API_KEY is not set"
        return out

    def warm_up(self) -> None:
        """Imports google-genai ahead of the first call (it takes a while)."""
        try:
            import google.genai  # noqa: F401
        except ImportError:
            pass

    def _client_and_types(self) -> tuple[Any, Any]:
        try:
            from google import genai
            from google.genai import types
        except ImportError as e:
            raise ProviderError("ENOSYS", f"google-genai is not installed: {e}") from None
        with self._lock:
            if self._client is None:
                # One client (one connection pool) for every call; the timeout
                # is set per request.
                self._client = genai.Client(api_key=self.key, vertexai=False,
                                            http_options=types.HttpOptions(base_url=self.base_url))
            return self._client, types

    def think(self, call: Call, model: str, req: Think, stream: bool,
              timeout_ms: int) -> dict[str, Any]:
        if not self.key:
            raise ProviderError("ENOKEY", "no Gemini API key: set GEMINI_API_KEY")
        client, types = self._client_and_types()
        contents, config = _build(types, req, timeout_ms)
        answer = _Answer(model)
        try:
            if not stream:
                answer.add(client.models.generate_content(
                    model=model, contents=contents, config=config), None)
            else:
                for piece in client.models.generate_content_stream(
                        model=model, contents=contents, config=config):
                    if call.done:
                        break  # leaving the loop closes the response
                    answer.add(piece, call)
        except ProviderError:
            raise
        except Exception as e:
            raise _map_error(e) from None
        return answer.result()


def _build(types: Any, req: Think, timeout_ms: int) -> tuple[list[Any], Any]:
    system = [req.system_instruction] if req.system_instruction else []
    contents = []
    image = None
    if req.image is not None:
        image = types.Part.from_bytes(data=req.image[0], mime_type=req.image[1])
    for i, (role, text) in enumerate(req.turns):
        if role == "system":
            system.append(text)  # Gemini has no system turns
            continue
        parts = [types.Part.from_text(text=text)]
        if image is not None and i == req.image_turn:
            parts.append(image)
        contents.append(types.Content(role="model" if role == "assistant" else "user",
                                      parts=parts))
    if image is not None and req.image_turn < 0:
        contents.append(types.Content(role="user", parts=[image]))

    cfg: dict[str, Any] = {
        "http_options": types.HttpOptions(timeout=timeout_ms),
        # Tools are declarations only: the caller runs them, never this worker.
        "automatic_function_calling": types.AutomaticFunctionCallingConfig(disable=True),
    }
    if system:
        cfg["system_instruction"] = "\n\n".join(system)
    if req.temperature is not None:
        cfg["temperature"] = req.temperature
    if req.max_tokens is not None:
        cfg["max_output_tokens"] = req.max_tokens
    if req.thinking_level is not None:
        cfg["thinking_config"] = types.ThinkingConfig(thinking_level=req.thinking_level.upper())
    if req.tools:
        cfg["tools"] = [types.Tool(function_declarations=[
            types.FunctionDeclaration(name=t["name"], description=t.get("description"),
                                      parameters_json_schema=t.get("parameters"))
            for t in req.tools])]
    return contents, types.GenerateContentConfig(**cfg)
