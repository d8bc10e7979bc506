"""What an SDK sends and receives through llmrail.httpx is its own: the request's headers and body
as httpx's own transport puts them on the wire, and the answer's bytes as the server sent them
(compressed, if the SDK asked for it). Checked against an echo server on 127.0.0.1 that keeps
each request's header lines and body exactly as they arrived."""

from __future__ import annotations

import gzip
import json
import socket
import threading
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import llmrail
import llmrail.httpx
import openai
import pytest

API_KEY = "sk-fidelity-0123456789-secret"
ANSWER = {
    "id": "chatcmpl-fidelity", "object": "chat.completion", "created": 1, "model": "gpt-4.1-mini",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Paris."}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 1000, "completion_tokens": 100, "total_tokens": 1100},
}


class Echo:
    """An HTTP/1.1 server that records each request as it arrived (header lines, body) and answers
    `ANSWER`, gzip-compressed when the request accepts gzip."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.requests: list[tuple[list[tuple[str, str]], bytes]] = []
        self.sent: list[bytes] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._connection, args=(conn,), daemon=True).start()

    def _connection(self, conn: socket.socket) -> None:
        with conn, conn.makefile("rb") as f:
            while line := f.readline():
                headers = []
                while (line := f.readline()) not in (b"\r\n", b""):
                    name, _, value = line.decode("latin-1").rstrip("\r\n").partition(":")
                    headers.append((name, value.strip()))
                length = int(next((v for k, v in headers if k.lower() == "content-length"), "0"))
                body = f.read(length)
                self.requests.append((headers, body))
                if body.startswith(b"{") and json.loads(body).get("stream"):
                    self._stream(conn)
                else:
                    conn.sendall(self._answer(headers))

    def _stream(self, conn: socket.socket) -> None:
        """`ANSWER` as a chat stream with its usage last, gzip-compressed event by event and sent
        a chunk at a time (as a server that compresses SSE flushes after each event)."""
        packer = zlib.compressobj(wbits=31)  # 31: the gzip wrapper
        conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-encoding: gzip\r\n"
                     b"transfer-encoding: chunked\r\n\r\n")
        base = {"id": "chatcmpl-fidelity", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4.1-mini"}
        events = [{**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": "Paris."},
                                        "finish_reason": None}]},
                  {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
                  {**base, "choices": [], "usage": ANSWER["usage"]}]
        lines = [b"data: %s\n\n" % json.dumps(e).encode() for e in events] + [b"data: [DONE]\n\n"]
        pieces = [packer.compress(line) + packer.flush(zlib.Z_SYNC_FLUSH) for line in lines] + [packer.flush()]
        self.sent.append(b"".join(pieces))
        for piece in pieces:
            conn.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
        conn.sendall(b"0\r\n\r\n")

    def _answer(self, headers: list[tuple[str, str]]) -> bytes:
        payload = json.dumps(ANSWER).encode()
        accepted = next((v for k, v in headers if k.lower() == "accept-encoding"), "")
        extra = b""
        if "gzip" in accepted:
            payload = gzip.compress(payload)
            extra = b"content-encoding: gzip\r\n"
        self.sent.append(payload)
        head = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n" + extra
        return head + b"content-length: %d\r\n\r\n" % len(payload) + payload

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def echo() -> Iterator[Echo]:
    server = Echo()
    yield server
    server.close()


def on_the_wire(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Header lines as a server reads them: names are case-insensitive (hyper writes them in
    lower case, httpx as given) and their order carries no meaning."""
    return sorted((k.lower(), v) for k, v in headers)


def chat(sdk: openai.OpenAI) -> Any:
    return sdk.chat.completions.create(model="gpt-4.1-mini", messages=[{"role": "user", "content": "hi"}])


