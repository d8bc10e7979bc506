"""``make bench``: what the telemetry (counters, client totals, the call's log check) adds to
each call, against the cost of a call itself, in the same run.

    .venv/bin/python bench/telemetry.py [--quick] [--out bench-results]

Each round times N calls recorded by the telemetry and N bare ones in the core
(``_core.bench_telemetry_overhead``: a ready future, with and without ``Recorder::observe``),
then N real ``chat_sync`` calls to the mock server over HTTP; the table shows the medians of the
rounds. Writes telemetry.md and telemetry.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import llmrail
from llmrail import _core
from llmrail.testing import MockServer

FULL = {"n": 200_000, "calls": 500, "rounds": 9}
QUICK = {"n": 20_000, "calls": 100, "rounds": 3}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "bench-results")
    args = parser.parse_args()
    s = QUICK if args.quick else FULL
    with_ns: list[float] = []
    without_ns: list[float] = []
    call_ns: list[float] = []
    with MockServer() as srv:
        srv.default("ok", latency=0)
        client = llmrail.Client("openai/gpt-4.1-mini", base_url=srv.openai_base_url, api_key="sk-bench")
        for _ in range(max(s["calls"] // 10, 5)):
            client.chat_sync("hi")
        for _ in range(s["rounds"]):
            with_total, without_total = _core.bench_telemetry_overhead(s["n"])
            with_ns.append(with_total / s["n"])
            without_ns.append(without_total / s["n"])
            t0 = time.perf_counter_ns()
            for _ in range(s["calls"]):
                client.chat_sync("hi")
            call_ns.append((time.perf_counter_ns() - t0) / s["calls"])
    added = statistics.median(w - b for w, b in zip(with_ns, without_ns, strict=True))
    call = statistics.median(call_ns)
    result = {
        "rounds": s["rounds"],
        "n": s["n"],
        "calls": s["calls"],
        "recorded_ns": statistics.median(with_ns),
        "bare_ns": statistics.median(without_ns),
        "added_ns_per_call": added,
        "chat_sync_call_ns": call,
        "share_of_a_call": added / call,
    }
    md = (
        "## Telemetry cost per call\n\n"
        f"Medians of {s['rounds']} rounds; each round {s['n']:,} calls through the core's recorder "
        f"and as many without, then {s['calls']} `chat_sync` calls to the mock server over HTTP.\n\n"
        "| | per call |\n| --- | --- |\n"
        f"| recorded (counters, client totals, log check) | {result['recorded_ns']:.0f} ns |\n"
        f"| bare | {result['bare_ns']:.0f} ns |\n"
        f"| **added by the telemetry** | **{added:.0f} ns** |\n"
        f"| one `chat_sync` call (mock server, 127.0.0.1) | {call / 1e3:.1f} µs |\n"
        f"| telemetry's share of that call | {result['share_of_a_call']:.2%} |\n"
    )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "telemetry.md").write_text(md)
    (args.out / "telemetry.json").write_text(json.dumps(result, indent=2) + "\n")
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
