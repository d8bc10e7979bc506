"""One chat call (and one 50-chunk stream) per peer, and the loops that time them."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import httpx
import httpx2
import llmrail
import llmrail.httpx2
import openai

# Keep in step with examples/bench_reqwest.rs.
PROMPT = "Explain, in about three hundred words, why connection pooling matters."
MODEL = "gpt-4.1-mini"
MAX_TOKENS = 600
API_KEY = "sk-bench"
TIMEOUT = 60.0

Call = Callable[[], Awaitable[str]]
Result = dict[str, Any]


def _messages() -> list[dict[str, str]]:
    return [{"role": "user", "content": PROMPT}]


def _body(stream: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = {"model": MODEL, "messages": _messages(), "max_tokens": MAX_TOKENS}
    if stream:
        body["stream"] = True
    return body


# --- the peers: `limit` is the connection-pool size to allow (None: the library's default);
# llmrail has no pool limit to raise (reqwest opens what is needed, keeps them 90 s idle). ---


@asynccontextmanager
async def llmrail_chat(base_url: str, limit: int | None = None) -> AsyncIterator[Call]:
    client = llmrail.Client(f"openai/{MODEL}", base_url=base_url, api_key=API_KEY, timeout=TIMEOUT)

    async def call() -> str:
        return (await client.chat(_messages(), max_tokens=MAX_TOKENS)).text

    yield call


@asynccontextmanager
async def llmrail_stream(base_url: str, limit: int | None = None) -> AsyncIterator[Call]:
    client = llmrail.Client(f"openai/{MODEL}", base_url=base_url, api_key=API_KEY, timeout=TIMEOUT)

    async def call() -> str:
        return "".join([ev.text async for ev in client.stream(_messages(), max_tokens=MAX_TOKENS)])

    yield call


@asynccontextmanager
async def _sdk(base_url: str, limit: int | None) -> AsyncIterator[openai.AsyncOpenAI]:
    # The SDK's default pool: 1000 connections, only 100 kept alive. Raised to `limit` for both.
    http = None
    if limit is not None:
        limits = httpx2.Limits(max_connections=limit, max_keepalive_connections=limit)
        http = openai.DefaultAsyncHttpxClient(limits=limits, timeout=TIMEOUT)
    async with openai.AsyncOpenAI(base_url=base_url, api_key=API_KEY, http_client=http) as client:
        yield client


@asynccontextmanager
async def _sdk_over_llmrail(base_url: str) -> AsyncIterator[openai.AsyncOpenAI]:
    # The same SDK, its requests sent by llmrail's transport (llmrail.httpx2): no pool limit to raise.
    http = llmrail.httpx2.AsyncClient(timeout=TIMEOUT)
    async with openai.AsyncOpenAI(base_url=base_url, api_key=API_KEY, http_client=http) as client:
        yield client


class _Canned(httpx2.AsyncBaseTransport, httpx2.BaseTransport):
    """The SDK's transport at no cost: the first request goes to the server over httpx2's own
    transport, and every later one gets the same status, headers and body bytes back (as they
    came, before decoding) with no I/O and no other work. The SDK over it costs only its own
    Python work and httpx2's client layers: SDK / SDK-over-this is the most any transport could
    speed the SDK up by."""

    def __init__(self) -> None:
        self._answer: tuple[int, list[tuple[bytes, bytes]], bytes] | None = None

    def _response(self, request: httpx2.Request) -> httpx2.Response:
        assert self._answer is not None
        status, headers, body = self._answer
        return httpx2.Response(status, headers=headers, stream=httpx2.ByteStream(body), request=request)

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        if self._answer is None:
            async with httpx2.AsyncHTTPTransport() as real:
                r = await real.handle_async_request(request)
                body = b"".join([chunk async for chunk in r.aiter_raw()])
                self._answer = (r.status_code, r.headers.raw, body)
        return self._response(request)

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        if self._answer is None:
            with httpx2.HTTPTransport() as real:
                r = real.handle_request(request)
                self._answer = (r.status_code, r.headers.raw, b"".join(r.iter_raw()))
        return self._response(request)


@asynccontextmanager
async def _sdk_over_canned(base_url: str) -> AsyncIterator[openai.AsyncOpenAI]:
    http = openai.DefaultAsyncHttpxClient(transport=_Canned(), timeout=TIMEOUT)
    async with openai.AsyncOpenAI(base_url=base_url, api_key=API_KEY, http_client=http) as client:
        yield client


@asynccontextmanager
async def sdk_zero_cost_chat(base_url: str, limit: int | None = None) -> AsyncIterator[Call]:
    async with _sdk_over_canned(base_url) as client:
        yield _sdk_chat_call(client)


def _sdk_chat_call(client: openai.AsyncOpenAI) -> Call:
    async def call() -> str:
        r = await client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": PROMPT}], max_tokens=MAX_TOKENS
        )
        return r.choices[0].message.content or ""

    return call


def _sdk_stream_call(client: openai.AsyncOpenAI) -> Call:
    async def call() -> str:
        stream = await client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": PROMPT}], max_tokens=MAX_TOKENS, stream=True
        )
        return "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])

    return call


@asynccontextmanager
async def sdk_over_llmrail_chat(base_url: str, limit: int | None = None) -> AsyncIterator[Call]:
    async with _sdk_over_llmrail(base_url) as client:
        yield _sdk_chat_call(client)


@asynccontextmanager
async def sdk_over_llmrail_stream(base_url: str, limit: int | None = None) -> AsyncIterator[Call]:
    async with _sdk_over_llmrail(base_url) as client:
        yield _sdk_stream_call(client)


@asynccontextmanager
async def sdk_chat(base_url: str, limit: int | None = None) -> AsyncIterator[Call]:
    async with _sdk(base_url, limit) as client:

        async def call() -> str:
            r = await client.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": PROMPT}], max_tokens=MAX_TOKENS
            )
            return r.choices[0].message.content or ""

        yield call


@asynccontextmanager
async def sdk_stream(base_url: str, limit: int | None = None) -> AsyncIterator[Call]:
    async with _sdk(base_url, limit) as client:

        async def call() -> str:
            stream = await client.chat.completions.create(
                model=MODEL,
                messages=[{"role": "user", "content": PROMPT}],
                max_tokens=MAX_TOKENS,
                stream=True,
            )
            parts = [c.choices[0].delta.content or "" async for c in stream if c.choices]
            return "".join(parts)

        yield call


@asynccontextmanager
async def _httpx(limit: int | None) -> AsyncIterator[httpx.AsyncClient]:
    # httpx's default pool: 100 connections, 20 kept alive. Raised to `limit` for both.
    limits = httpx.Limits(max_connections=limit or 100, max_keepalive_connections=limit or 20)
    headers = {"authorization": f"Bearer {API_KEY}"}
    async with httpx.AsyncClient(headers=headers, timeout=TIMEOUT, limits=limits) as client:
        yield client


@asynccontextmanager
async def httpx_chat(base_url: str, limit: int | None = None) -> AsyncIterator[Call]:
    url = base_url + "/chat/completions"
    async with _httpx(limit) as client:

        async def call() -> str:
            r = await client.post(url, json=_body())
            r.raise_for_status()
            content: str = r.json()["choices"][0]["message"]["content"]
            return content

        yield call


@asynccontextmanager
async def httpx_stream(base_url: str, limit: int | None = None) -> AsyncIterator[Call]:
    url = base_url + "/chat/completions"
    async with _httpx(limit) as client:

        async def call() -> str:
            parts = []
            async with client.stream("POST", url, json=_body(stream=True)) as r:
                r.raise_for_status()
                async for line in r.aiter_lines():
                    if not line.startswith("data: "):
                        continue
                    if line == "data: [DONE]":
                        break
                    choices = json.loads(line[6:])["choices"]
                    if choices:
                        parts.append(choices[0]["delta"].get("content") or "")
            return "".join(parts)

        yield call


@contextmanager
def llmrail_sync(base_url: str) -> Iterator[Callable[[], str]]:
    client = llmrail.Client(f"openai/{MODEL}", base_url=base_url, api_key=API_KEY, timeout=TIMEOUT)
    yield lambda: client.chat_sync(_messages(), max_tokens=MAX_TOKENS).text


@contextmanager
def llmrail_sync_stream(base_url: str) -> Iterator[Callable[[], str]]:
    client = llmrail.Client(f"openai/{MODEL}", base_url=base_url, api_key=API_KEY, timeout=TIMEOUT)
    yield lambda: "".join(ev.text for ev in client.stream(_messages(), max_tokens=MAX_TOKENS))


def _sdk_sync_call(client: openai.OpenAI) -> Callable[[], str]:
    def call() -> str:
        r = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": PROMPT}],
                                           max_tokens=MAX_TOKENS)
        return r.choices[0].message.content or ""

    return call


@contextmanager
def sdk_sync_chat(base_url: str) -> Iterator[Callable[[], str]]:
    """The sync SDK client over its default transport (httpx2's, over httpcore)."""
    with openai.OpenAI(base_url=base_url, api_key=API_KEY, timeout=TIMEOUT) as client:
        yield _sdk_sync_call(client)


@contextmanager
def sdk_sync_over_llmrail_chat(base_url: str) -> Iterator[Callable[[], str]]:
    http = llmrail.httpx2.Client(timeout=TIMEOUT)
    with openai.OpenAI(base_url=base_url, api_key=API_KEY, http_client=http) as client:
        yield _sdk_sync_call(client)


@contextmanager
def sdk_sync_zero_cost_chat(base_url: str) -> Iterator[Callable[[], str]]:
    http = openai.DefaultHttpxClient(transport=_Canned(), timeout=TIMEOUT)
    with openai.OpenAI(base_url=base_url, api_key=API_KEY, http_client=http) as client:
        yield _sdk_sync_call(client)


# --- timing loops ---


def summarize(lat_ns: list[int], cpu_s: float, calls: int) -> Result:
    """Percentiles in µs and the client process's CPU time per call (all its threads)."""
    lat = sorted(lat_ns)

    def pct(p: float) -> float:
        return lat[round((len(lat) - 1) * p)] / 1e3 if lat else float("nan")

    mean = sum(lat) / len(lat) / 1e3 if lat else float("nan")
    return {
        "n": len(lat),
        "p50_us": pct(0.5),
        "p95_us": pct(0.95),
        "p99_us": pct(0.99),
        "mean_us": mean,
        "cpu_us": cpu_s / max(calls, 1) * 1e6,
    }


Timed = tuple[list[int], float]
"""Each call's latency (ns) and the client process's CPU time over them (s)."""


def sequential_sync(call: Callable[[], str], n: int, warmup: int) -> Timed:
    for _ in range(warmup):
        call()
    lat: list[int] = []
    cpu0 = time.process_time()
    for _ in range(n):
        t0 = time.perf_counter_ns()
        call()
        lat.append(time.perf_counter_ns() - t0)
    return lat, time.process_time() - cpu0


async def sequential(call: Call, n: int, warmup: int) -> Timed:
    for _ in range(warmup):
        await call()
    lat: list[int] = []
    cpu0 = time.process_time()
    for _ in range(n):
        t0 = time.perf_counter_ns()
        await call()
        lat.append(time.perf_counter_ns() - t0)
    return lat, time.process_time() - cpu0


async def _drive(call: Call, n: int, concurrency: int) -> tuple[list[int], list[str]]:
    """``n`` calls, exactly ``concurrency`` in flight (workers pulling from a shared count)."""
    remaining = n
    lat: list[int] = []
    errors: list[str] = []

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            t0 = time.perf_counter_ns()
            try:
                await call()
            except Exception as e:  # counted and reported, not fatal
                errors.append(f"{type(e).__name__}: {e}")
            else:
                lat.append(time.perf_counter_ns() - t0)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return lat, errors


async def concurrent(call: Call, n: int, concurrency: int) -> Result:
    await _drive(call, 2 * concurrency, concurrency)  # open the pool first
    cpu0, t0 = time.process_time(), time.perf_counter()
    lat, errors = await _drive(call, n, concurrency)
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    out = summarize(lat, cpu, n)
    out.update(calls_per_s=len(lat) / wall, errors=len(errors), first_error=errors[0] if errors else None)
    return out


async def bridge_probe(probe: Callable[[], Awaitable[object]], n: int) -> Result:
    """Per-await cost of a trivial core task through one of the two bridges."""
    for _ in range(n // 10):
        await probe()
    lat: list[int] = []
    cpu0 = time.process_time()
    for _ in range(n):
        t0 = time.perf_counter_ns()
        await probe()
        lat.append(time.perf_counter_ns() - t0)
    return summarize(lat, time.process_time() - cpu0, n)
