"""A program ends while daemon threads are in one kind of llmrail work each: every exit is clean.

`test_exit.py` covers the calls (sync, streamed, async, extraction, log records). These cover
the other ways a thread can be in Rust below Python, or in Python below Rust, when the
interpreter begins to finalise: loading and checking prompt folders and reading a batch store
(GIL released in Rust), `pathlib.Path` arguments and results (Python code run from Rust), call
hooks (Python code run from Rust, which releases the GIL in its socket write), queue `on_event`
callbacks on a runtime thread, a batch wait reporting progress, and an asyncio task woken by
llmrail that then blocks in a sync llmrail call. A thread that takes the GIL back during
finalisation is ended by CPython with `pthread_exit`, which aborts the process ("FATAL:
exception not rethrown") when it unwinds through Rust; see src/py/exit.rs.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

from llmrail.testing import MockServer

from .test_prompts import SUMMARIZE, write

AT_ONCE = 6

# Each child starts its daemon threads with `forever(step)`, then the main thread leaves at a
# random moment while they work (argv: the mock server's URL, a seed, a scratch folder).
PREAMBLE = textwrap.dedent(
    """
    import asyncio, atexit, random, sys, threading, time
    from pathlib import Path

    # atexit runs hooks last in, first out: these two time llmrail's exit hook (registered by
    # the import between them).
    marks = []
    atexit.register(lambda: print(f"exit hook took {time.monotonic() - marks[0]:.3f} s", flush=True))
    import llmrail
    atexit.register(lambda: marks.append(time.monotonic()))

    URL, SEED, DIR = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
    random.seed(SEED)

    def forever(step, *args):
        def run():
            while True:
                try:
                    step(*args)
                except Exception:
                    pass
        threading.Thread(target=run, daemon=True).start()

    def leave(low=0.05, high=0.3):
        time.sleep(random.uniform(low, high))
        print("main thread done", flush=True)
    """
)

PROMPTS = PREAMBLE + textwrap.dedent(
    """
    from llmrail._core import check_prompts
    for _ in range(3):
        forever(llmrail.Prompts, DIR)
        forever(check_prompts, DIR)
    loaded = llmrail.Prompts(DIR)
    for _ in range(2):
        forever(loaded.render, "p0", {"text": "x" * 2000})
    leave()
    """
)

BATCH_STORE = PREAMBLE + textwrap.dedent(
    """
    store = llmrail.BatchStore(DIR / "jobs.sqlite3")
    for _ in range(6):
        forever(lambda: llmrail.BatchStore(DIR / "jobs.sqlite3").jobs())
        forever(store.stats)
        forever(lambda: store.path)
    leave()
    """
)

# Path arguments (`__fspath__` is Python code run below a Rust frame) and a path handed back
# (making a `pathlib.Path` is too): a cassette opened with extra cassettes, mock fixtures files.
PATHS = PREAMBLE + textwrap.dedent(
    """
    from llmrail._core import Cassette
    from llmrail.testing import MockProvider
    (DIR / "fixtures.yaml").write_text('rules: []\\ndefault: {text: "hi"}\\n')
    mocks = [MockProvider(f"exit{n}") for n in range(3)]
    for n in range(3):
        forever(lambda n=n: Cassette(DIR / f"c{n}.yaml", mode="none", extra_cassettes=[DIR / "e.yaml"]))
        forever(mocks[n].fixtures, DIR / "fixtures.yaml")
    leave()
    """
)

HOOKS = PREAMBLE + textwrap.dedent(
    """
    seen = []
    client = llmrail.Client("openai/gpt-4.1-mini", base_url=URL, api_key="sk-test", timeout=5,
                            on_request=seen.append, on_response=lambda o, r: seen.append(r),
                            on_error=lambda o, e: seen.append(e))

    def stream():
        for _ in client.stream("hi"):
            pass

    def event_loop():
        async def calls():
            await asyncio.gather(*(client.chat("hi") for _ in range(4)))
        asyncio.run(calls())

    for step in (lambda: client.chat_sync("hi"), stream, event_loop) * 4:
        forever(step)
    leave()
    """
)

QUEUE = PREAMBLE + textwrap.dedent(
    """
    queue = llmrail.Queue(f"sqlite://{DIR / 'queue.db'}")
    client = llmrail.Client("openai/gpt-4.1-mini", base_url=URL, api_key="sk-test", timeout=5)
    events = []

    def on_event(event):
        events.append(dict(event))  # a little Python work on the runtime thread
        sum(range(200))

    for _ in range(3):
        queue.on_event(on_event)
    worker = queue.worker(concurrency=8, clients=[client])
    worker.start()
    for _ in range(6):
        forever(lambda: queue.submit_sync("hi", target=client))
    leave(0.2, 0.6)
    """
)

BATCH = PREAMBLE + textwrap.dedent(
    """
    client = llmrail.Client("openai/gpt-4.1-mini", base_url=URL, api_key="sk-test", timeout=5)
    ticks = []

    def batch(n):
        async def run():
            reqs = [{"custom_id": f"{n}-{i}", "messages": "q", "max_tokens": 5} for i in range(3)]
            job = await client.submit_batch(reqs, store=DIR / f"jobs-{n}.sqlite3")
            await job.wait(poll_interval=0.005, on_progress=ticks.append, progress=True)
        asyncio.run(run())

    for n in range(6):
        forever(batch, n)
    leave(0.1, 0.5)
    """
)

# An asyncio task that llmrail wakes (its wake-up runs the task's step from Rust) and that then
# blocks in a sync call: the gate closes while that step waits in Rust.
BLOCKING_STEP = PREAMBLE + textwrap.dedent(
    """
    client = llmrail.Client("openai/gpt-4.1-mini", base_url=URL, api_key="sk-test", timeout=90)
    slow = llmrail.Client("openai/gpt-4.1-mini", base_url=sys.argv[4], api_key="sk-test", timeout=90)

    def event_loop():
        async def task():
            await client.chat("hi")
            slow.chat_sync("hi")
        asyncio.run(task())

    for _ in range(2):
        forever(event_loop)
    leave(0.3, 0.4)
    """
)


class Exit(NamedTuple):
    seed: int
    code: int
    stderr: str
    hook_seconds: float


def runs_of(srv: MockServer, child: str, folder: Path, runs: int, *extra: str) -> list[Exit]:
    """Run `child` `runs` times: how each ended (a run that printed "FATAL" counts as failed;
    glibc prints its fatal errors to stderr, not the terminal, with LIBC_FATAL_STDERR_)."""

    def run(seed: int) -> Exit:
        done = subprocess.run(
            [sys.executable, "-c", child, srv.openai_base_url, str(seed), str(folder), *extra],
            capture_output=True, text=True, timeout=60, env={**os.environ, "LIBC_FATAL_STDERR_": "1"},
        )
        clean = done.returncode == 0 and "FATAL" not in done.stderr and "main thread done" in done.stdout
        took = re.search(r"exit hook took ([0-9.]+) s", done.stdout)
        return Exit(seed, 0 if clean else done.returncode or -1, done.stderr[-2000:],
                    float(took.group(1)) if took else -1.0)

    with ThreadPoolExecutor(AT_ONCE) as pool:
        return list(pool.map(run, range(runs)))


def exits(srv: MockServer, child: str, folder: Path, runs: int, *extra: str) -> list[Exit]:
    """The runs of `child` that failed."""
    return [e for e in runs_of(srv, child, folder, runs, *extra) if e.code != 0]


def prompt_folder(folder: Path) -> Path:
    return write(folder, **{f"p{i}": SUMMARIZE.replace("summarize", f"p{i}") for i in range(30)})


def test_exits_are_clean_while_threads_load_check_and_render_prompt_folders(
    srv: MockServer, tmp_path: Path
) -> None:
    failed = exits(srv, PROMPTS, prompt_folder(tmp_path), 100)
    assert not failed, f"{len(failed)} of 100 exits failed; first: {failed[0]}"


def test_exits_are_clean_while_threads_read_a_batch_store(srv: MockServer, tmp_path: Path) -> None:
    failed = exits(srv, BATCH_STORE, tmp_path, 100)
    assert not failed, f"{len(failed)} of 100 exits failed; first: {failed[0]}"


def test_exits_are_clean_while_threads_hand_llmrail_pathlib_paths(srv: MockServer, tmp_path: Path) -> None:
    failed = exits(srv, PATHS, tmp_path, 100)
    assert not failed, f"{len(failed)} of 100 exits failed; first: {failed[0]}"


def test_exits_are_clean_while_hooked_calls_hand_their_hooks_each_outcome(
    srv: MockServer, tmp_path: Path
) -> None:
    srv.default('{"ok": true}', latency={"uniform": [0.0, 0.02]}, chunk_delay=0.001)
    failed = exits(srv, HOOKS, tmp_path, 100)
    assert not failed, f"{len(failed)} of 100 exits failed; first: {failed[0]}"
    assert len(srv.requests) > 100


def test_exits_are_clean_while_queue_workers_run_and_on_event_callbacks_fire(
    srv: MockServer, tmp_path: Path
) -> None:
    srv.default('{"ok": true}', latency={"uniform": [0.0, 0.02]})
    failed = exits(srv, QUEUE, tmp_path, 60)
    assert not failed, f"{len(failed)} of 60 exits failed; first: {failed[0]}"
    assert len(srv.requests) > 60


def test_exits_are_clean_while_batch_waits_report_progress(srv: MockServer, tmp_path: Path) -> None:
    srv.batch_settings(processing=0.05)
    failed = exits(srv, BATCH, tmp_path, 60)
    assert not failed, f"{len(failed)} of 60 exits failed; first: {failed[0]}"


def test_an_exit_does_not_wait_for_a_task_step_blocked_in_a_sync_call(srv: MockServer, tmp_path: Path) -> None:
    # The sync call's reply takes a minute: that thread will park for good when it comes back,
    # so the ticket its task's wake-up holds must not hold the exit up for the gate's time limit.
    with MockServer() as slow:
        slow.default('{"ok": true}', latency=60)
        ran = runs_of(srv, BLOCKING_STEP, tmp_path, 12, slow.openai_base_url)
        assert len(slow.requests) >= 12
    assert all(e.code == 0 for e in ran), [e for e in ran if e.code != 0][0]
    assert max(e.hook_seconds for e in ran) < 1.0, [e.hook_seconds for e in ran]
