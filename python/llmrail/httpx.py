"""httpx clients whose requests go through llmrail's Rust transport: bring your SDK code along.

    import openai
    import llmrail.httpx

    sdk = openai.AsyncOpenAI(http_client=llmrail.httpx.AsyncClient())
    with llmrail.replay.cassette("tests/cassettes/sdk.yaml"):
        r = await sdk.chat.completions.create(model="gpt-4.1", messages=[...])

Pass :class:`AsyncClient` (or :class:`Client`, for the sync SDK clients) as ``http_client=`` to
``openai.AsyncOpenAI``, ``anthropic.AsyncAnthropic`` or anything else that takes an httpx client.
Each request is sent by llmrail's transport, the one llmrail's own calls use: the process's
pooled HTTP client, and the active cassette (``llmrail.replay.cassette`` or the pytest plugin's
``llm_cassette`` marker), which records and replays it with the same modes, matching and secret
scrubbing as any ``llmrail.Client`` call. So an SDK-based test suite records once, then runs
offline with no server and no API key.

What the SDK sends and receives is not altered: the method, URL, headers and body go out as the
SDK built them (``accept-encoding``, ``connection`` and ``user-agent`` included; only ``host``
and the body's framing, ``content-length``, are set by the transport, from the same URL and
body), and the status, headers and body come back as the server sent them: a compressed body
stays compressed, with its ``content-encoding``, and httpx decodes it as it does for its own
transport. What llmrail reads of an answer (usage, the cassette's recording) it reads decoded
(gzip, deflate, br, zstd; a body in another encoding is recorded as it came). An error status
is a response for the SDK to read, not an exception. A stream of events (SSE, JSON lines) is
handed on chunk by chunk as it arrives; any other body is read whole in Rust first (one await).
Closing the response, or cancelling the task reading it, closes the connection. httpx's
``connect`` and ``read`` timeouts apply (``read``: for the headers, then for each chunk).

llmrail's resilience layers guard each request for a model, keyed by the provider and base URL
its endpoint names (``.../chat/completions``, ``.../responses``: OpenAI; ``.../v1/messages``:
Anthropic), the ``model`` of its JSON body and its API key: the same process-wide breaker and
rate-limit state a ``llmrail.Client`` of that provider, model and key uses, so both spend one
budget. ``circuit_breaker=`` (default on, as for a ``Client``; ``False`` turns it off) and
``rate_limit=`` (off unless given) take ``llmrail.CircuitBreaker`` and ``llmrail.RateLimit``.
Retries are off unless ``retry=llmrail.Retry(...)`` is given, because the SDKs retry themselves
(``max_retries=``) and two layers of retries would multiply; llmrail's retries honour
Retry-After. An error status stays a response: after the last retry the SDK reads it. An open
breaker raises :class:`llmrail.CircuitOpenError` before anything is sent.

Usage and cost are read from the answers llmrail knows (OpenAI chat completions and responses,
Anthropic messages; a stream's final usage, which OpenAI's chat sends only with
``stream_options={"include_usage": True}``), priced by llmrail's model catalogue: each
response's ``extensions["llmrail_usage"]`` is a :class:`llmrail._core.HttpMeter` (its ``usage``
is filled in once known: at once for a whole body, when a stream ends), and ``client.usage`` the
sum over the client's answers (``requests``, tokens, ``cost_usd``).

Transport failures are raised as the httpx exceptions the SDKs already handle:
``httpx.ConnectError``, ``httpx.ConnectTimeout``, ``httpx.ReadTimeout``, ``httpx.ReadError``,
``httpx.RemoteProtocolError``. A request a cassette
cannot answer in a mode that may not record raises :class:`llmrail.CassetteMissError`, not an
httpx exception (``openai`` 3.x hands it to the caller unchanged).

Needs ``httpx`` (``pip install "llmrail[httpx]"``). SDKs built on httpx's successor ``httpx2``
(``anthropic`` 2.x refuses an ``httpx`` client) take ``llmrail.httpx2.AsyncClient()`` instead: the
same transport, subclassing ``httpx2``'s classes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any, Literal

import httpx

from . import _core
from ._core import CircuitBreaker, RateLimit, Retry
from ._sdk_transport import failure_name, timeouts
from .errors import LLMError

__all__ = ["AsyncClient", "AsyncTransport", "Client", "Transport"]


def _httpx_error(e: LLMError, request: httpx.Request) -> Exception:
    name = failure_name(e)
    if name is None:
        return e
    cls: type[httpx.TransportError] = getattr(httpx, name)
    return cls(e.message, request=request)


class _AsyncChunks(httpx.AsyncByteStream):
    def __init__(self, body: _core.HttpBody, request: httpx.Request) -> None:
        self._body = body
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._body:
                yield chunk
        except LLMError as e:
            raise _httpx_error(e, self._request) from e

    async def aclose(self) -> None:
        self._body.close()


class _Chunks(httpx.SyncByteStream):
    def __init__(self, body: _core.HttpBody, request: httpx.Request) -> None:
        self._body = body
        self._request = request

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self._body
        except LLMError as e:
            raise _httpx_error(e, self._request) from e

    def close(self) -> None:
        self._body.close()


def _response(reply: _core.HttpReply, request: httpx.Request, stream: httpx.AsyncByteStream | httpx.SyncByteStream
              | None) -> httpx.Response:
    if stream is None:
        stream = httpx.ByteStream(reply.content or b"")
    return httpx.Response(reply.status, headers=reply.headers, stream=stream, request=request,
                          extensions={"llmrail_usage": reply.meter})


class AsyncTransport(httpx.AsyncBaseTransport):
    """An ``httpx.AsyncBaseTransport`` that sends through llmrail's Rust transport (see the module doc)."""

    def __init__(self, *, retry: Retry | None = None, rate_limit: RateLimit | None = None,
                 circuit_breaker: CircuitBreaker | Literal[False] | None = None) -> None:
        self._forwarder = _core.HttpForwarder(retry=retry, rate_limit=rate_limit, circuit_breaker=circuit_breaker)

    @property
    def usage(self) -> _core.HttpUsage:
        """What the answers through this transport used and cost so far (see the module doc)."""
        return self._forwarder.usage

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        connect, read = timeouts(request.extensions)
        try:
            reply = await self._forwarder.send(request.method, str(request.url), request.headers.raw, body,
                                               connect, read)
        except LLMError as e:
            raise _httpx_error(e, request) from e
        chunks = None if reply.stream is None else _AsyncChunks(reply.stream, request)
        return _response(reply, request, chunks)


