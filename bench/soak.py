"""``make soak``: the resilience layers under sustained faults, then their cost without faults.

    .venv/bin/python bench/soak.py [--calls 10000] [--concurrency 64] [--fault-rate 0.3] [--no-redis]
    .venv/bin/python bench/soak.py --overhead-only        # just the fault-free comparison

Soak: every call goes through retry, circuit breaker, rate limit (shared through a local
redis-server unless --no-redis) and one fallback model, against a mock server (its own process)
that answers a random script where `--fault-rate` of the replies are faults of every kind the
mock knows. It checks that every call ends in a success or a typed ``llmrail.LLMError``, that none
hangs or panics, that attempts and waits stay within the policy, and that memory stays flat.
Writes bench-results/soak.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import llmrail

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests_py.redis_server import RedisServer  # noqa: E402 - the tests' throwaway server

FAULTS: list[Any] = [
    *({"status": s} for s in (408, 409, 500, 502, 503, 504, 529, 400)),
    {"status": 429, "retry_after": 0.05},
    "reset",
    {"truncate_after": 3},
    {"slow_body": 1.0},
    "malformed_json",
]
RETRY = {"max_attempts": 4, "initial_delay": 0.01, "max_delay": 0.1}
TIMEOUT, DEADLINE = 0.25, 3.0


def page_kb() -> int:
    """Resident memory of this process in KiB."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4


class MockProcess:
    """``python -m llmrail mock-server`` with a script, in its own process."""

    def __init__(self, replies: list[dict[str, Any]], default: dict[str, Any]) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="llmrail-soak-")
        script = Path(self._dir.name) / "script.json"
        script.write_text(json.dumps({"replies": replies, "default": default}))
        self._proc = subprocess.Popen([sys.executable, "-m", "llmrail", "mock-server", "--script", str(script)],
                                      stdout=subprocess.PIPE, text=True)
        assert self._proc.stdout is not None
        self.url = ""
        for line in self._proc.stdout:
            if line.startswith("mock server listening on "):
                self.url = line.split()[-1]
                break
        if not self.url:
            raise RuntimeError("the mock server did not start")

    def close(self) -> None:
        self._proc.terminate()
        self._proc.wait(timeout=10)
        self._dir.cleanup()


def fault_script(n: int, rate: float, rng: random.Random) -> list[dict[str, Any]]:
    # Several words, so a stream cut after three events has delivered text and must not retry.
    ok = {"text": "all fine here, thanks for asking", "latency": {"uniform": [0.002, 0.01]}}
    return [{"fault": rng.choice(FAULTS)} if rng.random() < rate else ok for _ in range(n)]


async def soak(args: argparse.Namespace, redis_url: str | None) -> dict[str, Any]:
    rng = random.Random(args.seed)
    # Retries need about (1 + rate + rate^2 ...) requests a call; script enough for all of them.
    primary = MockProcess(fault_script(int(args.calls * 2), args.fault_rate, rng), {"text": "fine"})
    backup = MockProcess([], {"text": "from the backup", "latency": 0.002})
    try:
        client = llmrail.Client(
            "openai/gpt-4.1-mini", base_url=primary.url + "/v1", api_key="sk-soak", timeout=TIMEOUT,
            deadline=DEADLINE, retry=llmrail.Retry(**RETRY), redis_url=redis_url,
            rate_limit=llmrail.RateLimit(rpm=10_000_000, tpm=10_000_000_000),
            circuit_breaker=llmrail.CircuitBreaker(25, failure_rate=0.6, min_calls=100, cooldown=0.2),
            fallbacks=[{"model": "anthropic/claude-haiku-4-5", "base_url": backup.url, "api_key": "sk-soak"}],
        )
        gate = asyncio.Semaphore(args.concurrency)
        outcomes: Counter[str] = Counter()
        attempts: Counter[int] = Counter()
        waits: list[float] = []
        violations: list[str] = []
        memory: list[tuple[int, int]] = []
        done = 0
        max_attempts = RETRY["max_attempts"] * 2  # per target, primary and fallback
        max_wait = (RETRY["max_attempts"] - 1) * RETRY["max_delay"] * 2

        async def drain() -> str:
            return "".join([e.text async for e in client.stream("soak", max_tokens=50)])

        async def one(i: int) -> None:
            nonlocal done
            async with gate:
                try:
                    if i % 10 == 0:  # one call in ten streams
                        await asyncio.wait_for(drain(), DEADLINE + 2)
                        outcomes["ok (stream)"] += 1
                    else:
                        r = await asyncio.wait_for(client.chat("soak", max_tokens=50), DEADLINE + 2)
                        outcomes["ok (fallback)" if r.fallback_used else "ok"] += 1
                        attempts[r.attempts] += 1
                        waits.append(r.retry_wait)
                        if r.attempts > max_attempts or r.retry_wait > max_wait:
                            violations.append(f"call {i}: {r.attempts} attempts, {r.retry_wait:.3f} s waited")
                except llmrail.LLMError as e:
                    outcomes[type(e).__name__] += 1
                    attempts[e.attempts] += 1
                    waits.append(e.retry_wait)
                    if e.attempts > max_attempts or e.retry_wait > max_wait:
                        violations.append(f"call {i}: {type(e).__name__} after {e.attempts} attempts")
                except asyncio.TimeoutError:
                    outcomes["HUNG"] += 1
                except Exception as e:  # noqa: BLE001 - anything untyped is what we look for
                    outcomes[f"UNTYPED {type(e).__name__}"] += 1
                done += 1
                if done % (args.calls // 20) == 0:
                    memory.append((done, page_kb()))

        started = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(args.calls)))
        elapsed = time.perf_counter() - started
        health = [(h.name, h.state) for h in client.health()]
    finally:
        primary.close()
        backup.close()
    settled = [kb for n, kb in memory if n >= args.calls // 5]
    return {
        "calls": args.calls, "concurrency": args.concurrency, "fault_rate": args.fault_rate,
        "redis": redis_url is not None, "seconds": round(elapsed, 2),
        "calls_per_s": round(args.calls / elapsed, 1), "outcomes": dict(outcomes.most_common()),
        "attempts": dict(sorted(attempts.items())),
        "retry_wait_p50": round(statistics.median(waits), 4) if waits else 0.0,
        "retry_wait_max": round(max(waits, default=0.0), 4),
        "policy_violations": violations[:10], "breakers_at_end": health,
        "rss_kb": memory, "rss_growth_after_warmup_kb": (settled[-1] - settled[0]) if settled else 0,
    }


async def throughput(client: llmrail.Client, n: int, concurrency: int) -> float:
    gate = asyncio.Semaphore(concurrency)

    async def one() -> None:
        async with gate:
            await client.chat("overhead", max_tokens=20)

    await asyncio.gather(*(one() for _ in range(200)))  # warm-up: connections, runtime
    started = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(n)))
    return n / (time.perf_counter() - started)


