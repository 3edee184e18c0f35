# SPDX-License-Identifier: MIT
"""The THINK request as both providers need it: the kernel has validated the
client's fields already, but the worker checks again what it relies on (a
frame from a buggy kernel must give EINVAL, not a traceback), decodes the
image and lays the conversation out as turns. The image belongs to the last
user turn (the prompt when there is one)."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from typing import Any, Optional

from llm_worker.errors import ProviderError

ROLES = ("user", "assistant", "system")
THINKING_LEVELS = ("low", "medium", "high")


@dataclass
class Think:
    turns: list[tuple[str, str]]  # (role in ROLES, text), in order
    image: Optional[tuple[bytes, str]] = None  # (data, mime type)
    image_turn: int = -1  # index in turns of the user turn the image joins; -1: a turn of its own
    system_instruction: Optional[str] = None
    thinking_level: Optional[str] = None
    temperature: Optional[float] = None
    max_tokens: Optional[int] = None
    tools: list[dict[str, Any]] = field(default_factory=list)


def _bad(why: str) -> ProviderError:
    return ProviderError("EINVAL", f"bad request: {why}")


def _turns(req: dict[str, Any]) -> list[tuple[str, str]]:
    turns = []
    messages = req.get("messages", [])
    if not isinstance(messages, list):
        raise _bad("messages must be a list")
    for m in messages:
        if not isinstance(m, dict) or m.get("role") not in ROLES \
                or not isinstance(m.get("content"), str):
            raise _bad("each message is {role: user|assistant|system, content: str}")
        turns.append((m["role"], m["content"]))
    prompt = req.get("prompt")
    if prompt is not None:
        if not isinstance(prompt, str):
            raise _bad("prompt must be a string")
        turns.append(("user", prompt))
    if not turns:
        raise _bad("neither prompt nor messages")
    return turns


def _image(req: dict[str, Any]) -> Optional[tuple[bytes, str]]:
    img = req.get("image")
    if img is None:
        return None
    if not isinstance(img, dict) or not isinstance(img.get("data"), str) \
            or not isinstance(img.get("mime_type"), str):
        raise _bad("image is {data: base64 str, mime_type: str}")
    try:
        return base64.b64decode(img["data"], validate=True), img["mime_type"]
    except (binascii.Error, ValueError):
        raise _bad("image data is not base64") from None


def _tools(req: dict[str, Any]) -> list[dict[str, Any]]:
    tools = req.get("tools", [])
    if not isinstance(tools, list):
        raise _bad("tools must be a list")
    for t in tools:
        if not isinstance(t, dict) or not isinstance(t.get("name"), str) \
                or not isinstance(t.get("parameters", {}), dict):
            raise _bad("each tool is {name, description, parameters: object}")
    return tools


def parse_think(req: Any) -> Think:
    """Raises ProviderError(EINVAL) on a field the providers cannot use."""
    if not isinstance(req, dict):
        raise _bad("request must be a map")
    t = Think(turns=_turns(req), image=_image(req), tools=_tools(req))
    users = [i for i, (role, _) in enumerate(t.turns) if role == "user"]
    t.image_turn = users[-1] if users else -1
    si = req.get("system_instruction")
    if si is not None and not isinstance(si, str):
        raise _bad("system_instruction must be a string")
    t.system_instruction = si or None
    level = req.get("thinking_level")
    if level is not None and level not in THINKING_LEVELS:
        raise _bad("thinking_level is low, medium or high")
    t.thinking_level = level
    temp = req.get("temperature")
    if temp is not None and (isinstance(temp, bool) or not isinstance(temp, (int, float))):
        raise _bad("temperature must be a number")
    t.temperature = float(temp) if temp is not None else None
    mt = req.get("max_tokens")
    if mt is not None and (isinstance(mt, bool) or not isinstance(mt, int) or mt <= 0):
        raise _bad("max_tokens must be a positive integer")
    t.max_tokens = mt
    return t
