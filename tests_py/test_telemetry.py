"""Telemetry from Python: client.stats(), llmrail.metrics_text() and the prometheus_client
collector, after real calls to the mock server over HTTP; scraped through prometheus_client's
parser and its real HTTP server."""

from __future__ import annotations

import asyncio
import gc
import logging
import socket
import urllib.request
import uuid
from pathlib import Path

import llmrail
import llmrail.prometheus
import pytest
from llmrail import _core
from llmrail.testing import MockServer
from prometheus_client import CollectorRegistry, generate_latest, start_http_server
from prometheus_client.parser import text_string_to_metric_families

from .conftest import API_KEY

HI = [{"role": "user", "content": "hi"}]


def fresh_client(srv: MockServer, **kwargs: object) -> tuple[llmrail.Client, str]:
    """A client of a model no other test calls, so the process-wide counters are its own."""
    model = f"claude-telemetry-{uuid.uuid4().hex[:8]}"
    client = llmrail.Client(
        f"anthropic/{model}", base_url=srv.anthropic_base_url, api_key=API_KEY, **kwargs  # type: ignore[arg-type]
    )
    return client, model


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def of(model: str, **labels: str) -> frozenset[tuple[str, str]]:
    return frozenset({"provider": "anthropic", "model": model, **labels}.items())


async def test_stats_count_calls_errors_tokens_and_latency_and_reset_on_request(srv: MockServer) -> None:
    client, _ = fresh_client(srv, retry=llmrail.Retry(max_attempts=1))
    srv.reply("one", usage={"input_tokens": 10, "output_tokens": 3})
    await client.chat(HI)
    srv.fault(429)
    with pytest.raises(llmrail.RateLimitError):
        await client.chat(HI)
    srv.reply("two", usage={"input_tokens": 5, "output_tokens": 2})
    client.chat_sync(HI)
    s = client.stats()
    assert (s.requests, s.errors) == (3, {"RateLimitError": 1})
    assert (s.input_tokens, s.output_tokens) == (15, 5)
    assert s.latency_p50 is not None and s.latency_p95 is not None and s.latency_p99 is not None
    assert 0 < s.latency_p50 <= s.latency_p95 <= s.latency_p99 < 5
    assert "requests=3" in repr(s)
    assert client.stats(reset=True).requests == 3
    after = client.stats()
    assert (after.requests, after.errors, after.latency_p50) == (0, {}, None)
    assert after.since >= s.since


async def test_a_stream_counts_when_it_ends(srv: MockServer) -> None:
    client, _ = fresh_client(srv)
    srv.reply("streamed", usage={"input_tokens": 7, "output_tokens": 4})
    async for _ in client.stream(HI):
        pass
    s = client.stats()
    assert (s.requests, s.input_tokens, s.output_tokens) == (1, 7, 4)


async def test_metrics_text_parses_with_prometheus_clients_parser(srv: MockServer) -> None:
    client, model = fresh_client(srv, retry=llmrail.Retry(initial_delay=0.001, max_delay=0.01))
    srv.fault(503)
    srv.reply("ok", usage={"input_tokens": 1000, "output_tokens": 100})
    await client.chat(HI)
    got = samples(llmrail.metrics_text())
    assert got[("llmrail_requests_total", of(model, outcome="ok"))] == 1
    assert got[("llmrail_retries_total", of(model))] == 1
    assert got[("llmrail_tokens_total", of(model, type="input"))] == 1000
    assert got[("llmrail_tokens_total", of(model, type="output"))] == 100
    assert got[("llmrail_request_duration_seconds_count", of(model))] == 1
    assert got[("llmrail_request_duration_seconds_bucket", of(model, le="+Inf"))] == 1
    assert got[("llmrail_requests_in_flight", of(model))] == 0
    assert got[("llmrail_circuit_breaker_state", of(model))] == 0


def test_the_collector_serves_the_counters_over_real_http(srv: MockServer) -> None:
    client, model = fresh_client(srv)
    srv.reply("priced", usage={"input_tokens": 1_000_000, "output_tokens": 0})
    client.chat_sync(HI)
    registry = CollectorRegistry()
    llmrail.prometheus.register(registry)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server, thread = start_http_server(port, addr="127.0.0.1", registry=registry)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
            text = r.read().decode()
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
    got = samples(text)
    assert got[("llmrail_requests_total", of(model, outcome="ok"))] == 1
    assert got[("llmrail_tokens_total", of(model, type="input"))] == 1_000_000
    # A model without a catalogue price adds no cost; the family is there all the same.
    assert got[("llmrail_cost_usd_total", of(model))] == 0
    assert generate_latest(registry).decode().count("# TYPE llmrail_requests_total counter") == 1


def test_the_cost_counter_prices_a_catalogued_model(srv: MockServer) -> None:
    client = llmrail.Client("anthropic/claude-sonnet-4-5", base_url=srv.anthropic_base_url, api_key=API_KEY)
    key = ("llmrail_cost_usd_total", of("claude-sonnet-4-5"))
    before = samples(llmrail.metrics_text()).get(key, 0.0)
    srv.reply("priced", usage={"input_tokens": 1_000_000, "output_tokens": 0})
    client.chat_sync(HI)
    assert samples(llmrail.metrics_text())[key] - before == pytest.approx(3.0)
    assert client.stats().cost_usd == pytest.approx(3.0)


