"""``make bench``: llmrail against the tuned reference Rust client (bench/reference.py), the openai
SDK, httpx and a plain Rust reqwest client; and the openai SDK over llmrail's transport
(llmrail.httpx2) against the SDK over its default one, and over a zero-cost one (the ceiling).

    .venv/bin/python bench/run.py [--quick] [--out bench-results]
    .venv/bin/python bench/run.py --sdk [--quick]    # only the SDK's rows, async and sync clients

Every peer talks to the same mock server (its own process). Writes bench.md and bench.json.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, AbstractContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import external
import floors
import httpx
import layers
import llmrail
import memory
import openai
import peers
import placement
import reference
import report
from llmrail import _core
from report import FLOOR_ASYNC, FLOOR_SYNC, HTTPX, LLMRAIL, REF, RUST, SDK, SDK_RAIL, SDK_ZERO, SYNC
from server import STREAM_CHUNKS, TEXT, MockServerProcess

Peer = Callable[..., AbstractAsyncContextManager[peers.Call]]

FULL = {
    "seq_n": 2000,
    "seq_warmup": 200,
    "conc_n": 5000,
    "conc_n_slow": 2000,
    "conc_rounds": 5,
    "stream_n": 300,
    "bridge_n": 50_000,
    "rounds": 10,
}
QUICK = {
    "seq_n": 300,
    "seq_warmup": 50,
    "conc_n": 1000,
    "conc_n_slow": 500,
    "conc_rounds": 3,
    "stream_n": 60,
    "bridge_n": 5_000,
    "rounds": 3,
}
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


Turn = Callable[[int, int], peers.Result]
"""One peer's turn: ``n`` timed calls after ``warmup`` untimed ones, summarized."""


def _timed(turn: Callable[[int, int], peers.Timed]) -> Turn:
    def summarized(n: int, warmup: int) -> peers.Result:
        lat, cpu = turn(n, warmup)
        return peers.summarize(lat, cpu, len(lat))

    return summarized


def _async_turn(peer: Peer, base_url: str) -> Turn:
    return _timed(lambda n, warmup: asyncio.run(_sequential(peer, base_url, n, warmup)))


def _sync_turn(opener: Callable[[str], AbstractContextManager[Callable[[], str]]], base_url: str) -> Turn:
    def turn(n: int, warmup: int) -> peers.Timed:
        with opener(base_url) as call:
            assert call() == TEXT
            return peers.sequential_sync(call, n, warmup)

    return _timed(turn)


def combine(rounds: list[peers.Result]) -> peers.Result:
    """A peer's rounds as one row: the median of each figure over the rounds, the spread of p50
    and CPU (min, max), and every round kept for the ratios taken round by round."""
    out: peers.Result = {"n": sum(int(r.get("n") or r.get("calls") or 0) for r in rounds), "rounds": len(rounds)}
    for key in ("p50_us", "p95_us", "p99_us", "cpu_us", "calls_per_s", "server_cpu_us", "errors"):
        vals = [float(r[key]) for r in rounds if r.get(key) is not None]
        if vals:
            out[key] = statistics.median(vals)
    for key in ("p50_us", "cpu_us", "calls_per_s"):
        vals = [float(r[key]) for r in rounds if r.get(key) is not None]
        if vals:
            out[key.removesuffix("_us").removesuffix("_s") + "_spread"] = [min(vals), max(vals)]
    out["per_round"] = [{k: r.get(k) for k in ("p50_us", "p99_us", "cpu_us", "calls_per_s")} for r in rounds]
    errors = [r["first_error"] for r in rounds if r.get("first_error")]
    out["first_error"] = errors[0] if errors else None
    out["connections_opened"] = sum(int(r.get("connections_opened", 0)) for r in rounds)
    return out


