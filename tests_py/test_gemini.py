"""Gemini through llmrail's own mock server (real HTTP on 127.0.0.1): chat, stream, a tool loop,
a 429 whose wait is a RetryInfo in the body, extraction with responseJsonSchema, and a cassette
that keeps neither the x-goog-api-key header nor a key= in the base URL."""

from __future__ import annotations

import time
from pathlib import Path

import llmrail
import pytest
from llmrail.replay import cassette
from llmrail.testing import MockServer
from pydantic import BaseModel

KEY = "AIzaSy-live-GEMINI-7c1e9d2f4b"


def gemini(srv: MockServer, model: str = "gemini/gemini-2.5-flash") -> llmrail.Client:
    return llmrail.Client(model, base_url=srv.url, api_key=KEY)


def test_chat_and_stream_speak_generate_content(srv: MockServer) -> None:
    srv.reply("Paris.", usage={"input_tokens": 12, "output_tokens": 2, "cache_read_tokens": 8})
    srv.reply("The capital is Paris.")
    client = gemini(srv, "google/gemini-2.5-flash")
    r = client.chat_sync("Capital of France?", system="Be brief.")
    assert (r.text, r.finish_reason, r.provider) == ("Paris.", "stop", "gemini")
    assert (r.usage.input_tokens, r.usage.output_tokens, r.usage.cache_read_tokens) == (12, 2, 8)
    assert r.cost_usd is not None and r.cost_usd > 0
    pieces = [e.text for e in client.stream("And of Spain?") if e.text]
    assert len(pieces) > 1 and "".join(pieces) == "The capital is Paris."
    chat, stream = srv.requests
    assert chat["path"] == "/v1beta/models/gemini-2.5-flash:generateContent"
    assert chat["body"]["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
    assert dict(chat["headers"])["x-goog-api-key"] == KEY
    assert stream["path"].endswith(":streamGenerateContent") and stream["query"] == "alt=sse"


def test_a_tool_loop_answers_with_a_function_response(srv: MockServer) -> None:
    srv.reply(tool_calls=[{"name": "weather", "arguments": {"city": "Paris"}}])
    srv.reply("Sunny in Paris.")
    client = gemini(srv)
    tools = [
        {
            "type": "function",
            "function": {
                "name": "weather",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            },
        }
    ]
    messages: list[dict[str, object]] = [{"role": "user", "content": "Weather in Paris?"}]
    first = client.chat_sync(messages, tools=tools, tool_choice="required")
    (call,) = first.tool_calls
    assert (call.name, call.arguments, first.finish_reason) == ("weather", {"city": "Paris"}, "tool_calls")
    messages += [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": call.id, "type": "function", "function": {"name": call.name, "arguments": call.raw_arguments}}
            ],
        },
        {"role": "tool", "tool_call_id": call.id, "content": "sunny"},
    ]
    assert client.chat_sync(messages, tools=tools).text == "Sunny in Paris."
    first_body, second_body = (r["body"] for r in srv.requests)
    assert first_body["toolConfig"] == {"functionCallingConfig": {"mode": "ANY"}}
    assert second_body["contents"][2] == {
        "role": "user",
        "parts": [{"functionResponse": {"id": call.id, "name": "weather", "response": {"result": "sunny"}}}],
    }


def test_a_429_retry_info_in_the_body_is_waited_for(srv: MockServer) -> None:
    srv.fault(429, retry_after=0.4).reply("after the wait")
    start = time.monotonic()
    assert gemini(srv).chat_sync("hi").text == "after the wait"
    assert time.monotonic() - start >= 0.4
    assert len(srv.requests) == 2


def test_a_per_day_quota_is_not_retried(srv: MockServer) -> None:
    body = {
        "error": {
            "code": 429,
            "message": "Quota exceeded",
            "status": "RESOURCE_EXHAUSTED",
            "details": [
                {
                    "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                    "violations": [{"quotaId": "GenerateRequestsPerDayPerProjectPerModel"}],
                }
            ],
        }
    }
    srv.fault(429, body=body)
    with pytest.raises(llmrail.RateLimitError) as e:
        gemini(srv).chat_sync("hi")
    assert len(srv.requests) == 1
    assert e.value.retry_after is not None and e.value.retry_after > 30
    assert "per-day quota" in str(e.value)


def test_a_per_day_quota_goes_straight_to_the_fallback(srv: MockServer) -> None:
    body = {
        "error": {
            "code": 429,
            "message": "Quota exceeded",
            "details": [
                {
                    "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                    "violations": [{"quotaId": "GenerateRequestsPerDayPerProjectPerModel-FreeTier"}],
                },
                {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "2s"},
            ],
        }
    }
    with MockServer() as backup:
        client = llmrail.Client(
            "gemini/gemini-2.5-flash",
            base_url=srv.url,
            api_key=KEY,
            fallbacks=[{"model": "openai/gpt-4.1-mini", "base_url": backup.openai_base_url, "api_key": "sk-test"}],
        )
        srv.fault(429, body=body)
        backup.reply("from the backup")
        r = client.chat_sync("hi")
        assert (r.text, r.provider) == ("from the backup", "openai")
        assert len(srv.requests) == 1


class City(BaseModel):
    city: str
    country: str


def test_extraction_asks_for_a_response_json_schema(srv: MockServer) -> None:
    srv.reply('{"city": "Mexico City", "country": "Mexico"}')
    city = gemini(srv).extract_sync(City, "Largest city in Mexico?")
    assert city == City(city="Mexico City", country="Mexico")
    config = srv.last_request["body"]["generationConfig"]
    assert config["responseMimeType"] == "application/json"
    assert config["responseJsonSchema"]["required"] == ["city", "country"]


def test_the_cassette_keeps_no_key(srv: MockServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    url_key = "AIzaSy-URL-SECRET-1234"
    client = llmrail.Client("gemini/gemini-2.5-flash", base_url=f"{srv.url}/?key={url_key}", api_key=KEY)
    path = tmp_path / "gemini.yaml"
    with cassette(path):
        live = [client.chat_sync("hi").text, "".join(e.text for e in client.stream("s"))]
    text = path.read_text()
    assert KEY not in text and url_key not in text
    assert "generativelanguage" not in text and ":streamGenerateContent?key=REDACTED&alt=sse" in text
    srv.shutdown()
    with cassette(path, mode="none") as c:
        assert [client.chat_sync("hi").text, "".join(e.text for e in client.stream("s"))] == live
    assert c.all_played
