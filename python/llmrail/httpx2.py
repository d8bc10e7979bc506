"""``llmrail.httpx`` for SDKs built on ``httpx2`` (httpx's successor: ``anthropic`` 2.x takes only
``httpx2`` clients, ``openai`` 3.x either): the same transport, subclassing ``httpx2``'s classes.

    sdk = anthropic.AsyncAnthropic(http_client=llmrail.httpx2.AsyncClient())

Everything ``llmrail.httpx`` says holds here: cassettes, bytes unaltered, streams as they arrive,
breakers and rate limits shared with ``llmrail.Client``, retries only with ``retry=``, transport
failures as ``httpx2`` exceptions. Needs ``httpx2`` (``pip install "llmrail[httpx2]"``).

The clients' ``send`` goes straight to llmrail's transport when none of httpx2's layers between
could act (no event hooks, no auth, no mount or transport of the caller's), and does to the
response what those layers do; a whole body arrives as the response's content in the send's own
await. That saves an SDK call the walk through httpx2's auth, redirect and stream-reading
layers. Their ``build_request`` builds an SDK's plain request (``str`` headers, a ``bytes`` body,
no cookies or query parameters to merge) in one pass, the request httpx2's would build. Both rely
on httpx2's private state (``_state``, ``_event_hooks``, ``Headers._list``, ...):
``tests_py/test_sdk_fast_send.py`` compares their requests and responses with httpx2's own.
"""

from __future__ import annotations

import datetime
import logging
import time
from contextlib import suppress
from typing import Any, cast

import httpx2
from httpx2._client import BaseClient, BoundAsyncStream, BoundSyncStream, ClientState, UseClientDefault
from httpx2._decoders import IdentityDecoder
from httpx2._types import AuthTypes, HeaderTypes, RequestExtensions, TimeoutTypes
from httpx2._urls import host_header

from . import _core
from . import _sdk_transport as shared

__all__ = ["AsyncClient", "AsyncTransport", "Client", "Transport"]


class _AsyncChunks(shared.AsyncChunks, httpx2.AsyncByteStream):
    _http = httpx2


class _Chunks(shared.Chunks, httpx2.SyncByteStream):
    _http = httpx2


class AsyncTransport(shared.AsyncSending, httpx2.AsyncBaseTransport):
    """An ``httpx2.AsyncBaseTransport`` that sends through llmrail's Rust transport (see the module doc)."""

    _http = httpx2
    _chunks = _AsyncChunks


class Transport(shared.Sending, httpx2.BaseTransport):
    """An ``httpx2.BaseTransport`` that sends through llmrail's Rust transport (see the module doc)."""

    _http = httpx2
    _chunks = _Chunks


# What httpx2's clients log each response with, to the same logger.
_log = logging.getLogger("httpx2")
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_Default = AuthTypes | UseClientDefault | None
# The methods httpx2 gives a `Content-Length: 0` when they carry no body.
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "QUERY"})
_Header = tuple[bytes, bytes, bytes]


def _plain(headers: HeaderTypes | None) -> list[_Header] | None:
    """`headers` as httpx2's ``Headers`` holds them (name, lower-cased name, value) when they are
    a list of ASCII ``str`` pairs (what the SDKs pass), else ``None``: httpx2 takes the rest."""
    if headers is None:
        return []
    if type(headers) is not list and type(headers) is not tuple:
        return None
    out = []
    try:
        for name, value in headers:
            raw = name.encode("ascii")
            out.append((raw, raw.lower(), value.encode("ascii")))
    except (AttributeError, TypeError, ValueError):  # bytes, not pairs, not ASCII
        return None
    return out


