"""Mock providers for tests, demos and offline development: a server and an in-process one.

    from llmrail.testing import MockServer

    with MockServer() as srv:
        srv.reply("Paris.", usage={"input_tokens": 12, "output_tokens": 2})
        srv.fault(429, retry_after=1)          # the next request gets a rate-limit error
        client = llmrail.Client("openai/gpt-4.1", base_url=srv.openai_base_url, api_key="sk-test")
        ...
        assert srv.last_request["body"]["model"] == "gpt-4.1"

Replies are used first in, first out; with none queued the server answers the default reply
(``srv.default(...)``), else echoes ``"mock reply to: <last user message>"``.

``MockProvider(name)`` is scripted the same way and answers ``Client("mock/<name>")`` without a
socket (and, from a fixtures file, by rules on the last user message):

    mock = MockProvider("support").reply("Paris.")
    assert llmrail.Client(mock.model).chat("Capital of France?").text == "Paris."
"""

from __future__ import annotations

import argparse
import asyncio
import json as _json
import os
import sys
import time
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypedDict, overload

from ._core import MockProvider as _CoreMockProvider
from ._core import MockServer as _CoreMockServer
from .errors import LLMError

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ["MockProvider", "MockServer", "RecordedRequest", "ToolCallSpec", "UsageSpec", "main"]

Latency = float | Mapping[str, Any]
"""Seconds, ``{"uniform": [lo, hi]}`` or ``{"lognormal": {"median": s, "sigma": x}}``."""

FinishReason = Literal["stop", "length", "tool_calls", "content_filter"]


class _ToolCallRequired(TypedDict):
    name: str


class ToolCallSpec(_ToolCallRequired, total=False):
    """A tool call to answer with; a string ``arguments`` is sent as raw (maybe broken) JSON text."""

    arguments: Any
    id: str


class UsageSpec(TypedDict, total=False):
    """Token counts to report; ``input_tokens`` includes cached tokens. Missing ones are estimated."""

    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int


class RecordedRequest(TypedDict):
    """A request as the server received it; header names are lower-case."""

    method: str
    path: str
    query: str | None
    headers: list[tuple[str, str]]
    body: Any


def _reply(
    text: str | None = None,
    *,
    tool_calls: Sequence[ToolCallSpec] | None = None,
    json: Any = None,
    chunks: Sequence[str] | None = None,
    finish_reason: FinishReason | None = None,
    usage: UsageSpec | None = None,
    latency: Latency | None = None,
    chunk_delay: float | None = None,
    times: int = 1,
    model: str | None = None,
    fault: Any = None,
    headers: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "text": text,
        "tool_calls": list(tool_calls) if tool_calls is not None else None,
        "json": json,
        "chunks": list(chunks) if chunks is not None else None,
        "finish_reason": finish_reason,
        "usage": usage,
        "latency": latency,
        "chunk_delay": chunk_delay,
        "model": model,
        "fault": fault,
        "headers": dict(headers) if headers is not None else None,
    }
    reply = {k: v for k, v in fields.items() if v is not None}
    reply["times"] = times
    return reply


class _Core(Protocol):
    def push(self, reply: Mapping[str, Any]) -> None: ...
    def set_default(self, reply: Mapping[str, Any] | None) -> None: ...
    @property
    def requests(self) -> list[Any]: ...
    @property
    def pending(self) -> int: ...
    def clear(self) -> None: ...


