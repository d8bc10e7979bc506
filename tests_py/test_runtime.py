"""Where the async bridge could trap users: cancellation, Ctrl-C, fork, the GIL."""

from __future__ import annotations

import asyncio
import contextvars
import os
import signal
import subprocess
import sys
import textwrap
import threading

import llmrail
import pytest
from llmrail.testing import MockServer

from .conftest import make_client


async def test_cancelling_the_task_drops_the_request(srv: MockServer, client: llmrail.Client) -> None:
    srv.reply("too late", latency=10)
    task = asyncio.ensure_future(client.chat("hi"))
    await srv.wait_for_requests(1, timeout=5)
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass
    # the server sees the connection go away, long before its 10 s latency is over
    await srv.wait_for_disconnects(1, timeout=5)


async def test_wait_for_timeout_cancels_too(srv: MockServer, client: llmrail.Client) -> None:
    srv.reply("too late", latency=10)
    try:
        await asyncio.wait_for(client.chat("hi"), 0.2)
    except asyncio.TimeoutError:
        pass
    await srv.wait_for_disconnects(1, timeout=5)


async def test_a_cancel_message_reaches_the_awaiting_code(srv: MockServer, client: llmrail.Client) -> None:
    srv.reply("too late", latency=10)
    task = asyncio.ensure_future(client.chat("hi"))
    await srv.wait_for_requests(1, timeout=5)
    task.cancel("shutting down")
    with pytest.raises(asyncio.CancelledError, match="shutting down"):
        await task
    await srv.wait_for_disconnects(1, timeout=5)


async def test_context_variables_survive_the_await(srv: MockServer) -> None:
    # Each task resumes in its own context, as after awaiting an asyncio future.
    who: contextvars.ContextVar[str] = contextvars.ContextVar("who")
    client = make_client(srv, "openai")
    srv.default("ok", latency=0.02)

    async def one(name: str) -> str:
        who.set(name)
        await client.chat(name)
        return who.get()

    names = [f"task {i}" for i in range(20)]
    assert await asyncio.gather(*(one(n) for n in names)) == names


def test_the_pure_python_task_waits_and_cancels_too(srv: MockServer) -> None:
    # asyncio's Python Task (the one task factories often subclass) speaks the same protocol.
    client = make_client(srv, "openai")

    async def main() -> str:
        loop = asyncio.get_running_loop()
        loop.set_task_factory(lambda loop, coro, **kw: asyncio.tasks._PyTask(coro, loop=loop, **kw))  # type: ignore[attr-defined]
        srv.reply("from a Python task")
        text = (await asyncio.ensure_future(client.chat("hi"))).text
        srv.reply("too late", latency=10)
        slow = asyncio.ensure_future(client.chat("hi"))
        await srv.wait_for_requests(2, timeout=5)
        slow.cancel()
        with pytest.raises(asyncio.CancelledError):
            await slow
        await srv.wait_for_disconnects(1, timeout=5)
        return text

    assert asyncio.run(main()) == "from a Python task"


def test_a_loop_that_cannot_watch_sockets_still_wakes_calls(srv: MockServer) -> None:
    # What asyncio's ProactorEventLoop (Windows) does: it cannot watch a socket, so llmrail
    # falls back to waking the loop through call_soon_threadsafe.
    class NoReaders(asyncio.SelectorEventLoop):
        def add_reader(self, *args: object, **kwargs: object) -> None:
            raise NotImplementedError

    client = make_client(srv, "openai")
    srv.default("woken", latency=0.02)

    async def many() -> list[llmrail.ChatResponse]:
        return await asyncio.gather(*(client.chat(f"n{i}") for i in range(20)))

    loop = NoReaders()
    try:
        results = loop.run_until_complete(many())
    finally:
        loop.close()
    assert [r.text for r in results] == ["woken"] * 20


def test_sync_call_releases_the_gil(srv: MockServer) -> None:
    client = make_client(srv, "openai")
    srv.reply("slow", latency=0.5)
    started = threading.Event()
    done = threading.Event()
    ticks = 0

    def call() -> None:
        started.set()
        client.chat_sync("hi")
        done.set()

    t = threading.Thread(target=call)
    t.start()
    started.wait()
    # This loop only advances while the other thread has let go of the GIL.
    while not done.is_set():
        ticks += 1
    t.join()
    assert ticks > 10_000


def test_two_threads_are_in_flight_together(srv: MockServer) -> None:
    client = make_client(srv, "anthropic")
    srv.default("ok", latency=0.3)
    threads = [threading.Thread(target=client.chat_sync, args=("hi",)) for _ in range(2)]
    for t in threads:
        t.start()
    # both requests reach the server while the first is still waiting out its latency
    srv.wait_for_requests_sync(2, timeout=0.25 * 4)
    for t in threads:
        t.join()


def _run_child(code: str, *args: str, timeout: float = 30,
               env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code), *args],
                          capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