def _built(client: BaseClient, method: str, url: httpx2.URL | str, content: Any,
           headers: HeaderTypes | None, timeout: TimeoutTypes | UseClientDefault) -> httpx2.Request | None:
    """The request httpx2's ``build_request`` builds for a plain one (see `_plain`; a ``bytes``
    body or none, no cookies, no query parameters, no extensions: the caller checks the rest),
    built in one pass: 40 µs -> 9 µs per SDK call, measured. ``None``: httpx2 builds it.

    What httpx2 does, in order: the client's headers, less those the call names, then the
    call's; the body's ``Content-Length`` unless a length or ``Transfer-Encoding`` is named;
    ``Host`` (and ``Content-Length: 0`` for a body method without one) put first."""
    given = _plain(headers)
    if given is None or not (content is None or type(content) is bytes) or client.params or client.cookies:
        return None
    full = client._merge_url(url)
    named = {lower for _, lower, _ in given}
    merged = [h for h in client.headers._list if h[1] not in named]
    merged += given
    named = {lower for _, lower, _ in merged}
    body = content or b""
    if body and b"content-length" not in named and b"transfer-encoding" not in named:
        merged.append((b"Content-Length", b"content-length", str(len(body)).encode()))
        named.add(b"content-length")
    method = method.upper()
    first = []
    if b"host" not in named and full.host:
        first.append((b"Host", b"host", host_header(full)))
    if b"content-length" not in named and b"transfer-encoding" not in named and method in _BODY_METHODS:
        first.append((b"Content-Length", b"content-length", b"0"))
    request_headers = httpx2.Headers()
    request_headers._list = first + merged
    limits = client.timeout if isinstance(timeout, UseClientDefault) else httpx2.Timeout(timeout)
    request = httpx2.Request.__new__(httpx2.Request)
    request.method = method
    request.url = full
    request.headers = request_headers
    request.extensions = {"timeout": limits.as_dict()}
    request.stream = httpx2.ByteStream(body)
    request._content = body
    return request


def _short_way(client: httpx2.Client | httpx2.AsyncClient, request: httpx2.Request, auth: _Default,
               body_type: type, transport: Any) -> bool:
    """Whether `client` may send `request` straight to its llmrail `transport`: no event hooks,
    no auth (the client's, the call's or the URL's), the request going to that transport (no
    mount, no ``transport=`` of the caller's). Then the layers httpx2 would walk through (auth
    flow, redirect loop, hooks) are the identity; see :meth:`AsyncClient.send`."""
    return not (client._state is ClientState.CLOSED or client._event_hooks["request"]
                or client._event_hooks["response"] or client.max_redirects < 0
                or not isinstance(request.stream, body_type)
                or client._transport_for_url(request.url) is not transport
                or not _no_auth(client, request, auth))


def _no_auth(client: httpx2.Client | httpx2.AsyncClient, request: httpx2.Request, auth: _Default) -> bool:
    """Whether httpx2's ``_build_request_auth`` would give the identity ``Auth()``: at once when the
    call and the client name none and the URL has no user info (the SDKs' case), else by asking it."""
    if isinstance(auth, UseClientDefault) and client._auth is None and not request.url._uri_reference.userinfo:
        return True
    return type(client._build_request_auth(request, auth)) is httpx2.Auth


def _received(client: httpx2.Client | httpx2.AsyncClient, request: httpx2.Request, response: httpx2.Response,
              reply: _core.HttpReply, bounded: BoundSyncStream | BoundAsyncStream, start: float, read: bool) -> None:
    """What httpx2's ``_send_single_request`` does to a response from the transport; with `read`,
    a whole unencoded body (`reply.content`, read in Rust in the same call) is made the response's
    content as ``response.read()`` would leave it, with no second pass over it. The cookie jar
    reads only an answer that sets a cookie (it would find nothing in another)."""
    response.stream = bounded
    content = reply.content
    if read and content is not None and "content-encoding" not in response.headers:
        response._content = content
        response._decoder = IdentityDecoder()
        response._num_bytes_downloaded = len(content)
        response.is_stream_consumed = response.is_closed = True
        bounded.elapsed = datetime.timedelta(seconds=time.perf_counter() - start)
    if reply.sets_cookies:
        client.cookies.extract_cookies(response)
    response.default_encoding = client._default_encoding
    if _log.isEnabledFor(logging.INFO):
        _log.info('HTTP Request: %s %s "%s %d %s"', request.method, request.url, response.http_version,
                  response.status_code, response.reason_phrase)


def _redirect(client: httpx2.Client | httpx2.AsyncClient, request: httpx2.Request, response: httpx2.Response,
              follow: bool) -> httpx2.Request | None:
    """The request to follow `response` with, if it is a redirect to follow; one not to follow is
    offered as its ``next_request``, as httpx2's redirect loop does."""
    if response.status_code not in _REDIRECTS or not response.has_redirect_location:
        return None
    if follow:
        return client._build_redirect_request(request, response)
    with suppress(httpx2.RemoteProtocolError):
        response.next_request = client._build_redirect_request(request, response)
    return None


