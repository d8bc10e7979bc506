"""A stream the SDK lets go of at its last event is still recorded whole.

The `openai` SDK closes a streamed response as it reads ``data: [DONE]`` (the async client first
reads on for at most 0.1 s), often before the body's terminating chunk was read. These tests
hold that terminator back on a server of their own, on 127.0.0.1, so that the race CI lost under
load (a stream missing from a cassette) happens every time; and show that a stream closed
part-way still closes its connection at once and is not recorded."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import httpx2
import llmrail
import llmrail.httpx
import llmrail.httpx2
import openai
import pytest

API_KEY = "sk-stream-end-0123456789-secret"
HI = [{"role": "user", "content": "hi"}]
WORDS = ["Paris ", "is ", "the ", "capital."]


def event(data: str) -> bytes:
    text = f"data: {data}\n\n".encode()
    return f"{len(text):x}\r\n".encode() + text + b"\r\n"


def chunk_event(word: str) -> bytes:
    return event(json.dumps({"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4.1-mini",
                             "choices": [{"index": 0, "delta": {"content": word}, "finish_reason": None}]}))


class SlowEndServer:
    """Answers every chat request with an SSE stream, sent as it is written: `events`, each
    `gap` seconds apart, then ``data: [DONE]``, then, `end_after` seconds later, the chunked
    body's terminator. Notes when a client closed the connection before the end."""

    def __init__(self, *, events: list[bytes], gap: float = 0.0, end_after: float = 0.3,
                 cut: bool = False) -> None:
        self.events, self.gap, self.end_after, self.cut = events, gap, end_after, cut
        self.closed_at: list[float] = []
        self.sent_at: list[float] = []
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.base_url = f"http://127.0.0.1:{self._sock.getsockname()[1]}/v1"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            seen = b""
            while b"\r\n\r\n" not in seen:
                data = conn.recv(65536)
                if not data:
                    return
                seen += data
            head, _, body = seen.partition(b"\r\n\r\n")
            length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                           if line.lower().startswith(b"content-length:")), 0)
            while len(body) < length:
                body += conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
                         b"transfer-encoding: chunked\r\nconnection: close\r\n\r\n")
            if self.cut:  # every event at once, then the connection cut mid-body
                conn.sendall(b"".join(self.events))
                return
            try:
                for e in [*self.events, event("[DONE]")]:
                    conn.sendall(e)
                    self.sent_at.append(time.monotonic())
                    time.sleep(self.gap)
                time.sleep(self.end_after)
                conn.sendall(b"0\r\n\r\n")
                # The client hangs up once it has read the end; a read of 0 bytes says so.
                conn.recv(1)
            except OSError:
                self.closed_at.append(time.monotonic())

    def close(self) -> None:
        self._sock.close()


@pytest.fixture
def slow_end() -> Iterator[SlowEndServer]:
    server = SlowEndServer(events=[chunk_event(w) for w in WORDS])
    yield server
    server.close()


def streamed(sdk: openai.OpenAI) -> str:
    stream = sdk.chat.completions.create(model="gpt-4.1-mini", messages=HI, stream=True)  # type: ignore[arg-type]
    return "".join(c.choices[0].delta.content or "" for c in stream if c.choices)


async def streamed_async(sdk: openai.AsyncOpenAI) -> str:
    stream = await sdk.chat.completions.create(model="gpt-4.1-mini", messages=HI, stream=True)  # type: ignore[arg-type]
    return "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])


