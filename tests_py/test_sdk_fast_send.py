"""`llmrail.httpx2.AsyncClient.send`'s short way to llmrail's transport: the response it leaves is
the one httpx2's own `send` (auth flow, redirect loop, hooks, stream reading) leaves, and whatever
those layers would act on (hooks, auth, a redirect, cookies, a compressed body, a stream) acts as
under httpx2. Real requests to the mock server on 127.0.0.1."""

from __future__ import annotations

import base64
import datetime
import functools
import logging
import threading
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx2
import llmrail.httpx2
import pytest
from llmrail.testing import MockServer

from .test_sdk_fidelity import ANSWER, Echo

KEY = {"authorization": "Bearer sk-test"}
BODY = {"model": "gpt-4.1-mini", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture
async def http() -> AsyncIterator[llmrail.httpx2.AsyncClient]:
    async with llmrail.httpx2.AsyncClient(timeout=5) as client:
        yield client


def chat(client: httpx2.Client | httpx2.AsyncClient, base_url: str) -> httpx2.Request:
    return client.build_request("POST", f"{base_url}/chat/completions", json=BODY, headers=KEY)


async def both_ways(srv: MockServer, client: llmrail.httpx2.AsyncClient, **kwargs: Any
                    ) -> tuple[httpx2.Response, httpx2.Response]:
    """The same request sent the short way, then by httpx2's own `send` on the same client."""
    fast = await client.send(chat(client, srv.openai_base_url), **kwargs)
    slow = await httpx2.AsyncClient.send(client, chat(client, srv.openai_base_url), **kwargs)
    return fast, slow


def state(r: httpx2.Response) -> dict[str, Any]:
    """What a response holds, less what differs between two answers (the time, the id, the date)."""
    out = {k: v for k, v in vars(r).items() if k not in {"_request", "stream", "extensions", "_content", "headers",
                                                        "_decoder", "_num_bytes_downloaded"}}
    inner = getattr(r.stream, "_stream", None)
    out["stream"] = (type(r.stream), type(inner), getattr(r.stream, "elapsed", None) is None)
    out["extensions"] = sorted(r.extensions)
    out["decoder"] = type(getattr(r, "_decoder", None))
    out["read"] = hasattr(r, "_content")
    out["header_names"] = [k for k, _ in r.headers.raw if k not in {b"date"}]
    return out


async def test_a_whole_answer_leaves_the_response_httpx2s_own_send_leaves(
        srv: MockServer, http: llmrail.httpx2.AsyncClient) -> None:
    srv.reply("Paris.", times=2)
    fast, slow = await both_ways(srv, http)
    assert state(fast) == state(slow)
    assert fast.is_closed and fast.is_stream_consumed
    assert fast.json()["choices"][0]["message"]["content"] == "Paris."
    assert fast._num_bytes_downloaded == len(fast.content)
    assert fast.request.url == f"{srv.openai_base_url}/chat/completions"
    assert isinstance(fast.elapsed, datetime.timedelta) and fast.elapsed.total_seconds() > 0
    assert fast.extensions["llmrail_usage"].usage is not None
    assert [line async for line in fast.aiter_lines()] == [fast.text]


def test_the_sync_client_leaves_the_same_response_as_httpx2s_own_send(srv: MockServer) -> None:
    srv.reply("Paris.", times=4)
    with llmrail.httpx2.Client(timeout=5) as client:
        for stream in (False, True):
            fast = client.send(chat(client, srv.openai_base_url), stream=stream)
            slow = httpx2.Client.send(client, chat(client, srv.openai_base_url), stream=stream)
            assert state(fast) == state(slow)
            assert fast.read() == fast.content and fast.json()["choices"][0]["message"]["content"] == "Paris."
            slow.close()


async def test_an_unread_response_is_left_unread_and_reads_as_under_httpx2(
        srv: MockServer, http: llmrail.httpx2.AsyncClient) -> None:
    srv.reply("Paris.", times=2)
    fast, slow = await both_ways(srv, http, stream=True)
    assert state(fast) == state(slow)
    assert not fast.is_closed
    with pytest.raises(httpx2.ResponseNotRead):
        _ = fast.content
    assert (await fast.aread()) and fast.is_closed and fast.json() == {**fast.json()}
    await slow.aclose()


async def test_an_error_status_is_a_response_like_any_other(srv: MockServer, http: llmrail.httpx2.AsyncClient) -> None:
    srv.fault(429, retry_after=1, times=2)
    fast, slow = await both_ways(srv, http)
    assert fast.status_code == slow.status_code == 429
    assert fast.headers["retry-after"] == "1"
    assert state(fast) == state(slow)


@pytest.fixture
def redirecting(srv: MockServer) -> Iterator[str]:
    """A server on 127.0.0.1: a POST to /same answers 307 to its own /done (which answers a JSON
    body), one to /other answers 307 to the mock's chat endpoint, on another port."""

    class Redirect(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            self.rfile.read(int(self.headers["content-length"]))
            done = self.path == "/done"
            self.send_response(200 if done else 307)
            if not done:
                other = f"{srv.openai_base_url}/chat/completions"
                self.send_header("location", "/done" if self.path == "/same" else other)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


async def test_a_redirect_ends_as_it_does_on_httpx2s_own_way(
        srv: MockServer, http: llmrail.httpx2.AsyncClient, redirecting: str) -> None:
    for send in (http.send, functools.partial(httpx2.AsyncClient.send, http)):
        # llmrail's transport follows a redirect to the same host itself, and refuses one to another.
        same = await send(http.build_request("POST", f"{redirecting}/same", json={}), follow_redirects=False)
        assert same.status_code == 200 and same.json() == {} and same.history == []
        assert same.next_request is None and same.is_closed
        with pytest.raises(httpx2.RemoteProtocolError, match="another host"):
            await send(http.build_request("POST", f"{redirecting}/other", json={}), follow_redirects=True)
    assert srv.requests == []


async def test_event_hooks_and_auth_go_httpx2s_way_and_see_every_request(srv: MockServer) -> None:
    seen: list[str] = []

    async def on_request(request: httpx2.Request) -> None:
        seen.append(request.headers.get("authorization", ""))

    async def on_response(response: httpx2.Response) -> None:
        seen.append(str(response.status_code))

    srv.reply("a", times=2)
    async with llmrail.httpx2.AsyncClient(event_hooks={"request": [on_request], "response": [on_response]}) as hooked:
        r = await hooked.send(chat(hooked, srv.openai_base_url), auth=("user", "secret"))
    async with llmrail.httpx2.AsyncClient(auth=("user", "secret")) as authed:
        await authed.send(chat(authed, srv.openai_base_url))
    assert seen[0].startswith("Basic ") and seen[1] == str(r.status_code)
    assert srv.requests[1]["headers"].count(("authorization", seen[0])) == 1


async def test_user_info_in_the_url_goes_httpx2s_way_as_basic_auth(srv: MockServer,
                                                                   http: llmrail.httpx2.AsyncClient) -> None:
    srv.reply("a")
    base = srv.openai_base_url.replace("://", "://user:secret@", 1)
    await http.send(http.build_request("POST", f"{base}/chat/completions", json=BODY))
    basic = "Basic " + base64.b64encode(b"user:secret").decode()
    assert ("authorization", basic) in srv.requests[0]["headers"]


async def test_a_set_cookie_reaches_the_client_s_jar(srv: MockServer, http: llmrail.httpx2.AsyncClient) -> None:
    srv.reply("a", headers={"set-cookie": "session=abc; Path=/"})
    await http.send(chat(http, srv.openai_base_url))
    assert http.cookies.get("session") == "abc"


@pytest.fixture
def gzipping() -> Iterator[Echo]:
    server = Echo()
    yield server
    server.close()


async def test_a_compressed_answer_is_decoded_as_httpx2_decodes_it(gzipping: Echo) -> None:
    async with llmrail.httpx2.AsyncClient() as client:
        r = await client.send(client.build_request("POST", gzipping.url, headers={"accept-encoding": "gzip"},
                                                   content=b"{}"))
        assert r.headers["content-encoding"] == "gzip"
        assert r.json() == ANSWER
        assert r._num_bytes_downloaded == len(gzipping.sent[0])


async def test_each_response_is_logged_as_httpx2_logs_it(
        srv: MockServer, http: llmrail.httpx2.AsyncClient, caplog: pytest.LogCaptureFixture) -> None:
    srv.reply("a", times=2)
    with caplog.at_level(logging.INFO, logger="httpx2"):
        await both_ways(srv, http)
    lines = [r.getMessage() for r in caplog.records if r.name == "httpx2"]
    assert len(lines) == 2 and lines[0] == lines[1]
    assert lines[0] == f'HTTP Request: POST {srv.openai_base_url}/chat/completions "HTTP/1.1 200 OK"'


async def test_a_closed_client_refuses_to_send_as_httpx2_does(srv: MockServer) -> None:
    client = llmrail.httpx2.AsyncClient()
    request = chat(client, srv.openai_base_url)
    await client.aclose()
    with pytest.raises(RuntimeError, match="closed"):
        await client.send(request)
