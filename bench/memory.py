"""Client memory: per in-flight call, per open stream, and the peak of one call against the
answer's size; each point in a fresh interpreter, so that one point's heap does not carry over
into the next.

    .venv/bin/python bench/memory.py inflight|streams|size llmrail|sdk N   # one point, a JSON line

``inflight``: N calls held open by a server that waits 60 s before answering; resident memory
(RSS) once the server has all N requests, minus RSS before them, over N. ``streams``: the same
with N streams that have each received their first chunk (20 chunks, 3 s apart: the mock
server waits before every chunk, the first too). Both
measure after one warm-up call to a server that answers at once (runtime, pool, first-call
caches) and then cancel the calls. ``size``: the peak RSS (``VmHWM``) over three calls whose
answer is N characters, minus the peak before them, after the same warm-up: the transient copies
one call makes of its answer. Every server runs in its own process (bench/server.py).
"""

from __future__ import annotations

import asyncio
import gc
import json
import resource
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from server import MockServerProcess

HERE = Path(__file__).resolve().parent
MODEL, KEY = "gpt-4.1-mini", "sk-bench"
HOLD = 60.0  # seconds a held call or stream waits for its answer or next chunk
MESSAGES = [{"role": "user", "content": "Explain, in about three hundred words, why connection pooling matters."}]


def rss_kb() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() // 1024


def peak_kb() -> int:
    """This process's peak RSS (VmHWM: per address space, so unlike ``ru_maxrss`` it does not
    inherit the parent's peak across fork and exec)."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))


def _llmrail(base_url: str) -> tuple[Callable[[], Awaitable[object]], Callable[[], Any]]:
    import llmrail

    client = llmrail.Client(f"openai/{MODEL}", base_url=base_url, api_key=KEY, timeout=HOLD * 2)

    async def call() -> object:
        return (await client.chat(MESSAGES, max_tokens=600)).text

    return call, lambda: client.stream(MESSAGES, max_tokens=600)


def _sdk(base_url: str, n: int) -> tuple[Callable[[], Awaitable[object]], Callable[[], Any]]:
    import httpx2
    import openai

    limits = httpx2.Limits(max_connections=n + 10, max_keepalive_connections=n + 10)
    http = openai.DefaultAsyncHttpxClient(limits=limits, timeout=HOLD * 2)
    client = openai.AsyncOpenAI(base_url=base_url, api_key=KEY, http_client=http, max_retries=0)

    async def call() -> object:
        r = await client.chat.completions.create(model=MODEL, messages=MESSAGES, max_tokens=600)  # type: ignore[arg-type]
        return r.choices[0].message.content

    async def stream() -> Any:
        s = await client.chat.completions.create(model=MODEL, messages=MESSAGES, max_tokens=600, stream=True)  # type: ignore[arg-type]
        return s.__aiter__()

    return call, stream


async def _first(opened: Any) -> Any:
    """The iterator of a stream, after its first item (``opened`` may be a coroutine: the SDK's)."""
    it = await opened if asyncio.iscoroutine(opened) else opened
    it = it.__aiter__()
    await it.__anext__()
    return it


async def point(mode: str, peer: str, n: int) -> dict[str, Any]:
    with MockServerProcess() as fast:
        slow_default = (
            {"size": n}
            if mode == "size"
            else {"latency": HOLD}
            if mode == "inflight"
            else {"chunks": 20, "chunk_delay": HOLD / 20}
        )
        with MockServerProcess(**slow_default) as slow:
            if peer == "llmrail":
                warm_call, _ = _llmrail(fast.base_url)
                call, stream = _llmrail(slow.base_url)
            else:
                warm_call, _ = _sdk(fast.base_url, n)
                call, stream = _sdk(slow.base_url, n)
            await warm_call()
            gc.collect()
            if mode == "size":
                base = peak_kb()
                for _ in range(3):
                    await call()
                return {"mode": mode, "peer": peer, "n": n, "peak_growth_kb": peak_kb() - base, "rss_kb": rss_kb()}
            base, t0 = rss_kb(), time.perf_counter()
            held = 0

            async def hold_call() -> None:
                await call()

            async def hold_stream() -> None:
                nonlocal held
                it = await _first(stream())
                held += 1
                await asyncio.sleep(HOLD * 2)
                del it

            tasks = [asyncio.ensure_future(hold_call() if mode == "inflight" else hold_stream()) for _ in range(n)]
            # Until every call has reached the server (or every stream has its first chunk).
            while (held if mode == "streams" else slow.requests()) < n:
                if time.perf_counter() - t0 > HOLD - 5:
                    raise SystemExit(f"only {held or slow.requests()} of {n} {mode} open after {HOLD - 5:.0f} s")
                await asyncio.sleep(0.2)
            await asyncio.sleep(0.3)
            loaded = rss_kb()
            opened_s = time.perf_counter() - t0
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    return {"mode": mode, "peer": peer, "n": n, "base_kb": base, "loaded_kb": loaded,
            "per_kb": (loaded - base) / n, "open_s": opened_s}  # fmt: skip


def measure(mode: str, peer: str, n: int) -> dict[str, Any]:
    """One point in a fresh interpreter."""
    out = subprocess.run([sys.executable, str(HERE / "memory.py"), mode, peer, str(n)],
                         capture_output=True, text=True, timeout=HOLD * 3)  # fmt: skip
    if out.returncode != 0:
        return {"mode": mode, "peer": peer, "n": n, "error": (out.stderr.strip().splitlines() or ["?"])[-1]}
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def per_call_and_stream(quick: bool = False) -> dict[str, Any]:
    """bench.md's two memory rows: 1,000 held calls and 1,000 open streams (300 with --quick)."""
    n = 300 if quick else 1000
    calls, streams = measure("inflight", "llmrail", n), measure("streams", "llmrail", n)
    return {
        "per_call_kb": calls.get("per_kb", float("nan")),
        "per_stream_kb": streams.get("per_kb", float("nan")),
        "note": f"RSS growth with {n} held calls / {n} open streams, over {n} (bench/memory.py)",
        "points": [calls, streams],
    }


if __name__ == "__main__":
    mode, peer, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    print(json.dumps(asyncio.run(point(mode, peer, count))))
