"""A program ends while daemon threads are inside llmrail: every exit must be clean.

Before the interpreter-exit gate (src/py/exit.rs), 2-5 % of such exits died of SIGSEGV: a
thread blocked in `chat_sync` or a sync stream took the GIL back after the interpreter had been
finalised. The stress below runs a few hundred exits at the moments that used to crash.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor

from llmrail.testing import MockServer

AT_ONCE = 6

# Daemon threads of every kind that waits with the GIL released: sync chats, sync streams, an
# event loop's calls, a sync extraction (its validation re-enters Python), and core log records
# handed to Python logging from the tokio worker. The main thread leaves at a random moment,
# while replies and stream chunks are still arriving.
CHILD = textwrap.dedent(
    """
    import asyncio, logging, random, sys, threading, time
    import llmrail

    logging.getLogger("llmrail").addHandler(logging.NullHandler())
    logging.getLogger("llmrail").setLevel(logging.DEBUG)
    random.seed(int(sys.argv[2]))
    client = llmrail.Client("openai/gpt-4.1-mini", base_url=sys.argv[1], api_key="sk-test", timeout=5)

    def forever(step):
        def run():
            while True:
                try:
                    step()
                except Exception:
                    pass
        threading.Thread(target=run, daemon=True).start()

    def stream():
        for _ in client.stream("hi"):
            pass

    def extract():
        client.extract_sync({"type": "object"}, "give me an object")

    def event_loop():
        async def calls():
            await asyncio.gather(*(client.chat("hi") for _ in range(4)))
        asyncio.run(calls())

    for step in (lambda: client.chat_sync("hi"), stream, extract, event_loop) * 4:
        forever(step)
    time.sleep(random.uniform(0.02, 0.2))
    print("main thread done", flush=True)
    """
)


def _exits(srv: MockServer, runs: int) -> list[tuple[int, int, str]]:
    """Run the child `runs` times; the seeds, exit codes and stderr tails of those that failed."""

    def run(seed: int) -> tuple[int, int, str]:
        done = subprocess.run(
            [sys.executable, "-c", CHILD, srv.openai_base_url, str(seed)],
            capture_output=True, text=True, timeout=60,
        )
        return seed, done.returncode, done.stderr[-2000:]

    with ThreadPoolExecutor(AT_ONCE) as pool:
        return [outcome for outcome in pool.map(run, range(runs)) if outcome[1] != 0]


def test_exits_are_clean_while_every_daemon_thread_waits_for_a_reply(srv: MockServer) -> None:
    # Every thread is blocked in a call when the program ends (the replies take a minute), so
    # each exit has 16 threads waking every 50 ms to check for signals: the case that crashed most.
    srv.default('{"ok": true}', latency=60)
    failed = _exits(srv, 100)
    assert not failed, f"{len(failed)} of 100 exits failed; first: {failed[0]}"


def test_exits_are_clean_while_daemon_threads_call_and_stream(srv: MockServer) -> None:
    # Replies and stream chunks keep arriving while the program ends: threads come back from
    # their waits, convert results, wake their loops and start new calls during the exit.
    srv.default('{"ok": true}', latency={"uniform": [0.0, 0.3]}, chunk_delay=0.002)
    failed = _exits(srv, 200)
    assert not failed, f"{len(failed)} of 200 exits failed; first: {failed[0]}"
    # The children really were calling when they ended.
    assert len(srv.requests) > 200