class _Scripted:
    """The scripting both mocks share: one vocabulary whether answers come over HTTP or not."""

    _core: _Core

    def reply(
        self,
        text: str | None = None,
        *,
        tool_calls: Sequence[ToolCallSpec] | None = None,
        json: Any = None,
        chunks: Sequence[str] | None = None,
        finish_reason: FinishReason | None = None,
        usage: UsageSpec | None = None,
        latency: Latency | None = None,
        chunk_delay: float | None = None,
        times: int = 1,
        model: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Self:
        """Queue an answer for the next ``times`` requests (no text, tool calls or json: echo).

        ``headers`` are added to the response (rate-limit headers, for example)."""
        self._core.push(
            _reply(
                text,
                tool_calls=tool_calls,
                json=json,
                chunks=chunks,
                finish_reason=finish_reason,
                usage=usage,
                latency=latency,
                chunk_delay=chunk_delay,
                times=times,
                model=model,
                headers=headers,
            )
        )
        return self

    @overload
    def fault(
        self,
        kind: int,
        *,
        retry_after: float | None = None,
        body: Any = None,
        times: int = 1,
        latency: Latency | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Self: ...
    @overload
    def fault(
        self, kind: Literal["reset", "malformed_json"], *, times: int = 1, latency: Latency | None = None
    ) -> Self: ...
    @overload
    def fault(
        self, kind: Literal["truncate", "error_after"], *, after: int, times: int = 1, latency: Latency | None = None
    ) -> Self: ...
    @overload
    def fault(
        self, kind: Literal["slow_body"], *, seconds: float, times: int = 1, latency: Latency | None = None
    ) -> Self: ...
    def fault(
        self,
        kind: int | str,
        *,
        retry_after: float | None = None,
        body: Any = None,
        after: int | None = None,
        seconds: float | None = None,
        times: int = 1,
        latency: Latency | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Self:
        """Queue a failure for the next ``times`` requests.

        ``fault(429, retry_after=2)``: an error status in the provider's format (or ``body``).
        ``fault("reset")``: close the connection without a response.
        ``fault("truncate", after=3)``: a stream cut after 3 events (a plain body after 3 bytes).
        ``fault("error_after", after=3)``: 3 stream events, then the provider's in-stream error
        (OpenAI's error chunk, Anthropic's ``error`` event, Ollama's ``{"error": ...}`` line,
        Bedrock's ``exception`` frame); a call that is not streamed gets a 500.
        ``fault("slow_body", seconds=1.0)``: headers at once, body dribbled over ``seconds``.
        ``fault("malformed_json")``: a 200 whose body (or one stream event) is not JSON.
        ``headers`` are added to an error status's response (``retry-after-ms``, rate-limit
        headers).
        """
        spec: Any
        if isinstance(kind, int) and not isinstance(kind, bool):
            _only(kind, after=after, seconds=seconds)
            spec = {"status": kind}
            if retry_after is not None:
                spec["retry_after"] = retry_after
            if body is not None:
                spec["body"] = body
        elif kind in ("reset", "malformed_json"):
            _only(kind, retry_after=retry_after, body=body, after=after, seconds=seconds)
            spec = kind
        elif kind == "truncate":
            _only(kind, retry_after=retry_after, body=body, seconds=seconds)
            if after is None:
                raise TypeError('fault("truncate") needs after=<number of events>')
            spec = {"truncate_after": after}
        elif kind == "error_after":
            _only(kind, retry_after=retry_after, body=body, seconds=seconds)
            if after is None:
                raise TypeError('fault("error_after") needs after=<number of events>')
            spec = {"error_after": after}
        elif kind == "slow_body":
            _only(kind, retry_after=retry_after, body=body, after=after)
            if seconds is None:
                raise TypeError('fault("slow_body") needs seconds=<duration>')
            spec = {"slow_body": seconds}
        else:
            raise ValueError(
                f"unknown fault {kind!r}: use an HTTP status, "
                "'reset', 'truncate', 'error_after', 'slow_body' or 'malformed_json'"
            )
        self._core.push(_reply(fault=spec, times=times, latency=latency, headers=headers))
        return self

    def push(self, reply: Mapping[str, Any]) -> Self:
        """Queue a reply given as a raw dict (the shape ``--script`` files use)."""
        self._core.push(dict(reply))
        return self

    def default(
        self,
        text: str | None = None,
        *,
        tool_calls: Sequence[ToolCallSpec] | None = None,
        json: Any = None,
        chunks: Sequence[str] | None = None,
        finish_reason: FinishReason | None = None,
        usage: UsageSpec | None = None,
        latency: Latency | None = None,
        chunk_delay: float | None = None,
        model: str | None = None,
    ) -> Self:
        """Set the answer used whenever the queue is empty (``clear()`` goes back to echoing)."""
        self._core.set_default(
            _reply(
                text,
                tool_calls=tool_calls,
                json=json,
                chunks=chunks,
                finish_reason=finish_reason,
                usage=usage,
                latency=latency,
                chunk_delay=chunk_delay,
                model=model,
            )
        )
        return self

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received, oldest first (rejected ones included); past 10,000, the last
        10,000 (a mock serving a benchmark must not grow without bound)."""
        requests: list[RecordedRequest] = self._core.requests
        return requests

    @property
    def last_request(self) -> RecordedRequest:
        """The most recent request; ``LookupError`` if none arrived yet."""
        requests = self.requests
        if not requests:
            raise LookupError("the mock server has not received any request yet")
        return requests[-1]

    def wait_for_requests_sync(self, n: int, *, timeout: float = 5.0) -> list[RecordedRequest]:
        """Block until at least ``n`` requests arrived; ``TimeoutError`` after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while len(requests := self.requests) < n:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(requests)} of {n} requests arrived within {timeout} s")
            time.sleep(0.005)
        return requests

    async def wait_for_requests(self, n: int, *, timeout: float = 5.0) -> list[RecordedRequest]:
        """As :meth:`wait_for_requests_sync`, without blocking the event loop."""
        deadline = time.monotonic() + timeout
        while len(requests := self.requests) < n:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(requests)} of {n} requests arrived within {timeout} s")
            await asyncio.sleep(0.005)
        return requests

    @property
    def pending(self) -> int:
        """How many more requests the queued replies will answer."""
        return self._core.pending

    def clear(self) -> None:
        """Forget requests, queued replies, the default reply and any counts (fixtures stay)."""
        self._core.clear()


class MockServer(_Scripted):
    """A mock provider on ``127.0.0.1`` (``port``, else one the OS picks), started on construction."""

    def __init__(self, port: int = 0) -> None:
        self._server = _CoreMockServer(port)
        self._core = self._server

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return self._server.url

    @property
    def openai_base_url(self) -> str:
        """Base URL for OpenAI-style clients (``url + "/v1"``)."""
        return self._server.url + "/v1"

    @property
    def anthropic_base_url(self) -> str:
        """Base URL for Anthropic clients (they append ``/v1/messages``)."""
        return self._server.url

    @property
    def port(self) -> int:
        return self._server.port

    @property
    def disconnects(self) -> int:
        """Requests the client abandoned before the response was complete."""
        return self._server.disconnects

    @property
    def connections(self) -> int:
        """TCP connections accepted (a client that pools connections opens few)."""
        return self._server.connections

    @property
    def received(self) -> int:
        """Requests received since start (or :meth:`clear`), those past ``requests``' 10,000 included."""
        return self._server.received

    def batch_settings(
        self,
        *,
        processing: float = 0.0,
        outcomes: Mapping[str, Sequence[str]] | None = None,
        available: bool = True,
        create_delay: float = 0.0,
    ) -> MockServer:
        """How provider batches (Anthropic's and OpenAI's batch APIs) behave from now on.

        ``processing``: seconds from create to ended. ``outcomes``: per custom_id, one outcome
        per submission of it, oldest first: ``"succeeded"`` (the next scripted reply, else the
        echo), ``"expired"``, or an error type such as ``"overloaded_error"`` or
        ``"invalid_request_error"``. Items not named succeed. ``available=False``: the server
        has no batch API, every batch endpoint answers 404 (as an OpenAI-compatible one does).
        ``create_delay``: seconds the answer to a create is held back after its batch exists (a
        client killed in that time made a batch it never heard of).
        """
        self._server.batch_settings(
            processing=processing, outcomes=outcomes, available=available, create_delay=create_delay
        )
        return self

    async def wait_for_disconnects(self, n: int, *, timeout: float = 5.0) -> None:
        """Wait until the server has seen ``n`` clients hang up before their answer was done."""
        deadline = time.monotonic() + timeout
        while self.disconnects < n:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.disconnects} of {n} disconnects within {timeout} s")
            await asyncio.sleep(0.005)

    def shutdown(self) -> None:
        """Stop accepting and close open connections (also done on ``with`` exit)."""
        self._server.shutdown()

    def __enter__(self) -> MockServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.shutdown()

    def __repr__(self) -> str:
        return f"MockServer(url={self.url!r})"


