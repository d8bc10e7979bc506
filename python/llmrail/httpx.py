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

import httpx

from . import _sdk_transport as shared

__all__ = ["AsyncClient", "AsyncTransport", "Client", "Transport"]


class _AsyncChunks(shared.AsyncChunks, httpx.AsyncByteStream):
    _http = httpx


class _Chunks(shared.Chunks, httpx.SyncByteStream):
    _http = httpx


class AsyncTransport(shared.AsyncSending, httpx.AsyncBaseTransport):
    """An ``httpx.AsyncBaseTransport`` that sends through llmrail's Rust transport (see the module doc)."""

    _http = httpx
    _chunks = _AsyncChunks


class Transport(shared.Sending, httpx.BaseTransport):
    """An ``httpx.BaseTransport`` that sends through llmrail's Rust transport (see the module doc)."""

    _http = httpx
    _chunks = _Chunks


class AsyncClient(shared.ClientLayers, httpx.AsyncClient):
    """An ``httpx.AsyncClient`` over :class:`AsyncTransport`; takes httpx's own arguments.

    ``retry``, ``rate_limit`` and ``circuit_breaker`` are llmrail's layers, keyed by the provider
    and model each request names (see the module doc); retries are off unless ``retry=`` is given.
    """

    _llmrail_transport = AsyncTransport


class Client(shared.ClientLayers, httpx.Client):
    """An ``httpx.Client`` over :class:`Transport`; takes httpx's own arguments.

    ``retry``, ``rate_limit`` and ``circuit_breaker`` are llmrail's layers, keyed by the provider
    and model each request names (see the module doc); retries are off unless ``retry=`` is given.
    """

    _llmrail_transport = Transport
