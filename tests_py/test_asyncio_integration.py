"""llmrail's calls inside asyncio's own combinators (gather, TaskGroup), on three event loops:
asyncio's default loop, uvloop, and a loop that cannot watch a socket, which takes the portable
wake-up (`call_soon_threadsafe`) that Windows' ProactorEventLoop and non-unix builds use."""

from __future__ import annotations

import asyncio
import json
import sys
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, TypeVar

import llmrail
import pytest
from llmrail.testing import MockServer
from pydantic import BaseModel

from .conftest import CountingLoop, make_client

T = TypeVar("T")
Run = Callable[[Coroutine[Any, Any, T]], T]


class NoReaders(asyncio.SelectorEventLoop):
    """What asyncio's ProactorEventLoop (Windows) does: it cannot watch a socket."""

    def add_reader(self, *args: object, **kwargs: object) -> None:
        raise NotImplementedError


def _uvloop() -> asyncio.AbstractEventLoop:
    if sys.platform == "win32":
        pytest.skip("uvloop does not run on Windows")
    import uvloop

    return uvloop.new_event_loop()


LOOPS: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {
    "asyncio": asyncio.new_event_loop,
    "uvloop": _uvloop,
    "portable-wake": NoReaders,
}


@pytest.fixture(params=list(LOOPS))
def run(request: pytest.FixtureRequest) -> Iterator[Run[Any]]:
    """Runs a coroutine to completion on a fresh loop of the parametrised kind."""
    loop = LOOPS[request.param]()

    def run(main: Coroutine[Any, Any, T]) -> T:
        return loop.run_until_complete(main)

    try:
        yield run
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


class Numbered(BaseModel):
    n: int


async def _chat(client: llmrail.Client, i: int) -> str:
    return (await client.chat(f"chat {i}")).text


async def _stream(client: llmrail.Client, i: int) -> str:
    return "".join([e.text async for e in client.stream(f"stream {i}") if e.type == "text"])


async def _extract(client: llmrail.Client, i: int) -> int:
    # The mock echoes the prompt back, and the lenient parser finds the object inside the echo.
    return (await client.extract(Numbered, json.dumps({"n": i}))).n


def test_gather_gives_each_chat_stream_and_extract_its_own_answer_in_order(
    srv: MockServer, provider: str, run: Run[list[object]]
) -> None:
    client = make_client(srv, provider)
    srv.default(latency=0.01)

    async def main() -> list[object]:
        calls: list[Coroutine[Any, Any, object]] = []
        for i in range(15):
            calls += [_chat(client, i), _stream(client, i), _extract(client, i)]
        return await asyncio.gather(*calls)

    expected: list[object] = []
    for i in range(15):
        expected += [f"mock reply to: chat {i}", f"mock reply to: stream {i}", i]
    assert run(main()) == expected
    assert len(srv.requests) == 45


def test_one_failing_call_in_gather_leaves_the_others_their_answers(srv: MockServer, run: Run[list[object]]) -> None:
    client = make_client(srv, "openai")
    srv.default(latency=0.01)

    async def main() -> list[object]:
        calls: list[Coroutine[Any, Any, object]] = []
        for i in range(10):
            calls += [_chat(client, i), _stream(client, i), _extract(client, i)]
        # The first request to arrive is refused (400 is not retried); which one is up to timing.
        srv.fault(400)
        return await asyncio.gather(*calls, return_exceptions=True)

    results = run(main())
    failed = [r for r in results if isinstance(r, BaseException)]
    assert len(failed) == 1 and isinstance(failed[0], llmrail.BadRequestError), results
    for i in range(10):
        chat, stream, extract = results[3 * i : 3 * i + 3]
        assert chat in (f"mock reply to: chat {i}", failed[0])
        assert stream in (f"mock reply to: stream {i}", failed[0])
        assert extract in (i, failed[0])
    assert len(srv.requests) == 30


needs_task_group = pytest.mark.skipif(sys.version_info < (3, 11), reason="asyncio.TaskGroup is new in 3.11")


