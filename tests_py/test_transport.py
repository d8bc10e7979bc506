"""What a hostile or broken server can do to a call: redirect it to another host, inflate a gzip
body, never end a line, answer a stream with HTML. Each server here is a few lines of raw HTTP on
127.0.0.1, because the point is answers no well-behaved server (the mock included) would give."""

from __future__ import annotations

import resource
import socketserver
import threading
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import llmrail
import pytest

from .conftest import API_KEY

# A handler gets the request's head (lowercased) and writes the whole answer to the socket.
Answer = Callable[[str, socketserver.StreamRequestHandler], None]


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.heads: list[str] = []
        super().__init__(("127.0.0.1", 0), _Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(socketserver.StreamRequestHandler):
    server: _Server

    def handle(self) -> None:
        head = b""
        while not head.endswith(b"\r\n\r\n"):
            line = self.rfile.readline()
            if not line:
                return
            head += line
        text = head.decode("latin-1").lower()
        length = next((int(v) for k, _, v in (h.partition(":") for h in text.splitlines())
                       if k == "content-length"), 0)
        self.rfile.read(length)
        self.server.heads.append(text)
        try:
            self.server.answer(text, self)
        except (BrokenPipeError, ConnectionResetError):
            pass


@contextmanager
def raw_server(answer: Answer) -> Iterator[_Server]:
    server = _Server(answer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def reply(status: str, headers: dict[str, str], body: bytes = b"") -> Answer:
    lines = [f"HTTP/1.1 {status}", f"content-length: {len(body)}", "connection: close"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    raw = ("\r\n".join(lines) + "\r\n\r\n").encode() + body

    def answer(_: str, h: socketserver.StreamRequestHandler) -> None:
        h.wfile.write(raw)

    return answer


def client(provider: str, base_url: str, **kwargs: object) -> llmrail.Client:
    model = "openai/gpt-4.1-mini" if provider == "openai" else "anthropic/claude-sonnet-4-5"
    return llmrail.Client(model, base_url=base_url, api_key=API_KEY,  # type: ignore[arg-type]
                          retry=llmrail.Retry(max_attempts=3, initial_delay=0.001, max_delay=0.01),
                          **kwargs)


async def test_a_redirect_to_another_host_is_refused_and_that_host_never_sees_a_key(provider: str) -> None:
    with raw_server(reply("200 OK", {"content-type": "application/json"}, b"{}")) as foreign:
        moved = {"location": f"{foreign.url}/v1/messages?sig=leak"}
        with raw_server(reply("307 Temporary Redirect", moved)) as origin:
            c = client(provider, origin.url, headers=[("x-goog-api-key", "goog-secret")])
            with pytest.raises(llmrail.InvalidResponseError) as chat_info:
                await c.chat("hi")
            with pytest.raises(llmrail.InvalidResponseError) as stream_info:
                for _ in c.stream("hi"):
                    pass
            for e in (chat_info.value, stream_info.value):
                assert e.status == 307 and e.attempts == 1
                text = str(e)
                assert f"{foreign.url}/v1/messages" in text and "base_url" in text
                assert "sig=leak" not in text and API_KEY not in text
            assert len(origin.heads) == 2
            assert foreign.heads == []


def _gzip_of_zeros(size: int) -> bytes:
    z = zlib.compressobj(wbits=31)
    block = bytes(1 << 20)
    return b"".join(z.compress(block) for _ in range(size >> 20)) + z.flush()


def test_a_gzip_bomb_ends_the_call_at_max_response_bytes_without_being_inflated() -> None:
    bomb = _gzip_of_zeros(256 << 20)
    headers = {"content-type": "application/json", "content-encoding": "gzip"}
    with raw_server(reply("200 OK", headers, bomb)) as srv:
        c = client("openai", srv.url, max_response_bytes=1 << 20)
        peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        with pytest.raises(llmrail.InvalidResponseError, match=r"max_response_bytes \(1048576 bytes") as info:
            c.chat_sync("hi")
        grew_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_kib) / 1024
    assert info.value.attempts == 1
    assert grew_mib < 64, f"peak memory grew by {grew_mib:.0f} MiB"


async def test_a_stream_line_that_never_ends_stops_at_max_event_bytes() -> None:
    def endless(_: str, h: socketserver.StreamRequestHandler) -> None:
        h.wfile.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\r\ndata: ")
        chunk = b"x" * (64 << 10)
        for _ in range(16 << 10):  # 1 GiB at most, if the client never stopped reading
            h.wfile.write(chunk)

    with raw_server(endless) as srv:
        c = client("anthropic", srv.url, max_event_bytes=1 << 20)
        with pytest.raises(llmrail.InvalidResponseError, match=r"max_event_bytes \(1048576 bytes\)"):
            async for _ in c.stream("hi"):
                pass
        assert len(srv.heads) == 1


async def test_a_stream_answered_with_html_says_what_came_back_and_is_not_retried(provider: str) -> None:
    page = b"<html><body>Sign in to the proxy</body></html>"
    with raw_server(reply("200 OK", {"content-type": "text/html"}, page)) as srv:
        with pytest.raises(llmrail.InvalidResponseError, match="text/html") as info:
            async for _ in client(provider, srv.url).stream("hi"):
                pass
        assert info.value.body == page.decode()
        assert len(srv.heads) == 1


@pytest.mark.parametrize("option", ["max_response_bytes", "max_event_bytes"])
@pytest.mark.parametrize("value", [0, -1, True, 1.5, "1024", 2**70])
def test_size_limits_must_be_positive_whole_numbers(option: str, value: object) -> None:
    with pytest.raises(llmrail.ConfigurationError, match=option):
        llmrail.Client("openai/gpt-4.1", api_key=API_KEY, **{option: value})  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["Content-Length", "host", "Transfer-Encoding", "connection"])
def test_headers_the_transport_owns_are_refused_by_name(name: str) -> None:
    with pytest.raises(llmrail.ConfigurationError, match=f'"{name}"'):
        llmrail.Client("openai/gpt-4.1", api_key=API_KEY, headers=[(name, "1")])
