"""OpenTelemetry for llmrail: each call a CLIENT span in the GenAI semantic conventions, with a
child span per attempt (retries, waits and fallbacks visible), and the GenAI client metrics.

The Rust core imports this module only if `opentelemetry` is already imported when a `Client` is
built, and traces that client's calls only if `enabled()` finds a tracer or meter provider
configured: without OpenTelemetry, no call runs any code here. The core keeps one record per
attempt and hands them over when the call is over (`src/py/otel.rs`).

Message content is recorded only when OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT is true.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from typing import Any

from opentelemetry import context, metrics, trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from ._core import __version__

# The conventions' explicit bucket advice (gen_ai.client.* histograms).
DURATION_BUCKETS = [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92]
TOKEN_BUCKETS = [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864]

# llmrail's provider names as gen_ai.provider.name spells them (well-known values where there is
# one; the others as llmrail names them).
PROVIDER_NAMES = {
    "anthropic": "anthropic",
    "openai": "openai",
    "azure": "azure.ai.openai",
    "gemini": "gcp.gemini",
    "google": "gcp.gemini",
    "bedrock": "aws.bedrock",
}

CAPTURE_ENV = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"

# One attempt as the core hands it over (see `attempts` in src/py/otel.rs).
Attempt = tuple[str, str, str, int | None, int | None, int, float, int | None, str | None, float, bool, float]


def enabled() -> bool:
    """Whether a tracer or a meter provider other than the API's default is configured."""
    tracer_provider = trace.get_tracer_provider()
    meter_provider = metrics.get_meter_provider()
    return not isinstance(tracer_provider, (trace.ProxyTracerProvider, trace.NoOpTracerProvider)) or (
        type(meter_provider).__name__ not in ("_ProxyMeterProvider", "NoOpMeterProvider")
    )


def _capture() -> bool:
    return os.environ.get(CAPTURE_ENV, "").strip().lower() == "true"


class _Instruments:
    """The tracer and the histograms, made once per process on first use."""

    def __init__(self, tracer_provider: trace.TracerProvider, meter_provider: metrics.MeterProvider) -> None:
        self.providers = (tracer_provider, meter_provider)
        self.tracer = tracer_provider.get_tracer("llmrail", __version__)
        meter = meter_provider.get_meter("llmrail", __version__)
        self.duration = meter.create_histogram(
            "gen_ai.client.operation.duration",
            unit="s",
            description="GenAI operation duration",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
        )
        self.tokens = meter.create_histogram(
            "gen_ai.client.token.usage",
            unit="{token}",
            description="Number of input and output tokens used",
            explicit_bucket_boundaries_advisory=TOKEN_BUCKETS,
        )
        self.first_chunk = meter.create_histogram(
            "gen_ai.client.operation.time_to_first_chunk",
            unit="s",
            description="Time to receive the first chunk of a streamed answer",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
        )


_instruments: _Instruments | None = None


def _get() -> _Instruments:
    """The instruments of the providers configured now (made again if they were replaced)."""
    global _instruments
    providers = (trace.get_tracer_provider(), metrics.get_meter_provider())
    if _instruments is None or any(a is not b for a, b in zip(_instruments.providers, providers, strict=True)):
        _instruments = _Instruments(*providers)
    return _instruments


def _provider(name: str) -> str:
    return PROVIDER_NAMES.get(name, name)


def _input_messages(messages: Any) -> str:
    """The caller's messages in the conventions' shape (role and parts), as JSON."""
    out = []
    for m in messages if isinstance(messages, Sequence) and not isinstance(messages, str) else [messages]:
        if isinstance(m, dict):
            content = m.get("content")
            parts = [{"type": "text", "content": content}] if isinstance(content, str) else content
            out.append({"role": m.get("role", "user"), "parts": parts})
        else:
            out.append({"role": "user", "parts": [{"type": "text", "content": str(m)}]})
    return json.dumps(out, default=str)


def _output_messages(text: str, finish_reason: str | None) -> str:
    parts = [{"type": "text", "content": text}]
    return json.dumps([{"role": "assistant", "parts": parts, "finish_reason": finish_reason or ""}])


