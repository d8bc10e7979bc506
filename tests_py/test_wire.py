"""What goes on the wire: exact request bodies and headers, as the mock server received them."""

from __future__ import annotations

from typing import Any

import llmrail
import pytest
from llmrail.testing import MockServer

from .conftest import API_KEY, make_client

PNG = "iVBORw0KGgo="
CONVERSATION: list[dict[str, Any]] = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": [
        {"type": "text", "text": "What is in these?"},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
    ]},
    {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": "{\"q\": \"cat\"}"}},
        {"id": "call_2", "type": "function", "function": {"name": "lookup", "arguments": "{\"q\": \"dog\"}"}},
    ]},
    {"role": "tool", "tool_call_id": "call_1", "content": "a cat"},
    {"role": "tool", "tool_call_id": "call_2", "content": "a dog"},
    {"role": "user", "content": "So?"},
]
TOOL = {"type": "function", "function": {"name": "lookup", "description": "Look up",
                                          "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}}}


async def test_anthropic_body_is_translated_faithfully(srv: MockServer) -> None:
    client = make_client(srv, "anthropic")
    await client.chat(CONVERSATION, system="Answer in English.", max_tokens=300, temperature=0.2, top_p=0.9,
                      stop=["END"], tools=[TOOL], tool_choice={"type": "function", "function": {"name": "lookup"}})
    req = srv.last_request
    assert req["path"] == "/v1/messages"
    headers = dict(req["headers"])
    assert headers["x-api-key"] == API_KEY
    assert headers["anthropic-version"] == "2023-06-01"
    assert "authorization" not in headers
    assert req["body"] == {
        "model": "claude-sonnet-4-5",
        "max_tokens": 300,
        "system": "Answer in English.\n\nYou are terse.",
        "messages": [
            {"role": "user", "content": [
                {"type": "text", "text": "What is in these?"},
                {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.png"}},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
            ]},
            {"role": "assistant", "content": [
                {"type": "tool_use", "id": "call_1", "name": "lookup", "input": {"q": "cat"}},
                {"type": "tool_use", "id": "call_2", "name": "lookup", "input": {"q": "dog"}},
            ]},
            # both tool results and the next user turn merge into one user turn
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "call_1", "content": [{"type": "text", "text": "a cat"}]},
                {"type": "tool_result", "tool_use_id": "call_2", "content": [{"type": "text", "text": "a dog"}]},
                {"type": "text", "text": "So?"},
            ]},
        ],
        "temperature": 0.2,
        "top_p": 0.9,
        "stop_sequences": ["END"],
        "tools": [{"name": "lookup", "description": "Look up",
                   "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}}}],
        "tool_choice": {"type": "tool", "name": "lookup"},
    }


async def test_openai_body_keeps_the_openai_shape(srv: MockServer) -> None:
    client = make_client(srv, "openai")
    await client.chat(CONVERSATION, system="Answer in English.", max_tokens=300, stop="END", tools=[TOOL],
                      tool_choice="auto", extra_body={"seed": 7, "temperature": 0})
    req = srv.last_request
    assert req["path"] == "/v1/chat/completions"
    assert dict(req["headers"])["authorization"] == f"Bearer {API_KEY}"
    body = req["body"]
    assert body["messages"][0] == {"role": "system", "content": "Answer in English."}
    assert body["messages"][1] == {"role": "system", "content": "You are terse."}
    assert body["messages"][2]["content"][2] == {"type": "image_url",
                                                 "image_url": {"url": f"data:image/png;base64,{PNG}"}}
    assert body["messages"][3]["tool_calls"][0] == {"id": "call_1", "type": "function",
                                                    "function": {"name": "lookup", "arguments": "{\"q\":\"cat\"}"}}
    assert body["messages"][4] == {"role": "tool", "content": "a cat", "tool_call_id": "call_1"}
    assert body["max_tokens"] == 300  # a compatible server: api.openai.com gets max_completion_tokens
    assert body["stop"] == ["END"]
    assert body["tools"] == [TOOL]
    assert body["tool_choice"] == "auto"
    assert body["seed"] == 7 and body["temperature"] == 0  # extra_body merged last


async def test_plain_text_messages_are_sent_as_their_long_form(srv: MockServer) -> None:
    # {"role", "content": "text"} is read by a shortcut; it must mean exactly what the general
    # path makes of the same message written with content parts.
    plain = [{"role": r, "content": f"{r} says"} for r in ("developer", "system", "user", "assistant", "user")]
    parts = [{"role": m["role"], "content": [{"type": "text", "text": m["content"]}]} for m in plain]
    for provider in ("openai", "anthropic"):
        client = make_client(srv, provider)
        await client.chat(plain)
        short = srv.last_request["body"]
        await client.chat(parts)
        assert srv.last_request["body"] == short, provider
    with pytest.raises(llmrail.ConfigurationError, match=r"messages\[0\] is not a valid message.*variant `bot`"):
        await client.chat([{"role": "bot", "content": "hi"}])


async def test_headers_option_is_sent(srv: MockServer) -> None:
    client = make_client(srv, "openai", headers=[("X-Title", "my-app")])
    await client.chat("hi")
    assert dict(srv.last_request["headers"])["x-title"] == "my-app"


def test_env_supplies_key_and_base_url(srv: MockServer, monkeypatch: Any) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-env-key")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", srv.anthropic_base_url)
    client = llmrail.Client("anthropic/claude-haiku-4-5")
    srv.reply("env works")
    assert client.chat_sync("hi").text == "env works"
    assert dict(srv.last_request["headers"])["x-api-key"] == "sk-ant-env-key"