def sdk_over(http: httpx.Client, base: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{base}/v1", api_key=API_KEY, max_retries=0, http_client=http)


def test_the_server_reads_the_same_headers_and_body_as_from_httpx_own_transport(echo: Echo) -> None:
    for http in (httpx.Client(), llmrail.httpx.Client()):
        with http:
            http.post(f"{echo.url}/v1/x", content=b'{"a": 1}', headers={"x-custom": "kept", "accept": "text/plain"})
            assert chat(sdk_over(http, echo.url)).choices[0].message.content == "Paris."
    plain_post, plain_sdk, ours_post, ours_sdk = echo.requests
    assert on_the_wire(ours_post[0]) == on_the_wire(plain_post[0])
    assert ours_post[1] == plain_post[1] == b'{"a": 1}'
    volatile = {"x-stainless-retry-count", "x-stainless-read-timeout"}
    assert [h for h in on_the_wire(ours_sdk[0]) if h[0] not in volatile] == \
        [h for h in on_the_wire(plain_sdk[0]) if h[0] not in volatile]
    assert ours_sdk[1] == plain_sdk[1]
    # What the transport used to set in place of the SDK's own:
    sent = dict(on_the_wire(ours_sdk[0]))
    assert sent["accept-encoding"] == dict(on_the_wire(plain_sdk[0]))["accept-encoding"] != "gzip"
    assert sent["connection"] == "keep-alive"
    assert "llmrail" not in sent["user-agent"]


def test_a_compressed_answer_reaches_httpx_compressed_and_httpx_decodes_it(echo: Echo) -> None:
    with llmrail.httpx.Client() as http, http.stream("POST", f"{echo.url}/v1/x", content=b"{}") as r:
        raw = b"".join(r.iter_raw())
    assert r.headers["content-encoding"] == "gzip"
    assert raw == echo.sent[0] and raw.startswith(b"\x1f\x8b")
    assert json.loads(gzip.decompress(raw)) == ANSWER
    with llmrail.httpx.Client() as http:
        assert http.post(f"{echo.url}/v1/x", content=b"{}").json() == ANSWER


async def test_a_compressed_answer_is_metered_and_recorded_as_text_then_replays_offline(
        echo: Echo, tmp_path: Path) -> None:
    cassette = tmp_path / "gzip.yaml"
    http = llmrail.httpx.AsyncClient()
    sdk = openai.AsyncOpenAI(base_url=f"{echo.url}/v1", api_key=API_KEY, max_retries=0, http_client=http)
    with llmrail.replay.cassette(cassette, mode="once") as tape:
        first = await sdk.chat.completions.create(model="gpt-4.1-mini", messages=[{"role": "user", "content": "hi"}])
    assert tape.record_count == 1 and echo.sent[0].startswith(b"\x1f\x8b")
    assert http.usage.input_tokens == 1000 and http.usage.output_tokens == 100
    assert http.usage.cost_usd is not None and http.usage.cost_usd > 0
    text = cassette.read_text()
    # Readable, scrubbed JSON: no compressed bytes, no encoding header that no longer holds.
    assert "Paris." in text and "!!binary" not in text and "gzip\n" not in text.split("response:")[1]
    assert API_KEY not in text
    echo.close()
    replayed = llmrail.httpx.AsyncClient()
    sdk = openai.AsyncOpenAI(base_url=f"{echo.url}/v1", api_key=API_KEY, max_retries=0, http_client=replayed)
    with llmrail.replay.cassette(cassette, mode="none") as tape:
        again = await sdk.chat.completions.create(model="gpt-4.1-mini", messages=[{"role": "user", "content": "hi"}])
    assert tape.play_count == 1
    assert again.model_dump() == first.model_dump()
    assert replayed.usage.cost_usd == http.usage.cost_usd


async def test_a_compressed_stream_is_metered_as_an_uncompressed_one_would_be(echo: Echo) -> None:
    http = llmrail.httpx.AsyncClient()
    sdk = openai.AsyncOpenAI(base_url=f"{echo.url}/v1", api_key=API_KEY, max_retries=0, http_client=http)
    stream = await sdk.chat.completions.create(model="gpt-4.1-mini", messages=[{"role": "user", "content": "hi"}],
                                               stream=True, stream_options={"include_usage": True})
    chunks = [c async for c in stream]
    assert echo.sent[0].startswith(b"\x1f\x8b")  # the server did send it compressed
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Paris."
    assert chunks[-1].usage is not None and chunks[-1].usage.prompt_tokens == 1000
    assert (http.usage.requests, http.usage.input_tokens, http.usage.output_tokens) == (1, 1000, 100)
    assert http.usage.cost_usd is not None and http.usage.cost_usd > 0