class Call:
    """One traced call: its span is open from the call's start to its end."""

    __slots__ = ("_ins", "_attrs", "_span", "_t0", "_ttfc", "_model", "_operation")

    def __init__(
        self,
        operation: str,
        provider: str,
        model: str,
        address: str,
        port: int | None,
        max_tokens: int | None,
        temperature: float | None,
        top_p: float | None,
        messages: Any,
        extra: dict[str, Any] | None = None,
    ) -> None:
        self._ins = _get()
        self._t0 = time.perf_counter()
        self._ttfc: float | None = None
        self._operation = operation
        self._model = model
        # What the metrics are recorded with too.
        self._attrs: dict[str, Any] = {
            "gen_ai.operation.name": operation,
            "gen_ai.provider.name": _provider(provider),
            "gen_ai.request.model": model,
        }
        if address:
            self._attrs["server.address"] = address
        if port is not None:
            self._attrs["server.port"] = port
        span_attrs = dict(self._attrs)
        for key, value in (
            ("gen_ai.request.max_tokens", max_tokens),
            ("gen_ai.request.temperature", temperature),
            ("gen_ai.request.top_p", top_p),
        ):
            if value is not None:
                span_attrs[key] = value
        if _capture() and messages is not None:
            span_attrs["gen_ai.input.messages"] = _input_messages(messages)
        if extra:
            span_attrs.update(extra)
        self._span: Span = self._ins.tracer.start_span(
            f"{operation} {model}", kind=SpanKind.CLIENT, attributes=span_attrs
        )

    def first_chunk(self) -> None:
        self._ttfc = time.perf_counter() - self._t0
        self._span.set_attribute("gen_ai.response.time_to_first_chunk", self._ttfc)

    def succeed(self, response: Any, response_id: str | None, attempts: list[Attempt]) -> None:
        """A buffered call's answer (a `ChatResponse`)."""
        attrs: dict[str, Any] = {}
        if response_id:
            attrs["gen_ai.response.id"] = response_id
        if _capture():
            attrs["gen_ai.output.messages"] = _output_messages(response.text, response.finish_reason)
        self._answered(response.model, response.finish_reason, response.usage, attempts, attrs)

    def succeed_stream(self, done: Any, attempts: list[Attempt]) -> None:
        """A stream's "done" event."""
        attrs: dict[str, Any] = {}
        if done.response_id:
            attrs["gen_ai.response.id"] = done.response_id
        self._answered(done.model, done.finish_reason, done.usage, attempts, attrs)

    def fail(self, error: BaseException, attempts: list[Attempt]) -> None:
        kind = type(error).__name__
        self._span.set_attribute("error.type", kind)
        self._span.set_status(Status(StatusCode.ERROR, kind))
        self._end(attempts, {"error.type": kind})

    def abandon(self) -> None:
        """The call was cancelled, or the consumer stopped reading a stream before its end."""
        self._span.set_attribute("error.type", "cancelled")
        self._end([], {"error.type": "cancelled"})

    def _answered(
        self, model: str | None, finish_reason: str | None, usage: Any, attempts: list[Attempt], attrs: dict[str, Any]
    ) -> None:
        # One set_attributes call: each set_attribute takes the span's lock and checks again.
        extra: dict[str, Any] = {}
        if model:
            attrs["gen_ai.response.model"] = extra["gen_ai.response.model"] = model
        if finish_reason:
            attrs["gen_ai.response.finish_reasons"] = (finish_reason,)
        if usage is not None:
            attrs["gen_ai.usage.input_tokens"] = usage.input_tokens
            attrs["gen_ai.usage.output_tokens"] = usage.output_tokens
            attrs["gen_ai.usage.cache_read.input_tokens"] = usage.cache_read_tokens
            attrs["gen_ai.usage.cache_creation.input_tokens"] = usage.cache_write_tokens
            tokens = {**self._attrs, **extra}
            self._ins.tokens.record(usage.input_tokens, {**tokens, "gen_ai.token.type": "input"})
            self._ins.tokens.record(usage.output_tokens, {**tokens, "gen_ai.token.type": "output"})
        self._span.set_attributes(attrs)
        self._end(attempts, extra)

    def _end(self, attempts: list[Attempt], metric_attrs: dict[str, Any]) -> None:
        self._attempt_spans(attempts)
        self._span.end()
        attrs = {**self._attrs, **metric_attrs}
        self._ins.duration.record(time.perf_counter() - self._t0, attrs)
        if self._ttfc is not None:
            self._ins.first_chunk.record(self._ttfc, attrs)

    def _attempt_spans(self, attempts: list[Attempt], under: Span | None = None) -> None:
        """One child span per request sent (of `under`, else of the call's span)."""
        attempt_spans(self._ins, self._operation, under or self._span, attempts)


