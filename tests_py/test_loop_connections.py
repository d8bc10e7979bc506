"""An asyncio loop's thread sends its calls over connections of its own, watched by the loop
itself (no tokio worker in between), as a sync caller does: the connection, the timeouts and
cancellation on that path."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable
from typing import TypeVar

import llmrail
import pytest
from llmrail.testing import MockServer

from .conftest import CountingLoop, make_client

T = TypeVar("T")


def on_a_fresh_thread(fn: Callable[[], T]) -> T:
    """Run `fn` on a new thread: its connections are that thread's alone."""
    out: list[T] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            out.append(fn())
        except BaseException as e:  # handed to the test's thread
            errors.append(e)

    t = threading.Thread(target=run)
    t.start()
    t.join(timeout=30)
    if errors:
        raise errors[0]
    return out[0]


def test_an_async_call_uses_the_loop_threads_own_connection(srv: MockServer) -> None:
    # The loop thread's connection is the one its sync calls use too: one connection for all.
    client = make_client(srv, "openai")
    srv.default("own")

    def calls() -> tuple[list[str], str, tuple[int, int]]:
        loop = CountingLoop()
        try:
            texts = loop.run_until_complete(_sequential(client, 3))
        finally:
            loop.close()
        return texts, client.chat_sync("sync").text, (loop.readers, loop.threadsafe)

    texts, sync_text, (readers, threadsafe) = on_a_fresh_thread(calls)
    assert texts == ["own"] * 3 and sync_text == "own"
    assert srv.connections == 1
    # One descriptor watched, and no other thread asked the loop to wake.
    assert (readers, threadsafe) == (1, 0)


async def _sequential(client: llmrail.Client, n: int) -> list[str]:
    return [(await client.chat(f"call {i}")).text for i in range(n)]


def test_a_stream_is_read_over_the_loop_threads_own_connection(srv: MockServer) -> None:
    # Its reads are polled by the `async for` on the loop thread, as a whole call's are: the
    # stream, and the calls after it (async and sync), share the loop thread's one connection.
    client = make_client(srv, "openai")
    srv.reply(chunks=["a", "b", "c"], chunk_delay=0.01)
    srv.default("after")

    def calls() -> tuple[str, list[str], str, tuple[int, int]]:
        loop = CountingLoop()

        async def streamed() -> tuple[str, list[str]]:
            text = "".join([e.text async for e in client.stream("hi") if e.type == "text"])
            return text, await _sequential(client, 2)

        try:
            text, after = loop.run_until_complete(streamed())
        finally:
            loop.close()
        return text, after, client.chat_sync("sync").text, (loop.readers, loop.threadsafe)

    text, after, sync_text, (readers, threadsafe) = on_a_fresh_thread(calls)
    assert (text, after, sync_text) == ("abc", ["after"] * 2, "after")
    assert srv.connections == 1
    assert (readers, threadsafe) == (1, 0)


def test_a_sync_stream_can_be_read_on_another_thread_than_the_one_that_began_it(
    srv: MockServer,
) -> None:
    # As a web framework's thread pool iterates a sync generator: each `next` may run on another
    # thread. The stream's connection was opened on the first; the others wait for it their way.
    client = make_client(srv, "openai")
    srv.reply(chunks=["a", "b", "c", "d"], chunk_delay=0.05)
    stream = client.stream("hi")
    first = on_a_fresh_thread(lambda: next(iter(stream)))
    second = on_a_fresh_thread(lambda: next(iter(stream)))
    rest = on_a_fresh_thread(lambda: list(stream))
    texts = [e.text for e in [first, second, *rest] if e.type == "text"]
    assert "".join(texts) == "abcd"
    assert rest[-1].type == "done"


