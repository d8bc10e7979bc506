"""Streams through a cassette: recorded chunk by chunk, replayed as the same chunks (at the
recorded pace when asked), and never recorded when interrupted or cancelled."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
import yaml
from llmrail.replay import cassette
from llmrail.testing import MockServer

from .conftest import make_client


@pytest.fixture(autouse=True)
def not_on_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests record on purpose (against the local mock server)."""
    monkeypatch.delenv("CI", raising=False)


async def test_streams_replay_the_same_chunks_optionally_at_the_recorded_pace(tmp_path: Path, srv: MockServer) -> None:
    path = tmp_path / "stream.yaml"
    client = make_client(srv, "anthropic")
    srv.reply(chunks=["Hel", "lo ", "wor", "ld"], latency=0.15, chunk_delay=0.05)

    async def run() -> tuple[list[str], float, float]:
        start = time.perf_counter()
        first = 0.0
        texts = []
        async for e in client.stream("hi"):
            if e.type == "text":
                first = first or time.perf_counter() - start
                texts.append(e.text)
        return texts, first, time.perf_counter() - start

    with cassette(path):
        live, live_first, live_total = await run()
    assert live == ["Hel", "lo ", "wor", "ld"]
    chunks = yaml.safe_load(path.read_text())["interactions"][0]["response"]["chunks"].split()
    assert len(chunks) >= 4, chunks
    srv.shutdown()
    with cassette(path, mode="none"):
        fast, _, fast_total = await run()
    assert fast == live and fast_total < 0.1
    with cassette(path, mode="none", pace=1.0):
        paced, paced_first, paced_total = await run()
    assert paced == live
    assert paced_first >= 0.15 and abs(paced_first - live_first) < 0.1
    assert paced_total >= live_total - 0.05


async def test_an_interrupted_stream_leaves_no_cassette(tmp_path: Path, srv: MockServer) -> None:
    path = tmp_path / "interrupted.yaml"
    client = make_client(srv, "openai")
    srv.reply(chunks=[f"w{i} " for i in range(200)], chunk_delay=0.01)
    with cassette(path) as c:
        stream = client.stream("long story")
        async for e in stream:
            if e.type == "text":
                break
        stream.close()
        await srv.wait_for_disconnects(1)
    assert c.record_count == 0
    assert not path.exists()


async def test_a_stream_left_right_after_its_last_event_is_recorded(tmp_path: Path, srv: MockServer) -> None:
    client = make_client(srv, "anthropic")
    srv.reply(chunks=["a", "b"])
    with cassette(tmp_path / "done.yaml") as c:
        stream = client.stream("hi")
        async for e in stream:
            if e.type == "done":
                break
        stream.close()
    assert c.record_count == 1


async def test_a_cancelled_call_is_not_recorded(tmp_path: Path, srv: MockServer) -> None:
    path = tmp_path / "cancelled.yaml"
    srv.reply("too late", latency=5)
    with cassette(path) as c:
        task = asyncio.create_task(make_client(srv, "openai").chat("hi"))
        await srv.wait_for_requests(1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert c.record_count == 0 and not path.exists()