class Transport(httpx.BaseTransport):
    """An ``httpx.BaseTransport`` that sends through llmrail's Rust transport (see the module doc)."""

    def __init__(self, *, retry: Retry | None = None, rate_limit: RateLimit | None = None,
                 circuit_breaker: CircuitBreaker | Literal[False] | None = None) -> None:
        self._forwarder = _core.HttpForwarder(retry=retry, rate_limit=rate_limit, circuit_breaker=circuit_breaker)

    @property
    def usage(self) -> _core.HttpUsage:
        """What the answers through this transport used and cost so far (see the module doc)."""
        return self._forwarder.usage

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = request.read()
        connect, read = timeouts(request.extensions)
        try:
            reply = self._forwarder.send_sync(request.method, str(request.url), request.headers.raw, body,
                                              connect, read)
        except LLMError as e:
            raise _httpx_error(e, request) from e
        chunks = None if reply.stream is None else _Chunks(reply.stream, request)
        return _response(reply, request, chunks)


class AsyncClient(httpx.AsyncClient):
    """An ``httpx.AsyncClient`` over :class:`AsyncTransport`; takes httpx's own arguments.

    ``retry``, ``rate_limit`` and ``circuit_breaker`` are llmrail's layers, keyed by the provider
    and model each request names (see the module doc); retries are off unless ``retry=`` is given.
    """

    def __init__(self, *, retry: Retry | None = None, rate_limit: RateLimit | None = None,
                 circuit_breaker: CircuitBreaker | Literal[False] | None = None, **kwargs: Any) -> None:
        layers = AsyncTransport(retry=retry, rate_limit=rate_limit, circuit_breaker=circuit_breaker)
        transport = kwargs.setdefault("transport", layers)
        self._llmrail = transport if isinstance(transport, AsyncTransport) else layers
        super().__init__(**kwargs)

    @property
    def usage(self) -> _core.HttpUsage:
        """What the answers through this client used and cost so far (see the module doc)."""
        return self._llmrail.usage


class Client(httpx.Client):
    """An ``httpx.Client`` over :class:`Transport`; takes httpx's own arguments.

    ``retry``, ``rate_limit`` and ``circuit_breaker`` are llmrail's layers, keyed by the provider
    and model each request names (see the module doc); retries are off unless ``retry=`` is given.
    """

    def __init__(self, *, retry: Retry | None = None, rate_limit: RateLimit | None = None,
                 circuit_breaker: CircuitBreaker | Literal[False] | None = None, **kwargs: Any) -> None:
        layers = Transport(retry=retry, rate_limit=rate_limit, circuit_breaker=circuit_breaker)
        transport = kwargs.setdefault("transport", layers)
        self._llmrail = transport if isinstance(transport, Transport) else layers
        super().__init__(**kwargs)

    @property
    def usage(self) -> _core.HttpUsage:
        """What the answers through this client used and cost so far (see the module doc)."""
        return self._llmrail.usage
