"""`llmrail.httpx2` clients' `build_request`: an SDK's plain request is built in one pass, and it is
the request httpx2's own `build_request` builds from the same arguments, header for header (order,
case, the `Host` and `Content-Length` it adds), body, URL and timeouts; anything else is built by
httpx2 itself. No I/O: building sends nothing."""

from __future__ import annotations

from typing import Any

import httpx2
import llmrail.httpx2
import pytest

URL = "http://127.0.0.1:8000/v1/chat/completions"
BODY = b'{"model":"gpt-4.1-mini","messages":[{"role":"user","content":"hi"}]}'
# What the openai SDK passes: a list of str pairs, lower-case names, one of them the client's own.
SDK_HEADERS = [("authorization", "Bearer sk-test"), ("accept", "application/json"),
               ("content-type", "application/json"), ("user-agent", "AsyncOpenAI/Python 3"),
               ("x-stainless-retry-count", "0")]

CASES: dict[str, tuple[tuple[Any, ...], dict[str, Any]]] = {
    "an SDK's POST": (("post", URL), {"headers": SDK_HEADERS, "content": BODY, "timeout": httpx2.Timeout(60)}),
    "a GET with no headers": (("GET", URL), {}),
    "a POST with no body": (("POST", URL), {"headers": SDK_HEADERS}),
    "an empty body": (("POST", URL), {"content": b""}),
    "a DELETE with a body": (("DELETE", URL), {"content": BODY}),
    "a named Host": (("POST", URL), {"headers": [("Host", "example.com")], "content": BODY}),
    "a named Content-Length": (("POST", URL), {"headers": [("content-length", "5")], "content": BODY}),
    "a named Transfer-Encoding": (("POST", URL), {"headers": [("Transfer-Encoding", "chunked")], "content": BODY}),
    "a header named twice": (("POST", URL), {"headers": [("x-a", "1"), ("X-A", "2"), ("Accept", "*/*")]}),
    "a URL object and a port-less host": (("POST", httpx2.URL("http://localhost/v1/x?q=1")), {"content": BODY}),
    "a float timeout": (("POST", URL), {"content": BODY, "timeout": 3.5}),
    "a relative URL": (("POST", "/chat/completions"), {"content": BODY}),
    # httpx2's own way (the same request, or the same error):
    "json": (("POST", URL), {"json": {"a": 1}, "headers": SDK_HEADERS}),
    "a str body": (("POST", URL), {"content": "é"}),
    "query parameters": (("GET", URL), {"params": {"a": "1"}}),
    "dict headers": (("POST", URL), {"headers": {"x-a": "1"}, "content": BODY}),
    "bytes headers": (("POST", URL), {"headers": [(b"x-a", b"1")], "content": BODY}),
    "a non-ASCII header value": (("POST", URL), {"headers": [("x-a", "é")], "content": BODY}),
    "extensions": (("POST", URL), {"content": BODY, "extensions": {"trace": None}}),
    "cookies": (("POST", URL), {"content": BODY, "cookies": {"a": "1"}}),
}


def parts(r: httpx2.Request) -> dict[str, Any]:
    return {"attributes": sorted(vars(r)), "method": r.method, "url": str(r.url), "headers": r.headers._list,
            "extensions": r.extensions, "content": r.content, "stream": (type(r.stream), list(r.stream))}


def built(client: httpx2.Client | httpx2.AsyncClient, fast: bool, args: tuple[Any, ...],
          kwargs: dict[str, Any]) -> dict[str, Any] | str:
    build = client.build_request if fast else httpx2.Client.build_request.__get__(client)
    try:
        return parts(build(*args, **kwargs))
    except Exception as e:
        return f"{type(e).__name__}: {e}"


CLIENTS = {
    "AsyncClient": lambda **kw: llmrail.httpx2.AsyncClient(**kw),
    "Client": lambda **kw: llmrail.httpx2.Client(**kw),
}


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("kind", CLIENTS)
def test_a_request_is_the_one_httpx2s_own_build_request_builds(kind: str, case: str) -> None:
    args, kwargs = CASES[case]
    client = CLIENTS[kind](timeout=10, base_url="http://127.0.0.1:8000/v1/")
    assert built(client, True, args, kwargs) == built(client, False, args, kwargs)


@pytest.mark.parametrize("kind", CLIENTS)
def test_the_clients_own_headers_params_and_cookies_are_merged_as_httpx2_merges_them(kind: str) -> None:
    args, kwargs = CASES["an SDK's POST"]
    for settings in ({"headers": {"X-Team": "a", "Accept": "text/plain"}}, {"params": {"k": "v"}},
                     {"cookies": {"session": "1"}}):
        client = CLIENTS[kind](timeout=10, **settings)
        assert built(client, True, args, kwargs) == built(client, False, args, kwargs), settings


def test_a_built_request_reads_as_httpx2s_does() -> None:
    client = llmrail.httpx2.Client(timeout=10)
    request = client.build_request(*CASES["an SDK's POST"][0], **CASES["an SDK's POST"][1])
    assert request.read() == BODY and request.headers["content-length"] == str(len(BODY))
    assert request.headers["host"] == "127.0.0.1:8000" and request.headers["user-agent"] == "AsyncOpenAI/Python 3"
    assert repr(request) == "<Request('POST', 'http://127.0.0.1:8000/v1/chat/completions')>"
    assert request.extensions["timeout"] == httpx2.Timeout(60).as_dict()
