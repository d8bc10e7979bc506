"""OpenTelemetry: each call a GenAI CLIENT span with a child span per attempt, and the GenAI client
metrics, read back with the SDK's in-memory exporter and reader over the real mock server."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import llmrail
import pytest
from llmrail.testing import MockServer
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from pydantic import BaseModel, Field

from .conftest import API_KEY, reset_otel_globals

FAST = llmrail.Retry(max_attempts=3, initial_delay=0.01, jitter="none")


class Telemetry:
    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])

    def spans(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def call_span(self) -> ReadableSpan:
        (span,) = [s for s in self.spans() if s.kind == SpanKind.CLIENT and not s.name.startswith("attempt")]
        return span

    def attempts(self, parent: ReadableSpan) -> list[ReadableSpan]:
        children = [s for s in self.spans() if s.parent is not None and s.parent.span_id == parent.context.span_id]
        return sorted(children, key=lambda s: s.start_time or 0)

    def histogram(self, name: str) -> list[Any]:
        data = self.reader.get_metrics_data()
        points = []
        for rm in data.resource_metrics if data else []:
            for sm in rm.scope_metrics:
                for m in sm.metrics:
                    if m.name == name:
                        points.extend(m.data.data_points)
        return points


@pytest.fixture
def otel() -> Iterator[Telemetry]:
    t = Telemetry()
    reset_otel_globals()
    trace.set_tracer_provider(t.tracer_provider)
    metrics.set_meter_provider(t.meter_provider)
    yield t
    reset_otel_globals()


def anthropic(srv: MockServer, **kwargs: Any) -> llmrail.Client:
    return llmrail.Client(
        "anthropic/claude-sonnet-4-5", base_url=srv.anthropic_base_url, api_key=API_KEY, retry=FAST, **kwargs
    )


async def test_a_retried_call_is_one_client_span_with_a_child_span_per_attempt(
    otel: Telemetry, srv: MockServer
) -> None:
    srv.fault(529)
    srv.reply("Paris.", usage={"input_tokens": 12, "output_tokens": 3})
    r = await anthropic(srv).chat([{"role": "user", "content": "Capital of France?"}], max_tokens=50, temperature=0.2)
    assert r.text == "Paris."
    span = otel.call_span()
    assert span.name == "chat claude-sonnet-4-5"
    assert span.kind == SpanKind.CLIENT
    a = dict(span.attributes or {})
    assert a["gen_ai.operation.name"] == "chat"
    assert a["gen_ai.provider.name"] == "anthropic"
    assert a["gen_ai.request.model"] == "claude-sonnet-4-5"
    assert a["gen_ai.response.model"] == r.model
    assert a["gen_ai.request.max_tokens"] == 50
    assert a["gen_ai.request.temperature"] == 0.2
    assert (a["gen_ai.usage.input_tokens"], a["gen_ai.usage.output_tokens"]) == (12, 3)
    assert a["gen_ai.response.finish_reasons"] == ("stop",)
    assert str(a["gen_ai.response.id"]).startswith("msg_")
    assert a["server.address"] == "127.0.0.1"
    assert a["server.port"] == int(srv.anthropic_base_url.rsplit(":", 1)[1].split("/")[0])
    assert "error.type" not in a
    first, second = otel.attempts(span)
    assert first.attributes is not None and second.attributes is not None
    assert first.attributes["http.response.status_code"] == 529
    assert first.attributes["error.type"] == "OverloadedError"
    assert first.status.status_code == StatusCode.ERROR
    assert second.attributes["http.response.status_code"] == 200
    assert second.attributes["http.request.resend_count"] == 1
    assert second.attributes["llmrail.retry.wait"] == pytest.approx(0.01)
    assert second.attributes["llmrail.retry.wait_reason"] == "backoff"
    # The attempts lie inside the call's span, the wait between them.
    assert span.start_time is not None and span.end_time is not None
    assert first.start_time is not None and first.end_time is not None and second.start_time is not None
    assert span.start_time <= first.start_time < first.end_time <= second.start_time <= span.end_time
    assert second.start_time - first.end_time >= 10_000_000


def test_a_fallback_shows_which_target_answered(otel: Telemetry, srv: MockServer) -> None:
    srv.fault(503, times=3)
    backup = {"model": "openai/gpt-4.1-mini", "base_url": srv.openai_base_url, "api_key": API_KEY}
    client = anthropic(srv, fallbacks=[backup])
    r = client.chat_sync("hi")
    assert r.fallback_used
    span = otel.call_span()
    assert span.attributes is not None and span.attributes["gen_ai.response.model"] == r.model
    tried = otel.attempts(span)
    assert [t.attributes and t.attributes["http.response.status_code"] for t in tried] == [503, 503, 503, 200]
    last = tried[-1].attributes or {}
    assert (last["gen_ai.provider.name"], last["gen_ai.request.model"], last["llmrail.fallback"]) == (
        "openai",
        "gpt-4.1-mini",
        0,
    )
    assert all("llmrail.fallback" not in (t.attributes or {}) for t in tried[:-1])


def test_a_failed_call_ends_its_span_with_the_error_type(otel: Telemetry, srv: MockServer) -> None:
    srv.fault(400)
    with pytest.raises(llmrail.BadRequestError):
        anthropic(srv).chat_sync("hi")
    span = otel.call_span()
    assert span.status.status_code == StatusCode.ERROR
    assert (span.attributes or {})["error.type"] == "BadRequestError"
    (only,) = otel.attempts(span)
    assert (only.attributes or {})["http.response.status_code"] == 400
    (duration,) = otel.histogram("gen_ai.client.operation.duration")
    assert duration.attributes["error.type"] == "BadRequestError"


async def test_a_streams_span_ends_at_its_last_event_and_records_time_to_first_chunk(
    otel: Telemetry, srv: MockServer
) -> None:
    srv.reply(chunks=["Par", "is", "."], chunk_delay=0.05, usage={"input_tokens": 5, "output_tokens": 3})
    events = [e async for e in anthropic(srv).stream("Capital of France?")]
    assert events[-1].type == "done"
    span = otel.call_span()
    a = span.attributes or {}
    ttfc = a["gen_ai.response.time_to_first_chunk"]
    assert isinstance(ttfc, float) and 0 < ttfc
    assert span.start_time is not None and span.end_time is not None
    assert (span.end_time - span.start_time) / 1e9 >= ttfc + 0.09  # two more chunks 50 ms apart
    assert a["gen_ai.usage.output_tokens"] == 3
    assert a["gen_ai.response.id"] == events[-1].response_id and str(a["gen_ai.response.id"]).startswith("msg_")
    assert len(otel.attempts(span)) == 1
    (point,) = otel.histogram("gen_ai.client.operation.time_to_first_chunk")
    assert point.count == 1 and point.sum == pytest.approx(ttfc)


def test_a_sync_stream_closed_early_still_ends_its_span(otel: Telemetry, srv: MockServer) -> None:
    srv.reply(chunks=["a", "b", "c"], chunk_delay=0.02)
    stream = anthropic(srv).stream("hi")
    next(iter(stream))
    stream.close()
    assert (otel.call_span().attributes or {})["error.type"] == "cancelled"


async def test_a_cancelled_call_ends_its_span_as_cancelled(otel: Telemetry, srv: MockServer) -> None:
    srv.reply("late", latency=5)
    task = asyncio.create_task(anthropic(srv).chat("hi"))
    await asyncio.sleep(0.2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    for _ in range(100):  # the call's future may be dropped on another thread
        if otel.spans():
            break
        await asyncio.sleep(0.01)
    assert (otel.call_span().attributes or {})["error.type"] == "cancelled"


def test_message_content_is_recorded_only_when_the_user_opts_in(
    otel: Telemetry, srv: MockServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = anthropic(srv)
    srv.reply("Paris.")
    client.chat_sync([{"role": "user", "content": "Capital of France?"}])
    assert not any("messages" in k for k in otel.call_span().attributes or {})
    otel.exporter.clear()
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")
    srv.reply("Paris.")
    client.chat_sync([{"role": "user", "content": "Capital of France?"}])
    a = otel.call_span().attributes or {}
    assert json.loads(str(a["gen_ai.input.messages"])) == [
        {"role": "user", "parts": [{"type": "text", "content": "Capital of France?"}]}
    ]
    assert json.loads(str(a["gen_ai.output.messages"]))[0]["parts"][0]["content"] == "Paris."


def test_the_call_span_nests_under_the_callers_current_span(otel: Telemetry, srv: MockServer) -> None:
    tracer = otel.tracer_provider.get_tracer("app")
    client = anthropic(srv)
    with tracer.start_as_current_span("handle request") as outer:
        client.chat_sync("hi")

        async def in_a_task() -> None:
            await client.chat("hi again")

        asyncio.run(in_a_task())
    calls = [s for s in otel.spans() if s.name == "chat claude-sonnet-4-5"]
    assert len(calls) == 2
    for span in calls:
        assert span.parent is not None and span.parent.span_id == outer.get_span_context().span_id
        assert span.context.trace_id == outer.get_span_context().trace_id


def test_no_secret_reaches_a_span_attribute(otel: Telemetry, srv: MockServer) -> None:
    srv.fault(429, retry_after=0.01)
    client = llmrail.Client(
        "anthropic/claude-sonnet-4-5",
        base_url=srv.anthropic_base_url.replace("http://", "http://user:pa55word@") + "?sig=s3cret",
        api_key=API_KEY,
        retry=FAST,
    )
    client.chat_sync("hi")
    seen = json.dumps([dict(s.attributes or {}) for s in otel.spans()] + [s.name for s in otel.spans()], default=str)
    for secret in (API_KEY, "pa55word", "s3cret", "user:"):
        assert secret not in seen
    retried = otel.attempts(otel.call_span())[1].attributes or {}
    assert retried["llmrail.retry.wait_reason"] == "retry_after"


def test_token_usage_and_duration_histograms_use_the_conventions_buckets(otel: Telemetry, srv: MockServer) -> None:
    srv.reply("ok", usage={"input_tokens": 100, "output_tokens": 7})
    anthropic(srv).chat_sync("hi")
    tokens = {p.attributes["gen_ai.token.type"]: p for p in otel.histogram("gen_ai.client.token.usage")}
    assert (tokens["input"].sum, tokens["output"].sum) == (100, 7)
    assert list(tokens["input"].explicit_bounds)[:3] == [1, 4, 16]
    assert tokens["input"].attributes["gen_ai.provider.name"] == "anthropic"
    (duration,) = otel.histogram("gen_ai.client.operation.duration")
    assert list(duration.explicit_bounds) == [
        0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92
    ]  # fmt: skip
    assert duration.attributes["gen_ai.request.model"] == "claude-sonnet-4-5"


def test_a_client_built_without_a_configured_provider_does_nothing_per_call(srv: MockServer) -> None:
    # A fresh interpreter: OpenTelemetry is never imported, and a call does not import it.
    code = f"""
