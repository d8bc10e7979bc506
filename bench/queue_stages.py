"""Where the durable queue's time goes (issue 17's benchmark): for the Redis queue, per item,
the Redis commands (INFO commandstats on the bench's own server, reset before each run), the
server's CPU, this process's CPU, and the wall time of the stages run apart:

- submit alone (no workers running): the await of one `submit`, one submitter;
- the whole run (submit -> process -> result) with 1 and N submitters, as bench/durable_queue.py;
- a direct call, for the provider's share.

    .venv/bin/python bench/queue_stages.py [--items 2000] [--submitters 1 32] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import llmrail
import redis
from server import MockServerProcess

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from durable_queue import MODEL, submit_all  # noqa: E402

from tests_py.redis_server import RedisServer  # noqa: E402


def server_cpu(r: redis.Redis) -> float:
    info = r.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def commands(r: redis.Redis) -> dict[str, tuple[int, float]]:
    return {k.removeprefix("cmdstat_"): (v["calls"], v["usec"]) for k, v in r.info("commandstats").items()}


async def measure(label: str, r: redis.Redis, items: int, body: Any) -> dict[str, float]:
    r.config_resetstat()
    s0, c0, t0 = server_cpu(r), time.process_time(), time.perf_counter()
    await body()
    wall, cpu, scpu = time.perf_counter() - t0, time.process_time() - c0, server_cpu(r) - s0
    cmds = commands(r)
    cmds.pop("config|resetstat", None)
    cmds.pop("info", None)
    per = ", ".join(f"{k} {n / items:.2f} ({us / n:.0f} us)" for k, (n, us) in sorted(cmds.items()) if n)
    print(f"{label}: {items / wall:.0f} items/s, {wall / items * 1e6:.0f} us/item wall, "
          f"{cpu / items * 1e6:.0f} us/item client CPU, {scpu / items * 1e6:.0f} us/item redis CPU; "
          f"per item: {per}", flush=True)
    return {"wall": wall, "cpu": cpu}


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=2000)
    ap.add_argument("--submitters", type=int, nargs="+", default=[1, 32])
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    n = args.items
    with MockServerProcess() as srv, RedisServer() as rs:
        r = redis.Redis(port=rs.port)
        c = llmrail.Client(MODEL, base_url=srv.base_url, api_key="sk-bench", circuit_breaker=False)
        for _ in range(50):
            await c.chat("warm", max_tokens=16)

        async def direct() -> None:
            for i in range(n):
                await c.chat(f"item {i}", max_tokens=16)

        for _ in range(args.rounds):
            await measure("direct call, one at a time", r, n, direct)
            q = llmrail.Queue(f"{rs.url}?queue={uuid.uuid4().hex}", capacity=n * 4)

            async def submit_only(q: llmrail.Queue = q) -> None:
                for i in range(n):
                    await q.submit({"messages": f"item {i}", "max_tokens": 16}, target=c)

            await measure("submit only, 1 submitter, no workers", r, n, submit_only)
            for k in args.submitters:
                q = llmrail.Queue(f"{rs.url}?queue={uuid.uuid4().hex}", capacity=n * 4)

                async def whole(q: llmrail.Queue = q, k: int = k) -> None:
                    async with q.worker(concurrency=args.concurrency, clients=[c]):
                        t0 = time.perf_counter()
                        ids = await submit_all(
                            lambda i: q.submit({"messages": f"item {i}", "max_tokens": 16}, target=c), n, k)
                        t1 = time.perf_counter()
                        for qid in ids:
                            await q.result(qid, wait=120)
                        t2 = time.perf_counter()
                        print(f"  ({k} submitters: submitting {t1 - t0:.2f} s, then results {t2 - t1:.2f} s)")

                await measure(f"whole run, {k} submitters", r, n, whole)


if __name__ == "__main__":
    asyncio.run(main())
