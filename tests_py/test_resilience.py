"""Retries, deadlines, circuit breakers and fallbacks, against the mock server's faults."""

from __future__ import annotations

import asyncio
import socket
import time
from typing import Any

import llmrail
import pytest
from llmrail.testing import MockServer

from .conftest import API_KEY, make_client

QUICK = llmrail.Retry(max_attempts=4, initial_delay=0.001, max_delay=0.01)

# Every way a provider can fail that deserves another attempt, as the mock server injects it.
RETRIABLE: list[tuple[str, dict[str, Any]]] = [
    *[(str(s), {"kind": s}) for s in (408, 409, 429, 500, 502, 503, 504, 529)],
    ("reset", {"kind": "reset"}),
    ("truncate", {"kind": "truncate", "after": 5}),
    ("slow_body", {"kind": "slow_body", "seconds": 0.5}),
]


@pytest.mark.parametrize(("name", "fault"), RETRIABLE, ids=[n for n, _ in RETRIABLE])
async def test_each_retriable_fault_is_retried_then_succeeds(
    srv: MockServer, provider: str, name: str, fault: dict[str, Any]
) -> None:
    client = make_client(srv, provider, retry=QUICK, timeout=0.15)
    spec = dict(fault)
    srv.fault(spec.pop("kind"), **spec)
    srv.reply("recovered")
    r = await client.chat("hi")
    assert r.text == "recovered"
    assert r.attempts == 2
    assert len(srv.requests) == 2
    assert 0 < r.retry_wait <= 0.01
    assert not r.fallback_used


async def test_a_400_is_not_retried(srv: MockServer, client: llmrail.Client) -> None:
    srv.fault(400)
    with pytest.raises(llmrail.BadRequestError) as info:
        await client.chat("hi", retry=QUICK)
    assert info.value.attempts == 1
    assert len(srv.requests) == 1


async def test_a_retry_after_of_two_seconds_is_waited(srv: MockServer) -> None:
    client = make_client(srv, "openai")
    srv.fault(429, retry_after=2)
    started = time.monotonic()
    r = await client.chat("hi")
    assert time.monotonic() - started >= 2.0
    assert r.retry_wait >= 2.0
    assert r.attempts == 2