async def latency_us(client: llmrail.Client, n: int) -> float:
    for _ in range(100):
        await client.chat("overhead", max_tokens=20)
    samples = []
    for _ in range(n):
        t = time.perf_counter()
        await client.chat("overhead", max_tokens=20)
        samples.append(time.perf_counter() - t)
    return statistics.median(samples) * 1e6


async def overhead(args: argparse.Namespace, redis_url: str | None) -> dict[str, Any]:
    """The same fault-free calls: no layers at all versus every layer configured."""
    server = MockProcess([], {"text": "fine"})
    base = {"base_url": server.url + "/v1", "api_key": "sk-soak"}
    layered = {"retry": llmrail.Retry(), "rate_limit": llmrail.RateLimit(rpm=10**9, tpm=10**12),
               "fallbacks": [{"model": "openai/gpt-4.1", **base}]}
    configs: dict[str, dict[str, Any]] = {
        "plain (no retry, no breaker)": {"retry": llmrail.Retry(max_attempts=1), "circuit_breaker": False},
        "all layers, in-process": layered,
    }
    if redis_url:
        configs["all layers, shared through Redis"] = {**layered, "redis_url": redis_url}
    out: dict[str, Any] = {}
    try:
        for name, extra in configs.items():
            client = llmrail.Client("openai/gpt-4.1-mini", **base, **extra)
            out[name] = {
                "p50_latency_us": round(await latency_us(client, args.overhead_calls // 5), 1),
                f"calls_per_s_at_{args.concurrency}": round(await throughput(client, args.overhead_calls,
                                                                              args.concurrency)),
            }
    finally:
        server.close()
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--calls", type=int, default=10_000)
    p.add_argument("--concurrency", type=int, default=64)
    p.add_argument("--fault-rate", type=float, default=0.3)
    p.add_argument("--overhead-calls", type=int, default=5000)
    p.add_argument("--seed", type=int, default=4)
    p.add_argument("--no-redis", action="store_true")
    p.add_argument("--overhead-only", action="store_true")
    p.add_argument("--out", default="bench-results")
    args = p.parse_args()
    redis = None if args.no_redis else RedisServer()
    url = redis.url if redis else None
    try:
        result: dict[str, Any] = {}
        if not args.overhead_only:
            result["soak"] = asyncio.run(soak(args, url))
            print(json.dumps(result["soak"], indent=2))
        result["overhead"] = asyncio.run(overhead(args, url))
        print(json.dumps(result["overhead"], indent=2))
    finally:
        if redis:
            redis.stop()
    Path(args.out).mkdir(exist_ok=True)
    Path(args.out, "soak.json").write_text(json.dumps(result, indent=2))
    soak_result = result.get("soak", {})
    bad = [k for k in soak_result.get("outcomes", {}) if k == "HUNG" or k.startswith("UNTYPED")]
    failed = bad or soak_result.get("policy_violations") or soak_result.get("outcomes", {}).get("InternalError")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