def in_turns(turns: dict[str, Turn], n: int, warmup: int, rounds: int) -> dict[str, peers.Result]:
    """Each peer's ``n`` calls in ``rounds`` turns, the peers taking turns (starting with a
    different one each round): load from elsewhere on this shared machine, which comes in
    bursts, then falls on every peer alike instead of on whichever ran at the time. Ratios are
    taken round by round (report.round_ratio), between turns run seconds apart."""
    got: dict[str, list[peers.Result]] = {name: [] for name in turns}
    names = list(turns)
    per, warm = max(n // rounds, 1), max(warmup // rounds, 5)
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            got[name].append(turns[name](per, warm))
    return {name: combine(got[name]) for name in names}


async def _concurrent(peer: Peer, base_url: str, n: int, level: int) -> peers.Result:
    async with _open(peer, base_url, level) as call:
        return await peers.concurrent(call, n, level)


def _reference_turn(root_url: str, stream: bool = False) -> Turn:
    return lambda n, warmup: reference.sequential(root_url, n, warmup, stream=stream)


def sequential(srv: MockServerProcess, s: dict[str, int]) -> dict[str, peers.Result]:
    url = srv.base_url
    turns = {name: _async_turn(peer, url) for name, peer in CHAT.items()}
    turns[SDK_RAIL] = _async_turn(peers.sdk_over_llmrail_chat, url)
    turns[SDK_ZERO] = _async_turn(peers.sdk_zero_cost_chat, url)
    turns[SYNC] = _sync_turn(peers.llmrail_sync, url)
    turns[FLOOR_ASYNC] = _async_turn(floors.asyncio_floor_chat, url)
    turns[FLOOR_SYNC] = _sync_turn(floors.socket_floor_sync, url)
    turns[RUST] = _timed(lambda n, warmup: external.rust_sequential(url, n, warmup))
    turns[REF] = _reference_turn(srv.url)
    return in_turns(turns, s["seq_n"], s["seq_warmup"], s["rounds"])


SDK_SYNC = {
    "openai SDK (sync client)": peers.sdk_sync_chat,
    "... over llmrail.httpx2 (sync)": peers.sdk_sync_over_llmrail_chat,
    "... over a zero-cost transport (sync)": peers.sdk_sync_zero_cost_chat,
}


def sdk_only(s: dict[str, int]) -> str:
    """``--sdk``: only the SDK's sequential rows, async and sync clients, each over its default
    transport, llmrail's and a zero-cost one (`peers._Canned`), in turns; a markdown table of
    each one's p50 and CPU and the SDK's (same client kind) over each, round by round."""
    tables = []
    with MockServerProcess() as srv:
        url = srv.base_url
        turns = {name: _async_turn(peer, url) for name, peer in
                 ((SDK, peers.sdk_chat), (SDK_RAIL, peers.sdk_over_llmrail_chat), (SDK_ZERO, peers.sdk_zero_cost_chat))}
        turns.update({name: _sync_turn(opener, url) for name, opener in SDK_SYNC.items()})
        for where in placement.PLACEMENTS:
            with placement.placed(srv.pid, where) as pinned:
                if pinned:
                    got = in_turns(turns, s["seq_n"], s["seq_warmup"], s["rounds"])
                    tables.append(_sdk_table(got, s, where))
    return "\n\n".join(tables)


def _sdk_table(got: dict[str, peers.Result], s: dict[str, int], where: str) -> str:
    sync_sdk = got[next(iter(SDK_SYNC))]
    base = {name: sync_sdk if name in SDK_SYNC else got[SDK] for name in got}
    rows = [
        [name, report._f(r["p50_us"]), report._spread(r, "p50"), report._f(r["cpu_us"]), report._spread(r, "cpu")]
        + [report._rx(base[name], r, "cpu_us"), report._rx(base[name], r, "p50_us")]
        for name, r in got.items()
    ]  # fmt: skip
    header = ["peer", "p50 µs", "p50 spread", "CPU µs/call", "CPU spread", "SDK CPU / this", "SDK p50 / this"]
    load = os.getloadavg()[0]
    title = (f"## The openai SDK's transports, client and server: {where} "
             f"({s['seq_n']} calls each in {s['rounds']} turns, load {load:.2f})")
    return "\n".join([title, "", *report._table(header, rows)])


def stream_only(s: dict[str, int]) -> str:
    """``--stream``: only the stream rows, in turns; the stream table and the two stream goals
    (SDK / llmrail and llmrail / reference CPU, round by round, with the sync stream's too)."""
    with MockServerProcess() as srv:
        reference.build()
        got = streams(srv, s)
    meta = {"stream_chunks": STREAM_CHUNKS, **s}
    lines = report._stream({"meta": meta, "stream": got})
    for name in (LLMRAIL, SYNC):
        sdk = report.round_ratio(got[SDK], got[name], "cpu_us")
        ref = report.round_ratio(got[name], got[REF], "cpu_us")
        lines.append(f"- {name}: SDK / this CPU {sdk[0]:.1f}x ({sdk[1]:.1f}-{sdk[2]:.1f}), "
                     f"this / reference CPU {ref[0]:.2f}x ({ref[1]:.2f}-{ref[2]:.2f})")  # fmt: skip
    lines.append(f"- load average at the end: {os.getloadavg()[0]:.2f}")
    return "\n".join(lines)


def _one_throughput_run(srv: MockServerProcess, name: str, n: int, level: int) -> peers.Result:
    before = srv.stats()
    if name == RUST:
        r = external.rust(srv.base_url, "conc", n, level, 2 * level)
    elif name == REF:
        r = reference.concurrent(srv.url, n, level, 2 * level)
    else:
        r = asyncio.run(_concurrent(CHAT[name], srv.base_url, n, level))
    after = srv.stats()
    r["connections_opened"] = int(after["connections"] - before["connections"])
    r["server_cpu_us"] = (after["cpu_s"] - before["cpu_s"]) / (n + 2 * level) * 1e6
    return r


def throughput(srv: MockServerProcess, s: dict[str, int], level: int) -> dict[str, peers.Result]:
    """llmrail and the reference client in ``conc_rounds`` interleaved rounds (their ratio is a
    goal); the other peers once each."""
    runs: dict[str, list[peers.Result]] = {LLMRAIL: [], REF: []}
    for r in range(s["conc_rounds"]):
        for name in [LLMRAIL, REF] if r % 2 == 0 else [REF, LLMRAIL]:
            runs[name].append(_one_throughput_run(srv, name, s["conc_n"], level))
    for name in (SDK, HTTPX, RUST):
        runs[name] = [_one_throughput_run(srv, name, s["conc_n"] if name == RUST else s["conc_n_slow"], level)]
    out = {name: combine(runs[name]) for name in (REF, LLMRAIL, SDK, HTTPX, RUST)}
    for name, r in out.items():
        log(f"  {name:24} {level:4} in flight: {r['calls_per_s']:8,.0f} calls/s, {r.get('errors', 0):.0f} errors")
        if r.get("first_error"):
            log(f"    first error: {r['first_error']}")
    return out


def streams(srv: MockServerProcess, s: dict[str, int]) -> dict[str, peers.Result]:
    url = srv.base_url
    turns = {name: _async_turn(peer, url) for name, peer in STREAM.items()}
    turns[SDK_RAIL] = _async_turn(peers.sdk_over_llmrail_stream, url)
    turns[SYNC] = _sync_turn(peers.llmrail_sync_stream, url)
    turns[REF] = _reference_turn(srv.url, stream=True)
    return in_turns(turns, s["stream_n"], max(s["stream_n"] // 10, 5), s["rounds"])


def own_server_check(s: dict[str, int]) -> dict[str, peers.Result]:
    """The reference client against its own mock server and against ours, in turns: how much
    the server (ours answers ~2 KB, a random id per reply) weighs in its figures."""
    with reference.OwnServer() as own, MockServerProcess() as ours:
        turns = {"its own mock server": _reference_turn(own.url), "llmrail's mock server": _reference_turn(ours.url)}
        return in_turns(turns, s["seq_n"] // 2, s["seq_warmup"], s["rounds"])


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
    parser.add_argument("--sdk", action="store_true", help="only the openai SDK's rows (printed, not written)")
    parser.add_argument("--stream", action="store_true", help="only the stream rows (printed, not written)")
    args = parser.parse_args()
    sizes = QUICK if args.quick else FULL
    if args.sdk:
        print(sdk_only(sizes))
        return 0
    if args.stream:
        print(stream_only(sizes))
        return 0
    start, load = time.perf_counter(), os.getloadavg()[0]
    if load > 0.5:
        log(f"warning: load average {load:.2f}, other work on this machine will skew the numbers")

    def phase(name: str) -> None:
        log(f"[{time.perf_counter() - start:5.1f} s] {name} ...")

    results: dict[str, Any] = {"concurrency": list(CONCURRENCY)}
    phase("import times")
    results["import"] = external.import_times()
    phase(f"building the reference client in {reference.cache_dir()} (kept between runs)")
    reference.build()
    phase("default layers, each switched off (replayed calls)")
    results["layers"] = layers.measure(args.quick)
    results["layers_md"] = layers.markdown(results["layers"])
    phase("memory per in-flight call and per open stream (fresh interpreters)")
    results["memory"] = memory.per_call_and_stream(args.quick)
    with MockServerProcess() as srv:
        phase(f"mock server at {srv.url}; building examples/bench_reqwest.rs")
        if warning := external.build_rust():
            log(f"warning: {warning}")
        results["sequential_by_placement"] = {}
        for where in placement.PLACEMENTS:
            with placement.placed(srv.pid, where) as pinned:
                if pinned:
                    phase(f"sequential calls, client and server: {where}")
                    results["sequential_by_placement"][where] = sequential(srv, sizes)
        # The goal rows read the first placement this machine gives (bench/placement.py says why).
        results["placement"] = next(iter(results["sequential_by_placement"]))
        results["sequential"] = results["sequential_by_placement"][results["placement"]]
        results["throughput"] = {}
        for level in CONCURRENCY:
            phase(f"throughput at {level} in flight")
            results["throughput"][str(level)] = throughput(srv, sizes, level)
        phase("streams")
        results["stream"] = streams(srv, sizes)
        requests_served = srv.requests()
    phase("the reference client against its own server and ours")
    results["own_server"] = own_server_check(sizes)
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
        "load_at_end": os.getloadavg()[0],
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
