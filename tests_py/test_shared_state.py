"""Process-wide state per target: every client of the process that calls the same provider, base
URL, model and key shares one breaker, one rate-limit bucket and one prompt-cache memory, so a
service that builds a client per request still sees its breaker open and its limit hold. Each
client judges the shared state by its own settings, as processes sharing a Redis do."""

from __future__ import annotations

import logging
import uuid
from typing import Any

import llmrail
import pytest
from llmrail import _core
from llmrail.testing import MockServer

from .conftest import make_client

NO_RETRY = llmrail.Retry(max_attempts=1)
# About 1,500 tokens: above Sonnet 4.5's 1,024-token minimum.
POLICY = "Follow the refund policy in section 4. " * 150


def per_request(srv: MockServer, **kwargs: Any) -> llmrail.Client:
    """A client as a web handler would build one for each request it serves."""
    return make_client(srv, "openai", retry=NO_RETRY, **kwargs)


async def answer(client: llmrail.Client, sync: bool) -> str:
    return client.chat_sync("hi").text if sync else (await client.chat("hi")).text


@pytest.mark.parametrize("sync", [False, True], ids=["async", "sync"])
async def test_a_client_built_per_request_still_sees_its_breaker_open(srv: MockServer, sync: bool) -> None:
    breaker = llmrail.CircuitBreaker(2, cooldown=30)
    srv.fault(503, times=2)
    for _ in range(2):
        with pytest.raises(llmrail.ServerError):
            await answer(per_request(srv, circuit_breaker=breaker), sync)
    with pytest.raises(llmrail.CircuitOpenError):
        await answer(per_request(srv, circuit_breaker=breaker), sync)
    assert len(srv.requests) == 2, "the open breaker sent nothing"
    [status] = per_request(srv, circuit_breaker=breaker).health()
    assert (status.state, status.consecutive_failures) == ("open", 2)


async def test_a_stream_from_a_new_client_fails_fast_too(srv: MockServer) -> None:
    breaker = llmrail.CircuitBreaker(1, cooldown=30)
    srv.fault(503)
    with pytest.raises(llmrail.ServerError):
        await per_request(srv, circuit_breaker=breaker).chat("hi")
    with pytest.raises(llmrail.CircuitOpenError):
        [e async for e in per_request(srv, circuit_breaker=breaker).stream("hi")]
    assert len(srv.requests) == 1


@pytest.mark.parametrize("sync", [False, True], ids=["async", "sync"])
async def test_a_client_built_per_request_still_keeps_to_the_rate_limit(srv: MockServer, sync: bool) -> None:
    limit = llmrail.RateLimit(rpm=2, wait=False)
    for _ in range(2):
        assert await answer(per_request(srv, rate_limit=limit), sync)
    with pytest.raises(llmrail.RateLimitError):
        await answer(per_request(srv, rate_limit=limit), sync)
    assert len(srv.requests) == 2


async def test_another_api_key_is_another_target(srv: MockServer) -> None:
    limit = llmrail.RateLimit(rpm=1, wait=False)
    await per_request(srv, rate_limit=limit).chat("hi")
    with pytest.raises(llmrail.RateLimitError):
        await per_request(srv, rate_limit=limit).chat("hi")
    other = llmrail.Client("openai/gpt-4.1-mini", base_url=srv.openai_base_url, api_key="sk-another-team",
                           retry=NO_RETRY, rate_limit=limit)
    assert (await other.chat("hi")).text


async def test_each_client_judges_the_shared_state_by_its_own_settings(srv: MockServer) -> None:
    strict, loose = llmrail.RateLimit(rpm=1, wait=False), llmrail.RateLimit(rpm=3, wait=False)
    await per_request(srv, rate_limit=strict).chat("hi")
    with pytest.raises(llmrail.RateLimitError):  # one in the window: the strict client's limit
        await per_request(srv, rate_limit=strict).chat("hi")
    for _ in range(2):  # the loose one's limit is three: the same window has room
        await per_request(srv, rate_limit=loose).chat("hi")
    with pytest.raises(llmrail.RateLimitError):
        await per_request(srv, rate_limit=loose).chat("hi")
    assert len(srv.requests) == 3


async def test_a_named_bucket_is_shared_by_every_client_that_names_it(srv: MockServer) -> None:
    limit = llmrail.RateLimit(rpm=1, key=f"team-{uuid.uuid4().hex}", wait=False)
    await make_client(srv, "openai", rate_limit=limit).chat("hi")
    with pytest.raises(llmrail.RateLimitError):
        await make_client(srv, "anthropic", rate_limit=limit).chat("hi")


def test_cache_breaks_are_judged_across_clients_and_totals_stay_each_clients(
    srv: MockServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="llmrail")
    _core.reset_log_levels()
    first = make_client(srv, "anthropic", prompt_cache="5m")
    first.chat_sync("Hi", system=f"Now: 10:00\n{POLICY}")
    second = make_client(srv, "anthropic", prompt_cache="5m")
    second.chat_sync("Hi", system=f"Now: 10:01\n{POLICY}")
    [warning] = [r.getMessage() for r in caplog.records if r.name.startswith("llmrail.cache")]
    assert "system prompt differs from the previous call at line 1, column 10" in warning
    assert (first.cache_stats().cache_breaks, second.cache_stats().cache_breaks) == (0, 1)
    assert first.cache_stats().requests == second.cache_stats().requests == 1


async def test_clients_built_per_request_share_through_redis_too(srv: MockServer, redis_url: str) -> None:
    limit = llmrail.RateLimit(rpm=3, key=f"test-{uuid.uuid4().hex}", wait=False)

    def client(breaker: llmrail.CircuitBreaker | bool) -> llmrail.Client:
        return per_request(srv, redis_url=redis_url, circuit_breaker=breaker, rate_limit=limit)

    breaker = llmrail.CircuitBreaker(2, cooldown=30)
    srv.fault(503, times=2)
    for _ in range(2):
        with pytest.raises(llmrail.ServerError):
            await client(breaker).chat("hi")
    [status] = client(breaker).health()
    assert (status.state, status.shared) == ("open", True)
    with pytest.raises(llmrail.CircuitOpenError):
        await client(breaker).chat("hi")
    # Without a breaker a client still spends the shared budget: two failures and this one.
    assert (await client(False).chat("hi")).text
    with pytest.raises(llmrail.RateLimitError):
        await client(False).chat("hi")
    assert len(srv.requests) == 3
