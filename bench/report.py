"""Ratios, goals and the markdown report."""

from __future__ import annotations

from typing import Any

LLMRAIL, SYNC, SDK, HTTPX, RUST = "llmrail async", "llmrail sync", "openai SDK", "httpx", "Rust reqwest (plain)"
REF = "Rust reference (tuned)"  # bench/reference.NAME
SDK_RAIL = "openai SDK over llmrail.httpx2"
FLOOR_ASYNC, FLOOR_SYNC = "python floor (asyncio)", "python floor (socket)"  # bench/floors.py
SDK_ZERO = "openai SDK over a zero-cost transport"  # peers._Canned: SDK / this is the ceiling for SDK_RAIL

Results = dict[str, Any]


def _ratio(a: float, b: float) -> float:
    return a / b if b else float("nan")


def ceiling(r: Results, s: dict[str, Any]) -> float:
    """Calls/s the cores allow at this run's client + server CPU time per call."""
    cpu_s: float = (s["cpu_us"] + s["server_cpu_us"]) / 1e6
    return float(r["meta"]["cores"]) / cpu_s


def round_ratio(a: Results, b: Results, key: str) -> tuple[float, float, float]:
    """``a[key] / b[key]`` taken round by round (the two peers' turns of the same round ran
    seconds apart): the median and the spread (min, max) of those ratios."""
    pairs = [(x.get(key), y.get(key)) for x, y in zip(a["per_round"], b["per_round"], strict=False)]
    ratios = sorted(_ratio(x, y) for x, y in pairs if x is not None and y)
    if not ratios:
        return (float("nan"),) * 3
    mid = len(ratios) // 2
    median = ratios[mid] if len(ratios) % 2 else (ratios[mid - 1] + ratios[mid]) / 2
    return median, ratios[0], ratios[-1]


def goals(r: Results) -> list[dict[str, Any]]:
    """The issue's targets: (goal, measure, comparison, bound, measured value, spread)."""
    top_level = max(r["concurrency"])
    seq, top, stream = r["sequential"], r["throughput"][str(top_level)], r["stream"]
    nan3 = (float("nan"),) * 3
    layers, imp, mem = r.get("layers"), r["import"], r.get("memory") or {}
    where = r.get("placement", "where the kernel puts them")  # of client and server, for the p50 rows
    floors = {  # what a bare client in Python costs against the same reference (bench/floors.py)
        0: round_ratio(seq[FLOOR_ASYNC], seq[REF], "p50_us")[0] if FLOOR_ASYNC in seq else None,
        1: round_ratio(seq[FLOOR_SYNC], seq[REF], "p50_us")[0] if FLOOR_SYNC in seq else None,
    }
    rows = [
        ("sequential p50, async, vs the reference", f"llmrail async p50 / reference p50 ({where})", "<=", 1.5,
         round_ratio(seq[LLMRAIL], seq[REF], "p50_us")),
        ("sequential p50, sync, vs the reference", f"llmrail sync p50 / reference p50 ({where})", "<=", 1.3,
         round_ratio(seq[SYNC], seq[REF], "p50_us")),
        (f"throughput at {top_level} in flight vs the reference (one loop / --threads 1)",
         "llmrail / reference calls/s", ">=", 0.6, round_ratio(top[LLMRAIL], top[REF], "calls_per_s")),
        (f"client CPU per call at {top_level} in flight vs the reference", "llmrail / reference CPU per call",
         "<=", 2.0, round_ratio(top[LLMRAIL], top[REF], "cpu_us")),
        ("50-chunk stream 30x cheaper than the SDK", "SDK / llmrail CPU per stream", ">=", 30.0,
         round_ratio(stream[SDK], stream[LLMRAIL], "cpu_us")),
        ("50-chunk stream within 2x of the reference", "llmrail / reference CPU per stream", "<=", 2.0,
         round_ratio(stream[LLMRAIL], stream[REF], "cpu_us")),
        ("default layers together (retry, breaker, rate limit unset, cache tracking, telemetry)",
         "µs per call (bench/layers.py)", "<=", 10.0,
         (layers["total_us"],) * 3 if layers else nan3),
        ("import llmrail", "ms, -X importtime cumulative (min of 5)", "<=", 50.0,
         (imp["llmrail_importtime_ms"],) * 3),
        ("the SDK over llmrail's transport 1.5x cheaper per call", "SDK / SDK over llmrail CPU per call", ">=", 1.5,
         round_ratio(seq[SDK], seq[SDK_RAIL], "cpu_us")),
        ("the SDK over llmrail's transport 1.5x faster per call", f"SDK / SDK over llmrail p50 ({where})", ">=", 1.5,
         round_ratio(seq[SDK], seq[SDK_RAIL], "p50_us")),
    ]  # fmt: skip
    out = [
        {
            "goal": goal,
            "measure": measure,
            "target": f"{op} {bound:g}",
            "value": round(value, 2),
            "spread": [round(lo, 2), round(hi, 2)],
            "met": value <= bound if op == "<=" else value >= bound,
            "python_floor": None if floors.get(i) is None else round(floors[i], 2),
        }
        for i, (goal, measure, op, bound, (value, lo, hi)) in enumerate(rows)
    ]
    if SDK_ZERO in seq:
        # Not a goal: the most any transport could give the two goals above (the SDK's own work stays).
        for what, key, unit in (("cheaper", "cpu_us", "CPU per call"), ("faster", "p50_us", "p50")):
            value, lo, hi = round_ratio(seq[SDK], seq[SDK_ZERO], key)
            out.append(
                {
                    "goal": f"ceiling: the SDK over a zero-cost transport, {what} per call",
                    "measure": f"SDK / SDK over a zero-cost transport {unit}",
                    "target": "reported",
                    "value": round(value, 2),
                    "spread": [round(lo, 2), round(hi, 2)],
                    "met": None,
                }
            )
    for key, what in (("per_call_kb", "memory per in-flight call"), ("per_stream_kb", "memory per open stream")):
        if key in mem:
            out.append(
                {
                    "goal": what,
                    "measure": f"KiB, {mem['note']}",
                    "target": "reported",
                    "value": round(mem[key], 1),
                    "spread": [round(mem[key], 1)] * 2,
                    "met": None,
                }
            )
    return out


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return lines + ["| " + " | ".join(row) + " |" for row in rows] + [""]


