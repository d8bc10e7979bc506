"""The gateway's OpenTelemetry spans: a request continues the caller's W3C trace context as a
SERVER span with the HTTP attributes, the llmrail call nested under it, read back with the SDK's
in-memory exporter over real HTTP to the gateway in front of the mock server."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import llmrail
import openai
import pytest
from llmrail.testing import MockServer
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from .conftest import reset_otel_globals

KEY = "gw-traced-0123456789abcdef"
TRACE_ID = 0x4BF92F3577B34DA6A3CE929D0E0E4736
CALLER_SPAN = 0x00F067AA0BA902B7
TRACEPARENT = f"00-{TRACE_ID:032x}-{CALLER_SPAN:016x}-01"


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    reset_otel_globals()
    trace.set_tracer_provider(provider)
    yield exporter
    reset_otel_globals()


@pytest.fixture
def gateway(srv: MockServer, exporter: InMemorySpanExporter) -> Iterator[llmrail.Gateway]:
    del exporter  # configured first: the gateway decides at start whether it traces
    cfg = (
        f"models:\n  fast:\n    model: openai/gpt-4o-mini\n    base_url: {srv.openai_base_url}\n"
        f"    api_key: sk-upstream\n    retry: {{max_attempts: 1}}\nkeys:\n  - name: a\n    key: {KEY}\n"
    )
    with llmrail.serve(config_text=cfg, port=0, background=True) as gw:
        yield gw


def spans_of(exporter: InMemorySpanExporter, requests: int) -> list[ReadableSpan]:
    """The spans once `requests` SERVER spans are in: the gateway hands them over from a thread
    of its own after each answer is sent."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        spans = list(exporter.get_finished_spans())
        if sum(s.kind == SpanKind.SERVER for s in spans) >= requests:
            return spans
        time.sleep(0.01)
    raise AssertionError(f"no server span after 30 s: {exporter.get_finished_spans()}")


def children(spans: list[ReadableSpan], parent: ReadableSpan) -> list[ReadableSpan]:
    assert parent.context is not None
    return [s for s in spans if s.parent is not None and s.parent.span_id == parent.context.span_id]


def test_a_request_with_a_traceparent_continues_its_trace_with_the_call_nested_under_it(
    exporter: InMemorySpanExporter, gateway: llmrail.Gateway
) -> None:
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key=KEY, max_retries=0)
    with client:
        answer = client.chat.completions.create(
            model="fast",
            messages=[{"role": "user", "content": "hi"}],
            extra_headers={"traceparent": TRACEPARENT, "tracestate": "congo=t61rcWkgMzE"},
        )
    assert answer.choices[0].message.content
    spans = spans_of(exporter, 1)
    (server,) = [s for s in spans if s.kind == SpanKind.SERVER]
    assert server.context is not None and server.parent is not None
    assert server.context.trace_id == TRACE_ID
    assert server.parent.span_id == CALLER_SPAN and server.parent.is_remote
    assert server.context.trace_state.get("congo") == "t61rcWkgMzE"
    assert server.name == "POST /v1/chat/completions"
    attrs = dict(server.attributes or {})
    assert attrs["http.request.method"] == "POST"
    assert attrs["http.route"] == "/v1/chat/completions"
    assert attrs["http.response.status_code"] == 200
    assert attrs["server.port"] == gateway.port
    assert str(attrs["user_agent.original"]).startswith("OpenAI/Python")
    (call,) = children(spans, server)
    assert call.kind == SpanKind.CLIENT and call.name == "chat gpt-4o-mini"
    assert call.context is not None and call.context.trace_id == TRACE_ID
    call_attrs = dict(call.attributes or {})
    assert call_attrs["gen_ai.request.model"] == "gpt-4o-mini"
    assert call_attrs["llmrail.gateway.model"] == "fast"
    (attempt,) = children(spans, call)
    assert dict(attempt.attributes or {})["http.response.status_code"] == 200
    assert server.start_time is not None and call.start_time is not None and attempt.start_time is not None
    assert server.end_time is not None and call.end_time is not None and attempt.end_time is not None
    assert server.start_time <= call.start_time <= attempt.start_time
    assert attempt.end_time <= call.end_time <= server.end_time