@pytest.mark.parametrize(
    "headers",
    [
        {"retry-after-ms": "300"},
        {"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "300ms"},
    ],
    ids=["retry-after-ms", "openai-reset-header"],
)
async def test_other_wait_hints_are_honoured(srv: MockServer, headers: dict[str, str]) -> None:
    client = make_client(srv, "openai", retry=llmrail.Retry(initial_delay=0.001))
    srv.fault(429, headers=headers)
    r = await client.chat("hi")
    assert 0.3 <= r.retry_wait < 1.0


async def test_waits_are_capped_by_max_delay(srv: MockServer) -> None:
    # The backoff is capped: 0.04 s, then 0.08 s cut to max_delay.
    retry = llmrail.Retry(max_delay=0.05, initial_delay=0.04, multiplier=2, jitter="none")
    client = make_client(srv, "openai", retry=retry)
    srv.fault(503, times=2)
    r = await client.chat("hi")
    assert r.retry_wait == pytest.approx(0.09, abs=0.005)
    # A server asking for longer than max_delay is not retried after a shorter wait (issue 13):
    # the caller gets its error and the server's wait at once.
    srv.fault(503, retry_after=30)
    with pytest.raises(llmrail.ServerError) as info:
        await client.chat("hi")
    assert (info.value.retry_after, info.value.attempts, info.value.retry_wait) == (30, 1, 0.0)


async def test_the_deadline_stops_retries(srv: MockServer, provider: str) -> None:
    client = make_client(srv, provider, deadline=0.25,
                         retry=llmrail.Retry(max_attempts=20, initial_delay=0.05, jitter="none"))
    srv.fault(503, times=20)
    started = time.monotonic()
    with pytest.raises(llmrail.ServerError) as info:
        await client.chat("hi")
    assert time.monotonic() - started < 0.35
    assert 2 <= info.value.attempts < 20
    assert info.value.retry_wait < 0.25


async def test_a_deadline_longer_than_a_retry_after_gives_up_at_once(srv: MockServer) -> None:
    client = make_client(srv, "openai")
    srv.fault(429, retry_after=5)
    started = time.monotonic()
    with pytest.raises(llmrail.RateLimitError) as info:
        await client.chat("hi", deadline=1.0)
    assert time.monotonic() - started < 0.5
    assert info.value.attempts == 1


def test_the_deadline_bounds_a_slow_answer(srv: MockServer) -> None:
    client = make_client(srv, "anthropic")
    srv.default("late", latency=3.0)
    started = time.monotonic()
    with pytest.raises(llmrail.TimeoutError, match="deadline"):
        client.chat_sync("hi", deadline=0.3)
    assert time.monotonic() - started < 1.0


def test_the_connect_timeout_is_the_clients_own() -> None:
    # A listener whose accept queue is full: the kernel drops further SYNs, so connecting hangs.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        fillers = [socket.socket() for _ in range(4)]
        try:
            for f in fillers:
                f.setblocking(False)
                f.connect_ex(("127.0.0.1", port))
            client = llmrail.Client("openai/m", base_url=f"http://127.0.0.1:{port}/v1", api_key="k",
                                    connect_timeout=0.2, retry=llmrail.Retry(max_attempts=1))
            started = time.monotonic()
            with pytest.raises(llmrail.TimeoutError, match="connect"):
                client.chat_sync("hi")
            assert time.monotonic() - started < 0.8
        finally:
            for f in fillers:
                f.close()


async def test_a_stream_is_retried_before_its_first_event(srv: MockServer, client: llmrail.Client) -> None:
    srv.fault(503)
    srv.fault("truncate", after=1)  # cut before any text: nothing reached the caller yet
    srv.reply("streamed fine")
    events = [e async for e in client.stream("hi", retry=QUICK)]
    assert "".join(e.text for e in events) == "streamed fine"
    assert len(srv.requests) == 3
    done = events[-1]
    assert (done.type, done.attempts, done.fallback_used) == ("done", 3, False)
    assert done.retry_wait is not None and done.retry_wait > 0
    assert all(e.attempts is None for e in events[:-1]), "only the done event reports"


def test_a_streams_done_event_says_which_fallback_answered(srv: MockServer) -> None:
    with MockServer() as backup:
        client = make_client(
            srv, "openai", retry=QUICK,
            fallbacks=[{"model": "anthropic/claude-haiku-4-5", "base_url": backup.anthropic_base_url,
                        "api_key": API_KEY}],
        )
        srv.fault(503, times=4)
        backup.default("from the backup")
        *_, done = client.stream("hi")
        assert (done.type, done.model, done.fallback_used, done.attempts) == (
            "done", "claude-haiku-4-5", True, 5)

        srv.default("from the primary")
        *_, done = client.stream("hi")
        assert (done.fallback_used, done.attempts, done.rate_limit_wait) == (False, 1, 0.0)


async def test_cancelling_during_a_backoff_wait_ends_promptly(srv: MockServer, client: llmrail.Client) -> None:
    srv.fault(429, retry_after=20)
    task = asyncio.create_task(client.chat("hi"))
    await srv.wait_for_requests(1)
    await asyncio.sleep(0.1)  # now inside the 20 s wait
    started = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert time.monotonic() - started < 0.5
    await asyncio.sleep(0.1)
    assert len(srv.requests) == 1, "no retry after cancellation"


async def test_the_breaker_opens_fails_fast_half_opens_and_closes(srv: MockServer) -> None:
    client = make_client(srv, "anthropic", retry=llmrail.Retry(max_attempts=1),
                         circuit_breaker=llmrail.CircuitBreaker(2, cooldown=0.3))
    srv.fault(503, times=2)
    for _ in range(2):
        with pytest.raises(llmrail.ServerError):
            await client.chat("hi")
    [status] = client.health()
    assert (status.state, status.consecutive_failures) == ("open", 2)
    assert status.name == f"{client.provider}/{client.model}"

    with pytest.raises(llmrail.CircuitOpenError) as info:
        await client.chat("hi")
    assert info.value.retry_after is not None and 0 < info.value.retry_after <= 0.3
    assert len(srv.requests) == 2, "an open breaker sends nothing"

    await asyncio.sleep(0.35)
    assert client.health()[0].state == "half_open"
    srv.reply("probe ok", latency=0.2)
    probe = asyncio.create_task(client.chat("probe"))
    await srv.wait_for_requests(3)
    with pytest.raises(llmrail.CircuitOpenError):  # only one probe at a time
        await client.chat("meanwhile")
    assert (await probe).text == "probe ok"
    assert client.health()[0].state == "closed"
    assert (await client.chat("after")).text.startswith("mock reply")


async def test_a_failed_probe_opens_it_again(srv: MockServer) -> None:
    client = make_client(srv, "openai", retry=llmrail.Retry(max_attempts=1),
                         circuit_breaker=llmrail.CircuitBreaker(1, cooldown=0.2))
    srv.fault(500, times=2)
    with pytest.raises(llmrail.ServerError):
        await client.chat("hi")
    await asyncio.sleep(0.25)
    with pytest.raises(llmrail.ServerError):
        await client.chat("probe")
    assert client.health()[0].state == "open"


async def test_the_fallback_answers_while_the_primary_is_down(srv: MockServer) -> None:
    with MockServer() as backup:
        client = make_client(
            srv, "openai", retry=QUICK, circuit_breaker=llmrail.CircuitBreaker(4, cooldown=60),
            fallbacks=[{"model": "anthropic/claude-haiku-4-5", "base_url": backup.anthropic_base_url,
                        "api_key": API_KEY}],
        )
        srv.default("never")
        srv.fault(503, times=4)
        backup.default("from the backup")
        r = await client.chat("hi", extra_body={"seed": 7})
        assert r.text == "from the backup"
        assert r.fallback_used
        assert (r.provider, r.model) == ("anthropic", "claude-haiku-4-5")
        assert r.attempts == 5
        assert "seed" not in backup.last_request["body"], "provider-specific fields stay behind"
        # The primary's breaker is open now: the next call goes straight to the fallback.
        assert [h.state for h in client.health()] == ["open", "closed"]
        r = await client.chat("again")
        assert (r.fallback_used, r.attempts, len(srv.requests)) == (True, 1, 4)


async def test_no_fallback_for_the_callers_own_mistakes(srv: MockServer) -> None:
    with MockServer() as backup:
        client = make_client(srv, "openai", fallbacks=[
            {"model": "openai/gpt-4.1", "base_url": backup.openai_base_url, "api_key": API_KEY}])
        srv.fault(401)
        with pytest.raises(llmrail.AuthenticationError):
            await client.chat("hi")
        assert backup.requests == []


async def test_when_every_model_fails_the_error_names_them_all(srv: MockServer) -> None:
    with MockServer() as backup:
        client = make_client(srv, "anthropic", retry=llmrail.Retry(max_attempts=1), fallbacks=[
            {"model": "openai/gpt-4.1", "base_url": backup.openai_base_url, "api_key": API_KEY}])
        srv.fault(529)
        backup.fault(500)
        with pytest.raises(llmrail.ServerError) as info:
            await client.chat("hi")
        assert info.value.provider == "openai"
        assert "anthropic/claude-sonnet-4-5: OverloadedError" in str(info.value)
        assert info.value.attempts == 2


def test_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="max_attempts"):
        llmrail.Retry(0)
    with pytest.raises(llmrail.ConfigurationError, match="jitter"):
        llmrail.Retry(jitter="some")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="rpm, tpm"):
        llmrail.RateLimit()
    with pytest.raises(ValueError, match="failure_rate"):
        llmrail.CircuitBreaker(failure_rate=2.0)
    with pytest.raises(ValueError, match="deadline"):
        llmrail.Client("openai/m", base_url="http://127.0.0.1:9", deadline=0)
    with pytest.raises(ValueError, match="fallbacks"):
        llmrail.Client("openai/m", base_url="http://127.0.0.1:9", fallbacks="openai/x")  # type: ignore[arg-type]
    assert llmrail.Retry(3) == llmrail.Retry(max_attempts=3)
    assert "max_attempts=3" in repr(llmrail.Retry(3))


def test_breakers_can_be_turned_off(srv: MockServer) -> None:
    client = make_client(srv, "openai", circuit_breaker=False, retry=llmrail.Retry(max_attempts=1))
    assert client.health() == []
    srv.fault(500, times=8)
    for _ in range(8):
        with pytest.raises(llmrail.ServerError):
            client.chat_sync("hi")
