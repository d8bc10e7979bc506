"""OpenTelemetry spans of work that outlives one call: the steps of a batch job (submit, wait,
results), the rounds of an extraction through batch jobs (`extract_batch`), and queue items
(their submission, and their processing by a worker, in the submitter's trace). Loaded by the
Rust core only when OpenTelemetry is imported and a provider is configured (see
`src/py/otel/batch.rs`), like `llmrail._otel`.
"""

from __future__ import annotations

from typing import Any

from opentelemetry import context, trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from . import _otel
from ._otel import _get, _provider

# A job as the core hands it over: ((id, status, mode, (pending, succeeded, errored, cancelled,
# expired)), provider batch ids).
Job = tuple[tuple[str, str, str, tuple[int, int, int, int, int]], list[str]]
Info = tuple[str, str, str, tuple[int, int, int, int, int]]

COUNTS = ("pending", "succeeded", "errored", "cancelled", "expired")

# One round of `extract_batch` as the core hands it over (see `round_rows` in
# src/py/otel/extract.rs): start (ns since the epoch), submit (s), whether the job was found in the
# store, wait (s), polls (ns, job info), duration (s), the job or None, items (sent, valid,
# re-asked, failed), the error kind or None.
Round = tuple[
    int, float, bool, float, list[tuple[int, Info]], float, Job | None, tuple[int, int, int, int], str | None
]


def _info_attrs(info: Info) -> dict[str, Any]:
    job_id, status, mode, counts = info
    attrs: dict[str, Any] = {
        "llmrail.batch.id": job_id,
        "llmrail.batch.status": status,
        "llmrail.batch.mode": mode,
        "llmrail.batch.requests": sum(counts),
    }
    attrs.update({f"llmrail.batch.{name}": n for name, n in zip(COUNTS, counts, strict=True)})
    return attrs


def _job_attrs(job: Job) -> dict[str, Any]:
    info, remote_ids = job
    attrs = _info_attrs(info)
    if remote_ids:
        attrs["llmrail.batch.provider_batch_ids"] = tuple(remote_ids)
    return attrs


class BatchStep:
    """One step of a batch job: `batch {step} {model}`, with the job's id and counts as they are
    at its end; a wait's polls are events on it."""

    __slots__ = ("_span", "_model", "_provider")

    def __init__(self, step: str, provider: str, model: str, job: Job | None) -> None:
        self._model = model
        self._provider = _provider(provider)
        attrs: dict[str, Any] = {
            "gen_ai.provider.name": _provider(provider),
            "gen_ai.request.model": model,
            "llmrail.batch.step": step,
        }
        if job is not None:
            attrs.update(_job_attrs(job))
        # CLIENT: each step sends requests to the provider (a results read may only read the store).
        self._span = _get().tracer.start_span(f"batch {step} {model}", kind=SpanKind.CLIENT, attributes=attrs)

    def polled(self, info: Info) -> None:
        self._span.add_event("llmrail.batch.poll", _info_attrs(info))

    def end(self, job: Job | None, error: BaseException | None) -> None:
        if job is not None:
            self._span.set_attributes(_job_attrs(job))
        if error is not None:
            kind = type(error).__name__
            self._span.set_attribute("error.type", kind)
            self._span.set_status(Status(StatusCode.ERROR, kind))
        self._span.end()

    def rounds(self, schema: str, rounds: list[Round]) -> None:
        """An extraction's rounds, each a child span with its job's submit and wait under it
        (their real times; the wait's polls as events), the items' fates on the round and
        summed on this span."""
        tracer = _get().tracer
        parent = trace.set_span_in_context(self._span, context.Context())
        totals = {"valid": 0, "failed": 0}
        for n, (start, submit, resumed, wait, polls, duration, job, items, error) in enumerate(rounds, 1):
            sent, valid, reasked, failed = items
            attrs: dict[str, Any] = {
                "llmrail.extract.round": n,
                "llmrail.extract.sent": sent,
                "llmrail.extract.valid": valid,
                "llmrail.extract.reasked": reasked,
                "llmrail.extract.failed": failed,
            }
            if job is not None:
                attrs.update(_job_attrs(job))
            if error is not None:
                attrs["error.type"] = error
            totals["valid"] += valid
            totals["failed"] += failed
            end = start + int(duration * 1e9)
            span = tracer.start_span(
                f"extract round {n}", context=parent, kind=SpanKind.INTERNAL, attributes=attrs, start_time=start
            )
            under = trace.set_span_in_context(span, context.Context())
            submitted = start + int(submit * 1e9)
            step = {"gen_ai.provider.name": self._provider, "gen_ai.request.model": self._model}
            if job is not None:
                step["llmrail.batch.id"] = job[0][0]
            first = tracer.start_span(
                f"batch submit {self._model}",
                context=under,
                kind=SpanKind.CLIENT,
                attributes={**step, "llmrail.batch.step": "submit", "llmrail.batch.resumed": resumed},
                start_time=start,
            )
            if job is None and error is not None:
                _failed(first, error)
            first.end(end_time=submitted)
            if job is not None:
                waited = tracer.start_span(
                    f"batch wait {self._model}",
                    context=under,
                    kind=SpanKind.CLIENT,
                    attributes={**step, "llmrail.batch.step": "wait"},
                    start_time=submitted,
                )
                for at, info in polls:
                    waited.add_event("llmrail.batch.poll", _info_attrs(info), timestamp=at)
                if error is not None:
                    _failed(waited, error)
                waited.end(end_time=submitted + int(wait * 1e9))
            if error is not None:
                _failed(span, error)
            span.end(end_time=end)
        self._span.set_attributes(
            {
                "llmrail.extract.schema": schema,
                "llmrail.extract.rounds": len(rounds),
                "llmrail.extract.valid": totals["valid"],
                "llmrail.extract.failed": totals["failed"],
            }
        )

    def abandon(self) -> None:
        self._span.set_attribute("error.type", "cancelled")
        self._span.end()