def _f(x: float | None, digits: int = 0) -> str:
    return "n/a" if x is None or x != x else f"{x:,.{digits}f}"


def _x(a: float, b: float, digits: int = 2) -> str:
    return f"{_ratio(a, b):.{digits}f}x"


def _spread(s: Results, key: str) -> str:
    lo, hi = s.get(key + "_spread") or (float("nan"), float("nan"))
    return f"{_f(lo)}–{_f(hi)}"


def _rx(a: Results, b: Results, key: str) -> str:
    """The round-by-round ratio and its spread."""
    mid, lo, hi = round_ratio(a, b, key)
    return f"{mid:.2f}x ({lo:.2f}–{hi:.2f})"


def _sequential(r: Results) -> list[str]:
    m, seq = r["meta"], r["sequential"]
    ref = seq[REF]
    rows = [
        [name, _f(s["p50_us"]), _spread(s, "p50"), _f(s.get("p95_us")), _f(s["p99_us"]), _f(s["cpu_us"])]
        + [_rx(s, ref, "p50_us"), _rx(s, ref, "cpu_us")]
        for name, s in seq.items()
    ]
    return [
        f"## Sequential latency ({m['seq_n']} calls after {m['seq_warmup']} warm-up, one in flight; "
        f"client and server: {r.get('placement', 'where the kernel puts them')})",
        "",
        f"Each peer's calls are split into {m['rounds']} turns, and the peers take turns (see `in_turns`), so that "
        "bursts of load from elsewhere on the machine fall on all of them alike. Figures are the median over the "
        "turns (spread: the lowest and highest turn); ratios are taken turn by turn against the reference's turn "
        "of the same round, then their median.",
        "",
        *_table(["peer", "p50 µs", "p50 spread", "p95 µs", "p99 µs", "CPU µs/call", "p50 / ref", "CPU / ref"], rows),
    ]


def _placements(r: Results) -> list[str]:
    """The sequential rows' p50 ratios in each placement of client and server (bench/placement.py)."""
    by = r.get("sequential_by_placement") or {}
    if not by:
        return []
    header = ["client and server", "reference p50 µs", "llmrail async p50 / ref", "llmrail sync p50 / ref"]
    header += ["SDK p50 / SDK over llmrail", "python floor (socket) / ref"]
    rows = []
    for where, seq in by.items():
        ratio = [round_ratio(seq[a], seq[b], "p50_us") for a, b in ((LLMRAIL, REF), (SYNC, REF), (SDK, SDK_RAIL))]
        ratio.append(round_ratio(seq[FLOOR_SYNC], seq[REF], "p50_us") if FLOOR_SYNC in seq else (float("nan"),) * 3)
        rows.append([where, _f(seq[REF]["p50_us"])] + [f"{v:.2f} ({lo:.2f}–{hi:.2f})" for v, lo, hi in ratio])
    return [
        "## Sequential p50 by where client and server run",
        "",
        "One call at a time over loopback, the latency depends on where the kernel puts the two processes: on one "
        "CPU each hands it to the other, on two each answer wakes an idle CPU (on a VM, through the hypervisor), "
        "and left to the kernel the choice differs between processes and runs. So the sequential rows run once "
        "in each placement, every peer pinned alike (bench/placement.py); the goal rows and the table above read "
        f"the first, **{r.get('placement', '')}**.",
        "",
        *_table(header, rows),
    ]


