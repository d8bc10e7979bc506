"""Ratios, goals and the markdown table."""

from __future__ import annotations

from typing import Any

LLMRAIL, SYNC, SDK, HTTPX, RUST = "llmrail async", "llmrail sync", "openai SDK", "httpx", "Rust reqwest"

Results = dict[str, Any]


def _ratio(a: float, b: float) -> float:
    return a / b if b else float("nan")


def goals(r: Results) -> list[dict[str, Any]]:
    top_level = max(r["concurrency"])
    seq, top, stream = r["sequential"], r["throughput"][str(top_level)], r["stream"]
    rows = [
        ("sequential p50 within 2x of plain Rust", "llmrail p50 / Rust p50", "<=", 2.0,
         _ratio(seq[LLMRAIL]["p50_us"], seq[RUST]["p50_us"])),
        (f"throughput at {top_level} in flight vs Rust", "llmrail / Rust calls/s", ">=", 0.5,
         _ratio(top[LLMRAIL]["calls_per_s"], top[RUST]["calls_per_s"])),
        (f"throughput at {top_level} in flight vs SDK", "llmrail / SDK calls/s", ">=", 20.0,
         _ratio(top[LLMRAIL]["calls_per_s"], top[SDK]["calls_per_s"])),
        ("50-chunk stream 20x cheaper than the SDK", "SDK / llmrail CPU per stream", ">=", 20.0,
         _ratio(stream[SDK]["cpu_us"], stream[LLMRAIL]["cpu_us"])),
    ]  # fmt: skip
    return [
        {"goal": g, "measure": m, "target": f"{op} {bound:g}", "value": round(v, 2),
         "met": v <= bound if op == "<=" else v >= bound}
        for g, m, op, bound, v in rows
    ]  # fmt: skip


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def _f(x: float | None, digits: int = 0) -> str:
    return "n/a" if x is None or x != x else f"{x:,.{digits}f}"


def markdown(r: Results) -> str:
    m = r["meta"]
    out = [
        "# llmrail benchmark",
        "",
        f"{m['date']}, {m['machine']}; mock server in its own process answering a "
        f"{m['answer_chars']}-character reply (streamed as {m['stream_chunks']} chunks); "
        f"whole run {m['duration_s']:.0f} s{' (--quick)' if m['quick'] else ''}; "
        f"load average at start {m['load_at_start']:.2f}.",
        "CPU = the client process's CPU time (all threads) per call; the mock server shares the same 2 cores.",
        "",
        f"## Sequential latency ({m['seq_n']} calls after {m['seq_warmup']} warm-up, one in flight)",
        "",
    ]
    seq = r["sequential"]
    rust50 = seq[RUST]["p50_us"]
    out += _table(
        ["peer", "p50 µs", "p95 µs", "p99 µs", "CPU µs/call", "p50 vs Rust"],
        [
            [
                name,
                _f(s["p50_us"]),
                _f(s["p95_us"]),
                _f(s["p99_us"]),
                _f(s["cpu_us"]),
                f"{_ratio(s['p50_us'], rust50):.2f}x",
            ]
            for name, s in seq.items()
        ],  # fmt: skip
    )
    out += ["", f"## Throughput ({m['conc_n']} calls per run after a warm-up of 2x the concurrency)", ""]
    rows = []
    for level, peers in r["throughput"].items():
        rust, sdk = peers[RUST]["calls_per_s"], peers[SDK]["calls_per_s"]
        for name, s in peers.items():
            rows.append([name, level, _f(s["calls_per_s"]), _f(s["p50_us"] / 1e3, 1),
                         _f(s["p99_us"] / 1e3, 1), _f(s["cpu_us"]), str(s["connections_opened"]),
                         str(s["errors"]), f"{_ratio(s['calls_per_s'], rust):.2f}x",
                         f"{_ratio(s['calls_per_s'], sdk):.1f}x"])  # fmt: skip
    out += _table(
        ["peer", "in flight", "calls/s", "p50 ms", "p99 ms", "CPU µs/call", "conns opened¹", "errors",
         "vs Rust", "vs SDK"], rows,
    )  # fmt: skip
    out += [
        "",
        f"Pools: {m['pools']}",
        "¹ TCP connections opened during the run and its warm-up (the kernel's ActiveOpens count, "
        "so anything else connecting meanwhile counts too); llmrail's pool outlives a run.",
        "",
    ]
    out += [f"## {m['stream_chunks']}-chunk stream ({m['stream_n']} streams, sequential)", ""]
    st = r["stream"]
    out += _table(
        ["peer", "p50 µs/stream", "p99 µs/stream", "CPU µs/stream", "SDK CPU / this", "SDK p50 / this"],
        [
            [
                name,
                _f(s["p50_us"]),
                _f(s["p99_us"]),
                _f(s["cpu_us"]),
                f"{_ratio(st[SDK]['cpu_us'], s['cpu_us']):.1f}x",
                f"{_ratio(st[SDK]['p50_us'], s['p50_us']):.1f}x",
            ]
            for name, s in st.items()
        ],  # fmt: skip
    )
    out += ["", f"## Async bridge ({m['bridge_n']} awaits of a no-op core task each)", ""]
    out += _table(
        ["bridge", "p50 µs", "mean µs", "p99 µs", "CPU µs/await"],
        [
            [name, _f(s["p50_us"], 1), _f(s["mean_us"], 1), _f(s["p99_us"], 1), _f(s["cpu_us"], 1)]
            for name, s in r["bridge"].items()
        ],  # fmt: skip
    )
    imp = r["import"]
    out += ["", "## Import (fresh interpreter, min of 5)", ""]
    out += _table(
        ["", "ms"],
        [["python -c pass", _f(imp["python_ms"], 1)], ["import llmrail", _f(imp["llmrail_ms"], 1)],
         ["import openai", _f(imp["openai_ms"], 1)],
         ["llmrail cumulative (-X importtime)", _f(imp["llmrail_importtime_ms"], 1)]],
    )  # fmt: skip
    out += ["", "## Goals", ""]
    out += _table(
        ["goal", "measure", "target", "measured", "met"],
        [
            [g["goal"], g["measure"], g["target"], f"{g['value']:.2f}", "yes" if g["met"] else "**no**"]
            for g in r["goals"]
        ],  # fmt: skip
    )
    return "\n".join(out) + "\n"
