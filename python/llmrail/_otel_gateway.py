"""The gateway's spans (``llmrail serve`` started from Python): per request, a SERVER span that
continues the caller's W3C ``traceparent``/``tracestate``, with the chat call's CLIENT span and one
span per request it sent nested under it, through the OpenTelemetry SDK this process configured.

The core records each request's facts and hands them over once the answer is sent (a stream's
once its last event is), on a thread of its own (src/py/gateway.rs), a batch at a time: no Python
runs on the request path, and the spans get their real start and end times.
"""

from __future__ import annotations

from typing import Any

from opentelemetry import context, trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, Status, StatusCode, TraceFlags, TraceState

from . import _otel

# One request as the core hands it over (see `row` in src/py/gateway.rs): the caller's context
# (trace id, span id, flags, tracestate) or None, start (ns since the epoch), duration (s), method,
# route, status, Host header, User-Agent, and the call: (operation, model, provider, target model,
# server address, server port, start ns, duration s, error kind or None, attempts, (input tokens,
# output tokens) or None) or None. A stream's spans end with its last event.
Call = tuple[
    str, str, str, str, str, int | None, int, float, str | None, list[_otel.Attempt], tuple[int, int] | None
]
Request = tuple[
    tuple[int, int, int, str | None] | None, int, float, str, str, int, str | None, str | None, Call | None
]


def _parent(caller: tuple[int, int, int, str | None] | None) -> context.Context:
    if caller is None:
        return context.Context()  # a new trace, not whatever span the serving thread has
    trace_id, span_id, flags, state = caller
    remote = SpanContext(
        trace_id,
        span_id,
        is_remote=True,
        trace_flags=TraceFlags(flags),
        trace_state=TraceState.from_header([state]) if state else None,
    )
    return trace.set_span_in_context(NonRecordingSpan(remote), context.Context())


def _host(host: str | None) -> tuple[str | None, int | None]:
    if not host:
        return None, None
    if host.startswith("["):  # [::1]:4000
        name, _, rest = host[1:].partition("]")
        port = rest.removeprefix(":")
        return name, int(port) if port.isdigit() else None
    name, sep, port = host.rpartition(":")
    if sep and port.isdigit():
        return name, int(port)
    return host, None


def requests(batch: list[Request]) -> None:
    """Make the spans of a batch of finished requests."""
    tracer = _otel._get().tracer
    for caller, start_ns, duration, method, route, status, host, user_agent, call in batch:
        attrs: dict[str, Any] = {
            "http.request.method": method,
            "http.route": route,
            "url.path": route,
            "url.scheme": "http",
            "http.response.status_code": status,
        }
        address, port = _host(host)
        if address:
            attrs["server.address"] = address
        if port is not None:
            attrs["server.port"] = port
        if user_agent:
            attrs["user_agent.original"] = user_agent
        if status >= 500:
            attrs["error.type"] = str(status)
        span = tracer.start_span(
            f"{method} {route}", context=_parent(caller), kind=SpanKind.SERVER, attributes=attrs, start_time=start_ns
        )
        if status >= 500:
            span.set_status(Status(StatusCode.ERROR))
        if call is not None:
            _call_span(tracer, span, call)
        span.end(end_time=start_ns + int(duration * 1e9))


def _call_span(tracer: trace.Tracer, server: trace.Span, call: Call) -> None:
    operation, model, provider, target, address, port, start_ns, duration, error, attempts, usage = call
    extra: dict[str, Any] = {"llmrail.gateway.model": model}
    if usage is not None:
        extra["gen_ai.usage.input_tokens"], extra["gen_ai.usage.output_tokens"] = usage
    # The operation is a chat even when streamed ("stream {target}" names the span).
    _otel.ended_client_span(
        tracer,
        server,
        ("chat", provider, target, address, port, start_ns, duration, error, attempts),
        name=f"{operation} {target}",
        extra=extra,
    )