class MockProvider(_Scripted):
    """The scripted provider ``mock/<name>``, answered in process: no socket, no port, no key.

    ``Client("mock/<name>")`` (or ``client.model``) gets its answers; every layer (retries,
    breakers, limits, fallbacks, extraction, streaming, usage) runs as for a real provider.
    The same name gives the same script for the whole process, so ``clear()`` between tests.
    Fixture rules (:meth:`fixtures`, or a file named by ``LLMRAIL_MOCK_FIXTURES``) answer when
    nothing is queued.
    """

    def __init__(self, name: str) -> None:
        self._provider = _CoreMockProvider(name)
        self._core = self._provider

    @property
    def name(self) -> str:
        """The name after ``mock/``."""
        return self._provider.name

    @property
    def model(self) -> str:
        """``"mock/<name>"``, the model string a client calls it by."""
        return f"mock/{self._provider.name}"

    def fixtures(self, source: str | os.PathLike[str] | Mapping[str, Any] | None) -> MockProvider:
        """Answer from the rules of a fixtures file (YAML or JSON path) or dict; ``None`` removes them."""
        self._provider.set_fixtures(source)
        return self

    def __enter__(self) -> MockProvider:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.clear()

    def __repr__(self) -> str:
        return f"MockProvider(name={self.name!r})"