@pytest.mark.parametrize("http", [llmrail.httpx.Client, llmrail.httpx2.Client])
def test_the_sync_sdk_closing_at_done_before_the_end_arrived_is_still_recorded(
        slow_end: SlowEndServer, tmp_path: Path, http: type[httpx.Client] | type[httpx2.Client]) -> None:
    cassette = tmp_path / "sync.yaml"
    with llmrail.replay.cassette(cassette, mode="once") as tape:
        sdk = openai.OpenAI(base_url=slow_end.base_url, api_key=API_KEY, max_retries=0, http_client=http())
        assert streamed(sdk) == "Paris is the capital."
        assert tape.record_count == 1
    assert "[DONE]" in cassette.read_text()
    slow_end.close()
    with llmrail.replay.cassette(cassette, mode="none") as tape:
        sdk = openai.OpenAI(base_url=slow_end.base_url, api_key=API_KEY, max_retries=0, http_client=http())
        assert streamed(sdk) == "Paris is the capital."
        assert tape.play_count == 1


@pytest.mark.parametrize("http", [llmrail.httpx.AsyncClient, llmrail.httpx2.AsyncClient])
async def test_the_async_sdk_closing_at_done_before_the_end_arrived_is_still_recorded(
        slow_end: SlowEndServer, tmp_path: Path,
        http: type[httpx.AsyncClient] | type[httpx2.AsyncClient]) -> None:
    cassette = tmp_path / "async.yaml"
    with llmrail.replay.cassette(cassette, mode="once"):
        sdk = openai.AsyncOpenAI(base_url=slow_end.base_url, api_key=API_KEY, max_retries=0, http_client=http())
        assert await streamed_async(sdk) == "Paris is the capital."
    # The cassette's exit waited for the end: it is written.
    assert "[DONE]" in cassette.read_text()
    slow_end.close()
    with llmrail.replay.cassette(cassette, mode="none") as tape:
        sdk = openai.AsyncOpenAI(base_url=slow_end.base_url, api_key=API_KEY, max_retries=0, http_client=http())
        assert await streamed_async(sdk) == "Paris is the capital."
        assert tape.play_count == 1


def test_a_stream_closed_part_way_closes_its_connection_at_once_and_is_not_recorded(tmp_path: Path) -> None:
    server = SlowEndServer(events=[chunk_event(f"w{i} ") for i in range(40)], gap=0.05)
    cassette = tmp_path / "part-way.yaml"
    with llmrail.replay.cassette(cassette, mode="once") as tape:
        sdk = openai.OpenAI(base_url=server.base_url, api_key=API_KEY, max_retries=0,
                            http_client=llmrail.httpx.Client())
        stream = sdk.chat.completions.create(model="gpt-4.1-mini", messages=HI, stream=True)  # type: ignore[arg-type]
        for c in stream:
            if c.choices and c.choices[0].delta.content:
                break
        stream.close()
        closed = time.monotonic()
        for _ in range(100):
            if server.closed_at:
                break
            time.sleep(0.01)
        assert server.closed_at, "the server never saw the client go"
        # Its next event (50 ms on) finds the connection closed.
        assert server.closed_at[0] - closed < 0.5
        assert len(server.sent_at) < 40
        assert tape.record_count == 0
    assert not cassette.exists()
    server.close()


@pytest.mark.parametrize("http", [llmrail.httpx.Client, llmrail.httpx2.Client])
def test_a_body_cut_after_its_events_hands_every_event_on_before_the_error(
        http: type[httpx.Client] | type[httpx2.Client]) -> None:
    # The events and the cut arrive together, so they are read as one chunk and its failure:
    # the events go to the SDK first, the failure at its next read.
    server = SlowEndServer(events=[chunk_event(w) for w in WORDS], cut=True)
    sdk = openai.OpenAI(base_url=server.base_url, api_key=API_KEY, max_retries=0, http_client=http())
    stream = sdk.chat.completions.create(model="gpt-4.1-mini", messages=HI, stream=True)  # type: ignore[arg-type]
    got = []
    with pytest.raises(Exception) as failed:  # noqa: B017, PT011 - the SDK's own error type for a cut body
        for c in stream:
            got.append(c.choices[0].delta.content or "")
    assert "".join(got) == "Paris is the capital."
    assert "openai" in type(failed.value).__module__ or "httpx" in type(failed.value).__module__, failed.value
    server.close()
