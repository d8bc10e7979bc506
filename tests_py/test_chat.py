"""A chat call through both providers, async and sync, against the mock server."""

from __future__ import annotations

import asyncio

import llmrail
import pytest
from llmrail.testing import MockServer

from .conftest import make_client


async def test_chat_returns_text_usage_and_metadata(srv: MockServer, client: llmrail.Client, provider: str) -> None:
    srv.reply("hello there", usage={"input_tokens": 12, "output_tokens": 3})
    r = await client.chat([{"role": "user", "content": "hi"}], max_tokens=50)
    assert r.text == "hello there"
    assert r.finish_reason == "stop"
    assert r.provider == provider
    assert r.model
    assert r.request_id and r.request_id.startswith("req_")
    assert r.latency > 0
    assert (r.usage.input_tokens, r.usage.output_tokens) == (12, 3)
    assert r.content == [{"type": "text", "text": "hello there"}]
    assert isinstance(r.raw(), dict)


def test_chat_sync_is_the_same_call(srv: MockServer, client: llmrail.Client) -> None:
    srv.reply("sync hello")
    r = client.chat_sync("hi")
    assert r.text == "sync hello"
    assert srv.requests[-1]["body"]["messages"][-1]["content"] == "hi"


async def test_cache_tokens_are_counted_in_input(srv: MockServer, client: llmrail.Client) -> None:
    srv.reply("ok", usage={"input_tokens": 100, "output_tokens": 2, "cache_read_tokens": 60, "cache_write_tokens": 0})
    r = await client.chat("hi")
    assert r.usage.input_tokens == 100
    assert r.usage.cache_read_tokens == 60


async def test_tool_calls_are_parsed(srv: MockServer, client: llmrail.Client) -> None:
    srv.reply(tool_calls=[{"name": "get_weather", "arguments": {"city": "Paris", "days": 2}}])
    tool = {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}
    r = await client.chat("weather?", tools=[tool], tool_choice="required")
    assert r.finish_reason == "tool_calls"
    [call] = r.tool_calls
    assert call.name == "get_weather"
    assert call.arguments == {"city": "Paris", "days": 2}
    assert call.id


def test_asyncio_run_accepts_the_coroutine(srv: MockServer) -> None:
    srv.reply("from asyncio.run")
    client = make_client(srv, "openai")
    r = asyncio.run(client.chat("hi"))
    assert r.text == "from asyncio.run"


async def test_a_call_behaves_as_a_coroutine(srv: MockServer) -> None:
    client = make_client(srv, "openai")
    bad = client.chat([{"role": "wizard", "content": "hi"}])
    assert asyncio.iscoroutine(bad)
    # As with an async def, bad arguments raise when awaited, not when the call is made.
    with pytest.raises(llmrail.LLMError, match="wizard"):
        await bad
    srv.reply("once")
    call = client.chat("hi")
    assert (await asyncio.create_task(call)).text == "once"
    with pytest.raises(RuntimeError, match="already awaited"):
        await call
    closed = client.chat("never sent")
    closed.close()
    with pytest.raises(RuntimeError, match="already awaited"):
        await closed
    assert [r["body"]["messages"][-1]["content"] for r in srv.requests] == ["hi"]


def test_a_call_outside_an_event_loop_says_what_to_use(srv: MockServer) -> None:
    call = make_client(srv, "openai").chat("hi")
    with pytest.raises(RuntimeError, match="_sync"):
        call.send(None)
    call.close()


async def test_many_concurrent_calls(srv: MockServer) -> None:
    client = make_client(srv, "anthropic")
    srv.default("same", latency=0.05)
    results = await asyncio.gather(*(client.chat(f"n{i}") for i in range(200)))
    assert all(r.text == "same" for r in results)
    assert len(srv.requests) == 200
