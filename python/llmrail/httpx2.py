"""``llmrail.httpx`` for SDKs built on ``httpx2`` (httpx's successor: ``anthropic`` 2.x takes only
``httpx2`` clients, ``openai`` 3.x either): the same transport, subclassing ``httpx2``'s classes.

    sdk = anthropic.AsyncAnthropic(http_client=llmrail.httpx2.AsyncClient())

Everything ``llmrail.httpx`` says holds here: cassettes, bytes unaltered, streams as they arrive,
breakers and rate limits shared with ``llmrail.Client``, retries only with ``retry=``, transport
failures as ``httpx2`` exceptions. Needs ``httpx2`` (``pip install "llmrail[httpx2]"``).
"""

from __future__ import annotations

import httpx2

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


class AsyncClient(shared.ClientLayers, httpx2.AsyncClient):
    """An ``httpx2.AsyncClient`` over :class:`AsyncTransport`; takes httpx's own arguments.

    ``retry``, ``rate_limit`` and ``circuit_breaker`` are llmrail's layers, keyed by the provider
    and model each request names (see the module doc); retries are off unless ``retry=`` is given.
    """

    _llmrail_transport = AsyncTransport


class Client(shared.ClientLayers, httpx2.Client):
    """An ``httpx2.Client`` over :class:`Transport`; takes httpx's own arguments.

    ``retry``, ``rate_limit`` and ``circuit_breaker`` are llmrail's layers, keyed by the provider
    and model each request names (see the module doc); retries are off unless ``retry=`` is given.
    """

    _llmrail_transport = Transport
