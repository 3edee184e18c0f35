# SPDX-License-Identifier: MIT
"""THINK and LLM_REPORT for CloveClient, with the original Clove SDK's names
and keywords: ``think(prompt, image=..., system_instruction=...,
thinking_level=..., temperature=..., max_tokens=..., model=..., tools=...)``
plus ``messages`` for multi-turn chat; ``think_stream`` for output as it
arrives; ``llm_report(tokens)``. A mixin: CloveClient supplies ``_request``,
``_wait_for``, ``_transport``, ``agent_id`` and ``_decode``."""

from __future__ import annotations

import base64
from typing import Any, Iterator, Mapping, Optional, Sequence, Union

from .errors import CloveError
from .protocol import Opcode
from .results import AsyncAccepted, Result, ThinkResult
from .transport import DEFAULT

# The kernel's default THINK timeout (docs/llm.md); the client waits a
# little longer so the kernel's ETIMEDOUT arrives first.
THINK_DEFAULT_TIMEOUT = 120.0

ImageArg = Union[Mapping[str, str], bytes, bytearray, None]


def _image(image: ImageArg, mime_type: str) -> Optional[dict[str, str]]:
    if image is None:
        return None
    if isinstance(image, (bytes, bytearray)):
        return {"data": base64.b64encode(bytes(image)).decode("ascii"),
                "mime_type": mime_type}
    return {"data": image["data"], "mime_type": image.get("mime_type", mime_type)}


def think_payload(prompt: Optional[str], *, image: ImageArg = None,
                  image_mime_type: str = "image/png",
                  system_instruction: Optional[str] = None,
                  thinking_level: Optional[str] = None,
                  temperature: Optional[float] = None,
                  max_tokens: Optional[int] = None, model: Optional[str] = None,
                  tools: Optional[Sequence[Mapping[str, Any]]] = None,
                  messages: Optional[Sequence[Mapping[str, str]]] = None,
                  timeout: Optional[float] = None,
                  request_id: Optional[int] = None,
                  **extra: Any) -> dict[str, Any]:
    """THINK's request object; fields left None are not sent."""
    fields = {
        "prompt": prompt, "image": _image(image, image_mime_type),
        "system_instruction": system_instruction,
        "thinking_level": thinking_level, "temperature": temperature,
        "max_tokens": max_tokens, "model": model,
        "tools": [dict(t) for t in tools] if tools is not None else None,
        "messages": [dict(m) for m in messages] if messages is not None else None,
        "timeout": timeout, "request_id": request_id, **extra,
    }
    return {k: v for k, v in fields.items() if v is not None}


class ThinkStream:
    """The text of a streaming THINK as it arrives: iterate for the deltas
    (str). Once the iteration ends, ``result`` is the final ThinkResult
    (its ``content`` is the whole text); a failed call raises CloveError
    from the iteration. ``text`` is what has arrived so far. Until the
    iteration ends the client's connection is busy with this call; leaving
    the loop early waits for the call to end on the shared-memory path and
    closes the connection on the socket."""

    def __init__(self, replies: Iterator[tuple[bool, Any]]) -> None:
        self._replies = replies
        self.result: Optional[ThinkResult] = None
        self.text = ""

    def __iter__(self) -> "ThinkStream":
        return self

    def __next__(self) -> str:
        for partial, reply in self._replies:
            if partial:
                delta = reply.get("delta", "")
                self.text += delta
                return delta
            self.result = ThinkResult(reply)
            self.text = self.result.content or self.text
        raise StopIteration

    def close(self) -> None:
        """Stops reading (see the class' note on leaving early)."""
        close = getattr(self._replies, "close", None)
        if close is not None:
            close()

    def __enter__(self) -> "ThinkStream":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()