class _Building:
    """``build_request`` in one pass for an SDK's plain request (see `_built`), else httpx2's."""

    def build_request(self, method: str, url: httpx2.URL | str, *, content: Any = None, data: Any = None,
                      files: Any = None, json: Any | None = None, params: Any = None,
                      headers: HeaderTypes | None = None, cookies: Any = None,
                      timeout: TimeoutTypes | UseClientDefault = httpx2.USE_CLIENT_DEFAULT,
                      extensions: RequestExtensions | None = None) -> httpx2.Request:
        client = cast(BaseClient, self)
        if data is None and files is None and json is None and not params and not cookies and extensions is None:
            request = _built(client, method, url, content, headers, timeout)
            if request is not None:
                return request
        return BaseClient.build_request(client, method, url, content=content, data=data, files=files, json=json,
                                        params=params, headers=headers, cookies=cookies, timeout=timeout,
                                        extensions=extensions)


class AsyncClient(shared.ClientLayers, _Building, httpx2.AsyncClient):
    """An ``httpx2.AsyncClient`` over :class:`AsyncTransport`; takes httpx's own arguments.

    ``retry``, ``rate_limit`` and ``circuit_breaker`` are llmrail's layers, keyed by the provider
    and model each request names (see the module doc); retries are off unless ``retry=`` is given.
    """

    _llmrail_transport = AsyncTransport
    _llmrail: AsyncTransport

    async def send(self, request: httpx2.Request, *, stream: bool = False, auth: _Default = httpx2.USE_CLIENT_DEFAULT,
                   follow_redirects: bool | UseClientDefault = httpx2.USE_CLIENT_DEFAULT) -> httpx2.Response:
        """``httpx2.AsyncClient.send``, straight to llmrail's transport when nothing between could act
        (see `_short_way`), doing to the response what httpx2's layers do (its request, history,
        cookies, default encoding, elapsed time, the log line, a redirect followed or offered as
        ``next_request``); a whole body, read in Rust in the send's own await, becomes the
        response's content at once. Anything else goes httpx2's way."""
        transport = self._llmrail
        if not _short_way(self, request, auth, httpx2.AsyncByteStream, transport):
            return await super().send(request, stream=stream, auth=auth, follow_redirects=follow_redirects)
        self._state = ClientState.OPENED
        follow = self.follow_redirects if isinstance(follow_redirects, UseClientDefault) else follow_redirects
        self._set_timeout(request)
        start = time.perf_counter()
        reply = await transport.reply(request)
        response: httpx2.Response = transport.response(reply, request)
        bounded = BoundAsyncStream(cast(httpx2.AsyncByteStream, response.stream), start=start)
        _received(self, request, response, reply, bounded, start, not stream)
        try:
            following = _redirect(self, request, response, follow)
            if following is not None:
                await response.aread()
                response = await self._send_handling_redirects(following, follow_redirects=True, history=[response])
            if not stream:
                await response.aread()
            return response
        except BaseException:
            await response.aclose()
            raise


class Client(shared.ClientLayers, _Building, httpx2.Client):
    """An ``httpx2.Client`` over :class:`Transport`; takes httpx's own arguments.

    ``retry``, ``rate_limit`` and ``circuit_breaker`` are llmrail's layers, keyed by the provider
    and model each request names (see the module doc); retries are off unless ``retry=`` is given.
    """

    _llmrail_transport = Transport
    _llmrail: Transport

    def send(self, request: httpx2.Request, *, stream: bool = False, auth: _Default = httpx2.USE_CLIENT_DEFAULT,
             follow_redirects: bool | UseClientDefault = httpx2.USE_CLIENT_DEFAULT) -> httpx2.Response:
        """``httpx2.Client.send`` the short way when it may be (see :meth:`AsyncClient.send`)."""
        transport = self._llmrail
        if not _short_way(self, request, auth, httpx2.SyncByteStream, transport):
            return super().send(request, stream=stream, auth=auth, follow_redirects=follow_redirects)
        self._state = ClientState.OPENED
        follow = self.follow_redirects if isinstance(follow_redirects, UseClientDefault) else follow_redirects
        self._set_timeout(request)
        start = time.perf_counter()
        reply = transport.reply(request)
        response: httpx2.Response = transport.response(reply, request)
        bounded = BoundSyncStream(cast(httpx2.SyncByteStream, response.stream), start=start)
        _received(self, request, response, reply, bounded, start, not stream)
        try:
            following = _redirect(self, request, response, follow)
            if following is not None:
                response.read()
                response = self._send_handling_redirects(following, follow_redirects=True, history=[response])
            if not stream:
                response.read()
            return response
        except BaseException:
            response.close()
            raise