def test_calls_in_flight_together_each_take_a_connection_and_keep_it(srv: MockServer) -> None:
    client = make_client(srv, "openai")
    srv.default("many", latency=0.05)

    async def rounds() -> list[str]:
        first = await asyncio.gather(*(client.chat(f"a{i}") for i in range(20)))
        second = await asyncio.gather(*(client.chat(f"b{i}") for i in range(20)))
        return [r.text for r in first + second]

    assert on_a_fresh_thread(lambda: asyncio.run(rounds())) == ["many"] * 40
    assert srv.connections == 20, "the second round reused the first round's connections"


def test_a_new_loop_on_the_thread_reuses_the_idle_connections(srv: MockServer) -> None:
    # A loop closed with idle connections in the pool: the next loop on the thread takes them.
    client = make_client(srv, "openai")
    srv.default("again")

    def twice() -> list[str]:
        return asyncio.run(_sequential(client, 2)) + asyncio.run(_sequential(client, 2))

    assert on_a_fresh_thread(twice) == ["again"] * 4
    assert srv.connections == 1


def test_a_slow_answer_times_out_on_the_loop_thread(srv: MockServer) -> None:
    # The whole-call timeout is a deadline of the loop thread's epoll set, not a tokio timer.
    client = make_client(srv, "openai", timeout=0.2, retry=llmrail.Retry(max_attempts=1))
    srv.reply("too late", latency=5)

    async def late() -> None:
        with pytest.raises(llmrail.TimeoutError):
            await client.chat("hi")
        await srv.wait_for_disconnects(1, timeout=3)
        srv.reply("in time")
        assert (await client.chat("hi")).text == "in time"

    on_a_fresh_thread(lambda: asyncio.run(late()))


def test_cancelling_closes_the_loop_threads_connection(srv: MockServer) -> None:
    client = make_client(srv, "openai")

    async def cancelled() -> str:
        srv.reply("first")
        await client.chat("keeps a connection in the pool")
        srv.reply("too late", latency=10)
        task = asyncio.ensure_future(client.chat("hi"))
        await srv.wait_for_requests(2, timeout=5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await srv.wait_for_disconnects(1, timeout=5)
        srv.reply("after")
        return (await client.chat("next")).text

    assert on_a_fresh_thread(lambda: asyncio.run(cancelled())) == "after"
    assert srv.connections == 2, "the cancelled call's connection was closed, not pooled"


def test_a_sync_call_inside_a_coroutine_does_not_swallow_the_loops_wake_up(srv: MockServer) -> None:
    # The sync wait sleeps in the same epoll set the loop watches; a wake-up meant for the loop
    # that it takes (an async call's answer) is handed on to the loop.
    client = make_client(srv, "openai")

    async def mixed() -> list[str]:
        srv.reply("async", latency=0.05)
        pending = asyncio.ensure_future(client.chat("slow"))
        await srv.wait_for_requests(1, timeout=5)
        srv.reply("sync", latency=0.2)
        inline = client.chat_sync("blocks the loop")
        return [inline.text, (await asyncio.wait_for(pending, 5)).text]

    assert on_a_fresh_thread(lambda: asyncio.run(mixed())) == ["sync", "async"]


def test_a_forked_child_of_a_loop_thread_sends_on_its_own_connections(srv: MockServer) -> None:
    # The child gets a fresh epoll set for its loop; the parent's loop keeps working after.
    srv.default("hello")
    code = """
        import asyncio, os, sys, llmrail
        c = llmrail.Client("openai/m", base_url=sys.argv[1], api_key="sk-test")
        async def one(who):
            return (await c.chat(who)).text
        assert asyncio.run(one("parent")) == "hello"
        pid = os.fork()
        if pid == 0:
            try:
                print("child:", asyncio.run(one("child")), flush=True)
            finally:
                os._exit(0)
        os.waitpid(pid, 0)
        print("parent:", asyncio.run(one("parent again")), flush=True)
    """
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code), srv.openai_base_url],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert "child: hello" in result.stdout
    assert "parent: hello" in result.stdout