def attempt_spans(ins: _Instruments, operation: str, under: Span, attempts: list[Attempt]) -> None:
    """One child span of `under` per request sent, with its real start and end times."""
    parent = trace.set_span_in_context(under, context.Context())
    for n, (provider, model, address, port, fallback, start_ns, duration, status, error, wait, asked, limited) in (
        enumerate(attempts, 1)
    ):
        attrs: dict[str, Any] = {
            "gen_ai.operation.name": operation,
            "gen_ai.provider.name": _provider(provider),
            "gen_ai.request.model": model,
            "server.address": address,
            "llmrail.attempt": n,
        }
        if port is not None:
            attrs["server.port"] = port
        if n > 1:
            attrs["http.request.resend_count"] = n - 1
        if status is not None:
            attrs["http.response.status_code"] = status
        if fallback is not None:
            attrs["llmrail.fallback"] = fallback
        if wait > 0:
            attrs["llmrail.retry.wait"] = wait
            attrs["llmrail.retry.wait_reason"] = "retry_after" if asked else "backoff"
        if limited > 0:
            attrs["llmrail.rate_limit.wait"] = limited
        if error is not None:
            attrs["error.type"] = error
        span = ins.tracer.start_span(
            f"attempt {n} {operation} {model}",
            context=parent,
            kind=SpanKind.CLIENT,
            attributes=attrs,
            start_time=start_ns,
        )
        if error is not None:
            span.set_status(Status(StatusCode.ERROR, error))
        span.end(end_time=start_ns + int(duration * 1e9))


def ended_client_span(
    tracer: trace.Tracer,
    under: Span,
    call: tuple[str, str, str, str | None, int | None, int, float, str | None, list[Attempt]],
    *,
    name: str | None = None,
    extra: dict[str, Any] | None = None,
) -> None:
    """A call made elsewhere and handed over once over (a gateway request's, a queue item's): its
    CLIENT span under `under`, with its real start and end, its error, and a child span per
    request it sent, as a traced `chat` makes them. `call` is (operation, provider, model, server
    address, server port, start ns, duration s, error kind or None, attempts); the span is called
    `name`, else "{operation} {model}"; `extra` attributes follow the model."""
    operation, provider, model, address, port, start_ns, duration, error, attempts = call
    attrs: dict[str, Any] = {
        "gen_ai.operation.name": operation,
        "gen_ai.provider.name": _provider(provider),
        "gen_ai.request.model": model,
        **(extra or {}),
    }
    if address:
        attrs["server.address"] = address
    if port is not None:
        attrs["server.port"] = port
    if error is not None:
        attrs["error.type"] = error
    span = tracer.start_span(
        name or f"{operation} {model}",
        context=trace.set_span_in_context(under, context.Context()),
        kind=SpanKind.CLIENT,
        attributes=attrs,
        start_time=start_ns,
    )
    if error is not None:
        span.set_status(Status(StatusCode.ERROR, error))
    attempt_spans(_get(), "chat", span, attempts)
    span.end(end_time=start_ns + int(duration * 1e9))


# One extraction attempt as the core hands it over (see `rows` in src/py/otel/extract.rs): start
# (ns since the epoch), duration (s), its requests, raw answer, errors, usage (input, output, cache
# read, cache write), finish reason, response id, response model, the call's error kind.
ExtractAttempt = tuple[
    int, float, list[Attempt], str | None, list[str], tuple[int, int, int, int], str | None, str | None, str, str | None
]


def _field(error: str) -> str:
    """The field an error names ("field: problem"): the schema's words, never the answer's."""
    return error.split(": ", 1)[0]