def _failed(span: Span, kind: str) -> None:
    span.set_attribute("error.type", kind)
    span.set_status(Status(StatusCode.ERROR, kind))


# W3C Trace Context alone, whatever propagator the process configured globally: the item's
# processing may run in a process configured otherwise.
_W3C = TraceContextTextMapPropagator()


class QueueSubmit:
    """A queue submission: `queue submit {model}`, a PRODUCER span (the conventions' kind for
    handing a message to a queue); its context is stored with the item as `traceparent`, so the
    item's processing, wherever it runs, continues this trace.

    The messaging conventions would name it `send {destination}`; the destination is the queue's
    URL, the same for every item (and a Redis URL may hold a password), so the model names it
    instead, as the call spans do, and `messaging.operation.type` says what it is."""

    __slots__ = ("_span", "traceparent")

    def __init__(self, model: str) -> None:
        attrs = {"messaging.operation.type": "send", "gen_ai.request.model": model}
        self._span = _get().tracer.start_span(f"queue submit {model}", kind=SpanKind.PRODUCER, attributes=attrs)
        carrier: dict[str, str] = {}
        _W3C.inject(carrier, context=trace.set_span_in_context(self._span, context.Context()))
        self.traceparent: str | None = carrier.get("traceparent")

    def end(self, qid: str | None, error: BaseException | None) -> None:
        if qid is not None:
            self._span.set_attributes({"llmrail.queue.id": qid, "messaging.message.id": qid})
        if error is not None:
            _failed(self._span, type(error).__name__)
        self._span.end()

    def abandon(self) -> None:
        self._span.set_attribute("error.type", "cancelled")
        self._span.end()


# One processed queue item as the core hands it over (see `row` in src/py/otel/queue.rs): the
# submitter's traceparent or None, id, target, attempt, start (ns since the epoch), duration (s),
# outcome, error kind or None, and the call: (operation, provider, model, server address, server
# port, start ns, duration s, error kind or None, attempts) or None.
ItemCall = tuple[str, str, str, str, int | None, int, float, str | None, list[_otel.Attempt]]
Item = tuple[str | None, str, str, int, int, float, str, str | None, ItemCall | None]


def queue_items(items: list[Item]) -> None:
    """Make the spans of processed queue items: `queue process {model}` (CONSUMER) under the
    submitter's span, the call's span and its requests under it."""
    tracer = _get().tracer
    for traceparent, qid, target, attempt, start_ns, duration, outcome, error, call in items:
        parent = _W3C.extract({"traceparent": traceparent}, context.Context()) if traceparent else context.Context()
        attrs: dict[str, Any] = {
            "messaging.operation.type": "process",
            "messaging.message.id": qid,
            "gen_ai.request.model": target,
            "llmrail.queue.id": qid,
            "llmrail.queue.attempt": attempt,
            "llmrail.queue.outcome": outcome,
        }
        span = tracer.start_span(
            f"queue process {target}", context=parent, kind=SpanKind.CONSUMER, attributes=attrs, start_time=start_ns
        )
        if error is not None:
            _failed(span, error)
        if call is not None:
            _item_call(tracer, span, call)
        span.end(end_time=start_ns + int(duration * 1e9))


def _item_call(tracer: trace.Tracer, under: Span, call: ItemCall) -> None:
    _otel.ended_client_span(tracer, under, call)