def _only(kind: object, **unused: object) -> None:
    given = [name for name, value in unused.items() if value is not None]
    if given:
        raise TypeError(f"fault({kind!r}) does not take {', '.join(given)}")


def _load_script(srv: MockServer, path: str) -> int:
    with open(path, encoding="utf-8") as f:
        script = _json.load(f)
    if isinstance(script, dict) and set(script) <= {"replies", "default"}:
        replies = script.get("replies", [])
        if "default" in script:
            srv._core.set_default(script["default"])
    elif isinstance(script, dict):
        replies = [script]
    else:
        replies = script
    if not isinstance(replies, list):
        raise ValueError(f"{path}: expected a reply, a list of replies or {{'replies': [...]}}")
    for reply in replies:
        srv.push(reply)
    return len(replies)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m llmrail mock-server [--script FILE] [--port N]``: serve until Ctrl-C."""
    parser = argparse.ArgumentParser(
        prog="llmrail mock-server",
        description="Serve a mock OpenAI / Anthropic API on 127.0.0.1 until Ctrl-C.",
    )
    parser.add_argument(
        "--script",
        metavar="FILE",
        help='JSON: a reply, a list of replies, or {"replies": [...], "default": {...}}',
    )
    parser.add_argument(
        "--port",
        type=int,
        default=0,
        metavar="N",
        help="port on 127.0.0.1 to listen on (default: a free one)",
    )
    args = parser.parse_args(argv)
    if not 0 <= args.port <= 65535:
        parser.error(f"--port must be between 0 and 65535, got {args.port}")
    try:
        server = MockServer(args.port)
    except LLMError as e:  # the port is taken or not ours: say so, without a traceback
        print(f"llmrail mock-server: {e}", file=sys.stderr)
        return 2
    with server as srv:
        if args.script:
            try:
                queued = _load_script(srv, args.script)
            except (OSError, ValueError) as e:
                print(f"llmrail mock-server: {e}", file=sys.stderr)
                return 2
            print(f"queued {queued} scripted replies from {args.script}")
        # Ctrl-C may come as soon as the address is out (a test stops the server once it has
        # one answer): the announcement is inside the try, so it never ends in a traceback.
        try:
            print(f"mock server listening on {srv.url}")
            print(f"  OpenAI:    base_url={srv.openai_base_url}")
            print(f"  Anthropic: base_url={srv.anthropic_base_url}")
            print("any non-empty API key is accepted; Ctrl-C to stop", flush=True)
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            print(f"\nstopped after {srv.received} requests")
    return 0
