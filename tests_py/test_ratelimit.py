"""Rate limits and breakers, in-process and shared through a real redis-server."""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
import textwrap
import uuid

import llmrail
import pytest
from llmrail import _core
from llmrail.testing import MockServer

from .conftest import make_client
from .redis_server import free_port

NO_RETRY = llmrail.Retry(max_attempts=1)


def key() -> str:
    return f"test-{uuid.uuid4().hex}"


async def test_without_waiting_the_limit_fails_fast_and_sends_nothing(srv: MockServer) -> None:
    client = make_client(srv, "openai", rate_limit=llmrail.RateLimit(rpm=2, wait=False))
    await client.chat("one")
    await client.chat("two")
    with pytest.raises(llmrail.RateLimitError) as info:
        await client.chat("three")
    assert info.value.status is None and info.value.retry_after is not None
    assert len(srv.requests) == 2


async def test_a_call_waits_for_capacity_freed_by_real_usage(srv: MockServer) -> None:
    # 1000 tokens a minute; each call reserves its input estimate plus max_tokens (about 605),
    # so the second must wait until the first settles for what it really used (100).
    client = make_client(srv, "anthropic", rate_limit=llmrail.RateLimit(tpm=1000))
    srv.default("ok", latency=0.15, usage={"input_tokens": 10, "output_tokens": 90})
    first = asyncio.create_task(client.chat("hi", max_tokens=600))
    await srv.wait_for_requests(1)
    second = await client.chat("hi", max_tokens=600)
    assert second.rate_limit_wait >= 0.1
    assert (await first).rate_limit_wait < 0.1


async def test_waiting_is_bounded_by_the_deadline(srv: MockServer) -> None:
    client = make_client(srv, "openai", rate_limit=llmrail.RateLimit(rpm=1), deadline=5)
    await client.chat("one")
    with pytest.raises(llmrail.RateLimitError, match="deadline"):
        await client.chat("two")


@pytest.mark.parametrize("shared", [False, True], ids=["local", "redis"])
async def test_quota_headers_tighten_the_limit(srv: MockServer, redis_url: str, shared: bool) -> None:
    client = make_client(srv, "openai", rate_limit=llmrail.RateLimit(rpm=1000, key=key()),
                         redis_url=redis_url if shared else None)
    # The provider says no request is left for 300 ms, though 999 of our 1000 are.
    srv.reply("first", headers={"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "300ms"})
    await client.chat("one")
    r = await client.chat("two")
    assert 0.2 <= r.rate_limit_wait < 1.0


# The workers leave with os._exit: a foundation bug (a late asyncio wake-up from a tokio thread
# during interpreter shutdown) aborts about one Python exit in ten, whatever the calls did.
CHILD = """
    import asyncio, json, os, sys
    import llmrail
    base, redis_url, rpm_key, tpm_key = sys.argv[1:5]
    def client(limit):
        return llmrail.Client("openai/gpt-4.1-mini", base_url=base, api_key="k",
                              redis_url=redis_url or None, rate_limit=limit,
                              retry=llmrail.Retry(max_attempts=1), deadline=2)
    async def burst(c):
        async def one():
            try:
                r = await c.chat("hi", max_tokens=95)
                return r.usage.total_tokens
            except llmrail.RateLimitError:
                return None
        return [t for t in await asyncio.gather(*(one() for _ in range(10))) if t is not None]
    async def main():
        rpm = await burst(client(llmrail.RateLimit(rpm=10, key=rpm_key)))
        tpm = await burst(client(llmrail.RateLimit(tpm=1000, key=tpm_key)))
        print(json.dumps({"rpm": rpm, "tpm": tpm}), flush=True)
    asyncio.run(main())
    os._exit(0)
"""


def run_workers(srv: MockServer, redis_url: str) -> list[dict[str, list[int]]]:
    args = [srv.openai_base_url, redis_url, key(), key()]
    procs = [subprocess.Popen([sys.executable, "-c", textwrap.dedent(CHILD), *args],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = []
    for p in procs:
        out, err = p.communicate(timeout=30)
        assert p.returncode == 0, err
        results.append(json.loads(out))
    return results


def test_two_processes_share_rpm_and_tpm_through_redis(srv: MockServer, redis_url: str) -> None:
    # Each call really uses 100 tokens and reserves about as many (1 + 95 + framing).
    srv.default("ok", usage={"input_tokens": 10, "output_tokens": 90})
    results = run_workers(srv, redis_url)
    rpm_calls = sum(len(r["rpm"]) for r in results)
    tpm_tokens = sum(sum(r["tpm"]) for r in results)
    # 40 calls were tried within one minute: together they kept to 10 requests and 1000 tokens.
    assert rpm_calls == 10
    assert tpm_tokens <= 1000 and sum(len(r["tpm"]) for r in results) >= 9
    assert len(srv.requests) == rpm_calls + sum(len(r["tpm"]) for r in results)


def test_without_redis_each_process_has_its_own_limit(srv: MockServer) -> None:
    # The control for the test above: the same workers without Redis let twice as much through.
    srv.default("ok", usage={"input_tokens": 10, "output_tokens": 90})
    results = run_workers(srv, "")
    assert sum(len(r["rpm"]) for r in results) == 20


async def test_the_breaker_state_is_shared_through_redis(srv: MockServer, redis_url: str) -> None:
    def client() -> llmrail.Client:
        return make_client(srv, "openai", redis_url=redis_url, retry=NO_RETRY,
                           circuit_breaker=llmrail.CircuitBreaker(2, cooldown=30))
    worker_a, worker_b = client(), client()
    srv.fault(503, times=2)
    for _ in range(2):
        with pytest.raises(llmrail.ServerError):
            await worker_a.chat("hi")
    [status] = worker_b.health()
    assert (status.state, status.shared, status.consecutive_failures) == ("open", True, 2)
    with pytest.raises(llmrail.CircuitOpenError):
        await worker_b.chat("hi")
    assert len(srv.requests) == 2


async def test_a_redis_outage_degrades_to_local_state_with_a_warning(
    srv: MockServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="llmrail")
    _core.reset_log_levels()
    nowhere = f"redis://:hunter2@127.0.0.1:{free_port()}/0"
    client = make_client(srv, "openai", redis_url=nowhere, retry=NO_RETRY,
                         rate_limit=llmrail.RateLimit(rpm=2, key=key(), wait=False),
                         circuit_breaker=llmrail.CircuitBreaker(1, cooldown=30))
    for _ in range(2):
        assert (await client.chat("hi")).text
    with pytest.raises(llmrail.RateLimitError):  # the local limit still holds
        await client.chat("hi")
    [status] = client.health()
    assert status.shared is False
    warnings = [r.getMessage() for r in caplog.records if "Redis is unavailable" in r.getMessage()]
    assert len(warnings) == 1, "one warning per outage, not one per call"
    assert all("hunter2" not in r.getMessage() for r in caplog.records)


def test_the_redis_url_is_checked(srv: MockServer) -> None:
    with pytest.raises(llmrail.ConfigurationError, match="redis_url"):
        make_client(srv, "openai", redis_url="http://not-redis")
