"""llmrail's resilience layers on the official SDKs' traffic (llmrail.httpx, llmrail.httpx2): the
breaker and rate limit of the provider, model and key a request names are the ones a
`llmrail.Client` of that target uses, so both spend one budget; retries only when asked, with
Retry-After honoured. Real `openai` and `anthropic` SDKs against the mock server on 127.0.0.1."""

from __future__ import annotations

import time

import anthropic
import llmrail
import llmrail.httpx
import llmrail.httpx2
import openai
import pytest
from llmrail.testing import MockServer

from .conftest import API_KEY, make_client

HI = [{"role": "user", "content": "hi"}]
NO_RETRY = llmrail.Retry(max_attempts=1)


def sdk(srv: MockServer, **layers: object) -> openai.AsyncOpenAI:
    http = llmrail.httpx.AsyncClient(**layers)  # type: ignore[arg-type]
    return openai.AsyncOpenAI(base_url=srv.openai_base_url, api_key=API_KEY, max_retries=0, http_client=http)


async def ask(client: openai.AsyncOpenAI) -> str:
    r = await client.chat.completions.create(model="gpt-4.1-mini", messages=HI)  # type: ignore[arg-type]
    return r.choices[0].message.content or ""


async def test_failures_the_sdk_sees_open_the_breaker_a_client_of_the_same_model_uses(srv: MockServer) -> None:
    breaker = llmrail.CircuitBreaker(2, cooldown=30)
    srv.fault(503, times=2)
    client = sdk(srv, circuit_breaker=breaker)
    for _ in range(2):
        with pytest.raises(openai.InternalServerError):
            await ask(client)
    # Open now: neither the SDK nor a llmrail.Client of that model, base URL and key sends.
    with pytest.raises(llmrail.CircuitOpenError):
        await ask(client)
    own = make_client(srv, "openai", retry=NO_RETRY, circuit_breaker=breaker)
    with pytest.raises(llmrail.CircuitOpenError):
        await own.chat("hi")
    assert len(srv.requests) == 2
    [status] = own.health()
    assert (status.name, status.state, status.consecutive_failures) == ("openai/gpt-4.1-mini", "open", 2)
    # Another model is another target, with a breaker of its own.
    r = await client.chat.completions.create(model="gpt-4.1", messages=HI)  # type: ignore[arg-type]
    assert r.choices[0].message.content


async def test_the_breaker_can_be_turned_off(srv: MockServer) -> None:
    srv.fault(503, times=3)
    client = sdk(srv, circuit_breaker=False)
    for _ in range(3):
        with pytest.raises(openai.InternalServerError):
            await ask(client)
    assert await ask(client)
    assert len(srv.requests) == 4


@pytest.mark.parametrize("sync", [False, True], ids=["async", "sync"])
async def test_the_sdk_and_a_client_of_the_same_model_spend_one_rate_limit(srv: MockServer, sync: bool) -> None:
    limit = llmrail.RateLimit(rpm=2, wait=False)
    if sync:
        http = llmrail.httpx.Client(rate_limit=limit)
        blocking = openai.OpenAI(base_url=srv.openai_base_url, api_key=API_KEY, max_retries=0, http_client=http)
        assert blocking.chat.completions.create(model="gpt-4.1-mini", messages=HI)  # type: ignore[arg-type]
    else:
        assert await ask(sdk(srv, rate_limit=limit))
    own = make_client(srv, "openai", retry=NO_RETRY, rate_limit=limit)
    assert (await own.chat("hi")).text
    # Two requests in this minute: the third, from either side, is refused before it is sent.
    with pytest.raises(llmrail.RateLimitError):
        await own.chat("hi")
    with pytest.raises(llmrail.RateLimitError):
        if sync:
            blocking.chat.completions.create(model="gpt-4.1-mini", messages=HI)  # type: ignore[arg-type]
        else:
            await ask(sdk(srv, rate_limit=limit))
    assert len(srv.requests) == 2


async def test_anthropic_messages_are_limited_by_model_through_httpx2(srv: MockServer) -> None:
    limit = llmrail.RateLimit(rpm=1, wait=False)
    http = llmrail.httpx2.AsyncClient(rate_limit=limit)
    client = anthropic.AsyncAnthropic(base_url=srv.anthropic_base_url, api_key=API_KEY, max_retries=0,
                                      http_client=http)

    async def message(model: str) -> str:
        r = await client.messages.create(model=model, max_tokens=64, messages=HI)  # type: ignore[arg-type]
        return r.content[0].text  # type: ignore[union-attr]

    assert await message("claude-sonnet-4-5")
    # anthropic 2.x wraps any exception but its own and httpx2's as a connection error.
    with pytest.raises(anthropic.APIConnectionError) as caught:
        await message("claude-sonnet-4-5")
    assert isinstance(caught.value.__cause__, llmrail.RateLimitError)
    assert await message("claude-haiku-4-5"), "another model has its own budget"
    with pytest.raises(llmrail.RateLimitError):
        await make_client(srv, "anthropic", retry=NO_RETRY, rate_limit=limit).chat("hi")


@pytest.mark.parametrize("sync", [False, True], ids=["async", "sync"])
async def test_retries_are_off_unless_asked_and_then_wait_as_retry_after_says(srv: MockServer, sync: bool) -> None:
    srv.fault(429, retry_after=0.6)
    with pytest.raises(openai.RateLimitError):
        await ask(sdk(srv))
    assert len(srv.requests) == 1
    srv.fault(429, retry_after=0.6)
    retry = llmrail.Retry(3, initial_delay=0.01, max_delay=5)
    started = time.perf_counter()
    if sync:
        http = llmrail.httpx.Client(retry=retry)
        blocking = openai.OpenAI(base_url=srv.openai_base_url, api_key=API_KEY, max_retries=0, http_client=http)
        r = blocking.chat.completions.create(model="gpt-4.1-mini", messages=HI)  # type: ignore[arg-type]
        answer = r.choices[0].message.content
    else:
        answer = await ask(sdk(srv, retry=retry))
    assert answer
    assert time.perf_counter() - started >= 0.55, "the server's Retry-After was waited for"
    assert len(srv.requests) == 3


async def test_when_the_retries_are_spent_the_sdk_reads_the_last_error_status(srv: MockServer) -> None:
    srv.fault(500, times=2, body={"error": {"message": "second", "type": "server_error"}})
    client = sdk(srv, retry=llmrail.Retry(2, initial_delay=0.01, max_delay=1), circuit_breaker=False)
    with pytest.raises(openai.InternalServerError) as caught:
        await ask(client)
    assert caught.value.status_code == 500
    assert "second" in str(caught.value)
    assert len(srv.requests) == 2


async def test_a_request_that_names_no_model_is_not_limited(srv: MockServer) -> None:
    limit = llmrail.RateLimit(rpm=1, wait=False)
    async with llmrail.httpx.AsyncClient(rate_limit=limit) as http:
        for _ in range(3):
            r = await http.get(f"{srv.openai_base_url}/models", headers={"authorization": f"Bearer {API_KEY}"})
            assert r.status_code == 200
