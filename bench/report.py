"""Ratios, goals and the markdown report."""

from __future__ import annotations

from typing import Any

LLMRAIL, SYNC, SDK, HTTPX, RUST = "llmrail async", "llmrail sync", "openai SDK", "httpx", "Rust reqwest"
SDK_RAIL = "openai SDK over llmrail.httpx2"

Results = dict[str, Any]


def _ratio(a: float, b: float) -> float:
    return a / b if b else float("nan")


def ceiling(r: Results, s: dict[str, Any]) -> float:
    """Calls/s the cores allow at this run's client + server CPU time per call."""
    cpu_s: float = (s["cpu_us"] + s["server_cpu_us"]) / 1e6
    return float(r["meta"]["cores"]) / cpu_s


def goals(r: Results) -> list[dict[str, Any]]:
    """The issue's targets: (goal, measure, comparison, bound, measured value)."""
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
        ("the SDK over llmrail's transport 1.5x cheaper per call", "SDK / SDK over llmrail CPU per call", ">=", 1.5,
         _ratio(seq[SDK]["cpu_us"], seq[SDK_RAIL]["cpu_us"])),
        ("the SDK over llmrail's transport 1.5x faster per call", "SDK / SDK over llmrail p50", ">=", 1.5,
         _ratio(seq[SDK]["p50_us"], seq[SDK_RAIL]["p50_us"])),
    ]  # fmt: skip
    return [
        {
            "goal": goal,
            "measure": measure,
            "target": f"{op} {bound:g}",
            "value": round(value, 2),
            "met": value <= bound if op == "<=" else value >= bound,
        }
        for goal, measure, op, bound, value in rows
    ]


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return lines + ["| " + " | ".join(row) + " |" for row in rows] + [""]


def _f(x: float | None, digits: int = 0) -> str:
    return "n/a" if x is None or x != x else f"{x:,.{digits}f}"


def _x(a: float, b: float, digits: int = 2) -> str:
    return f"{_ratio(a, b):.{digits}f}x"


def _sequential(r: Results) -> list[str]:
    m, seq = r["meta"], r["sequential"]
    rust = seq[RUST]["p50_us"]
    rows = [
        [name, _f(s["p50_us"]), _f(s["p95_us"]), _f(s["p99_us"]), _f(s["cpu_us"]), _x(s["p50_us"], rust)]
        for name, s in seq.items()
    ]
    return [
        f"## Sequential latency ({m['seq_n']} calls after {m['seq_warmup']} warm-up, one in flight)",
        "",
        f"Each peer's calls are split into {m['rounds']} turns, and the peers take turns (see `in_turns`), so that "
        "bursts of load from elsewhere on the machine fall on all of them alike.",
        "",
        *_table(["peer", "p50 µs", "p95 µs", "p99 µs", "CPU µs/call", "p50 vs Rust"], rows),
    ]


def _throughput(r: Results) -> list[str]:
    m = r["meta"]
    header = ["peer", "in flight", "calls/s", "p50 ms", "p99 ms", "CPU µs/call", "server CPU µs/call"]
    header += ["CPU-bound calls/s²", "conns opened¹", "errors", "vs Rust", "vs SDK"]
    rows = []
    for level, peers in r["throughput"].items():
        rust, sdk = peers[RUST]["calls_per_s"], peers[SDK]["calls_per_s"]
        for name, s in peers.items():
            rows.append(
                [name, level, _f(s["calls_per_s"]), _f(s["p50_us"] / 1e3, 1), _f(s["p99_us"] / 1e3, 1)]
                + [_f(s["cpu_us"]), _f(s["server_cpu_us"]), _f(ceiling(r, s))]
                + [str(s["connections_opened"]), str(s["errors"])]
                + [_x(s["calls_per_s"], rust), _x(s["calls_per_s"], sdk, 1)]
            )
    return [
        f"## Throughput ({m['conc_n']} calls per run after a warm-up of 2x the concurrency)",
        "",
        *_table(header, rows),
        f"Pools: {m['pools']}",
        "¹ TCP connections the mock server accepted during the run and its warm-up; llmrail's "
        "process-wide pool outlives a run, so its second run reuses the first one's connections.",
        "² Client and server share the cores, so calls/s ≤ cores / (client + server CPU per call): "
        "the client's CPU per call sets the ceiling. Less sensitive to other load on the machine "
        "than the measured calls/s.",
        "",
    ]


def _stream(r: Results) -> list[str]:
    m, st = r["meta"], r["stream"]
    sdk = st[SDK]
    rows = [
        [name, _f(s["p50_us"]), _f(s["p99_us"]), _f(s["cpu_us"])]
        + [_x(sdk["cpu_us"], s["cpu_us"], 1), _x(sdk["p50_us"], s["p50_us"], 1)]
        for name, s in st.items()
    ]
    header = ["peer", "p50 µs/stream", "p99 µs/stream", "CPU µs/stream", "SDK CPU / this", "SDK p50 / this"]
    title = f"## {m['stream_chunks']}-chunk stream ({m['stream_n']} streams, sequential, in {m['rounds']} turns)"
    return [title, "", *_table(header, rows)]


def _bridge_and_import(r: Results) -> list[str]:
    m, imp = r["meta"], r["import"]
    bridge = [
        [name, _f(s["p50_us"], 1), _f(s["mean_us"], 1), _f(s["p99_us"], 1), _f(s["cpu_us"], 1)]
        for name, s in r["bridge"].items()
    ]
    imports = [
        ["python -c pass", _f(imp["python_ms"], 1)],
        ["import llmrail", _f(imp["llmrail_ms"], 1)],
        ["import openai", _f(imp["openai_ms"], 1)],
        ["llmrail cumulative (-X importtime)", _f(imp["llmrail_importtime_ms"], 1)],
    ]
    return [
        f"## Async bridge ({m['bridge_n']} awaits of a no-op core task each)",
        "",
        *_table(["bridge", "p50 µs", "mean µs", "p99 µs", "CPU µs/await"], bridge),
        "## Import (fresh interpreter, min of 5)",
        "",
        *_table(["", "ms"], imports),
    ]


def markdown(r: Results) -> str:
    m = r["meta"]
    goal_rows = [
        [g["goal"], g["measure"], g["target"], f"{g['value']:.2f}", "yes" if g["met"] else "**no**"] for g in r["goals"]
    ]
    out = [
        "# llmrail benchmark",
        "",
        f"{m['date']}, {m['machine']}; mock server in its own process answering a "
        f"{m['answer_chars']}-character reply (streamed as {m['stream_chunks']} chunks); "
        f"whole run {m['duration_s']:.0f} s{' (--quick)' if m['quick'] else ''}; "
        f"load average at start {m['load_at_start']:.2f}.",
        "CPU = the client process's CPU time (all its threads) per call.",
        "",
        "## Goals",
        "",
        *_table(["goal", "measure", "target", "measured", "met"], goal_rows),
        *_sequential(r),
        *_throughput(r),
        *_stream(r),
        *_bridge_and_import(r),
    ]
    return "\n".join(out)