def _throughput(r: Results) -> list[str]:
    m = r["meta"]
    header = ["peer", "in flight", "calls/s", "p50 ms", "p99 ms", "CPU µs/call", "server CPU µs/call"]
    header += ["CPU-bound calls/s²", "conns opened¹", "errors", "runs", "calls/s / ref", "CPU / ref"]
    rows = []
    for level, peers in r["throughput"].items():
        ref = peers[REF]
        for name, s in peers.items():
            rows.append(
                [name, level, _f(s["calls_per_s"]), _f(s["p50_us"] / 1e3, 1), _f(s["p99_us"] / 1e3, 1)]
                + [_f(s["cpu_us"]), _f(s["server_cpu_us"]), _f(ceiling(r, s))]
                + [str(s["connections_opened"]), _f(s.get("errors", 0)), str(s["rounds"])]
                + [_rx(s, ref, "calls_per_s"), _rx(s, ref, "cpu_us")]
            )
    return [
        f"## Throughput ({m['conc_n']} calls per run after a warm-up of 2x the concurrency; the SDK and httpx "
        f"{m['conc_n_slow']})",
        "",
        f"llmrail and the reference take {m['conc_rounds']} runs each, alternating; figures are the medians of "
        "the runs, ratios taken run against run. The reference runs with `--threads 1` (a current-thread tokio "
        "runtime: the peer of one asyncio loop); its CPU is its own, measured around the timed calls.",
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
    sdk, ref = st[SDK], st[REF]
    rows = [
        [name, _f(s["p50_us"]), _f(s["p99_us"]), _f(s["cpu_us"])]
        + [_rx(sdk, s, "cpu_us"), _rx(sdk, s, "p50_us"), _rx(s, ref, "cpu_us")]
        for name, s in st.items()
    ]
    header = ["peer", "p50 µs/stream", "p99 µs/stream", "CPU µs/stream", "SDK CPU / this", "SDK p50 / this"]
    header += ["CPU / ref"]
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


def _own_server(r: Results) -> list[str]:
    check = r.get("own_server")
    if not check:
        return []
    rows = [[name, _f(s["p50_us"]), _spread(s, "p50"), _f(s["cpu_us"])] for name, s in check.items()]
    return [
        "## The reference client against its own mock server and ours (sequential, in turns)",
        "",
        "Every ratio above uses ours (the one all peers share); this shows how much the server weighs in the "
        "reference's own figures (its server answers ~1 KB from pre-rendered bytes, ours ~2 KB rendered per call).",
        "",
        *_table(["server", "p50 µs", "p50 spread", "CPU µs/call"], rows),
    ]


def markdown(r: Results) -> str:
    m = r["meta"]
    goal_rows = [
        [g["goal"], g["measure"], g["target"], f"{g['value']:.2f}", f"{g['spread'][0]:.2f}–{g['spread'][1]:.2f}"]
        + ["reported" if g["met"] is None else "yes" if g["met"] else "**no**"]
        + ["" if g.get("python_floor") is None else f"{g['python_floor']:.2f}"]
        for g in r["goals"]
    ]
    out = [
        "# llmrail benchmark",
        "",
        f"{m['date']}, {m['machine']}; mock server in its own process answering a "
        f"{m['answer_chars']}-character reply (streamed as {m['stream_chunks']} chunks); "
        f"whole run {m['duration_s']:.0f} s{' (--quick)' if m['quick'] else ''}; "
        f"load average (1 min) at start {m['load_at_start']:.2f}, at the end {m.get('load_at_end', float('nan')):.2f}.",
        "CPU = the client process's CPU time (all its threads) per call.",
        "",
        "## Goals",
        "",
        "Every speed goal is a ratio against the tuned reference Rust client (`../shared/bench-reference`, built "
        "by bench/reference.py outside the project tree), run in the same run against the same mock server; "
        "measured = the median of the rounds' ratios, spread = the lowest and highest round. "
        "Python floor = the same ratio for a bare HTTP client written in Python (bench/floors.py: encode, "
        "write, read, decode, nothing else): what a client doing that work in Python pays at least.",
        "",
        *_table(["goal", "measure", "target", "measured", "spread", "met", "Python floor"], goal_rows),
        *_sequential(r),
        *_placements(r),
        *_throughput(r),
        *_stream(r),
        *_bridge_and_import(r),
        *_own_server(r),
        r["layers_md"] if r.get("layers_md") else "",
    ]
    return "\n".join(out)
