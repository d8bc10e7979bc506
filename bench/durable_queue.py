"""``make bench``, the durable queue: submit -> process -> result throughput for llmrail's sqlite
and Redis queues against a zero-latency mock provider (its own process), and arq (an asyncio
Redis job queue) doing the same on the same Redis in the same run: arq's job calls the provider
with the same llmrail client, so the difference is the queue.

    .venv/bin/python bench/durable_queue.py [--items 2000] [--concurrency 32] [--submitters 1 32]
        [--rounds 5] [--out bench-results]

Reports items/s (all submitted, then processed by `concurrency` workers in this process, until
the last result is read), the CPU time each item took in this process (submitting, working,
reading) and in redis-server (load on the machine barely moves these, unlike items/s: the
ratio of CPU per item is what a quiet machine's throughput ratio tends to), and the latency each
item adds (submit to result, one item at a time, minus a direct call's): the median over
`rounds` rounds, each round running every queue once in turn (so a busy machine slows them
alike), with the spread (lowest and highest round).

Each `--submitters` value is a run of its own: 1 submits one item at a time (each submission
awaited before the next: a script or a single request handler); N has N tasks doing that at
once (a web app's concurrent requests). Both queues are driven the same way in each run: the
same tasks awaiting llmrail's `submit` or arq's `enqueue_job`, then every result read in order.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import llmrail
from server import MockServerProcess

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests_py.redis_server import RedisServer  # noqa: E402

MODEL = "openai/gpt-4.1-mini"
T = TypeVar("T")


async def submit_all(submit: Callable[[int], Awaitable[T]], items: int, submitters: int) -> list[T]:
    """Item i's id from `submit(i)`, for every item, by `submitters` tasks each awaiting one
    submission at a time."""
    if submitters == 1:
        return [await submit(i) for i in range(items)]
    out: list[T | None] = [None] * items
    left = iter(range(items))

    async def one_submitter() -> None:
        for i in left:
            out[i] = await submit(i)

    await asyncio.gather(*(one_submitter() for _ in range(submitters)))
    return [x for x in out if x is not None]


def redis_cpu(port: int) -> float:
    """redis-server's CPU seconds so far (INFO cpu), 0 for a sqlite queue's run."""
    if not port:
        return 0.0
    import redis

    with redis.Redis(port=port) as r:
        info = r.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def cpu_per_item(r: dict[str, float]) -> float:
    return r["cpu_s"] + r["redis_cpu_s"]


def client(base_url: str) -> llmrail.Client:
    return llmrail.Client(MODEL, base_url=base_url, api_key="sk-bench", circuit_breaker=False)


async def direct_latency(c: llmrail.Client, n: int) -> float:
    for _ in range(20):
        await c.chat("warm up", max_tokens=16)
    t: list[float] = []
    for _ in range(n):
        start = time.perf_counter()
        await c.chat("one", max_tokens=16)
        t.append(time.perf_counter() - start)
    return statistics.median(t)


async def llmrail_queue(
    queue_url: str, port: int, c: llmrail.Client, items: int, concurrency: int, probes: int, submitters: int
) -> dict[str, float]:
    queue = llmrail.Queue(queue_url, capacity=items * 2)
    async with queue.worker(concurrency=concurrency, clients=[c]):
        # Added latency: one item at a time, submit to result.
        lat: list[float] = []
        for i in range(probes):
            start = time.perf_counter()
            qid = await queue.submit({"messages": f"probe {i}", "max_tokens": 16}, target=c)
            await queue.result(qid, wait=30)
            lat.append(time.perf_counter() - start)
        server, cpu, start = redis_cpu(port), time.process_time(), time.perf_counter()
        ids = await submit_all(
            lambda i: queue.submit({"messages": f"item {i}", "max_tokens": 16}, target=c), items, submitters
        )
        for qid in ids:
            await queue.result(qid, wait=120)
        elapsed, cpu, server = time.perf_counter() - start, time.process_time() - cpu, redis_cpu(port) - server
    return {"items_per_s": items / elapsed, "latency_s": statistics.median(lat), "cpu_s": cpu / items,
            "redis_cpu_s": server / items}


async def arq_queue(
    redis_port: int, c: llmrail.Client, items: int, concurrency: int, probes: int, submitters: int
) -> dict[str, float]:
    from arq import create_pool
    from arq.connections import RedisSettings
    from arq.worker import Worker, func

    async def call(ctx: dict[str, Any], text: str) -> str:
        r = await c.chat(text, max_tokens=16)
        return r.text

    settings = RedisSettings(host="127.0.0.1", port=redis_port)
    name = f"arq:{uuid.uuid4().hex}"
    pool = await create_pool(settings, default_queue_name=name)
    worker = Worker(functions=[func(call, name="call")], redis_settings=settings, queue_name=name, max_jobs=concurrency,
                    poll_delay=0.01, handle_signals=False, keep_result=3600)
    task = asyncio.create_task(worker.async_run())
    try:
        lat: list[float] = []
        for i in range(probes):
            start = time.perf_counter()
            job = await pool.enqueue_job("call", f"probe {i}")
            assert job is not None
            await job.result(timeout=30, poll_delay=0.005)
            lat.append(time.perf_counter() - start)
        server, cpu, start = redis_cpu(redis_port), time.process_time(), time.perf_counter()
        jobs = await submit_all(lambda i: pool.enqueue_job("call", f"item {i}"), items, submitters)
        for job in jobs:
            assert job is not None
            await job.result(timeout=120, poll_delay=0.005)
        elapsed, cpu, server = time.perf_counter() - start, time.process_time() - cpu, redis_cpu(redis_port) - server
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await worker.close()
        await pool.aclose()
    return {"items_per_s": items / elapsed, "latency_s": statistics.median(lat), "cpu_s": cpu / items,
            "redis_cpu_s": server / items}


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--submitters", type=int, nargs="+", default=[1, 32])
    ap.add_argument("--probes", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--out", default="bench-results")
    args = ap.parse_args()
    names = ("llmrail sqlite", "llmrail redis", "arq (redis)")
    runs: dict[int, dict[str, list[dict[str, float]]]] = {k: {n: [] for n in names} for k in args.submitters}
    ratios: dict[int, list[float]] = {k: [] for k in args.submitters}
    cpu_ratios: dict[int, list[float]] = {k: [] for k in args.submitters}
    with MockServerProcess() as srv, RedisServer() as redis, tempfile.TemporaryDirectory() as tmp:
        c = client(srv.base_url)
        direct = await direct_latency(c, args.probes)
        for n in range(args.rounds):
            for k in args.submitters:
                run = runs[k]
                shape = (c, args.items, args.concurrency, args.probes, k)
                run["llmrail sqlite"].append(await llmrail_queue(f"sqlite://{tmp}/q{n}-{k}.db", 0, *shape))
                run["llmrail redis"].append(
                    await llmrail_queue(f"{redis.url}?queue={uuid.uuid4().hex}", redis.port, *shape))
                run["arq (redis)"].append(await arq_queue(redis.port, *shape))
                ratios[k].append(run["llmrail redis"][-1]["items_per_s"] / run["arq (redis)"][-1]["items_per_s"])
                cpu_ratios[k].append(cpu_per_item(run["arq (redis)"][-1]) / cpu_per_item(run["llmrail redis"][-1]))
    lines = [f"queue: {args.items} items, {args.concurrency} workers, zero-latency mock, {args.rounds} rounds "
             f"(median, lowest-highest); direct call {direct * 1e3:.2f} ms (median)", "",
             "| queue | submitters | items/s | added latency per item (ms) | CPU per item, this process + redis (us) |",
             "|---|---:|---:|---:|---:|"]

    def spread(xs: list[float], fmt: str) -> str:
        return f"{statistics.median(xs):{fmt}} ({min(xs):{fmt}}-{max(xs):{fmt}})"

    for k, run in runs.items():
        for name, rs in run.items():
            rate = [r["items_per_s"] for r in rs]
            added = [(r["latency_s"] - direct) * 1e3 for r in rs]
            cpu = [(r["cpu_s"] + r["redis_cpu_s"]) * 1e6 for r in rs]
            lines.append(f"| {name} | {k} | {spread(rate, '.0f')} | {spread(added, '.2f')} | {spread(cpu, '.0f')} |")
    lines.append("")
    for k, ratio in ratios.items():
        lines.append(f"llmrail redis / arq throughput, {k} submitter(s), same round: {spread(ratio, '.1f')}x "
                     "(goal 5x); "
                     f"arq / llmrail redis CPU per item: {spread(cpu_ratios[k], '.1f')}x")
    print("\n".join(lines))
    write(Path(args.out), lines, {"direct_s": direct, "ratios": ratios, "cpu_ratios": cpu_ratios, "runs": runs})


def write(out: Path, lines: list[str], data: dict[str, Any]) -> None:
    out.mkdir(exist_ok=True)
    (out / "queue.md").write_text("\n".join(lines) + "\n")
    (out / "queue.json").write_text(json.dumps(data, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