def test_a_request_without_a_traceparent_starts_a_trace_and_a_refusal_is_traced_too(
    exporter: InMemorySpanExporter, gateway: llmrail.Gateway
) -> None:
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key=KEY, max_retries=0)
    with client:
        client.chat.completions.create(model="fast", messages=[{"role": "user", "content": "hi"}])
        with pytest.raises(openai.NotFoundError):
            client.chat.completions.create(model="nope", messages=[{"role": "user", "content": "hi"}])
    spans = spans_of(exporter, 2)
    first, refused = sorted((s for s in spans if s.kind == SpanKind.SERVER), key=lambda s: s.start_time or 0)
    assert first.parent is None and first.context is not None and first.context.trace_id != TRACE_ID
    assert dict(refused.attributes or {})["http.response.status_code"] == 404
    assert children(spans, refused) == []


def test_a_streamed_request_is_a_server_span_with_its_stream_call_under_it(
    exporter: InMemorySpanExporter, gateway: llmrail.Gateway
) -> None:
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key=KEY, max_retries=0)
    with client:
        stream = client.chat.completions.create(
            model="fast", messages=[{"role": "user", "content": "hi"}], stream=True,
            extra_headers={"traceparent": TRACEPARENT},
        )
        assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    spans = spans_of(exporter, 1)
    (server,) = [s for s in spans if s.kind == SpanKind.SERVER]
    assert server.context is not None and server.context.trace_id == TRACE_ID
    (call,) = children(spans, server)
    assert call.name == "stream gpt-4o-mini"


def test_a_streamed_requests_spans_end_when_its_stream_ends_with_its_usage(
    srv: MockServer, exporter: InMemorySpanExporter, gateway: llmrail.Gateway
) -> None:
    srv.reply(chunks=["one ", "two ", "three"], chunk_delay=0.2, usage={"input_tokens": 7, "output_tokens": 3})
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key=KEY, max_retries=0)
    received: list[int] = []
    with client:
        stream = client.chat.completions.create(
            model="fast", messages=[{"role": "user", "content": "hi"}], stream=True,
            stream_options={"include_usage": True}, extra_headers={"traceparent": TRACEPARENT},
        )
        for _ in stream:
            received.append(time.time_ns())
    spans = spans_of(exporter, 1)
    (server,) = [s for s in spans if s.kind == SpanKind.SERVER]
    (call,) = children(spans, server)
    assert server.end_time is not None and call.end_time is not None
    # The head went out with the first chunk, the last one 0.4 s of chunk delays later; the
    # spans end after it was sent (a little before the client read it: 50 ms of slack).
    assert received[-1] - received[0] > 300_000_000
    assert server.end_time > received[-1] - 50_000_000
    assert received[-1] - 50_000_000 < call.end_time <= server.end_time
    attrs = dict(call.attributes or {})
    assert attrs["gen_ai.usage.input_tokens"] == 7 and attrs["gen_ai.usage.output_tokens"] == 3
    assert "error.type" not in attrs


def test_a_job_submitted_with_a_traceparent_is_processed_in_the_callers_trace(
    srv: MockServer, exporter: InMemorySpanExporter, tmp_path: Path
) -> None:
    cfg = (
        f"models:\n  fast:\n    model: openai/gpt-4o-mini\n    base_url: {srv.openai_base_url}\n"
        f"    api_key: sk-upstream\n    retry: {{max_attempts: 1}}\nkeys:\n  - name: a\n    key: {KEY}\n"
        f"queue:\n  url: sqlite:///{tmp_path / 'jobs.db'}\n"
    )
    srv.reply("from the queue")
    body = json.dumps({"model": "fast", "messages": [{"role": "user", "content": "hi"}], "wait": 20}).encode()
    with llmrail.serve(config_text=cfg, port=0, background=True) as gw:
        req = urllib.request.Request(gw.url + "/v1/jobs", data=body, method="POST", headers={
            "authorization": f"Bearer {KEY}", "content-type": "application/json", "traceparent": TRACEPARENT})
        with urllib.request.urlopen(req, timeout=30) as r:
            assert r.status == 200
            assert json.loads(r.read())["choices"][0]["message"]["content"] == "from the queue"
        deadline = time.monotonic() + 30
        while not [s for s in exporter.get_finished_spans() if s.kind == SpanKind.CONSUMER]:
            assert time.monotonic() < deadline, exporter.get_finished_spans()
            time.sleep(0.01)
    spans = list(exporter.get_finished_spans())
    (process,) = [s for s in spans if s.kind == SpanKind.CONSUMER]
    assert process.name == "queue process fast"
    assert process.context is not None and process.context.trace_id == TRACE_ID
    assert process.parent is not None and process.parent.span_id == CALLER_SPAN
    (server,) = [s for s in spans if s.kind == SpanKind.SERVER]
    assert server.context is not None and server.context.trace_id == TRACE_ID
