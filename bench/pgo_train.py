"""The training run of the profile-guided (PGO) release build: what users run, briefly.

    PYTHONPATH=<an instrumented llmrail> .venv/bin/python bench/pgo_train.py

``make release-wheel`` (and the release workflow's glibc jobs) builds llmrail once instrumented
(-Cprofile-generate), runs this, and builds the wheel again laid out by the counts it left: hot
code together and branches ordered the way calls take them, which is what the call path loses to
instruction-cache misses after each wait (issues 18 and 22). So the counts must come from users' paths, in about the
proportion they run them: sequential async and sync chat, 256 calls in flight, async and sync
streams, the openai SDK over llmrail.httpx2 (async and sync, chat and stream), a small batch job
and a cassette's replay, against bench/server.py's mock server. The server runs llmrail too, but
serving is not what users run: its process writes its counts to a directory thrown away.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import llmrail  # noqa: E402  (loaded, and its profile file named, before the server's is changed)
import llmrail.httpx2  # noqa: E402
import openai  # noqa: E402
import peers  # noqa: E402
from llmrail.replay import cassette  # noqa: E402
from server import MockServerProcess  # noqa: E402

SEQUENTIAL = 400  # calls (or 50-chunk streams) for each sequential workload of llmrail.Client
SDK_CALLS = 100  # the SDK spends ~10x the CPU in its own Python for each; a few suffice
IN_FLIGHT, CONCURRENT = 256, 2048
BATCH_ITEMS, REPLAYED = 500, 200
MESSAGES = [{"role": "user", "content": peers.PROMPT}]


@contextmanager
def stage(name: str) -> Iterator[None]:
    t = time.perf_counter()
    yield
    print(f"  {name}: {time.perf_counter() - t:.1f} s", file=sys.stderr)


def sync_sdk_stream(base_url: str) -> Callable[[], str]:
    client = openai.OpenAI(base_url=base_url, api_key=peers.API_KEY, http_client=llmrail.httpx2.Client())

    def call() -> str:
        s = client.chat.completions.create(model=peers.MODEL, messages=MESSAGES,
                                           max_tokens=peers.MAX_TOKENS, stream=True)
        return "".join(c.choices[0].delta.content or "" for c in s if c.choices)

    return call


async def async_workloads(base_url: str, url: str, store: str) -> None:
    for name, peer, n in [("async chat", peers.llmrail_chat, SEQUENTIAL),
                          ("async stream", peers.llmrail_stream, SEQUENTIAL),
                          ("SDK over httpx2, async chat", peers.sdk_over_llmrail_chat, SDK_CALLS),
                          ("SDK over httpx2, async stream", peers.sdk_over_llmrail_stream, SDK_CALLS)]:
        with stage(name):
            async with peer(base_url) as call:
                await peers.sequential(call, n, 0)
    with stage(f"{IN_FLIGHT} in flight"):
        async with peers.llmrail_chat(base_url) as call:
            r = await peers.concurrent(call, CONCURRENT, IN_FLIGHT)
        assert not r["errors"], r["first_error"]
    with stage(f"batch job of {BATCH_ITEMS}"):
        client = llmrail.Client("anthropic/claude-sonnet-4-5", base_url=url, api_key=peers.API_KEY)
        reqs = [{"custom_id": f"r{i}", "messages": f"Classify document {i}", "max_tokens": 200}
                for i in range(BATCH_ITEMS)]
        results = await client.batch(reqs, poll_interval=0.05, store=store)
        assert all(isinstance(r, llmrail.ChatResponse) for r in results), results[:3]


def replay(base_url: str, path: Path) -> None:
    client = llmrail.Client(f"openai/{peers.MODEL}", base_url=base_url, api_key=peers.API_KEY)

    def call(i: int) -> str:
        return client.chat_sync(f"Where is parcel {i}?", max_tokens=300).text

    with cassette(path, mode="all"):
        for i in range(REPLAYED):
            call(i)
    with cassette(path, mode="none") as c:
        for i in range(REPLAYED):
            call(i)
        assert c.all_played

    async def replay_async() -> None:
        with cassette(path, mode="none") as c:
            for i in range(REPLAYED):
                await client.chat(f"Where is parcel {i}?", max_tokens=300)
            assert c.all_played

    asyncio.run(replay_async())


def main() -> None:
    print(f"training {llmrail.__file__}", file=sys.stderr)
    with tempfile.TemporaryDirectory() as scratch:
        os.environ["LLVM_PROFILE_FILE"] = f"{scratch}/server-%p.profraw"
        srv = MockServerProcess()
        del os.environ["LLVM_PROFILE_FILE"]
        with srv, stage("all"):
            for name, sync_peer, n in [("sync chat", peers.llmrail_sync, SEQUENTIAL),
                                       ("sync stream", peers.llmrail_sync_stream, SEQUENTIAL),
                                       ("SDK over httpx2, sync chat", peers.sdk_sync_over_llmrail_chat, SDK_CALLS)]:
                with stage(name), sync_peer(srv.base_url) as call:
                    peers.sequential_sync(call, n, 0)
            with stage("SDK over httpx2, sync stream"):
                peers.sequential_sync(sync_sdk_stream(srv.base_url), SDK_CALLS, 0)
            asyncio.run(async_workloads(srv.base_url, srv.url, f"{scratch}/jobs.sqlite3"))
            with stage(f"replay of {REPLAYED}, sync and async"):
                replay(srv.base_url, Path(scratch) / "cassette.yaml")


if __name__ == "__main__":
    main()
