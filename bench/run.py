"""``make bench``: llmrail against the openai SDK, httpx and a plain Rust reqwest client; and the
openai SDK over llmrail's transport (llmrail.httpx2) against the SDK over its default one.

    .venv/bin/python bench/run.py [--quick] [--out bench-results]

Every peer talks to the same mock server (its own process). Writes bench.md and bench.json.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import platform
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, AbstractContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import external
import httpx
import llmrail
import openai
import peers
import report
from llmrail import _core
from report import HTTPX, LLMRAIL, RUST, SDK, SDK_RAIL, SYNC
from server import STREAM_CHUNKS, TEXT, MockServerProcess

Peer = Callable[..., AbstractAsyncContextManager[peers.Call]]

FULL = {"seq_n": 2000, "seq_warmup": 200, "conc_n": 5000, "stream_n": 300, "bridge_n": 50_000, "rounds": 10}
QUICK = {"seq_n": 300, "seq_warmup": 50, "conc_n": 1000, "stream_n": 60, "bridge_n": 5_000, "rounds": 3}
CONCURRENCY = (64, 256)
CHAT: dict[str, Peer] = {LLMRAIL: peers.llmrail_chat, SDK: peers.sdk_chat, HTTPX: peers.httpx_chat}
STREAM: dict[str, Peer] = {LLMRAIL: peers.llmrail_stream, SDK: peers.sdk_stream, HTTPX: peers.httpx_stream}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


@asynccontextmanager
async def _open(peer: Peer, base_url: str, limit: int | None) -> AsyncIterator[peers.Call]:
    """The peer's call, checked once to return the whole answer."""
    async with peer(base_url, limit) as call:
        got = await call()
        if got != TEXT:
            raise AssertionError(f"{peer.__name__} returned {len(got)} chars, not the expected answer")
        yield call


async def _sequential(peer: Peer, base_url: str, n: int, warmup: int) -> peers.Timed:
    async with _open(peer, base_url, None) as call:
        return await peers.sequential(call, n, warmup)


Turn = Callable[[int, int], peers.Timed]
"""One peer's turn: ``n`` timed calls after ``warmup`` untimed ones."""


def _async_turn(peer: Peer, base_url: str) -> Turn:
    return lambda n, warmup: asyncio.run(_sequential(peer, base_url, n, warmup))


def _sync_turn(opener: Callable[[str], AbstractContextManager[Callable[[], str]]], base_url: str) -> Turn:
    def turn(n: int, warmup: int) -> peers.Timed:
        with opener(base_url) as call:
            assert call() == TEXT
            return peers.sequential_sync(call, n, warmup)

    return turn


