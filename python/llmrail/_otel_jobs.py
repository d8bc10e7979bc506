"""OpenTelemetry spans of work that outlives one call: the steps of a batch job (submit, wait,
results). Loaded by the Rust core only when OpenTelemetry is imported and a provider is
configured (see `src/py/otel/batch.rs`), like `llmrail._otel`.
"""

from __future__ import annotations

from typing import Any

from opentelemetry.trace import SpanKind, Status, StatusCode

from ._otel import _get, _provider

# A job as the core hands it over: ((id, status, mode, (pending, succeeded, errored, cancelled,
# expired)), provider batch ids).
Job = tuple[tuple[str, str, str, tuple[int, int, int, int, int]], list[str]]
Info = tuple[str, str, str, tuple[int, int, int, int, int]]

COUNTS = ("pending", "succeeded", "errored", "cancelled", "expired")


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

    __slots__ = ("_span",)

    def __init__(self, step: str, provider: str, model: str, job: Job | None) -> None:
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

    def abandon(self) -> None:
        self._span.set_attribute("error.type", "cancelled")
        self._span.end()