def test_an_open_queue_shows_its_depth_by_state(tmp_path: object) -> None:
    url = f"sqlite:///{tmp_path}/q.db"
    queue = llmrail.Queue(url)
    got = samples(llmrail.metrics_text())
    assert got[("llmrail_queue_items", frozenset({"queue": url, "state": "queued"}.items()))] == 0
    del queue


async def test_the_processs_batch_jobs_show_by_status_with_their_items_by_outcome(
    srv: MockServer, tmp_path: Path
) -> None:
    def batch_gauges() -> dict[str, float]:
        return {
            name + "".join(f"{{{v}}}" for _, v in sorted(labels)): value
            for (name, labels), value in samples(llmrail.metrics_text()).items()
            if name.startswith("llmrail_batch_")
        }

    gc.collect()  # jobs of earlier tests, still waiting for the collector, leave the numbers now
    srv.batch_settings(outcomes={"b": ["invalid_request_error"]})
    client = llmrail.Client("openai/gpt-4.1-mini", base_url=srv.openai_base_url, api_key=API_KEY)
    requests: list[llmrail.BatchRequest] = [{"custom_id": i, "messages": f"question {i}"} for i in "abc"]
    before = batch_gauges()
    job = await client.submit_batch(requests, store=tmp_path / "jobs.sqlite3")
    await job.wait(poll_interval=0.02, timeout=20)
    after = batch_gauges()
    assert {k for k in after if k.startswith("llmrail_batch_jobs")} == {
        f"llmrail_batch_jobs{{{s}}}"
        for s in ("submitted", "running", "finalizing", "ended", "failed", "cancelling", "cancelled", "expired")
    }
    assert {k for k in after if k.startswith("llmrail_batch_items")} == {
        f"llmrail_batch_items{{{o}}}" for o in ("pending", "succeeded", "errored", "cancelled", "expired")
    }

    def grew(key: str) -> float:
        return after[key] - before.get(key, 0.0)

    assert grew("llmrail_batch_jobs{ended}") == 1
    assert (grew("llmrail_batch_items{succeeded}"), grew("llmrail_batch_items{errored}")) == (2, 1)
    assert grew("llmrail_batch_provider_batches") == 1
    del job
    gc.collect()
    assert batch_gauges()["llmrail_batch_jobs{ended}"] == after["llmrail_batch_jobs{ended}"] - 1


def call_records(caplog: pytest.LogCaptureFixture, model: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "llmrail" and getattr(r, "model", None) == model]


def test_each_call_is_one_record_on_the_llmrail_logger_with_its_facts_and_no_secret(
    srv: MockServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="llmrail")
    _core.reset_log_levels()
    client, model = fresh_client(srv, retry=llmrail.Retry(initial_delay=0.001, max_delay=0.01))
    srv.fault(503)
    srv.reply("ok", usage={"input_tokens": 12, "output_tokens": 3})
    client.chat_sync(HI)
    srv.fault(401)
    with pytest.raises(llmrail.AuthenticationError):
        client.chat_sync(HI)
    ok, failed = call_records(caplog, model)
    latency_s = ok.__dict__["latency_s"]
    assert (ok.levelno, failed.levelno) == (logging.INFO, logging.INFO)
    fields = ("provider", "model", "outcome", "http_status", "latency_s", "attempts",
              "input_tokens", "output_tokens", "cost_usd")
    # pyo3-log hands key-values over as strings.
    assert {f: getattr(ok, f) for f in fields} == {
        "provider": "anthropic", "model": model, "outcome": "ok", "http_status": "0",
        "latency_s": latency_s, "attempts": "2", "input_tokens": "12", "output_tokens": "3",
        "cost_usd": "0",
    }
    assert 0 < float(latency_s) < 5
    assert [getattr(failed, f) for f in ("outcome", "http_status", "attempts")] == ["AuthenticationError", "401", "1"]
    for record in caplog.records:
        assert API_KEY not in record.getMessage()
        assert all(API_KEY not in str(v) for v in vars(record).values())


async def test_a_cancelled_call_counts_as_cancelled_and_leaves_no_call_in_flight(srv: MockServer) -> None:
    client, model = fresh_client(srv)
    srv.reply("late", latency=5)
    task = asyncio.ensure_future(client.chat(HI))
    for _ in range(500):
        if samples(llmrail.metrics_text()).get(("llmrail_requests_in_flight", of(model))) == 1:
            break
        await asyncio.sleep(0.01)
    assert samples(llmrail.metrics_text())[("llmrail_requests_in_flight", of(model))] == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    for _ in range(500):
        if client.stats().requests == 1:
            break
        await asyncio.sleep(0.01)
    assert client.stats().errors == {"CancelledError": 1}
    got = samples(llmrail.metrics_text())
    assert got[("llmrail_requests_in_flight", of(model))] == 0
    assert got[("llmrail_requests_total", of(model, outcome="CancelledError"))] == 1