import sys, llmrail
c = llmrail.Client("openai/gpt-4.1", base_url={srv.openai_base_url!r}, api_key="sk")
c.chat_sync("hi")
assert "opentelemetry" not in sys.modules and "llmrail._otel" not in sys.modules, sorted(sys.modules)
"""
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


class City(BaseModel):
    name: str
    population: int = Field(ge=0)


def city(srv: MockServer, population: int, tokens: tuple[int, int] = (20, 7)) -> None:
    args = {"name": "Paris", "population": population}
    usage = {"input_tokens": tokens[0], "output_tokens": tokens[1]}
    srv.reply(tool_calls=[{"name": "City", "arguments": args, "id": "toolu_01"}], usage=usage)


async def test_an_extraction_is_a_span_with_a_child_per_attempt_and_its_requests_under_each(
    otel: Telemetry, srv: MockServer
) -> None:
    city(srv, -57_321, (20, 7))
    srv.fault(529)
    city(srv, 2_100_000, (40, 8))
    got = await anthropic(srv).extract(City, "Largest city of France?", max_tokens=100)
    assert got.population == 2_100_000
    span = otel.call_span()
    assert span.name == "chat claude-sonnet-4-5"
    a = span.attributes or {}
    assert (a["gen_ai.operation.name"], a["gen_ai.output.type"]) == ("chat", "json")
    assert (a["llmrail.extract.schema"], a["llmrail.extract.attempts"]) == ("City", 2)
    assert a["llmrail.extract.mode"] == "tool"
    assert (a["gen_ai.usage.input_tokens"], a["gen_ai.usage.output_tokens"]) == (60, 15)
    assert a["gen_ai.request.max_tokens"] == 100
    assert str(a["gen_ai.response.id"]).startswith("msg_")
    first, second = otel.attempts(span)
    assert (first.name, first.kind, second.name) == ("extract attempt 1", SpanKind.INTERNAL, "extract attempt 2")
    f, s = first.attributes or {}, second.attributes or {}
    assert (f["llmrail.extract.valid"], s["llmrail.extract.valid"]) == (False, True)
    assert (f["gen_ai.usage.output_tokens"], s["gen_ai.usage.output_tokens"]) == (7, 8)
    (invalid,) = first.events
    assert invalid.name == "llmrail.extract.invalid"
    assert dict(invalid.attributes or {}) == {
        "llmrail.extract.error_count": 1,
        "llmrail.extract.error_fields": ("population",),
    }
    assert not second.events
    # The re-ask's requests (one refused, one answered) lie under its own attempt.
    assert [(r.attributes or {})["http.response.status_code"] for r in otel.attempts(first)] == [200]
    assert [(r.attributes or {})["http.response.status_code"] for r in otel.attempts(second)] == [529, 200]
    assert span.start_time is not None and span.end_time is not None
    assert first.start_time is not None and first.end_time is not None
    assert second.start_time is not None and second.end_time is not None
    assert span.start_time <= first.start_time < first.end_time <= second.start_time < second.end_time <= span.end_time
    # The answer's values never reach a span unless content capture is on.
    for each in otel.spans():
        assert "57321" not in repr(dict(each.attributes or {})) + repr([dict(e.attributes or {}) for e in each.events])
    (duration,) = otel.histogram("gen_ai.client.operation.duration")
    assert duration.count == 1


def test_a_failed_extraction_shows_every_attempt_and_with_capture_its_errors(
    otel: Telemetry, srv: MockServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")
    city(srv, -57_321)
    city(srv, -68_432)
    with pytest.raises(llmrail.ExtractionError):
        anthropic(srv).extract_sync(City, "Largest city of France?", max_retries=1)
    span = otel.call_span()
    a = span.attributes or {}
    assert span.status.status_code == StatusCode.ERROR
    assert (a["error.type"], a["llmrail.extract.attempts"]) == ("ExtractionError", 2)
    assert (a["gen_ai.usage.input_tokens"], a["gen_ai.usage.output_tokens"]) == (40, 14)
    tried = otel.attempts(span)
    assert [(t.attributes or {})["llmrail.extract.valid"] for t in tried] == [False, False]
    for t, bad in zip(tried, ("-57321", "-68432"), strict=True):
        (invalid,) = t.events
        (error,) = (invalid.attributes or {})["llmrail.extract.errors"]
        assert str(error).startswith("population:") and bad in str(error)
        assert bad in str((t.attributes or {})["gen_ai.output.messages"])


def test_an_extraction_whose_call_fails_ends_its_attempt_with_the_error(otel: Telemetry, srv: MockServer) -> None:
    srv.fault(400)
    with pytest.raises(llmrail.BadRequestError):
        anthropic(srv).extract_sync(City, "Largest city of France?")
    span = otel.call_span()
    assert (span.attributes or {})["error.type"] == "BadRequestError"
    (only,) = otel.attempts(span)
    assert only.status.status_code == StatusCode.ERROR
    assert (only.attributes or {})["error.type"] == "BadRequestError"
    assert [(r.attributes or {})["http.response.status_code"] for r in otel.attempts(only)] == [400]


async def test_an_extraction_stream_is_a_span_to_its_last_item_with_time_to_first_chunk_and_each_attempt(
    otel: Telemetry, srv: MockServer
) -> None:
    city(srv, -57_321, (20, 7))
    srv.fault(529)
    city(srv, 2_100_000, (40, 8))
    items = [i async for i in anthropic(srv).extract_stream(City, "Largest city of France?", max_tokens=100)]
    assert isinstance(items[-1], City) and items[-1].population == 2_100_000
    span = otel.call_span()
    a = span.attributes or {}
    assert (span.name, a["gen_ai.output.type"], a["llmrail.extract.attempts"]) == ("chat claude-sonnet-4-5", "json", 2)
    assert (a["gen_ai.usage.input_tokens"], a["gen_ai.usage.output_tokens"]) == (60, 15)
    assert 0 < float(a["gen_ai.response.time_to_first_chunk"]) < (span.end_time - span.start_time) / 1e9  # type: ignore[arg-type, operator]
    first, second = otel.attempts(span)
    assert ((first.attributes or {})["llmrail.extract.valid"], (second.attributes or {})["llmrail.extract.valid"]) == (
        False,
        True,
    )
    assert [(r.attributes or {})["http.response.status_code"] for r in otel.attempts(first)] == [200]
    assert [(r.attributes or {})["http.response.status_code"] for r in otel.attempts(second)] == [529, 200]
    assert second.end_time is not None and span.end_time is not None and second.end_time <= span.end_time
    (ttfc,) = otel.histogram("gen_ai.client.operation.time_to_first_chunk")
    assert ttfc.count == 1


def test_an_extraction_stream_left_early_ends_its_span_as_cancelled_and_a_failed_one_with_the_error(
    otel: Telemetry, srv: MockServer
) -> None:
    srv.reply(chunks=['{"name": "Pa', 'ris", "population": 1}'], chunk_delay=0.5)
    stream = anthropic(srv).extract_stream(City, "Largest city of France?", mode="json")
    assert next(stream) == {"name": "Pa"}
    stream.close()
    span = otel.call_span()
    assert (span.attributes or {})["error.type"] == "cancelled"
    otel.exporter.clear()
    srv.fault(400)
    with pytest.raises(llmrail.BadRequestError):
        list(anthropic(srv).extract_stream(City, "Largest city of France?"))
    span = otel.call_span()
    assert span.status.status_code == StatusCode.ERROR
    assert (span.attributes or {})["error.type"] == "BadRequestError"
    (only,) = otel.attempts(span)
    assert [(r.attributes or {})["http.response.status_code"] for r in otel.attempts(only)] == [400]


def images_client(srv: MockServer) -> llmrail.Client:
    return llmrail.Client("openai/gpt-image-1", base_url=srv.openai_base_url, api_key=API_KEY, retry=FAST)


async def test_an_image_call_is_a_generate_content_span_with_its_size_usage_and_a_child_per_attempt(
    otel: Telemetry, srv: MockServer
) -> None:
    srv.fault(503)
    with otel.tracer_provider.get_tracer("test").start_as_current_span("operator") as operator:
        r = await images_client(srv).images.generate("a lighthouse at dusk", n=2, size="1536x1024", quality="low")
    span = otel.call_span()
    assert (span.name, span.kind) == ("generate_content gpt-image-1", SpanKind.CLIENT)
    assert span.parent is not None and span.parent.span_id == operator.get_span_context().span_id
    a = dict(span.attributes or {})
    assert (a["gen_ai.operation.name"], a["gen_ai.output.type"]) == ("generate_content", "image")
    assert (a["gen_ai.provider.name"], a["gen_ai.request.model"], a["gen_ai.response.model"]) == (
        "openai",
        "gpt-image-1",
        "gpt-image-1",
    )
    assert (a["llmrail.image.n"], a["llmrail.image.size"], a["llmrail.image.quality"]) == (2, "1536x1024", "low")
    assert (a["gen_ai.usage.output_tokens"], a["llmrail.image.count"]) == (r.usage.output_tokens, 2)
    assert a["gen_ai.usage.input_tokens"] == r.usage.input_tokens > 0
    assert a["server.address"] == "127.0.0.1" and "error.type" not in a
    # The prompt is content: not recorded unless the user opts in.
    assert "lighthouse" not in repr(a)
    first, second = otel.attempts(span)
    assert [(t.attributes or {})["http.response.status_code"] for t in (first, second)] == [503, 200]
    assert first.name == "attempt 1 generate_content gpt-image-1"
    assert first.status.status_code == StatusCode.ERROR
    (duration,) = otel.histogram("gen_ai.client.operation.duration")
    assert duration.count == 1 and dict(duration.attributes)["gen_ai.operation.name"] == "generate_content"


def test_a_refused_image_call_ends_its_span_with_the_error_and_a_model_without_usage_records_none(
    otel: Telemetry, srv: MockServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")
    client = images_client(srv)
    body = {"error": {"code": "moderation_blocked", "message": "rejected", "type": "image_generation_user_error"}}
    srv.fault(400, body=body)
    with pytest.raises(llmrail.ContentPolicyError):
        client.images_sync.generate("something refused")
    span = otel.call_span()
    a = span.attributes or {}
    assert (span.status.status_code, a["error.type"]) == (StatusCode.ERROR, "ContentPolicyError")
    assert "something refused" in str(a["gen_ai.input.messages"])
    (only,) = otel.attempts(span)
    assert (only.attributes or {})["http.response.status_code"] == 400
    otel.exporter.clear()
    client.images_sync.generate("a fox", model="openai/dall-e-3", style="natural")
    span = otel.call_span()
    a = span.attributes or {}
    assert (span.name, a["gen_ai.request.model"]) == ("generate_content dall-e-3", "dall-e-3")
    assert "gen_ai.usage.output_tokens" not in a and "llmrail.image.size" not in a


async def test_a_cancelled_image_call_ends_its_span_as_cancelled(otel: Telemetry, srv: MockServer) -> None:
    srv.push({"latency": 5})
    call = asyncio.ensure_future(images_client(srv).images.generate("a fox"))
    await srv.wait_for_requests(1, timeout=5)
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    assert (otel.call_span().attributes or {})["error.type"] == "cancelled"


BATCH = [{"custom_id": i, "messages": f"question {i}", "max_tokens": 50} for i in ("a", "b", "c")]
COUNTS = ("llmrail.batch.succeeded", "llmrail.batch.errored", "llmrail.batch.pending")


async def test_a_batch_jobs_submit_wait_and_results_are_spans_with_its_id_counts_and_polls(
    otel: Telemetry, srv: MockServer, tmp_path: Path
) -> None:
    srv.batch_settings(processing=0.2, outcomes={"c": ["invalid_request_error"]})
    client = anthropic(srv)
    with otel.tracer_provider.get_tracer("test").start_as_current_span("operator") as operator:
        job = await client.submit_batch(BATCH, store=tmp_path / "jobs.sqlite3")
        await job.wait(poll_interval=0.02, timeout=20)
        job.results()
    steps = {s.name: s for s in otel.spans() if s.name.startswith("batch ")}
    assert set(steps) == {f"batch {step} claude-sonnet-4-5" for step in ("submit", "wait", "results")}
    for span in steps.values():
        assert span.parent is not None and span.parent.span_id == operator.get_span_context().span_id
        a = span.attributes or {}
        assert (a["gen_ai.provider.name"], a["llmrail.batch.id"]) == ("anthropic", job.id)
        assert a["llmrail.batch.requests"] == 3
        assert a["llmrail.batch.provider_batch_ids"] == tuple(job.provider_batch_ids)
    submit = steps["batch submit claude-sonnet-4-5"].attributes or {}
    assert submit["llmrail.batch.pending"] == 3
    wait = steps["batch wait claude-sonnet-4-5"]
    assert [(wait.attributes or {})[k] for k in COUNTS] == [2, 1, 0]
    assert (wait.attributes or {})["llmrail.batch.status"] == "ended"
    assert wait.events and {e.name for e in wait.events} == {"llmrail.batch.poll"}
    assert [(wait.events[-1].attributes or {})[k] for k in COUNTS] == [2, 1, 0]
    assert [(steps["batch results claude-sonnet-4-5"].attributes or {})[k] for k in COUNTS] == [2, 1, 0]


def test_a_whole_batch_run_is_one_span_and_a_failed_wait_ends_its_span_with_the_error(
    otel: Telemetry, srv: MockServer, tmp_path: Path
) -> None:
    srv.batch_settings(processing=0.05)
    client = anthropic(srv)
    answers = asyncio.run(client.batch(BATCH, poll_interval=0.02, timeout=20, store=tmp_path / "a.sqlite3"))
    assert len(answers) == 3
    (run,) = otel.spans()
    assert run.name == "batch run claude-sonnet-4-5"
    assert [(run.attributes or {})[k] for k in COUNTS] == [3, 0, 0]
    assert run.events and (run.events[-1].attributes or {})["llmrail.batch.succeeded"] == 3
    otel.exporter.clear()
    srv.batch_settings(processing=30)
    job = asyncio.run(client.submit_batch(BATCH, store=tmp_path / "b.sqlite3"))
    with pytest.raises(llmrail.TimeoutError):
        job.wait_sync(poll_interval=0.02, timeout=0.2)
    wait = next(s for s in otel.spans() if s.name == "batch wait claude-sonnet-4-5")
    assert wait.status.status_code == StatusCode.ERROR
    assert (wait.attributes or {})["error.type"] == "TimeoutError"
    assert (wait.attributes or {})["llmrail.batch.pending"] == 3


async def test_an_extraction_through_batches_is_one_span_with_a_child_per_round_and_its_jobs_steps(
    otel: Telemetry, srv: MockServer, tmp_path: Path
) -> None:
    # The first batch answers a, b, c in order (b's answer is not a City); the second b alone.
    for text in ['{"name": "Paris", "population": 1}', '{"name": 5}', '{"name": "Rome", "population": 2}']:
        srv.reply(text)
    srv.reply('{"name": "Lima", "population": 3}')
    client = llmrail.Client("gemini/gemini-2.5-flash", base_url=srv.url, api_key=API_KEY)
    with otel.tracer_provider.get_tracer("test").start_as_current_span("operator") as operator:
        out = await client.extract_batch(
            City, ["France?", "Peru?", "Italy?"], max_retries=1, poll_interval=0.02, store=tmp_path / "s"
        )
    assert [c.name for c in out if isinstance(c, City)] == ["Paris", "Lima", "Rome"]
    (run,) = [s for s in otel.spans() if s.name == "batch extract gemini-2.5-flash"]
    assert run.parent is not None and run.parent.span_id == operator.get_span_context().span_id
    a = run.attributes or {}
    assert (a["llmrail.batch.step"], a["llmrail.extract.schema"], a["llmrail.extract.rounds"]) == ("extract", "City", 2)
    assert (a["llmrail.extract.valid"], a["llmrail.extract.failed"]) == (3, 0)
    rounds = otel.attempts(run)
    assert [r.name for r in rounds] == ["extract round 1", "extract round 2"]
    fates = [tuple((r.attributes or {})[f"llmrail.extract.{k}"] for k in ("sent", "valid", "reasked")) for r in rounds]
    assert fates == [(3, 2, 1), (1, 1, 0)]
    ids = {(r.attributes or {})["llmrail.batch.id"] for r in rounds}
    assert len(ids) == 2 and all(str(i).startswith("batchjob_") for i in ids)
    for r in rounds:
        submit, wait = otel.attempts(r)
        assert (submit.name, wait.name) == ("batch submit gemini-2.5-flash", "batch wait gemini-2.5-flash")
        assert (submit.attributes or {})["llmrail.batch.id"] == (r.attributes or {})["llmrail.batch.id"]
        assert wait.events and {e.name for e in wait.events} == {"llmrail.batch.poll"}
        assert r.start_time is not None and r.end_time is not None
        assert submit.end_time is not None and wait.end_time is not None
        assert r.start_time <= submit.end_time <= wait.end_time <= r.end_time
    assert rounds[0].end_time is not None and rounds[1].start_time is not None
    assert rounds[0].end_time <= rounds[1].start_time
