"""Streaming: SSE from both providers, async and sync, tool deltas, usage at the end."""

from __future__ import annotations

import asyncio
import json

import llmrail
import pytest
from llmrail.testing import MockServer

from .conftest import make_client


async def test_stream_text_then_done(srv: MockServer, client: llmrail.Client) -> None:
    srv.reply(chunks=["Hel", "lo ", "world"], usage={"input_tokens": 9, "output_tokens": 3})
    events = [e async for e in client.stream("hi", max_tokens=20)]
    assert "".join(e.text for e in events if e.type == "text") == "Hello world"
    done = events[-1]
    assert done.type == "done"
    assert done.finish_reason == "stop"
    assert done.usage is not None and (done.usage.input_tokens, done.usage.output_tokens) == (9, 3)
    assert done.request_id
    assert done.response_id and done.response_id.startswith("msg_" if client.provider == "anthropic" else "chatcmpl-")
    assert srv.last_request["body"]["stream"] is True


def test_sync_stream(srv: MockServer, client: llmrail.Client) -> None:
    srv.reply(chunks=["a", "b", "c"])
    texts = [e.text for e in client.stream("hi") if e.type == "text"]
    assert texts == ["a", "b", "c"]


async def test_stream_tool_call_deltas_assemble(srv: MockServer, client: llmrail.Client) -> None:
    srv.reply(tool_calls=[{"name": "f", "arguments": {"x": 1, "y": "two"}}, {"name": "g", "arguments": {}}])
    calls: dict[int, dict[str, str]] = {}
    finish = None
    async for e in client.stream("go", tools=[{"name": "f"}, {"name": "g"}]):
        if e.type == "tool_call_delta":
            assert e.index is not None
            c = calls.setdefault(e.index, {"name": "", "args": ""})
            c["name"] += e.name or ""
            c["args"] += e.arguments or ""
        if e.type == "done":
            finish = e.finish_reason
    assert finish == "tool_calls"
    assert calls[0]["name"] == "f" and json.loads(calls[0]["args"]) == {"x": 1, "y": "two"}
    assert calls[1]["name"] == "g"


async def test_truncated_stream_is_a_connection_error(srv: MockServer, client: llmrail.Client) -> None:
    # Cut after text has reached the caller, so it cannot be retried (see test_resilience.py
    # for a stream cut before its first event, which is).
    srv.fault("truncate", after=4)
    received = ""
    with pytest.raises(llmrail.ConnectionError):
        async for e in client.stream("hi"):
            received += e.text
    assert received
    assert len(srv.requests) == 1


async def test_stream_http_error_raises_on_iteration(srv: MockServer, client: llmrail.Client) -> None:
    srv.fault(429, retry_after=1)
    with pytest.raises(llmrail.RateLimitError) as info:
        async for _ in client.stream("hi", retry=llmrail.Retry(max_attempts=1)):
            pass
    assert info.value.retry_after == 1.0


async def test_connection_is_reused_after_a_stream(srv: MockServer, client: llmrail.Client) -> None:
    srv.reply(chunks=["x", "y"])
    srv.reply("after")
    _ = [e async for e in client.stream("hi")]
    r = await client.chat("again")
    assert r.text == "after"
    assert srv.connections == 1


async def test_breaking_out_closes_the_connection(srv: MockServer, client: llmrail.Client) -> None:
    srv.reply(chunks=[f"c{i} " for i in range(200)], chunk_delay=0.01)
    stream = client.stream("hi")
    async for e in stream:
        if e.type == "text":
            break
    stream.close()
    await srv.wait_for_disconnects(1, timeout=5)


async def test_cancelling_tasks_that_wait_on_streams_closes_the_streams(srv: MockServer) -> None:
    # The stream objects stay referenced (here by a list; a cancelled task's traceback, which
    # keeps its frame, does the same): the requests must end at the cancellation, not when
    # Python frees the streams. Before, these 300 kept streaming, and the server going away
    # later counted as 300 failures: the breaker opened.
    n = 300
    srv.default(chunks=["first ", "too late"], chunk_delay=8)
    client = make_client(srv, "openai", timeout=60)
    streams = [client.stream("hi") for _ in range(n)]
    started = 0

    async def hold(stream: llmrail.ChatStream) -> None:
        nonlocal started
        async for _ in stream:
            started += 1

    tasks = [asyncio.ensure_future(hold(s)) for s in streams]
    for _ in range(1000):
        if started >= n:
            break
        await asyncio.sleep(0.02)
    for t in tasks:
        t.cancel()
    outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(isinstance(o, asyncio.CancelledError) for o in outcomes)
    await srv.wait_for_disconnects(n, timeout=15)
    srv.shutdown()
    await asyncio.sleep(0.2)
    [breaker] = client.health()
    assert (breaker.state, breaker.consecutive_failures) == ("closed", 0)
    assert len(streams) == n


async def test_a_stream_whose_wait_timed_out_is_closed(srv: MockServer) -> None:
    # As a cancelled task's: `wait_for` cancels the wait for the next event, and that ends the
    # request; the stream then ends, as after close().
    srv.reply(chunks=["first ", "too late"], chunk_delay=1)
    stream = make_client(srv, "openai").stream("hi")
    it = aiter(stream)
    await anext(it)
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(anext(it), 0.2)
    # (The server sees the hang-up when it writes its next chunk.)
    await srv.wait_for_disconnects(1, timeout=5)
    assert [e async for e in stream] == []
