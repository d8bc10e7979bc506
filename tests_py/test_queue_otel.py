"""Queue items in traces: a traced submission is a PRODUCER span whose context is stored with the
item, and a worker's processing is a CONSUMER span in the submitter's trace with the call's span
under it, read back with the SDK's in-memory exporter over the real mock server and a real sqlite
queue file."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import llmrail
import pytest
from llmrail.testing import MockServer
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from .conftest import API_KEY, reset_otel_globals


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    exp = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exp))
    reset_otel_globals()
    trace.set_tracer_provider(provider)
    yield exp
    reset_otel_globals()


def client(srv: MockServer) -> llmrail.Client:
    return llmrail.Client("openai/gpt-4.1-mini", base_url=srv.openai_base_url, api_key=API_KEY,
                          retry=llmrail.Retry(max_attempts=1), circuit_breaker=False)


async def processed(exporter: InMemorySpanExporter) -> ReadableSpan:
    """The processing span, once the worker's span thread made it."""
    for _ in range(200):
        found = [s for s in exporter.get_finished_spans() if s.name.startswith("queue process")]
        if found:
            return found[0]
        await asyncio.sleep(0.02)
    raise AssertionError("no processing span")


def children(exporter: InMemorySpanExporter, parent: ReadableSpan) -> list[ReadableSpan]:
    return [s for s in exporter.get_finished_spans() if s.parent is not None
            and s.parent.span_id == parent.context.span_id]


async def test_a_traced_item_is_processed_in_its_submitters_trace_with_the_call_under_it(
    exporter: InMemorySpanExporter, srv: MockServer, tmp_path: Path
) -> None:
    queue = llmrail.Queue(f"sqlite://{tmp_path / 'queue.db'}")
    tracer = trace.get_tracer("test")
    with tracer.start_as_current_span("request handler") as handler:
        qid = await queue.submit("Capital of France?", target=client(srv))
    stored = (await queue.status(qid)).request["traceparent"]
    srv.reply("Paris.")
    async with queue.worker(concurrency=1):
        assert (await queue.result(qid, wait=10)).text == "Paris."
        process = await processed(exporter)
    (submit,) = [s for s in exporter.get_finished_spans() if s.name == "queue submit openai/gpt-4.1-mini"]
    assert submit.kind == SpanKind.PRODUCER and submit.parent is not None
    assert submit.parent.span_id == handler.get_span_context().span_id
    assert submit.attributes is not None and submit.attributes["llmrail.queue.id"] == qid
    assert stored.split("-")[1:3] == [f"{submit.context.trace_id:032x}", f"{submit.context.span_id:016x}"]

    assert process.name == "queue process openai/gpt-4.1-mini" and process.kind == SpanKind.CONSUMER
    assert process.context.trace_id == handler.get_span_context().trace_id
    assert process.parent is not None and process.parent.span_id == submit.context.span_id
    assert process.attributes is not None
    assert process.attributes["llmrail.queue.id"] == qid
    assert process.attributes["llmrail.queue.attempt"] == 1
    assert process.attributes["llmrail.queue.outcome"] == "completed"
    assert "error.type" not in process.attributes
    (call,) = children(exporter, process)
    assert call.name == "chat gpt-4.1-mini" and call.kind == SpanKind.CLIENT
    (attempt,) = children(exporter, call)
    assert attempt.attributes is not None and attempt.attributes["http.response.status_code"] == 200


async def test_a_failed_items_processing_span_has_its_error_type(
    exporter: InMemorySpanExporter, srv: MockServer, tmp_path: Path
) -> None:
    srv.fault(500, times=5)
    queue = llmrail.Queue(f"sqlite://{tmp_path / 'queue.db'}", max_attempts=1)
    qid = await queue.submit("hi", target=client(srv))
    async with queue.worker(concurrency=1):
        with pytest.raises(llmrail.ServerError):
            await queue.result(qid, wait=10)
        process = await processed(exporter)
    assert process.attributes is not None
    assert process.attributes["llmrail.queue.outcome"] == "failed"
    assert process.attributes["error.type"] == "ServerError"
    assert process.status.status_code == StatusCode.ERROR
    (call,) = children(exporter, process)
    assert call.attributes is not None and call.attributes["error.type"] == "ServerError"


async def test_an_untraced_queue_stores_no_traceparent(srv: MockServer, tmp_path: Path) -> None:
    reset_otel_globals()
    queue = llmrail.Queue(f"sqlite://{tmp_path / 'queue.db'}")
    qid = await queue.submit("hi", target=client(srv))
    assert "traceparent" not in (await queue.status(qid)).request
    srv.reply("ok")
    async with queue.worker(concurrency=1):
        assert (await queue.result(qid, wait=10)).text == "ok"


