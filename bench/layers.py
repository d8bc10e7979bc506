"""What the default layers add to a call, each switched off in turn.

    .venv/bin/python bench/layers.py [--quick]     # prints the table; bench/run.py calls measure()

The calls are replayed from a one-interaction cassette (``allow_playback_repeats``): the whole
pipeline runs (retry loop, breaker, prompt-cache tracking, telemetry, request encoding, response
decoding, the Python result) but no socket, so the few microseconds a layer costs are not lost in
the noise of a loopback round trip. The variants take turns in short blocks, many rounds, and
the cost of a layer is the median over the rounds of (default - that layer off), in client CPU
per call, the steadier measure on a shared machine.

Switches: retry ``Retry(max_attempts=1)``; breaker ``circuit_breaker=False``; cache tracking the
call's ``prompt_cache="off"``; telemetry has no switch, so its cost is the core's own probe
(``_core.bench_telemetry_overhead``: a ready future with and without ``Recorder::observe``). The
rate limiter is not built at all when no ``rate_limit`` is given (``Pipeline::build``), so it
costs nothing then; a configured one that never binds is measured too, for scale.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import llmrail
from llmrail import _core
from llmrail.replay import cassette
from llmrail.testing import MockServer

MODEL = "openai/gpt-4.1-mini"
PROMPT = [{"role": "user", "content": "Explain, in about three hundred words, why connection pooling matters."}]
DEFAULT = "default (every layer on)"
OFF = {
    "retry off": ({"retry": llmrail.Retry(max_attempts=1)}, {}),
    "breaker off": ({"circuit_breaker": False}, {}),
    "cache tracking off": ({}, {"prompt_cache": "off"}),
    "retry, breaker, cache tracking off": (
        {"retry": llmrail.Retry(max_attempts=1), "circuit_breaker": False},
        {"prompt_cache": "off"},
    ),
    "rate limit configured, never binding (on top)": ({"rate_limit": llmrail.RateLimit(rpm=10**9, tpm=10**12)}, {}),
}
FULL = {"block": 300, "rounds": 15, "probe_n": 200_000}
QUICK = {"block": 100, "rounds": 5, "probe_n": 20_000}


def _block(call: Callable[[], object], n: int) -> tuple[float, float]:
    """CPU and wall µs per call over ``n`` calls."""
    c0, t0 = time.process_time(), time.perf_counter()
    for _ in range(n):
        call()
    return (time.process_time() - c0) / n * 1e6, (time.perf_counter() - t0) / n * 1e6


def measure(quick: bool = False) -> dict[str, Any]:
    s = QUICK if quick else FULL
    with tempfile.TemporaryDirectory(prefix="llmrail-layers-") as d:
        path = Path(d) / "one.yaml"
        with MockServer() as srv:
            srv.default("Pooling keeps sockets open. " * 70, latency=0)  # ~2 KB, as bench/run.py
            base = {"base_url": srv.openai_base_url, "api_key": "sk-bench"}
            with cassette(path, mode="all"):
                llmrail.Client(MODEL, **base).chat_sync(PROMPT, max_tokens=600)
        calls: dict[str, Callable[[], object]] = {}
        for name, (ctor, per_call) in {DEFAULT: ({}, {}), **OFF}.items():
            client = llmrail.Client(MODEL, **base, **ctor)
            calls[name] = lambda c=client, kw=per_call: c.chat_sync(PROMPT, max_tokens=600, **kw)  # type: ignore[misc]
        cpu: dict[str, list[float]] = {name: [] for name in calls}
        wall: dict[str, list[float]] = {name: [] for name in calls}
        with cassette(path, mode="none", match_on=("method", "uri"), allow_playback_repeats=True):
            names = list(calls)
            for call in calls.values():
                _block(call, s["block"] // 3)  # warm-up
            for r in range(s["rounds"]):
                for name in names[r % len(names) :] + names[: r % len(names)]:
                    c, w = _block(calls[name], s["block"])
                    cpu[name].append(c)
                    wall[name].append(w)
    # Each round's difference against the default of the same round, then the median.
    rows: dict[str, Any] = {}
    for name in calls:
        diffs = [d - o for d, o in zip(cpu[DEFAULT], cpu[name], strict=True)]
        rows[name] = {
            "cpu_us": statistics.median(cpu[name]),
            "wall_us": statistics.median(wall[name]),
            "saved_cpu_us": statistics.median(diffs),
            "saved_cpu_spread": [min(diffs), max(diffs)],
        }
    recorded, bare = _core.bench_telemetry_overhead(s["probe_n"])
    telemetry_us = (recorded - bare) / s["probe_n"] / 1e3
    switched = rows["retry, breaker, cache tracking off"]["saved_cpu_us"]
    return {
        "rows": rows,
        "telemetry_us": telemetry_us,
        "rate_limit_unset_us": 0.0,
        "total_us": max(switched, 0.0) + telemetry_us,
        "block": s["block"],
        "rounds": s["rounds"],
    }


def markdown(r: dict[str, Any]) -> str:
    lines = [
        "## Default layers, each switched off",
        "",
        f"Replayed calls (one-interaction cassette, no socket): every variant {r['block']} calls a turn, "
        f"{r['rounds']} rounds in turns; client CPU µs per call, the median over the rounds; *saved* is the "
        "median over the rounds of (default - variant) in the same round.",
        "",
        "| variant | CPU µs/call | wall µs/call | saved µs/call (spread) |",
        "|---|---:|---:|---:|",
    ]
    for name, row in r["rows"].items():
        lo, hi = row["saved_cpu_spread"]
        saved = "" if name == DEFAULT else f"{row['saved_cpu_us']:+.1f} ({lo:+.1f} to {hi:+.1f})"
        lines.append(f"| {name} | {row['cpu_us']:.1f} | {row['wall_us']:.1f} | {saved} |")
    lines += [
        f"| telemetry (core probe: observe vs bare) | | | {r['telemetry_us']:+.2f} |",
        "| rate limit, none configured | | | 0 (not built) |",
        "",
        f"Default layers together: **{r['total_us']:.1f} µs per call** (retry + breaker + cache tracking "
        "switched off together, plus the telemetry probe; a negative difference counts as 0).",
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", action="store_true", help="print the JSON instead of the table")
    args = parser.parse_args()
    r = measure(args.quick)
    print(json.dumps(r, indent=2) if args.json else markdown(r))
    return 0


if __name__ == "__main__":
    sys.exit(main())
