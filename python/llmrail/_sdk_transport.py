"""What `llmrail.httpx` and `llmrail.httpx2` share: the same transport over the two packages (the
official SDKs moved from httpx to its successor httpx2; their classes are distinct, so each
module subclasses its own package's, with the mixins here first, and names that package in
``_http``; every decision is made once, here, and both send through `_core.HttpForwarder`)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping
from types import ModuleType
from typing import Any, ClassVar, Literal

from . import _core
from ._core import CircuitBreaker, RateLimit, Retry
from .errors import ConnectionError, InvalidResponseError, LLMError, TimeoutError


def failure_name(e: LLMError) -> str | None:
    """The name of the httpx exception an SDK expects for a failure of the transport; ``None`` for
    llmrail's own errors (a cassette miss, a bad argument), raised as they are."""
    # The transport words a failure before the connection was up as "could not connect".
    connecting = "could not connect" in e.message
    if isinstance(e, TimeoutError):
        return "ConnectTimeout" if connecting else "ReadTimeout"
    if isinstance(e, ConnectionError):
        return "ConnectError" if connecting else "ReadError"
    if isinstance(e, InvalidResponseError):
        return "RemoteProtocolError"
    return None


def timeouts(extensions: Mapping[str, Any]) -> tuple[float | None, float | None]:
    """The connect and read timeouts of a request (httpx puts them in its extensions)."""
    timeout = extensions.get("timeout") or {}
    return timeout.get("connect"), timeout.get("read")


def _error(http: ModuleType, e: LLMError, request: Any) -> Exception:
    """`e` as the exception of `http` (httpx or httpx2) an SDK expects, or as it is."""
    name = failure_name(e)
    if name is None:
        return e
    cls: Any = getattr(http, name)
    error: Exception = cls(e.message, request=request)
    return error


class AsyncChunks:
    """A streamed body, chunk by chunk as it arrives; closing it closes the connection."""

    _http: ModuleType

    def __init__(self, body: _core.HttpBody, request: Any) -> None:
        self._body = body
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._body:
                yield chunk
        except LLMError as e:
            raise _error(self._http, e, self._request) from e

    async def aclose(self) -> None:
        self._body.close()


class Chunks:
    """:class:`AsyncChunks` for a sync client."""

    _http: ModuleType

    def __init__(self, body: _core.HttpBody, request: Any) -> None:
        self._body = body
        self._request = request

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self._body
        except LLMError as e:
            raise _error(self._http, e, self._request) from e

    def close(self) -> None:
        self._body.close()


class _Layers:
    """One transport's forwarder: llmrail's layers (retries off unless given) and its answers' usage."""

    _http: ModuleType
    _chunks: ClassVar[type[Any]]

    def __init__(self, *, retry: Retry | None = None, rate_limit: RateLimit | None = None,
                 circuit_breaker: CircuitBreaker | Literal[False] | None = None) -> None:
        self._forwarder = _core.HttpForwarder(retry=retry, rate_limit=rate_limit, circuit_breaker=circuit_breaker)

    @property
    def usage(self) -> _core.HttpUsage:
        """What the answers through this transport used and cost so far (see the module doc)."""
        return self._forwarder.usage

    def response(self, reply: _core.HttpReply, request: Any) -> Any:
        """`reply` as the response of `request`, its body not read yet (as a transport gives it):
        a whole body as the http module's own byte stream, a streamed one as `_chunks`."""
        http = self._http
        if reply.stream is None:
            stream = http.ByteStream(reply.content or b"")
        else:
            stream = self._chunks(reply.stream, request)
        response = http.Response(reply.status, stream=stream, request=request,
                                 extensions={"llmrail_usage": reply.meter})
        # The headers as `Headers(reply.headers)` would keep them, built in Rust in one go.
        response.headers._list = reply.header_list
        return response


class AsyncSending(_Layers):
    """``handle_async_request`` through llmrail's Rust transport (see `llmrail.httpx`)."""

    _chunks: ClassVar[type[AsyncChunks]]

    async def reply(self, request: Any) -> _core.HttpReply:
        """Send `request`; its reply (a whole body read in Rust in the same await), or the
        failure as the httpx exception an SDK expects."""
        body = await request.aread()
        connect, read = timeouts(request.extensions)
        try:
            return await self._forwarder.send(request.method, str(request.url), request.headers.raw, body,
                                              connect, read)
        except LLMError as e:
            raise _error(self._http, e, request) from e

    async def handle_async_request(self, request: Any) -> Any:
        return self.response(await self.reply(request), request)


class Sending(_Layers):
    """``handle_request`` through llmrail's Rust transport (see `llmrail.httpx`)."""

    _chunks: ClassVar[type[Chunks]]

    def reply(self, request: Any) -> _core.HttpReply:
        """:meth:`AsyncSending.reply`, blocking."""
        body = request.read()
        connect, read = timeouts(request.extensions)
        try:
            return self._forwarder.send_sync(request.method, str(request.url), request.headers.raw, body,
                                             connect, read)
        except LLMError as e:
            raise _error(self._http, e, request) from e

    def handle_request(self, request: Any) -> Any:
        return self.response(self.reply(request), request)


class ClientLayers:
    """An httpx client's arguments for llmrail's layers: its transport is ``_llmrail_transport`` built with
    them, unless a ``transport=`` of the caller's is given; ``usage`` is that transport's."""

    _llmrail_transport: ClassVar[type[_Layers]]

    def __init__(self, *, retry: Retry | None = None, rate_limit: RateLimit | None = None,
                 circuit_breaker: CircuitBreaker | Literal[False] | None = None, **kwargs: Any) -> None:
        layers = self._llmrail_transport(retry=retry, rate_limit=rate_limit, circuit_breaker=circuit_breaker)
        transport = kwargs.setdefault("transport", layers)
        self._llmrail = transport if isinstance(transport, self._llmrail_transport) else layers
        super().__init__(**kwargs)

    @property
    def usage(self) -> _core.HttpUsage:
        """What the answers through this client used and cost so far (see the module doc)."""
        return self._llmrail.usage