def submit_span(exporter: InMemorySpanExporter) -> list[ReadableSpan]:
    return [s for s in exporter.get_finished_spans() if s.name == "queue submit openai/gpt-4.1-mini"]


def stored_under(stored: str, span: ReadableSpan) -> bool:
    """Whether the stored traceparent names `span`."""
    return stored.split("-")[1:3] == [f"{span.context.trace_id:032x}", f"{span.context.span_id:016x}"]


async def test_a_chat_sent_to_the_queue_carries_its_callers_trace_to_the_processing(
    exporter: InMemorySpanExporter, srv: MockServer, tmp_path: Path
) -> None:
    queue = llmrail.Queue(f"sqlite://{tmp_path / 'queue.db'}")
    tracer = trace.get_tracer("test")
    with tracer.start_as_current_span("request handler") as handler:
        queued = await client(srv).chat("Capital of France?", queue=queue, processing="queue")
    assert isinstance(queued, llmrail.Queued)
    stored = (await queue.status(queued.queue_id)).request["traceparent"]
    (submit,) = submit_span(exporter)
    assert submit.kind == SpanKind.PRODUCER and submit.parent is not None
    assert submit.parent.span_id == handler.get_span_context().span_id
    assert submit.attributes is not None and submit.attributes["llmrail.queue.id"] == queued.queue_id
    assert stored_under(stored, submit)
    srv.reply("Paris.")
    async with queue.worker(concurrency=1):
        assert (await queued.result(wait=10)).text == "Paris."
        process = await processed(exporter)
    assert process.context.trace_id == handler.get_span_context().trace_id
    assert process.parent is not None and process.parent.span_id == submit.context.span_id


async def test_an_auto_chat_queued_in_an_outage_carries_its_trace_and_one_answered_opens_no_submit_span(
    exporter: InMemorySpanExporter, srv: MockServer, tmp_path: Path
) -> None:
    queue = llmrail.Queue(f"sqlite://{tmp_path / 'queue.db'}")
    tracer = trace.get_tracer("test")
    srv.reply("direct")
    with tracer.start_as_current_span("answered"):
        answered = await client(srv).chat("hi", queue=queue, processing="auto")
    assert isinstance(answered, llmrail.ChatResponse) and answered.text == "direct"
    assert submit_span(exporter) == []
    srv.fault(529, times=1)
    with tracer.start_as_current_span("request handler") as handler:
        queued = await client(srv).chat("hi", queue=queue, processing="auto")
    assert isinstance(queued, llmrail.Queued)
    (submit,) = submit_span(exporter)
    assert submit.parent is not None and submit.parent.span_id == handler.get_span_context().span_id
    assert stored_under((await queue.status(queued.queue_id)).request["traceparent"], submit)


def test_a_sync_chat_sent_to_the_queue_carries_its_callers_trace(
    exporter: InMemorySpanExporter, srv: MockServer, tmp_path: Path
) -> None:
    queue = llmrail.Queue(f"sqlite://{tmp_path / 'queue.db'}")
    with trace.get_tracer("test").start_as_current_span("request handler") as handler:
        queued = client(srv).chat_sync("hi", queue=queue, processing="queue")
    assert isinstance(queued, llmrail.Queued)
    (submit,) = submit_span(exporter)
    assert submit.parent is not None and submit.parent.span_id == handler.get_span_context().span_id
    assert stored_under(queue.status_sync(queued.queue_id).request["traceparent"], submit)


async def test_an_extraction_sent_to_the_queue_carries_its_callers_trace(
    exporter: InMemorySpanExporter, srv: MockServer, tmp_path: Path
) -> None:
    queue = llmrail.Queue(f"sqlite://{tmp_path / 'queue.db'}")
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    with trace.get_tracer("test").start_as_current_span("request handler") as handler:
        queued = await client(srv).extract(schema, "Capital of France?", queue=queue, processing="queue")
    assert isinstance(queued, llmrail.Queued)
    (submit,) = submit_span(exporter)
    assert submit.parent is not None and submit.parent.span_id == handler.get_span_context().span_id
    assert stored_under((await queue.status(queued.queue_id)).request["traceparent"], submit)


async def test_a_chat_the_full_queue_refuses_ends_its_submit_span_with_the_error(
    exporter: InMemorySpanExporter, srv: MockServer, tmp_path: Path
) -> None:
    queue = llmrail.Queue(f"sqlite://{tmp_path / 'queue.db'}", capacity=1)
    await client(srv).chat("first", queue=queue, processing="queue")
    with pytest.raises(llmrail.QueueFullError):
        await client(srv).chat("second", queue=queue, processing="queue")
    refused = submit_span(exporter)[-1]
    assert refused.status.status_code == StatusCode.ERROR
    assert refused.attributes is not None and refused.attributes["error.type"] == "QueueFullError"