class LlmCalls:
    """THINK, streaming THINK and LLM_REPORT (docs/protocol.md, docs/llm.md)."""

    def _request(self, opcode: int, payload: Mapping[str, Any],
                 timeout: Optional[float] = DEFAULT) -> Any:
        raise NotImplementedError  # supplied by CloveClient

    def _wait_for(self, seconds: float) -> Optional[float]:
        raise NotImplementedError  # supplied by CloveClient

    def _decode(self, opcode: int, body: Union[bytes, bytearray]) -> Any:
        raise NotImplementedError  # supplied by CloveClient

    def think(self, prompt: Optional[str] = None, *, image: ImageArg = None,
              system_instruction: Optional[str] = None,
              thinking_level: Optional[str] = None,
              temperature: Optional[float] = None, max_tokens: Optional[int] = None,
              model: Optional[str] = None,
              tools: Optional[Sequence[Mapping[str, Any]]] = None,
              messages: Optional[Sequence[Mapping[str, str]]] = None,
              timeout: Optional[float] = None, async_: bool = False,
              request_id: Optional[int] = None,
              **kwargs: Any) -> Union[ThinkResult, AsyncAccepted]:
        """THINK: one LLM call, scheduled fairly by the kernel. ``image`` is
        ``{"data": base64, "mime_type": ...}`` or raw bytes (with
        ``image_mime_type``, default image/png); ``tools`` are
        ``{name, description, parameters}`` (a JSON schema); ``messages``
        are ``{role: user|assistant|system, content}`` turns. Returns a
        ThinkResult (``content``, ``tokens``, ``function_calls``, ...);
        ``async_=True`` returns AsyncAccepted (collect with ``poll_async``).
        A refusal (EDQUOT, ETIMEDOUT, a provider error) raises CloveError."""
        async_ = bool(kwargs.pop("async", async_))
        payload = think_payload(prompt, image=image,
                                system_instruction=system_instruction,
                                thinking_level=thinking_level,
                                temperature=temperature, max_tokens=max_tokens,
                                model=model, tools=tools, messages=messages,
                                timeout=timeout, request_id=request_id, **kwargs)
        if async_:
            payload["async"] = True
        wait = DEFAULT if async_ else self._wait_for(
            timeout if timeout is not None else THINK_DEFAULT_TIMEOUT)
        reply = self._request(Opcode.THINK, payload, wait)
        if reply.get("async"):
            return AsyncAccepted(reply)
        return ThinkResult(reply)

    def think_stream(self, prompt: Optional[str] = None, *, image: ImageArg = None,
                     system_instruction: Optional[str] = None,
                     thinking_level: Optional[str] = None,
                     temperature: Optional[float] = None,
                     max_tokens: Optional[int] = None, model: Optional[str] = None,
                     tools: Optional[Sequence[Mapping[str, Any]]] = None,
                     messages: Optional[Sequence[Mapping[str, str]]] = None,
                     timeout: Optional[float] = None, **kwargs: Any) -> ThinkStream:
        """THINK with ``stream: true``: a ThinkStream to iterate for the text
        deltas as the provider produces them; its ``result`` is the final
        ThinkResult once the iteration ends. Same keywords as ``think``."""
        payload = think_payload(prompt, image=image,
                                system_instruction=system_instruction,
                                thinking_level=thinking_level,
                                temperature=temperature, max_tokens=max_tokens,
                                model=model, tools=tools, messages=messages,
                                timeout=timeout, **kwargs)
        payload["stream"] = True
        wait = self._wait_for(timeout if timeout is not None else THINK_DEFAULT_TIMEOUT)
        return ThinkStream(self._stream(Opcode.THINK, payload, wait))

    def _stream(self, opcode: int, payload: Mapping[str, Any],
                wait: Optional[float]) -> Iterator[tuple[bool, Any]]:
        transport = self._transport  # type: ignore[attr-defined]
        for partial, header, body in transport.stream(
                self.agent_id, opcode, payload, wait):  # type: ignore[attr-defined]
            self.agent_id = header.agent_id  # type: ignore[attr-defined]
            if header.opcode != opcode:
                raise CloveError(f"reply of opcode 0x{header.opcode:02x} to a "
                                 f"streaming request", "EPROTO")
            yield partial, self._decode(opcode, body)

    def llm_report(self, tokens: int) -> Result:
        """LLM_REPORT: tokens this caller used outside the kernel; they count
        in its usage (and towards its ``llm.max_tokens``)."""
        return Result(self._request(Opcode.LLM_REPORT, {"tokens": int(tokens)}))
