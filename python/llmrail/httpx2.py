"""``llmrail.httpx`` for SDKs built on ``httpx2`` (httpx's successor: ``anthropic`` 2.x takes only
``httpx2`` clients, ``openai`` 3.x either): the same transport, subclassing ``httpx2``'s classes.

    sdk = anthropic.AsyncAnthropic(http_client=llmrail.httpx2.AsyncClient())

Everything ``llmrail.httpx`` says holds here: cassettes, bytes unaltered, streams as they arrive,
breakers and rate limits shared with ``llmrail.Client``, retries only with ``retry=``, transport
failures as ``httpx2`` exceptions. Needs ``httpx2`` (``pip install "llmrail[httpx2]"``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any, Literal

import httpx2

from . import _core
from ._core import CircuitBreaker, RateLimit, Retry
from ._sdk_transport import failure_name, timeouts
from .errors import LLMError

__all__ = ["AsyncClient", "AsyncTransport", "Client", "Transport"]


def _httpx2_error(e: LLMError, request: httpx2.Request) -> Exception:
    name = failure_name(e)
    if name is None:
        return e
    cls: type[httpx2.TransportError] = getattr(httpx2, name)
    return cls(e.message, request=request)


class _AsyncChunks(httpx2.AsyncByteStream):
    def __init__(self, body: _core.HttpBody, request: httpx2.Request) -> None:
        self._body = body
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._body:
                yield chunk
        except LLMError as e:
            raise _httpx2_error(e, self._request) from e

    async def aclose(self) -> None:
        self._body.close()


class _Chunks(httpx2.SyncByteStream):
    def __init__(self, body: _core.HttpBody, request: httpx2.Request) -> None:
        self._body = body
        self._request = request

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self._body
        except LLMError as e:
            raise _httpx2_error(e, self._request) from e

    def close(self) -> None:
        self._body.close()


def _response(reply: _core.HttpReply, request: httpx2.Request, stream: httpx2.AsyncByteStream | httpx2.SyncByteStream
              | None) -> httpx2.Response:
    if stream is None:
        stream = httpx2.ByteStream(reply.content or b"")
    return httpx2.Response(reply.status, headers=reply.headers, stream=stream, request=request,
                          extensions={"llmrail_usage": reply.meter})


class AsyncTransport(httpx2.AsyncBaseTransport):
    """An ``httpx2.AsyncBaseTransport`` that sends through llmrail's Rust transport (see the module doc)."""

    def __init__(self, *, retry: Retry | None = None, rate_limit: RateLimit | None = None,
                 circuit_breaker: CircuitBreaker | Literal[False] | None = None) -> None:
        self._forwarder = _core.HttpForwarder(retry=retry, rate_limit=rate_limit, circuit_breaker=circuit_breaker)

    @property
    def usage(self) -> _core.HttpUsage:
        """What the answers through this transport used and cost so far (see the module doc)."""
        return self._forwarder.usage

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        body = await request.aread()
        connect, read = timeouts(request.extensions)
        try:
            reply = await self._forwarder.send(request.method, str(request.url), request.headers.raw, body,
                                               connect, read)
        except LLMError as e:
            raise _httpx2_error(e, request) from e
        chunks = None if reply.stream is None else _AsyncChunks(reply.stream, request)
        return _response(reply, request, chunks)


class Transport(httpx2.BaseTransport):
    """An ``httpx2.BaseTransport`` that sends through llmrail's Rust transport (see the module doc)."""

    def __init__(self, *, retry: Retry | None = None, rate_limit: RateLimit | None = None,
                 circuit_breaker: CircuitBreaker | Literal[False] | None = None) -> None:
        self._forwarder = _core.HttpForwarder(retry=retry, rate_limit=rate_limit, circuit_breaker=circuit_breaker)

    @property
    def usage(self) -> _core.HttpUsage:
        """What the answers through this transport used and cost so far (see the module doc)."""
        return self._forwarder.usage

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        body = request.read()
        connect, read = timeouts(request.extensions)
        try:
            reply = self._forwarder.send_sync(request.method, str(request.url), request.headers.raw, body,
                                              connect, read)
        except LLMError as e:
            raise _httpx2_error(e, request) from e
        chunks = None if reply.stream is None else _Chunks(reply.stream, request)
        return _response(reply, request, chunks)


class AsyncClient(httpx2.AsyncClient):
    """An ``httpx2.AsyncClient`` over :class:`AsyncTransport`; takes httpx's own arguments.

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


class Client(httpx2.Client):
    """An ``httpx2.Client`` over :class:`Transport`; takes httpx's own arguments.

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
