"""Usage and cost of the official SDKs' answers over llmrail's transport: read from the answers
llmrail knows (OpenAI chat, Anthropic messages; whole and streamed), priced by the model
catalogue, per response (`extensions["llmrail_usage"]`) and per httpx client (`client.usage`).
Real `openai` and `anthropic` SDKs against the mock server on 127.0.0.1, and from a cassette."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anthropic
import llmrail
import llmrail.httpx
import llmrail.httpx2
import openai
import pytest
from llmrail.testing import MockServer

from .conftest import API_KEY

HI = [{"role": "user", "content": "hi"}]
# gpt-4.1-mini per million tokens: $0.40 in, $1.60 out; claude-sonnet-4-5: $3 in, $15 out.
MINI = (0.40, 1.60)
SONNET = (3.0, 15.0)


def price(usage: llmrail._core.HttpUsage, prices: tuple[float, float]) -> float:
    return (usage.input_tokens * prices[0] + usage.output_tokens * prices[1]) / 1e6


def openai_sdk(base: str, http: llmrail.httpx.AsyncClient | llmrail.httpx2.AsyncClient) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=base, api_key=API_KEY, max_retries=0, http_client=http)


async def chat_and_stream(sdk: openai.AsyncOpenAI) -> tuple[Any, llmrail._core.HttpUsage]:
    raw = await sdk.chat.completions.with_raw_response.create(model="gpt-4.1-mini", messages=HI)  # type: ignore[arg-type]
    meter = raw.http_response.extensions["llmrail_usage"]
    assert isinstance(meter, llmrail._core.HttpMeter) and meter.usage is not None
    stream = await sdk.chat.completions.create(  # type: ignore[call-overload]
        model="gpt-4.1-mini", messages=HI, stream=True, stream_options={"include_usage": True})
    streamed = [c.usage async for c in stream if c.usage]
    assert len(streamed) == 1
    return raw.parse().usage, meter.usage


@pytest.mark.parametrize("http", [llmrail.httpx.AsyncClient, llmrail.httpx2.AsyncClient])
async def test_each_answer_carries_its_usage_and_cost_and_the_client_sums_them(
        srv: MockServer, http: type[llmrail.httpx.AsyncClient] | type[llmrail.httpx2.AsyncClient]) -> None:
    client = http()
    sdk_usage, mine = await chat_and_stream(openai_sdk(srv.openai_base_url, client))
    assert sdk_usage is not None
    assert (mine.requests, mine.input_tokens, mine.output_tokens) == (
        1, sdk_usage.prompt_tokens, sdk_usage.completion_tokens)
    assert mine.cost_usd == pytest.approx(price(mine, MINI))
    total = client.usage
    assert total.requests == 2, "the stream's final usage counts when the stream ends"
    assert total.input_tokens > mine.input_tokens and total.unpriced == 0
    assert total.cost_usd == pytest.approx(price(total, MINI))


def test_an_anthropic_stream_s_usage_is_counted_through_the_sync_client(srv: MockServer) -> None:
    http = llmrail.httpx2.Client()
    sdk = anthropic.Anthropic(base_url=srv.anthropic_base_url, api_key=API_KEY, max_retries=0, http_client=http)
    with sdk.messages.stream(model="claude-sonnet-4-5", max_tokens=64, messages=HI) as stream:  # type: ignore[arg-type]
        final = stream.get_final_message()
    total = http.usage
    assert (total.requests, total.input_tokens, total.output_tokens) == (
        1, final.usage.input_tokens, final.usage.output_tokens)
    assert total.cost_usd == pytest.approx(price(total, SONNET))


async def test_answers_without_a_known_usage_count_nothing(srv: MockServer) -> None:
    srv.fault(429, retry_after=1)
    client = llmrail.httpx.AsyncClient(circuit_breaker=False)
    with pytest.raises(openai.RateLimitError):
        await openai_sdk(srv.openai_base_url, client).chat.completions.create(model="gpt-4.1-mini", messages=HI)  # type: ignore[arg-type]
    r = await client.post(f"{srv.openai_base_url}/chat/completions", json={"model": "my-own-model", "messages": HI},
                          headers={"authorization": f"Bearer {API_KEY}"})
    assert r.extensions["llmrail_usage"].usage.cost_usd is None
    total = client.usage
    assert (total.requests, total.unpriced, total.cost_usd) == (1, 1, None)
    assert total.input_tokens > 0, "an unpriced model's tokens still count"


async def test_a_replayed_suite_still_carries_cost_with_the_server_gone(tmp_path: Path) -> None:
    cassette = tmp_path / "usage.yaml"
    with MockServer() as srv:
        base = srv.openai_base_url
        with llmrail.replay.cassette(cassette, mode="once"):
            _, recorded = await chat_and_stream(openai_sdk(base, llmrail.httpx2.AsyncClient()))
    offline = llmrail.httpx2.AsyncClient()
    with llmrail.replay.cassette(cassette, mode="none") as tape:
        _, replayed = await chat_and_stream(openai_sdk(base, offline))
        assert tape.play_count == 2
    assert (replayed.input_tokens, replayed.output_tokens, replayed.cost_usd) == (
        recorded.input_tokens, recorded.output_tokens, recorded.cost_usd)
    assert offline.usage.requests == 2