def test_ctrl_c_interrupts_a_sync_call(srv: MockServer) -> None:
    srv.reply("never", latency=60)
    code = """
        import sys, llmrail
        c = llmrail.Client("openai/m", base_url=sys.argv[1], api_key="k")
        print("calling", flush=True)
        try:
            c.chat_sync("hi")
        except KeyboardInterrupt:
            print("interrupted", flush=True)
            sys.exit(3)
    """
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), srv.openai_base_url],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "calling"
    srv.wait_for_requests_sync(1, timeout=10)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=10)  # a hang would fail here, not wait out the 60 s
    assert proc.returncode == 3, err
    assert "interrupted" in out


def test_fork_after_use_gives_a_working_child(srv: MockServer) -> None:
    srv.default("hello", latency=0)
    code = """
        import os, sys, llmrail
        c = llmrail.Client("openai/m", base_url=sys.argv[1], api_key="k")
        assert c.chat_sync("parent").text == "hello"
        pid = os.fork()
        if pid == 0:
            try:
                print("child:", c.chat_sync("child").text, flush=True)
            finally:
                os._exit(0)
        os.waitpid(pid, 0)
        print("parent:", c.chat_sync("parent again").text, flush=True)
    """
    result = _run_child(code, srv.openai_base_url)
    assert result.returncode == 0, result.stderr
    assert "child: hello" in result.stdout
    assert "parent: hello" in result.stdout


def test_import_is_light() -> None:
    # pydantic, and the stdlib modules that cost most of a fresh import (inspect alone was a
    # third of it), load only when a feature needs them.
    heavy = ("pydantic", "inspect", "dataclasses", "asyncio")
    result = _run_child(f"import llmrail, sys; print(sorted(m for m in sys.modules if m.startswith({heavy!r})))")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_processes_exit_cleanly_after_async_calls(srv: MockServer) -> None:
    # A tokio thread waking the loop while the interpreter finalises used to abort the process
    # (about 1 run in 10); the atexit quiesce makes the exit clean.
    srv.default("bye", latency=0)
    code = """
        import asyncio, sys, llmrail
        c = llmrail.Client("openai/m", base_url=sys.argv[1], api_key="k")
        async def main():
            await asyncio.gather(*(c.chat("hi") for _ in range(5)))
        asyncio.run(main())
    """
    codes = [_run_child(code, srv.openai_base_url).returncode for _ in range(20)]
    assert codes == [0] * 20


def test_worker_threads_can_be_raised_and_bad_values_are_named(
        srv: MockServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LLMRAIL_WORKER_THREADS", raising=False)
    srv.default("hello", latency=0)
    # A new thread names itself once it runs: the count is read until it reaches the number
    # expected (argv[2]) or a second has passed, so a worker not yet named is not a missing one.
    code = """
        import os, sys, time, llmrail
        c = llmrail.Client("openai/m", base_url=sys.argv[1], api_key="k")
        print(c.chat_sync("hi").text)
        def workers():
            names = []
            for t in os.listdir("/proc/self/task"):
                try:
                    names.append(open(f"/proc/self/task/{t}/comm").read().strip())
                except OSError:
                    pass
            return names.count("llmrail-worker")
        deadline = time.monotonic() + 1
        while workers() < int(sys.argv[2]) and time.monotonic() < deadline:
            time.sleep(0.01)
        print("workers:", workers())
    """
    default = _run_child(code, srv.openai_base_url, "1")
    assert default.returncode == 0, default.stderr
    assert "hello" in default.stdout and "workers: 1" in default.stdout

    three = _run_child(code, srv.openai_base_url, "3", env={"LLMRAIL_WORKER_THREADS": "3"})
    assert three.returncode == 0, three.stderr
    assert "workers: 3" in three.stdout

    bad = _run_child(code, srv.openai_base_url, "1", env={"LLMRAIL_WORKER_THREADS": "zero"})
    assert bad.returncode != 0
    assert "ConfigurationError" in bad.stderr
    assert 'LLMRAIL_WORKER_THREADS must be a whole number of threads, 1 or more; got "zero"' in bad.stderr


def test_event_loops_on_several_threads_share_one_client(srv: MockServer) -> None:
    # Each loop's thread drives its own calls; the runtime's one worker serves every loop's
    # sockets and wakes the right loop.
    srv.default("shared", latency=0.02)
    client = make_client(srv, "openai")
    results: dict[int, tuple[list[str], str]] = {}

    def run(n: int) -> None:
        async def main() -> tuple[list[str], str]:
            answers = await asyncio.gather(*(client.chat(f"loop {n} call {i}") for i in range(20)))
            streamed = "".join([e.text async for e in client.stream(f"loop {n} stream")])
            return [r.text for r in answers], streamed

        results[n] = asyncio.run(main())

    threads = [threading.Thread(target=run, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=20)
    assert sorted(results) == [0, 1, 2, 3]
    assert all(results[n] == (["shared"] * 20, "shared") for n in range(4))
    assert len(srv.requests) == 4 * 21