class Extraction(Call):
    """One traced extraction: the operation is a chat whose output is JSON (the conventions have
    no extraction operation; `gen_ai.output.type` says what was asked for), with a child span per
    extraction attempt and, under each, its requests. An invalid answer's errors are an event
    on its attempt's span: the fields they name, always; the messages (which may quote the
    answer) and the answer itself only when content capture is on."""

    __slots__ = ()

    def __init__(
        self,
        provider: str,
        model: str,
        address: str,
        port: int | None,
        max_tokens: int | None,
        temperature: float | None,
        top_p: float | None,
        messages: Any,
        schema: str,
        max_retries: int,
    ) -> None:
        extra = {
            "gen_ai.output.type": "json",
            "llmrail.extract.schema": schema,
            "llmrail.extract.max_retries": max_retries,
        }
        super().__init__("chat", provider, model, address, port, max_tokens, temperature, top_p, messages, extra)

    def extracted(self, mode: str | None, attempts: list[ExtractAttempt]) -> None:
        """The value was valid: the span carries the tokens of every attempt, the last one's answer."""
        self._extraction_spans(attempts)
        attrs: dict[str, Any] = {"llmrail.extract.attempts": len(attempts)}
        if mode:
            attrs["llmrail.extract.mode"] = mode
        last = attempts[-1] if attempts else None
        if last is not None and last[7]:
            attrs["gen_ai.response.id"] = last[7]
        self._answered(last[8] if last else None, last[6] if last else None, _Summed(attempts), [], attrs)

    def failed(self, error: BaseException, attempts: list[ExtractAttempt]) -> None:
        """No valid value: every attempt failed validation, a call failed, or a validator raised."""
        self._extraction_spans(attempts)
        usage = _Summed(attempts)
        self._span.set_attributes(
            {
                "llmrail.extract.attempts": len(attempts),
                "gen_ai.usage.input_tokens": usage.input_tokens,
                "gen_ai.usage.output_tokens": usage.output_tokens,
            }
        )
        self.fail(error, [])

    def _extraction_spans(self, attempts: list[ExtractAttempt]) -> None:
        parent = trace.set_span_in_context(self._span, context.Context())
        capture = _capture()
        for n, (start_ns, duration, requests, raw, errors, usage, finish, rid, model, error) in enumerate(attempts, 1):
            attrs: dict[str, Any] = {"llmrail.extract.attempt": n}
            if model:
                attrs["gen_ai.response.model"] = model
            if rid:
                attrs["gen_ai.response.id"] = rid
            if finish:
                attrs["gen_ai.response.finish_reasons"] = (finish,)
            if raw is not None:
                attrs["gen_ai.usage.input_tokens"], attrs["gen_ai.usage.output_tokens"] = usage[0], usage[1]
                attrs["llmrail.extract.valid"] = not errors
                if capture:
                    attrs["gen_ai.output.messages"] = _output_messages(raw, finish)
            if error is not None:
                attrs["error.type"] = error
            span = self._ins.tracer.start_span(
                f"extract attempt {n}", context=parent, kind=SpanKind.INTERNAL, attributes=attrs, start_time=start_ns
            )
            if errors:
                event: dict[str, Any] = {
                    "llmrail.extract.error_count": len(errors),
                    "llmrail.extract.error_fields": tuple(dict.fromkeys(_field(e) for e in errors)),
                }
                if capture:
                    event["llmrail.extract.errors"] = tuple(errors)
                span.add_event("llmrail.extract.invalid", event, timestamp=start_ns + int(duration * 1e9))
            if error is not None:
                span.set_status(Status(StatusCode.ERROR, error))
            self._attempt_spans(requests, under=span)
            span.end(end_time=start_ns + int(duration * 1e9))


class _Summed:
    """The usage of every attempt of an extraction, read as a response's usage is."""

    __slots__ = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens")

    def __init__(self, attempts: list[ExtractAttempt]) -> None:
        self.input_tokens = sum(a[5][0] for a in attempts)
        self.output_tokens = sum(a[5][1] for a in attempts)
        self.cache_read_tokens = sum(a[5][2] for a in attempts)
        self.cache_write_tokens = sum(a[5][3] for a in attempts)


class ImageCall(Call):
    """One traced image generation (`client.images.generate`). The conventions have no image
    operation: `generate_content` is their value for multimodal content generation, and
    `gen_ai.output.type` "image" says what was made. The size, count and quality asked for are
    `llmrail.image.*` attributes; the prompt is recorded only when content capture is on. A
    model of another provider than the client's has its server read from its requests."""

    __slots__ = ()

    def __init__(
        self,
        provider: str,
        model: str,
        address: str,
        port: int | None,
        n: int | None,
        size: str | None,
        quality: str | None,
        prompt: str,
    ) -> None:
        extra: dict[str, Any] = {"gen_ai.output.type": "image"}
        for key, value in (("llmrail.image.n", n), ("llmrail.image.size", size), ("llmrail.image.quality", quality)):
            if value is not None:
                extra[key] = value
        messages = [{"role": "user", "content": prompt}]
        super().__init__("generate_content", provider, model, address, port, None, None, None, messages, extra)

    def generated(self, response: Any, attempts: list[Attempt]) -> None:
        """The images (an `ImagesResponse`); its usage only when the model reported tokens."""
        usage = response.usage
        counted = usage if usage.input_tokens or usage.output_tokens else None
        self._answered(response.model, None, counted, attempts, {"llmrail.image.count": len(response)})

    def _end(self, attempts: list[Attempt], metric_attrs: dict[str, Any]) -> None:
        if "server.address" not in self._attrs and attempts and attempts[-1][2]:
            server: dict[str, Any] = {"server.address": attempts[-1][2]}
            if attempts[-1][3] is not None:
                server["server.port"] = attempts[-1][3]
            self._attrs.update(server)
            self._span.set_attributes(server)
        super()._end(attempts, metric_attrs)