@needs_task_group
def test_a_failing_call_in_a_task_group_cancels_its_siblings_requests(srv: MockServer, run: Run[float]) -> None:
    client = make_client(srv, "openai")
    srv.default(latency=10)
    siblings = 9

    async def failing() -> None:
        await srv.wait_for_requests(siblings)
        srv.fault(400)
        await client.chat("this one is refused")

    async def main() -> float:
        start = time.monotonic()
        with pytest.RaisesGroup(llmrail.BadRequestError):
            async with asyncio.TaskGroup() as tg:
                for i in range(siblings // 3):
                    tg.create_task(_chat(client, i))
                    tg.create_task(_stream(client, i))
                    tg.create_task(_extract(client, i))
                tg.create_task(failing())
        # Each sibling's Rust future was dropped: the server sees its connection close.
        await srv.wait_for_disconnects(siblings, timeout=5)
        return time.monotonic() - start

    # Long before the siblings' answers (10 s) would have come.
    assert run(main()) < 5
    assert srv.disconnects == siblings


@needs_task_group
def test_a_task_group_failure_closes_streams_that_are_half_read(srv: MockServer, run: Run[float]) -> None:
    client = make_client(srv, "openai")
    # 20 s per stream if read to the end; the server notices a closed stream at its next write.
    srv.default(chunks=[f"c{i} " for i in range(100)], chunk_delay=0.2)
    streams = 5

    async def main() -> float:
        start = time.monotonic()
        started = 0
        all_started = asyncio.Event()

        async def read(i: int) -> None:
            nonlocal started
            async for event in client.stream(f"stream {i}"):
                if event.type == "text" and event.text == "c0 ":
                    started += 1
                    if started == streams:
                        all_started.set()

        async def failing() -> None:
            await all_started.wait()
            raise RuntimeError("a sibling failed")

        with pytest.RaisesGroup(RuntimeError):
            async with asyncio.TaskGroup() as tg:
                for i in range(streams):
                    tg.create_task(read(i))
                tg.create_task(failing())
        await srv.wait_for_disconnects(streams, timeout=5)
        return time.monotonic() - start

    assert run(main()) < 5
    assert srv.disconnects == streams


def test_cancelling_a_call_drops_its_request_on_every_loop(srv: MockServer, run: Run[None]) -> None:
    client = make_client(srv, "openai")
    srv.reply("too late", latency=10)

    async def main() -> None:
        task = asyncio.ensure_future(client.chat("hi"))
        await srv.wait_for_requests(1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await srv.wait_for_disconnects(1)

    run(main())


def test_each_loop_is_woken_the_way_the_bridge_says(srv: MockServer) -> None:
    # A selector loop watches llmrail's socket and is never asked to wake from another thread;
    # a loop that cannot watch one is woken through call_soon_threadsafe, for chats and streams.
    class Counting(CountingLoop):
        pass

    class CountingNoReaders(CountingLoop):
        def add_reader(self, *args: Any, **kwargs: Any) -> None:
            raise NotImplementedError

    client = make_client(srv, "openai")
    srv.default(latency=0.01, chunk_delay=0.01)
    counts = {}

    async def both() -> list[str]:
        return await asyncio.gather(_chat(client, 1), _stream(client, 2))

    for loop in (Counting(), CountingNoReaders()):
        try:
            texts = loop.run_until_complete(both())
        finally:
            loop.close()
        assert texts == ["mock reply to: chat 1", "mock reply to: stream 2"]
        counts[type(loop).__name__] = (loop.readers, loop.threadsafe)
    assert counts["Counting"] == (1, 0)
    assert counts["CountingNoReaders"][0] == 0 and counts["CountingNoReaders"][1] > 0


def test_a_call_waiting_for_its_answer_lets_timers_and_other_threads_callbacks_run(
        srv: MockServer, run: Run[list[str]]) -> None:
    # A call its loop alone waits for may wait in place, inside its step (`loop_wake::idle`):
    # a timer that comes due and a callback another thread schedules still run while it waits.
    client = make_client(srv, "openai")
    srv.reply("slow", latency=0.5)

    async def main() -> list[str]:
        loop = asyncio.get_running_loop()
        seen: list[str] = []
        loop.call_later(0.05, seen.append, "timer")
        threading.Timer(0.05, loop.call_soon_threadsafe, (seen.append, "thread")).start()
        seen.append((await client.chat("hi")).text)
        return seen

    seen = run(main())
    assert sorted(seen[:2]) == ["thread", "timer"] and seen[2:] == ["slow"]


def test_loops_on_two_threads_and_a_loop_run_again_each_wake_their_own_calls(srv: MockServer) -> None:
    # The bridge keeps each thread's running loop between calls (before 3.12 asking asyncio costs
    # a system call): a loop on another thread, a loop that stopped and one run again must each
    # get their own calls' wake-ups.
    client = make_client(srv, "openai")
    srv.default(latency=0.01)
    results: dict[str, list[str]] = {}

    async def chats(name: str) -> list[str]:
        return [(await client.chat(f"{name} {j}")).text for j in range(3)]

    def on_thread(name: str) -> None:
        results[name] = asyncio.run(chats(name))

    loop = asyncio.new_event_loop()
    try:
        results["first"] = loop.run_until_complete(chats("first"))
        threads = [threading.Thread(target=on_thread, args=(f"thread{i}",)) for i in range(2)]
        for t in threads:
            t.start()
        results["new loop"] = asyncio.run(chats("new loop"))
        for t in threads:
            t.join()
        results["again"] = loop.run_until_complete(chats("again"))
    finally:
        loop.close()
    names = ["first", "thread0", "thread1", "new loop", "again"]
    assert results == {n: [f"mock reply to: {n} {j}" for j in range(3)] for n in names}


class TurnCounting(asyncio.SelectorEventLoop):
    """asyncio's own loop, counting its turns (each wait for I/O and what it then runs)."""

    turns = 0

    def _run_once(self) -> None:
        self.turns += 1
        super()._run_once()  # type: ignore[misc]


def test_calls_after_one_the_loop_woke_still_wait_for_their_answers_in_place(srv: MockServer) -> None:
    # A call whose answer is slow is woken by the loop (its callback for the thread's set), and
    # the task goes on from there. Its next calls, the loop having nothing else to do, wait in
    # place (their requests sent first, not held to the end of the loop's callback) rather than
    # taking a loop turn each, which every one of them did once one call had been slow.
    client = make_client(srv, "openai")
    srv.reply("slow", latency=0.05)
    loop = TurnCounting()

    async def main() -> tuple[list[str], int]:
        texts = [(await client.chat("first")).text]
        before = loop.turns
        texts += [(await client.chat(f"then {i}")).text for i in range(20)]
        return texts, loop.turns - before

    try:
        texts, turns = loop.run_until_complete(main())
    finally:
        loop.close()
    assert texts == ["slow"] + [f"mock reply to: then {i}" for i in range(20)]
    # A turn for an answer that took longer than the wait in place (~2 ms) on a busy machine.
    assert turns < 10, turns
