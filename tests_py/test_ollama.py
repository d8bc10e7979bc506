"""`ollama/<model>` (Ollama's native /api/chat) against the mock server over real HTTP: chat and
NDJSON streams, sync and async, tools, the 404 that says `ollama pull`, a broken stream, and
extraction through `format` with the JSON Schema."""

from __future__ import annotations

import json
from pathlib import Path

import llmrail
import pytest
from llmrail.replay import cassette
from llmrail.testing import MockServer
from pydantic import BaseModel


def ollama(srv: MockServer, **kwargs: object) -> llmrail.Client:
    return llmrail.Client("ollama/llama3.2", base_url=srv.url, retry=llmrail.Retry(1), **kwargs)  # type: ignore[arg-type]


async def test_chat_posts_to_api_chat_without_a_key(srv: MockServer) -> None:
    srv.reply("Paris.", usage={"input_tokens": 12, "output_tokens": 2})
    r = await ollama(srv).chat("Capital of France?", system="Be brief.", max_tokens=20, temperature=0)
    assert r.text == "Paris."
    assert r.finish_reason == "stop"
    assert r.usage is not None and (r.usage.input_tokens, r.usage.output_tokens) == (12, 2)
    sent = srv.last_request
    assert sent["path"] == "/api/chat"
    assert "authorization" not in sent["headers"]
    body = sent["body"]
    assert body["stream"] is False
    assert body["messages"][0] == {"role": "system", "content": "Be brief."}
    assert body["options"] == {"num_predict": 20, "temperature": 0.0}


def test_sync_stream_reads_ndjson(srv: MockServer) -> None:
    srv.reply(chunks=["Hel", "lo ", "world"], usage={"input_tokens": 9, "output_tokens": 3})
    events = list(ollama(srv).stream("hi"))
    assert "".join(e.text for e in events if e.type == "text") == "Hello world"
    done = events[-1]
    assert done.type == "done" and done.finish_reason == "stop"
    assert done.usage is not None and (done.usage.input_tokens, done.usage.output_tokens) == (9, 3)
    assert srv.last_request["body"]["stream"] is True


async def test_tool_calls_and_tool_results_round_trip(srv: MockServer) -> None:
    client = ollama(srv)
    tools = [{"name": "weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}]
    srv.reply(tool_calls=[{"name": "weather", "arguments": {"city": "Oslo"}}])
    r = await client.chat("Weather in Oslo?", tools=tools)
    assert r.finish_reason == "tool_calls"
    [call] = r.tool_calls
    assert (call.name, call.arguments) == ("weather", {"city": "Oslo"})
    srv.reply("3 degrees.")
    messages = [
        {"role": "user", "content": "Weather in Oslo?"},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {"id": call.id, "type": "function", "function": {"name": "weather", "arguments": '{"city": "Oslo"}'}}
            ],
        },
        {"role": "tool", "tool_call_id": call.id, "content": '{"temp": 3}'},
    ]
    r = await client.chat(messages, tools=tools)
    assert r.text == "3 degrees."
    sent = srv.last_request["body"]["messages"]
    assert sent[1]["tool_calls"] == [{"function": {"name": "weather", "arguments": {"city": "Oslo"}}}]
    assert sent[2] == {"role": "tool", "content": '{"temp": 3}', "tool_name": "weather"}


async def test_streamed_tool_calls_arrive_whole(srv: MockServer) -> None:
    srv.reply(tool_calls=[{"name": "weather", "arguments": {"city": "Oslo"}}])
    events = [e async for e in ollama(srv).stream("go", tools=[{"name": "weather"}])]
    [delta] = [e for e in events if e.type == "tool_call_delta"]
    assert (delta.name, json.loads(delta.arguments or "")) == ("weather", {"city": "Oslo"})
    assert events[-1].finish_reason == "tool_calls"


async def test_an_unpulled_model_is_not_found_and_says_how_to_pull_it(srv: MockServer) -> None:
    srv.fault(404)
    with pytest.raises(llmrail.NotFoundError, match=r"`ollama pull llama3\.2`"):
        await ollama(srv).chat("hi")


async def test_a_broken_stream_line_is_a_typed_error(srv: MockServer) -> None:
    srv.fault("malformed_json")
    with pytest.raises(llmrail.LLMError):
        _ = [e async for e in ollama(srv).stream("hi")]


async def test_keep_alive_and_options_pass_through(srv: MockServer) -> None:
    srv.reply("ok")
    await ollama(srv).chat("hi", extra_body={"keep_alive": "10m", "options": {"num_ctx": 8192, "seed": 1}})
    body = srv.last_request["body"]
    assert body["keep_alive"] == "10m"
    assert body["options"] == {"num_ctx": 8192, "seed": 1}


class City(BaseModel):
    city: str
    country: str


async def test_extract_sends_the_schema_as_format(srv: MockServer) -> None:
    srv.reply(json.dumps({"city": "Paris", "country": "France"}))
    got = await ollama(srv).extract(City, "Capital of France?")
    assert got == City(city="Paris", country="France")
    body = srv.last_request["body"]
    assert body["format"]["properties"]["city"] == {"title": "City", "type": "string"}
    assert "response_format" not in body and "tools" not in body


async def test_an_error_line_mid_stream_is_a_server_error(srv: MockServer) -> None:
    srv.reply(chunks=["one", " two", " three"])
    srv.fault("error_after", after=2)
    client = ollama(srv)
    assert (await client.chat("first")).text == "one two three"
    texts: list[str] = []
    with pytest.raises(llmrail.ServerError, match="unexpected EOF"):
        async for e in client.stream("hi"):
            if e.type == "text":
                texts.append(e.text or "")
    assert texts == ["mock", " reply"]


async def test_a_stream_records_and_replays_through_a_cassette_with_no_secret(
    tmp_path: Path, srv: MockServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CI", raising=False)  # records on purpose, against the local mock
    path = tmp_path / "ollama.yaml"
    client = ollama(srv, api_key="ollama-secret-key")
    srv.reply(chunks=["Hel", "lo"], usage={"input_tokens": 4, "output_tokens": 2})

    async def run() -> tuple[list[str], object]:
        events = [e async for e in client.stream("hi")]
        return [e.text or "" for e in events if e.type == "text"], events[-1].usage

    with cassette(path):
        live = await run()
    assert "ollama-secret-key" not in path.read_text()
    srv.shutdown()
    with cassette(path, mode="none"):
        assert await run() == live
    assert live[0] == ["Hel", "lo"]