def in_turns(turns: dict[str, Turn], n: int, warmup: int, rounds: int) -> dict[str, peers.Result]:
    """Each peer's ``n`` calls in ``rounds`` turns, the peers taking turns (starting with a
    different one each round): load from elsewhere on this shared machine, which comes in
    bursts, then falls on every peer alike instead of on whichever ran at the time."""
    lat: dict[str, list[int]] = {name: [] for name in turns}
    cpu = dict.fromkeys(turns, 0.0)
    names = list(turns)
    per, warm = max(n // rounds, 1), max(warmup // rounds, 5)
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            got, spent = turns[name](per, warm)
            lat[name] += got
            cpu[name] += spent
    return {name: peers.summarize(lat[name], cpu[name], len(lat[name])) for name in names}


async def _concurrent(peer: Peer, base_url: str, n: int, level: int) -> peers.Result:
    async with _open(peer, base_url, level) as call:
        return await peers.concurrent(call, n, level)


def sequential(srv: MockServerProcess, s: dict[str, int]) -> dict[str, peers.Result]:
    url = srv.base_url
    turns = {name: _async_turn(peer, url) for name, peer in CHAT.items()}
    turns[SDK_RAIL] = _async_turn(peers.sdk_over_llmrail_chat, url)
    turns[SYNC] = _sync_turn(peers.llmrail_sync, url)
    turns[RUST] = lambda n, warmup: external.rust_sequential(url, n, warmup)
    return in_turns(turns, s["seq_n"], s["seq_warmup"], s["rounds"])


def throughput(srv: MockServerProcess, s: dict[str, int], level: int) -> dict[str, peers.Result]:
    out: dict[str, peers.Result] = {}
    for name in [*CHAT, RUST]:
        before = srv.stats()
        if name == RUST:
            out[name] = external.rust(srv.base_url, "conc", s["conc_n"], level, 2 * level)
        else:
            out[name] = asyncio.run(_concurrent(CHAT[name], srv.base_url, s["conc_n"], level))
        after = srv.stats()
        r = out[name]
        r["connections_opened"] = int(after["connections"] - before["connections"])
        r["server_cpu_us"] = (after["cpu_s"] - before["cpu_s"]) / (s["conc_n"] + 2 * level) * 1e6
        log(f"  {name:14} {level:4} in flight: {r['calls_per_s']:8,.0f} calls/s, {r['errors']} errors")
        if r.get("first_error"):
            log(f"    first error: {r['first_error']}")
    return out


def streams(srv: MockServerProcess, s: dict[str, int]) -> dict[str, peers.Result]:
    url = srv.base_url
    turns = {name: _async_turn(peer, url) for name, peer in STREAM.items()}
    turns[SDK_RAIL] = _async_turn(peers.sdk_over_llmrail_stream, url)
    turns[SYNC] = _sync_turn(peers.llmrail_sync_stream, url)
    return in_turns(turns, s["stream_n"], max(s["stream_n"] // 10, 5), s["rounds"])


def bridge(n: int) -> dict[str, peers.Result]:
    async def both() -> dict[str, peers.Result]:
        return {
            "llmrail Call (bench_noop_native)": await peers.bridge_probe(_core.bench_noop_native, n),
            "future_into_py (bench_noop_future_into_py)": await peers.bridge_probe(_core.bench_noop_future_into_py, n),
        }

    return asyncio.run(both())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller runs (~1 minute)")
    parser.add_argument("--out", type=Path, default=external.ROOT / "bench-results")
    args = parser.parse_args()
    sizes = QUICK if args.quick else FULL
    start, load = time.perf_counter(), os.getloadavg()[0]
    if load > 0.5:
        log(f"warning: load average {load:.2f}, other work on this machine will skew the numbers")

    def phase(name: str) -> None:
        log(f"[{time.perf_counter() - start:5.1f} s] {name} ...")

    results: dict[str, Any] = {"concurrency": list(CONCURRENCY)}
    phase("import times")
    results["import"] = external.import_times()
    with MockServerProcess() as srv:
        phase(f"mock server at {srv.url}; building examples/bench_reqwest.rs")
        if warning := external.build_rust():
            log(f"warning: {warning}")
        phase("sequential calls")
        results["sequential"] = sequential(srv, sizes)
        results["throughput"] = {}
        for level in CONCURRENCY:
            phase(f"throughput at {level} in flight")
            results["throughput"][str(level)] = throughput(srv, sizes, level)
        phase("streams")
        results["stream"] = streams(srv, sizes)
        requests_served = srv.requests()
    phase("bridge probes")
    results["bridge"] = bridge(sizes["bridge_n"])

    results["meta"] = {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "versions": {
            "llmrail": llmrail.__version__,
            "openai": openai.__version__,
            "httpx": httpx.__version__,
        },
        "cores": os.cpu_count() or 1,
        "quick": args.quick,
        "load_at_start": load,
        "rust_build_warning": warning,
        **sizes,
        "answer_chars": len(TEXT),
        "stream_chunks": STREAM_CHUNKS,
        "requests_served": requests_served,
        "pools": "openai SDK and httpx: max_connections = max_keepalive_connections = the in-flight "
        "count (defaults 1000/100 and 100/20); llmrail and Rust: reqwest's unbounded pool.",
        "duration_s": time.perf_counter() - start,
    }
    results["goals"] = report.goals(results)
    args.out.mkdir(parents=True, exist_ok=True)
    md = report.markdown(results)
    (args.out / "bench.md").write_text(md)
    (args.out / "bench.json").write_text(json.dumps(results, indent=2) + "\n")
    print(md)
    log(f"written to {args.out}/bench.md and bench.json in {results['meta']['duration_s']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
