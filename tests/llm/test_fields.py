# SPDX-License-Identifier: MIT
"""Every THINK field reaches the provider in that provider's own shape, and
the answer (text, function calls, tokens, finish reason, streamed chunks)
comes back right. The fake's log of the HTTP calls is the witness."""

from __future__ import annotations

import base64
from typing import Any

import pytest

IMAGE = bytes(range(256)) * 3  # binary on purpose: every byte value must survive
FULL = {
    "messages": [{"role": "system", "content": "answer in French"},
                 {"role": "user", "content": "first question here"},
                 {"role": "assistant", "content": "first answer"}],
    "prompt": "what is in the picture",
    "image": {"data": base64.b64encode(IMAGE).decode(), "mime_type": "image/png"},
    "system_instruction": "be brief",
    "thinking_level": "low",
    "temperature": 0.25,
    "max_tokens": 7,
    "tools": [{"name": "get_weather", "description": "weather of a city",
               "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                              "required": ["city"]}}],
}
# The fake's default reply: "fake reply:" and the first prompt words, padded
# with t<i> and cut to max_tokens words (tests/fakes/fake_llm.py).
FULL_PROMPT_WORDS = "first question here first answer what is in the picture".split()
FULL_REPLY = " ".join((["fake", "reply:"] + FULL_PROMPT_WORDS[:6])[:7])


def either(d: dict[str, Any], *keys: str) -> Any:
    """google-genai writes some fields in snake_case, the REST docs in camelCase;
    the API takes both."""
    for k in keys:
        if k in d:
            return d[k]
    raise AssertionError(f"none of {keys} in {d}")


def b64any(text: str) -> bytes:
    """Protobuf's JSON form of bytes is base64 in either alphabet; google-genai
    writes the URL-safe one."""
    return base64.b64decode(text.replace("-", "+").replace("_", "/"), validate=True)


def check_gemini(entry: dict[str, Any]) -> None:
    assert entry["path"] == "/v1/models/test-model:generateContent" or \
        entry["path"] == "/v1beta/models/test-model:generateContent", entry["path"]
    assert entry["headers"].get("x-goog-api-key") == "<redacted>"
    body = entry["body"]
    contents = body["contents"]
    assert [c["role"] for c in contents] == ["user", "model", "user"]
    assert [p["text"] for p in contents[0]["parts"]] == ["first question here"]
    assert [p["text"] for p in contents[1]["parts"]] == ["first answer"]
    last = contents[2]["parts"]
    assert last[0] == {"text": "what is in the picture"}
    inline = either(last[1], "inlineData", "inline_data")
    assert b64any(inline["data"]) == IMAGE
    assert either(inline, "mimeType", "mime_type") == "image/png"
    system = either(body, "systemInstruction", "system_instruction")
    assert "\n\n".join(p["text"] for p in system["parts"]) == "be brief\n\nanswer in French"
    gen = either(body, "generationConfig", "generation_config")
    assert gen["temperature"] == 0.25
    assert either(gen, "maxOutputTokens", "max_output_tokens") == 7
    thinking = either(gen, "thinkingConfig", "thinking_config")
    assert either(thinking, "thinkingLevel", "thinking_level") == "LOW"
    (decls,) = [either(t, "functionDeclarations", "function_declarations") for t in body["tools"]]
    assert len(decls) == 1
    assert decls[0]["name"] == "get_weather"
    assert decls[0]["description"] == "weather of a city"
    assert either(decls[0], "parametersJsonSchema", "parameters_json_schema") == \
        FULL["tools"][0]["parameters"]


def check_openai(entry: dict[str, Any]) -> None:
    assert entry["path"] == "/v1/chat/completions"
    assert entry["headers"].get("Authorization") == "<redacted>"
    body = entry["body"]
    assert body["model"] == "test-model"
    data_url = "data:image/png;base64," + base64.b64encode(IMAGE).decode()
    assert body["messages"] == [
        {"role": "system", "content": "be brief"},
        {"role": "system", "content": "answer in French"},
        {"role": "user", "content": "first question here"},
        {"role": "assistant", "content": "first answer"},
        {"role": "user", "content": [{"type": "text", "text": "what is in the picture"},
                                     {"type": "image_url", "image_url": {"url": data_url}}]},
    ]
    assert body["temperature"] == 0.25
    assert body["max_tokens"] == 7
    assert body["reasoning_effort"] == "low"
    assert body["tools"] == [{"type": "function", "function": {
        "name": "get_weather", "description": "weather of a city",
        "parameters": FULL["tools"][0]["parameters"]}}]
    assert "stream" not in body


def test_every_field_reaches_the_provider(provider, fake, worker):
    result = worker.call(1, provider, FULL)
    (entry,) = fake.log()
    (check_gemini if provider == "gemini" else check_openai)(entry)

    assert result["ok"] is True, result
    assert result["content"] == FULL_REPLY
    # Prompt tokens: the words of the system instruction and of every turn.
    prompt_tokens = len(FULL_PROMPT_WORDS) + len("be brief answer in French".split())
    assert result["tokens"] == {"prompt": prompt_tokens, "completion": 7,
                                "total": prompt_tokens + 7}
    assert result["finish_reason"] == ("MAX_TOKENS" if provider == "gemini" else "length")
    assert result["function_calls"] == []
    assert result["model"] == "test-model"
    assert isinstance(result["provider_ms"], int) and result["provider_ms"] >= 0


def test_fields_not_given_are_not_sent(provider, fake, worker):
    result = worker.call(1, provider, {"prompt": "just this"})
    assert result["ok"] is True, result
    body = fake.log()[0]["body"]
    if provider == "gemini":
        assert body["contents"] == [{"role": "user", "parts": [{"text": "just this"}]}]
        gen = body.get("generationConfig", body.get("generation_config", {}))
        assert not gen, gen  # no temperature, no token limit, no thinking config
        assert "tools" not in body and "systemInstruction" not in body \
            and "system_instruction" not in body
    else:
        assert body == {"model": "test-model",
                        "messages": [{"role": "user", "content": "just this"}]}


def test_model_defaults_to_the_configured_one(provider, fake, start_worker):
    from llm_util import worker_env
    w = start_worker(worker_env(fake, CLOVE_LLM_PROVIDER=provider, CLOVE_LLM_MODEL="house-model"))
    assert w.ready["providers"][provider]["model"] == "house-model"
    result = w.call(1, provider, {"prompt": "hi"}, model="")
    assert result["ok"] is True, result
    entry = fake.log()[0]
    where = entry["path"] if provider == "gemini" else entry["body"]["model"]
    assert "house-model" in where


@pytest.mark.parametrize("stream", [False, True])
def test_function_calls_come_back(provider, fake, worker, stream):
    fake.config(script=[{"match": "weather", "call": {"name": "get_weather",
                                                      "args": {"city": "Paris", "days": 2}}}])
    worker.think(1, provider, {"prompt": "what is the weather in Paris",
                               "tools": FULL["tools"]}, stream=stream)
    chunks, result = worker.collect(1)
    assert result["ok"] is True, result
    assert result["function_calls"] == [{"name": "get_weather",
                                         "args": {"city": "Paris", "days": 2}}]
    assert result["content"] == "" and chunks == []
    if provider == "openai":
        assert result["finish_reason"] == "tool_calls"


def test_scripted_reply_matched_on_the_prompt(provider, fake, worker):
    fake.config(script=[{"match": "capital of France", "reply": "Paris is the capital"}])
    result = worker.call(1, provider, {"prompt": "what is the capital of France?"})
    assert result["content"] == "Paris is the capital"
    assert result["tokens"]["completion"] == 4
    other = worker.call(2, provider, {"prompt": "something else"})
    assert other["content"].startswith("fake reply: something else")


def test_streaming_chunks_arrive_in_order(provider, fake, worker):
    fake.config(tokens_per_reply=12, chunks=4, chunk_delay_ms=30)
    worker.think(1, provider, {"prompt": "tell me a story"}, stream=True)
    chunks, result = worker.collect(1)
    assert result["ok"] is True, result
    assert chunks == ["fake reply: tell", " me a story", " t6 t7 t8", " t9 t10 t11"]
    assert "".join(chunks) == result["content"]
    assert result["tokens"] == {"prompt": 4, "completion": 12, "total": 16}
    assert result["finish_reason"] == ("STOP" if provider == "gemini" else "stop")
    entry = fake.log()[0]
    if provider == "gemini":
        assert ":streamGenerateContent" in entry["path"] and "alt=sse" in entry["path"]
    else:
        assert entry["body"]["stream"] is True
        assert entry["body"]["stream_options"] == {"include_usage": True}


def test_token_counts_follow_the_fake(provider, fake, worker):
    fake.config(tokens_per_reply=10)
    r = worker.call(1, provider, {"prompt": "one two three four", "system_instruction": "five six"})
    assert r["tokens"] == {"prompt": 6, "completion": 10, "total": 16}
    assert r["finish_reason"] == ("STOP" if provider == "gemini" else "stop")
    r = worker.call(2, provider, {"prompt": "one two", "max_tokens": 3})
    assert r["tokens"] == {"prompt": 2, "completion": 3, "total": 5}
    assert r["content"] == "fake reply: one"


def test_image_without_a_user_turn_is_a_turn_of_its_own(provider, fake, worker):
    r = worker.call(1, provider, {"messages": [{"role": "assistant", "content": "show me"}],
                                  "image": FULL["image"]})
    assert r["ok"] is True, r
    body = fake.log()[0]["body"]
    if provider == "gemini":
        last = body["contents"][-1]
        assert last["role"] == "user" and len(last["parts"]) == 1
        assert b64any(either(last["parts"][0], "inlineData", "inline_data")["data"]) == IMAGE
    else:
        assert body["messages"][-1]["role"] == "user"
        assert body["messages"][-1]["content"][0]["type"] == "image_url"
