"""The Python floors: what a chat call costs a client written in Python, with nothing but the work.

Each floor is a bare HTTP/1.1 keep-alive client over one connection, with the work no client can
skip and nothing else: encode the JSON body, write the request, read a ``Content-Length`` answer,
decode the JSON and take the text out. No pool, no timeouts, no retries, no chunked bodies, no
error handling: not a client anyone should use, only a measure of what the interpreter itself
costs. ``python floor (asyncio)`` is one asyncio ``Protocol`` (the event loop's wake-up and a
``Future`` per call), ``python floor (socket)`` a blocking socket on the caller's thread.

Why they are in the report: issue 22's goals are ratios to a Rust client with no interpreter at
all. A client whose I/O, encoding and decoding run in Python cannot get below its floor (the
asyncio floor bounds such async clients, the socket floor such sync ones); a library doing them
natively can, by as much as it saves on them and on the loop's turn (llmrail's async call does,
since a call its loop alone waits for waits in place). The report shows each floor next to the goal.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from urllib.parse import urlsplit

from peers import API_KEY, Call, _body

_HEAD_END = b"\r\n\r\n"


def _request(base_url: str) -> tuple[tuple[str, int], Callable[[], bytes]]:
    """The server's address, and a function that encodes one request to it."""
    url = urlsplit(base_url)
    host, port, path = url.hostname or "127.0.0.1", url.port or 80, f"{url.path}/chat/completions"
    head = (
        f"POST {path} HTTP/1.1\r\nhost: {host}:{port}\r\nauthorization: Bearer {API_KEY}\r\n"
        "content-type: application/json\r\ncontent-length: "
    ).encode()

    def encode() -> bytes:
        body = json.dumps(_body()).encode()
        return b"%s%d\r\n\r\n%s" % (head, len(body), body)

    return (host, port), encode


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    raise ValueError("the floor clients read Content-Length answers only")


def _text(body: bytes) -> str:
    return str(json.loads(body)["choices"][0]["message"]["content"])


class _Answer(asyncio.Protocol):
    """Collects one answer at a time into ``waiter``."""

    def __init__(self) -> None:
        self.buf = bytearray()
        self.waiter: asyncio.Future[bytes] | None = None

    def data_received(self, data: bytes) -> None:
        self.buf += data
        end = self.buf.find(_HEAD_END)
        if end < 0 or self.waiter is None:
            return
        total = end + 4 + _content_length(bytes(self.buf[:end]))
        if len(self.buf) >= total:
            body = bytes(self.buf[end + 4 : total])
            del self.buf[:total]
            self.waiter.set_result(body)
            self.waiter = None


@asynccontextmanager
async def asyncio_floor_chat(base_url: str, limit: int | None = None) -> AsyncIterator[Call]:
    (host, port), encode = _request(base_url)
    loop = asyncio.get_running_loop()
    transport, proto = await loop.create_connection(_Answer, host, port)

    async def call() -> str:
        proto.waiter = loop.create_future()
        transport.write(encode())
        return _text(await proto.waiter)

    try:
        yield call
    finally:
        transport.close()


@contextmanager
def socket_floor_sync(base_url: str) -> Iterator[Callable[[], str]]:
    address, encode = _request(base_url)
    sock = socket.create_connection(address)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    buf = bytearray()

    def call() -> str:
        sock.sendall(encode())
        while (end := buf.find(_HEAD_END)) < 0:
            buf.extend(sock.recv(65536))
        total = end + 4 + _content_length(bytes(buf[:end]))
        while len(buf) < total:
            buf.extend(sock.recv(65536))
        body = bytes(buf[end + 4 : total])
        del buf[:total]
        return _text(body)

    try:
        yield call
    finally:
        sock.close()
