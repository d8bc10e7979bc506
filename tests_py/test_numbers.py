"""Numbers nobody checked: a server's absurd headers and a user's out-of-range arguments.

A server's number saturates or is ignored, never crashes a call; a user's bad number (or a string
UTF-8 cannot carry) is a ConfigurationError naming the argument, never a PanicException (a
BaseException that `except Exception` misses), an OverflowError or a UnicodeEncodeError.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import llmrail
import pytest
from llmrail.testing import MockServer

from .conftest import make_client

LONGEST = 1e9  # seconds: what an absurd server wait saturates at

# Headers a hostile or broken server may send, each alone.
HUGE_HEADERS: list[dict[str, str]] = [
    {"retry-after": "1e300"},
    {"retry-after": "18446744073709551616"},
    {"retry-after-ms": "1e300"},
    {"retry-after": "Fri, 31 Dec 9999 23:59:59 GMT"},
    {"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "99999999999999999999h"},
    {"x-ratelimit-remaining-tokens": "0", "x-ratelimit-reset-tokens": "99999999999999999999h"},
    {"anthropic-ratelimit-requests-remaining": "0", "anthropic-ratelimit-requests-reset": "9999-12-31T23:59:59Z"},
]
HEADER_IDS = [",".join(f"{k}={v}" for k, v in h.items()) for h in HUGE_HEADERS]

# Headers whose numbers cannot be read at all: ignored, as if absent.
JUNK_HEADERS: list[dict[str, str]] = [
    {"retry-after": "Sun, 06 Nov 99999999999999999 08:49:37 GMT"},
    {"retry-after": "-5", "x-ratelimit-remaining-tokens": "-1", "x-ratelimit-remaining-requests": "1e400"},
    {"anthropic-ratelimit-tokens-remaining": "0", "anthropic-ratelimit-tokens-reset": "99999999999-01-01T00:00:00Z"},
    {"x-ratelimit-remaining-tokens": "99999999999999999999", "x-ratelimit-reset-tokens": "1e300s"},
]


@pytest.mark.parametrize("headers", HUGE_HEADERS + JUNK_HEADERS, ids=HEADER_IDS + ["junk"] * len(JUNK_HEADERS))
async def test_a_200_with_absurd_rate_limit_headers_keeps_its_answer(
    srv: MockServer, provider: str, headers: dict[str, str]
) -> None:
    # A rate limit too, so the quota headers reach the limiter and tighten it.
    client = make_client(srv, provider, rate_limit=llmrail.RateLimit(rpm=1000, tpm=10_000_000))
    srv.reply("still here", headers=headers)
    r = await client.chat("hi")
    assert r.text == "still here"
    # The next call is not held back for 31 years by the headers of the first: where they said
    # nothing is left, the limiter waits for its 60 s window at most.
    srv.reply("again")
    try:
        assert (await client.chat("hi", deadline=5)).text == "again"
    except llmrail.RateLimitError as e:
        assert "remaining" in str(headers)
        assert e.status is None and e.retry_after is not None and e.retry_after <= 60


@pytest.mark.parametrize("headers", HUGE_HEADERS, ids=HEADER_IDS)
async def test_a_429_with_an_absurd_wait_is_a_rate_limit_error_at_once(
    srv: MockServer, provider: str, headers: dict[str, str]
) -> None:
    client = make_client(srv, provider)
    srv.fault(429, headers=headers)
    started = time.monotonic()
    with pytest.raises(llmrail.RateLimitError) as info:
        await client.chat("hi")
    assert time.monotonic() - started < 1.0
    assert info.value.status == 429
    assert info.value.retry_after is not None
    assert info.value.retry_after == pytest.approx(LONGEST, rel=0.01)
    assert info.value.attempts == 1
    assert len(srv.requests) == 1


def test_a_429_asking_for_eleven_days_is_given_to_the_caller_at_once(srv: MockServer, provider: str) -> None:
    client = make_client(srv, provider)  # the default Retry: max_delay=30
    eleven_days = 11 * 86_400
    srv.fault(429, retry_after=eleven_days, times=4)
    srv.reply("never reached")
    started = time.monotonic()
    with pytest.raises(llmrail.RateLimitError) as info:
        client.chat_sync("hi")
    assert time.monotonic() - started < 1.0
    assert info.value.retry_after == eleven_days
    assert "not retried" in str(info.value) and "max_delay" in str(info.value)
    assert (info.value.attempts, info.value.retry_wait) == (1, 0.0)
    assert len(srv.requests) == 1


async def test_a_wait_within_max_delay_is_still_waited_and_retried(srv: MockServer) -> None:
    client = make_client(srv, "openai", retry=llmrail.Retry(max_delay=0.5))
    srv.fault(429, headers={"retry-after-ms": "200"})
    srv.reply("after the wait")
    r = await client.chat("hi")
    assert (r.text, r.attempts) == ("after the wait", 2)
    assert r.retry_wait >= 0.2


async def test_a_wait_longer_than_the_deadline_leaves_is_given_up_at_once(srv: MockServer) -> None:
    client = make_client(srv, "anthropic")
    srv.fault(429, retry_after=20)
    started = time.monotonic()
    with pytest.raises(llmrail.RateLimitError) as info:
        await client.chat("hi", deadline=5)
    assert time.monotonic() - started < 1.0
    assert info.value.retry_after == 20


# ---- arguments ------------------------------------------------------------------------------

HUGE = 1e300
SURROGATE = "\ud800"

# (argument named in the error, how to pass it)
BAD_ARGUMENTS: list[tuple[str, Callable[[], object]]] = [
    ("timeout", lambda: llmrail.Client("openai/m", api_key="k", timeout=HUGE)),
    ("timeout", lambda: llmrail.Client("openai/m", api_key="k", timeout=10**400)),
    ("deadline", lambda: llmrail.Client("openai/m", api_key="k", deadline=HUGE)),
    ("connect_timeout", lambda: llmrail.Client("openai/m", api_key="k", connect_timeout=HUGE)),
    ("connect_timeout", lambda: llmrail.Client("openai/m", api_key="k", connect_timeout=1e9 + 1)),
    ("model", lambda: llmrail.Client(f"openai/{SURROGATE}", api_key="k")),
    ("api_key", lambda: llmrail.Client("openai/m", api_key=SURROGATE)),
    ("base_url", lambda: llmrail.Client("openai/m", api_key="k", base_url=f"http://{SURROGATE}")),
    ("headers", lambda: llmrail.Client("openai/m", api_key="k", headers=[("x-a", SURROGATE)])),
    ("redis_url", lambda: llmrail.Client("openai/m", api_key="k", redis_url=SURROGATE)),
    ("prompt_cache", lambda: llmrail.Client("openai/m", api_key="k", prompt_cache=SURROGATE)),  # type: ignore[arg-type]
    ("fallbacks", lambda: llmrail.Client("openai/m", api_key="k", fallbacks=[f"openai/{SURROGATE}"])),
    ("initial_delay", lambda: llmrail.Retry(initial_delay=HUGE, max_delay=HUGE)),
    ("max_delay", lambda: llmrail.Retry(max_delay=HUGE)),
    ("max_delay", lambda: llmrail.Retry(max_delay=-1)),
    ("max_attempts", lambda: llmrail.Retry(max_attempts=2**70)),
    ("max_attempts", lambda: llmrail.Retry(max_attempts=-1)),
    ("multiplier", lambda: llmrail.Retry(multiplier=10**400)),
    ("jitter", lambda: llmrail.Retry(jitter=SURROGATE)),  # type: ignore[arg-type]
    ("cooldown", lambda: llmrail.CircuitBreaker(cooldown=HUGE)),
    ("window", lambda: llmrail.CircuitBreaker(window=HUGE)),
    ("failure_threshold", lambda: llmrail.CircuitBreaker(failure_threshold=2**40)),
    ("min_calls", lambda: llmrail.CircuitBreaker(min_calls=-3)),
    ("failure_rate", lambda: llmrail.CircuitBreaker(failure_rate=10**400)),
    ("rpm", lambda: llmrail.RateLimit(rpm=2**70)),
    ("rpm", lambda: llmrail.RateLimit(rpm=-1)),
    ("tpm", lambda: llmrail.RateLimit(tpm=2**64)),
    ("key", lambda: llmrail.RateLimit(rpm=1, key=SURROGATE)),
]


@pytest.mark.parametrize(("name", "build"), BAD_ARGUMENTS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(BAD_ARGUMENTS)])
def test_a_bad_argument_is_a_configuration_error_naming_it(name: str, build: Callable[[], object]) -> None:
    with pytest.raises(llmrail.ConfigurationError, match=rf"\b{name}\b"):
        build()


def test_a_bad_api_key_is_named_but_not_shown() -> None:
    with pytest.raises(llmrail.ConfigurationError) as info:
        llmrail.Client("openai/m", api_key=f"sk-secret-{SURROGATE}")
    assert "api_key" in str(info.value)
    assert "sk-secret" not in str(info.value)


def test_a_huge_number_is_shown_short_in_the_message() -> None:
    with pytest.raises(llmrail.ConfigurationError) as info:
        llmrail.Retry(max_attempts=10**5000)
    assert len(str(info.value)) < 200


def test_the_longest_durations_are_accepted_and_work(srv: MockServer, provider: str) -> None:
    retry = llmrail.Retry(initial_delay=1e9, max_delay=1e9, multiplier=1e300)
    assert retry.max_delay == 1e9
    breaker = llmrail.CircuitBreaker(window=1e9, cooldown=1e9)
    assert breaker.cooldown == 1e9
    limit = llmrail.RateLimit(rpm=2**64 - 1, tpm=2**64 - 1)
    assert limit.rpm == 2**64 - 1
    client = make_client(
        srv, provider, timeout=1e9, deadline=1e9, connect_timeout=1e9,
        retry=retry, circuit_breaker=breaker, rate_limit=limit,
    )
    srv.reply("fine")
    assert client.chat_sync("hi", deadline=1e9, max_tokens=2**32 - 1).text == "fine"
    srv.reply("streamed")
    assert "".join(e.text or "" for e in client.stream("hi", deadline=1e9)) == "streamed"


# Per-call arguments, on every chat-shaped method.
CALL_ARGUMENTS: list[tuple[str, dict[str, Any]]] = [
    ("max_tokens", {"max_tokens": 2**40}),
    ("max_tokens", {"max_tokens": -1}),
    ("system", {"system": SURROGATE}),
    ("deadline", {"deadline": HUGE}),
    ("deadline", {"deadline": 10**400}),
    ("prompt_cache", {"prompt_cache": SURROGATE}),
]
EXTRACT_ARGUMENTS: list[tuple[str, dict[str, Any]]] = [
    *CALL_ARGUMENTS,
    ("max_retries", {"max_retries": -1}),
    ("max_retries", {"max_retries": 2**70}),
    ("token_budget", {"token_budget": -5}),
    ("mode", {"mode": SURROGATE}),
]
SCHEMA = {"type": "object", "properties": {"a": {"type": "integer"}}}


@pytest.mark.parametrize(
    ("name", "kwargs"), CALL_ARGUMENTS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CALL_ARGUMENTS)]
)
async def test_a_bad_call_argument_is_a_configuration_error_naming_it(
    srv: MockServer, name: str, kwargs: dict[str, Any]
) -> None:
    client = make_client(srv, "openai")
    with pytest.raises(llmrail.ConfigurationError, match=rf"\b{name}\b"):
        await client.chat("hi", **kwargs)
    with pytest.raises(llmrail.ConfigurationError, match=rf"\b{name}\b"):
        client.chat_sync("hi", **kwargs)
    with pytest.raises(llmrail.ConfigurationError, match=rf"\b{name}\b"):
        for _ in client.stream("hi", **kwargs):
            pass
    assert srv.requests == []


@pytest.mark.parametrize(
    ("name", "kwargs"), EXTRACT_ARGUMENTS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(EXTRACT_ARGUMENTS)]
)
async def test_a_bad_extract_argument_is_a_configuration_error_naming_it(
    srv: MockServer, name: str, kwargs: dict[str, Any]
) -> None:
    client = make_client(srv, "openai")
    with pytest.raises(llmrail.ConfigurationError, match=rf"\b{name}\b"):
        await client.extract(SCHEMA, "hi", **kwargs)
    with pytest.raises(llmrail.ConfigurationError, match=rf"\b{name}\b"):
        client.extract_sync(SCHEMA, "hi", **kwargs)
    with pytest.raises(llmrail.ConfigurationError, match=rf"\b{name}\b"):
        for _ in client.extract_stream(SCHEMA, "hi", **kwargs):
            pass
    assert srv.requests == []


async def test_absurd_usage_counts_saturate_in_totals_and_sums(srv: MockServer, provider: str) -> None:
    most = 2**64 - 1
    client = make_client(srv, provider)
    usage = {"input_tokens": most, "output_tokens": most, "cache_read_tokens": most, "cache_write_tokens": most}
    srv.reply("counted", usage=usage)  # type: ignore[arg-type]
    r = await client.chat("hi")
    assert r.text == "counted"
    assert (r.usage.input_tokens, r.usage.total_tokens) == (most, most)
    assert client.cache_stats().input_tokens == most
    srv.reply('{"a": 1}', usage=usage)  # type: ignore[arg-type]
    assert (await client.extract(SCHEMA, "hi", include_raw=True)).usage.total_tokens == most


async def test_absurd_usage_fills_the_rate_limit_for_one_window_only(srv: MockServer, provider: str) -> None:
    client = make_client(srv, provider, rate_limit=llmrail.RateLimit(tpm=2**63))
    srv.reply("counted", usage={"input_tokens": 2**64 - 1, "output_tokens": 2**64 - 1})
    assert (await client.chat("hi")).text == "counted"
    with pytest.raises(llmrail.RateLimitError) as info:
        await client.chat("hi", deadline=1)
    assert info.value.status is None
    assert info.value.retry_after is not None and info.value.retry_after <= 60
