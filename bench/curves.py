"""``make bench``, how cost grows with the work: latency and client CPU against concurrency,
memory against open streams and answer size, replay time against cassette size, extraction time
against schema size; llmrail beside the reference Rust client or the openai SDK where they apply.

    .venv/bin/python bench/curves.py [--quick] [--out bench-results]

Writes curves.md, curves.json and one SVG chart per curve (bench-results/curves-*.svg, drawn with
llmrail.bench.charts' palette, ticks and frame, readable without running anything).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import math
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from html import escape
from pathlib import Path
from typing import Any

import llmrail
import memory
import peers
import reference
from llmrail._core import JsonSchema
from llmrail.bench.charts import WIDTH, _fmt, _svg, color
from llmrail.replay import cassette
from llmrail.testing import MockServer
from pydantic import create_model
from server import TEXT, MockServerProcess

LEVELS = (1, 16, 64, 256, 1024)
STREAMS = (100, 1000, 10_000)
SIZES = (1_000, 10_000, 100_000, 1_000_000)
CASSETTES = (10, 100, 1_000, 10_000, 100_000)
FIELDS = (5, 20, 100, 500, 2_000)
FULL = {
    "calls": 4000,
    "sdk_calls": 600,
    "sdk_streams": (100, 1000),
    "replays": 500,
    "validations": 2000,
    "cassettes": CASSETTES,
}
QUICK = {
    "calls": 1000,
    "sdk_calls": 200,
    "sdk_streams": (100,),
    "replays": 200,
    "validations": 300,
    "cassettes": CASSETTES[:-1],
}
STYLE = (
    "<style>svg text{font:11.5px system-ui,sans-serif;fill:#333} .grid{stroke:#eee} .tick{fill:#777;font-size:10.5px}"
    " .axis,.legend{fill:#555} .note{fill:#999;font-style:italic}</style>"
)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# --- the curves ---


async def _llmrail_at(url: str, n: int, level: int) -> peers.Result:
    async with peers.llmrail_chat(url) as call:
        return await peers.concurrent(call, n, level)


async def _sdk_at(url: str, n: int, level: int) -> peers.Result:
    async with peers.sdk_chat(url, level) as call:
        return await peers.concurrent(call, n, level)


def concurrency(s: dict[str, Any]) -> dict[str, dict[int, peers.Result]]:
    """p50/p99 latency and client CPU per call at each level; the reference with ``--threads 1``."""
    out: dict[str, dict[int, peers.Result]] = {"llmrail async": {}, reference.NAME: {}, "openai SDK": {}}
    with MockServerProcess() as srv:
        for level in LEVELS:
            n = max(s["calls"], 4 * level)
            out["llmrail async"][level] = asyncio.run(_llmrail_at(srv.base_url, n, level))
            out[reference.NAME][level] = reference.concurrent(srv.url, n, level, 2 * level)
            out["openai SDK"][level] = asyncio.run(_sdk_at(srv.base_url, max(s["sdk_calls"], 2 * level), level))
            log(f"  {level:5} in flight: " + ", ".join(f"{k} {v[level]['p50_us']:,.0f} µs" for k, v in out.items()))
    return out


def memory_curves(s: dict[str, Any]) -> dict[str, Any]:
    streams: dict[str, dict[int, Any]] = {"llmrail": {}, "openai SDK": {}}
    for n in STREAMS:
        streams["llmrail"][n] = memory.measure("streams", "llmrail", n)
        if n in s["sdk_streams"]:
            streams["openai SDK"][n] = memory.measure("streams", "sdk", n)
        log(
            f"  {n:6} open streams: "
            + ", ".join(f"{k} {v[n].get('per_kb', 0):.1f} KiB each" for k, v in streams.items() if n in v)
        )
    sizes: dict[str, dict[int, Any]] = {"llmrail": {}, "openai SDK": {}}
    for size in SIZES:
        sizes["llmrail"][size] = memory.measure("size", "llmrail", size)
        sizes["openai SDK"][size] = memory.measure("size", "sdk", size)
        log(
            f"  {size:8}-character answer: "
            + ", ".join(f"{k} +{v[size].get('peak_growth_kb', 0):,} KiB peak" for k, v in sizes.items())
        )
    return {"streams": streams, "sizes": sizes}


def _cassette(folder: Path, n: int) -> Path:
    """A cassette of ``n`` interactions: one recorded, the rest copies with their own prompt."""
    one = folder / "one.yaml"
    if not one.exists():
        with MockServer() as srv:
            srv.default(TEXT[:200], latency=0)
            client = llmrail.Client("openai/gpt-4.1-mini", base_url=srv.openai_base_url, api_key="sk-bench")
            with cassette(one, mode="all"):
                client.chat_sync("question number 0")
    head, rest = one.read_text().split("\n", 1)
    body, tail = rest.rsplit("\nversion:", 1)
    path = folder / f"{n}.yaml"
    with path.open("w") as f:
        f.write(head + "\n")
        for i in range(n):
            f.write(body.replace("question number 0", f"question number {i}") + "\n")
        f.write("version:" + tail)
    return path


def recorded_base_url(path: Path) -> str:
    """The base URL the cassette's first interaction was recorded against (a request must match it)."""
    with path.open() as f:
        uri = next(line for line in f if line.strip().startswith("uri: ")).split("uri: ")[1].strip()
    return uri.removesuffix("/chat/completions")


def replay(s: dict[str, Any]) -> dict[str, dict[int, Any]]:
    """Time per replayed call (matched on method, URL and body) and load time, by cassette size."""
    out: dict[str, dict[int, Any]] = {"llmrail replay": {}}
    with tempfile.TemporaryDirectory(prefix="llmrail-curves-") as d:
        for n in s["cassettes"]:
            path = _cassette(Path(d), n)
            # the recording's server, gone: never called
            client = llmrail.Client("openai/gpt-4.1-mini", base_url=recorded_base_url(path), api_key="sk-bench")
            picks = [(i * 7919) % n for i in range(min(s["replays"], n))]
            t0 = time.perf_counter()
            with cassette(path, mode="none", allow_playback_repeats=True):
                load_ms = (time.perf_counter() - t0) * 1e3
                for i in picks[:20]:
                    client.chat_sync(f"question number {i}")
                lat = []
                for i in picks:
                    t = time.perf_counter_ns()
                    client.chat_sync(f"question number {i}")
                    lat.append(time.perf_counter_ns() - t)
            r = peers.summarize(lat, 0.0, len(lat))
            r.update(load_ms=load_ms, cassette_mb=path.stat().st_size / 1e6)
            out["llmrail replay"][n] = r
            path.unlink()
            log(f"  {n:7} interactions ({r['cassette_mb']:.1f} MB): p50 {r['p50_us']:.0f} µs, load {load_ms:,.0f} ms")
    return out


def _schema(fields: int) -> tuple[dict[str, Any], str, Any]:
    """A flat object of ``fields`` typed fields (strings, numbers, booleans, enums in turn), a
    matching answer, and the same as a pydantic model (the openai SDK's ``parse`` path)."""
    kinds: list[tuple[dict[str, Any], Any, Any]] = [
        ({"type": "string"}, "value text", str),
        ({"type": "number", "minimum": 0}, 12.5, float),
        ({"type": "boolean"}, True, bool),
        ({"type": "integer", "maximum": 100}, 7, int),
    ]
    props, answer, model_fields = {}, {}, {}
    for i in range(fields):
        schema, value, typ = kinds[i % len(kinds)]
        props[f"field_{i}"], answer[f"field_{i}"], model_fields[f"field_{i}"] = schema, value, (typ, ...)
    schema = {"type": "object", "properties": props, "required": list(props), "additionalProperties": False}
    return schema, json.dumps(answer), create_model(f"Fields{fields}", **model_fields)  # type: ignore[call-overload]


def _per_call_us(fn: Callable[[], object], n: int) -> float:
    runs = []
    for _ in range(3):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        runs.append((time.perf_counter() - t0) / n * 1e6)
    return statistics.median(runs)


def extraction(s: dict[str, Any]) -> dict[str, dict[int, Any]]:
    out: dict[str, dict[int, Any]] = {"llmrail parse + validate": {}, "pydantic (the openai SDK's parse)": {}}
    for fields in FIELDS:
        schema, text, model = _schema(fields)
        ours = JsonSchema(schema)
        assert ours.validate_json(text) == json.loads(text)
        n = max(s["validations"] * 20 // fields, 20)
        ours_us = _per_call_us(lambda o=ours, t=text: o.validate_json(t), n)  # type: ignore[misc]
        theirs_us = _per_call_us(lambda m=model, t=text: m.model_validate_json(t), n)  # type: ignore[misc]
        out["llmrail parse + validate"][fields] = {"us": ours_us, "answer_bytes": len(text)}
        out["pydantic (the openai SDK's parse)"][fields] = {"us": theirs_us}
        log(f"  {fields:5} fields: " + ", ".join(f"{k} {v[fields]['us']:.1f} µs" for k, v in out.items()))
    return out


# --- charts: llmrail.bench.charts' palette, ticks and frame, on log axes ---


def _decades(lo: float, hi: float) -> list[float]:
    a, b = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
    return [10.0**e for e in range(a, max(b, a + 1) + 1)]


def line_chart(chart: str, title: str, xlabel: str, ylabel: str, series: dict[str, list[tuple[float, float]]]) -> str:
    """One line per series, log-scaled on both axes; every point a ``mark`` with its value."""
    height, top, bottom, x0, x1 = 360, 34, 300, 80, WIDTH - 220
    pts = [(x, y) for line in series.values() for x, y in line if x > 0 and y > 0]
    if not pts:
        return _svg(chart, height, 0, title, [STYLE, f'<text class="note" x="{x0}" y="40">no data</text>'])
    # x from the decade below the first point to the last point itself (ticks at the decades)
    xs = [v for v in _decades(min(x for x, _ in pts), max(x for x, _ in pts)) if v <= max(x for x, _ in pts)]
    top_x = max(x for x, _ in pts)
    if xs[-1] < top_x:
        xs[len(xs) - 1 if top_x / xs[-1] < 1.5 and len(xs) > 1 else len(xs) :] = [top_x]  # no two labels overlapping
    ys = _decades(min(y for _, y in pts), max(y for _, y in pts))

    def px(v: float) -> float:
        return x0 + (x1 - x0) * (math.log10(v) - math.log10(xs[0])) / (math.log10(xs[-1]) - math.log10(xs[0]))

    def py(v: float) -> float:
        return bottom - (bottom - top) * (math.log10(v) - math.log10(ys[0])) / (math.log10(ys[-1]) - math.log10(ys[0]))

    body = [STYLE, f'<text class="legend" x="{x0}" y="16" font-weight="bold">{escape(title)}</text>']
    for v in xs:
        body.append(f'<line class="grid" x1="{px(v):.1f}" y1="{top}" x2="{px(v):.1f}" y2="{bottom}"/>')
        body.append(f'<text class="tick" x="{px(v):.1f}" y="{bottom + 14}" text-anchor="middle">{_fmt(v)}</text>')
    for v in ys:
        body.append(f'<line class="grid" x1="{x0}" y1="{py(v):.1f}" x2="{x1}" y2="{py(v):.1f}"/>')
        body.append(f'<text class="tick" x="{x0 - 6}" y="{py(v) + 4:.1f}" text-anchor="end">{_fmt(v)}</text>')
    body.append(
        f'<text class="axis" x="{(x0 + x1) / 2:.1f}" y="{bottom + 34}" text-anchor="middle">'
        f"{escape(xlabel)} (log)</text>"
    )
    body.append(
        f'<text class="axis" transform="translate(16 {(top + bottom) / 2}) rotate(-90)" '
        f'text-anchor="middle">{escape(ylabel)} (log)</text>'
    )
    marks = 0
    peers = list(dict.fromkeys(name.removesuffix(" p50").removesuffix(" p99") for name in series))
    for i, (name, line) in enumerate(series.items()):
        line = [(x, y) for x, y in line if x > 0 and y > 0]
        dash = ' stroke-dasharray="5 3"' if name.endswith(" p99") else ""
        c = color(peers.index(name.removesuffix(" p50").removesuffix(" p99")))
        path = " ".join(f"{'M' if j == 0 else 'L'}{px(x):.1f},{py(y):.1f}" for j, (x, y) in enumerate(line))
        body.append(f'<path d="{path}" fill="none" stroke="{c}" stroke-width="2"{dash}/>')
        for x, y in line:
            body.append(
                f'<circle class="mark" cx="{px(x):.1f}" cy="{py(y):.1f}" r="3.5" fill="{c}">'
                f"<title>{escape(name)}: {_fmt(x)} → {y:,.3g}</title></circle>"
            )
            marks += 1
        ly = top + 4 + i * 18
        body.append(
            f'<line x1="{x1 + 14}" y1="{ly + 2}" x2="{x1 + 30}" y2="{ly + 2}" stroke="{c}" stroke-width="3"{dash}/>'
        )
        body.append(f'<text class="legend" x="{x1 + 36}" y="{ly + 6}">{escape(name)}</text>')
    return _svg(chart, height, marks, title, body)


def charts(r: dict[str, Any]) -> dict[str, str]:
    conc = r["concurrency"]
    lat = {
        f"{peer} {p}": [(lvl, v[f"{p}_us"] / 1e3) for lvl, v in by.items()]
        for peer, by in conc.items()
        for p in ("p50", "p99")
    }
    cpu = {peer: [(lvl, v["cpu_us"]) for lvl, v in by.items()] for peer, by in conc.items()}
    mem = r["memory"]
    streams = {
        peer: [(n, p["per_kb"] * n / 1024) for n, p in by.items() if "per_kb" in p]
        for peer, by in mem["streams"].items()
    }
    sizes = {
        peer: [(n, max(p.get("peak_growth_kb", 0), 1) / 1024) for n, p in by.items()]
        for peer, by in mem["sizes"].items()
    }
    rep = {
        "llmrail replay, p50 per call (µs)": [(n, v["p50_us"]) for n, v in r["replay"]["llmrail replay"].items()],
        "cassette load (ms)": [(n, v["load_ms"]) for n, v in r["replay"]["llmrail replay"].items()],
    }
    ext = {peer: [(n, v["us"]) for n, v in by.items()] for peer, by in r["extraction"].items()}
    return {
        "latency": line_chart(
            "curve-latency", "Latency against concurrency (solid p50, dashed p99)", "calls in flight", "ms", lat
        ),
        "cpu": line_chart(
            "curve-cpu", "Client CPU per call against concurrency", "calls in flight", "µs per call", cpu
        ),
        "streams": line_chart(
            "curve-streams", "Client memory against open streams", "open streams", "MiB held", streams
        ),
        "sizes": line_chart(
            "curve-sizes",
            "Peak memory of one call against answer size",
            "answer characters",
            "MiB above the warm peak",
            sizes,
        ),
        "replay": line_chart(
            "curve-replay", "Replay against cassette size", "interactions in the cassette", "µs / ms", rep
        ),
        "extraction": line_chart(
            "curve-extraction", "Parse + validate against schema size", "fields in the schema", "µs per answer", ext
        ),
    }


# --- the report ---


def _rows(header: list[str], rows: list[list[str]]) -> list[str]:
    return (
        ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        + ["| " + " | ".join(r) + " |" for r in rows]
        + [""]
    )


def markdown(r: dict[str, Any]) -> str:
    m, conc, mem = r["meta"], r["concurrency"], r["memory"]
    out = [
        "# How cost grows with the work",
        "",
        f"{m['date']}, {m['machine']}; whole run {m['duration_s']:.0f} s{' (--quick)' if m['quick'] else ''}; "
        f"load average (1 min) {m['load_at_start']:.2f} at start, {m['load_at_end']:.2f} at the end. "
        "Charts: curves-*.svg beside this file.",
        "",
        "## Latency and client CPU against concurrency (one process, one event loop; the reference `--threads 1`)",
        "",
        "![latency](curves-latency.svg) ![cpu](curves-cpu.svg)",
        "",
    ]
    rows = [
        [
            peer,
            str(lvl),
            _fmt(v["calls_per_s"]),
            f"{v['p50_us'] / 1e3:.2f}",
            f"{v['p99_us'] / 1e3:.2f}",
            f"{v['cpu_us']:.0f}",
        ]
        for peer, by in conc.items()
        for lvl, v in by.items()
    ]
    out += _rows(["peer", "in flight", "calls/s", "p50 ms", "p99 ms", "CPU µs/call"], rows)
    out += [
        "## Memory against open streams (20 chunks 3 s apart; RSS once every stream has its first chunk)",
        "",
        "![streams](curves-streams.svg)",
        "",
    ]
    rows = [
        [
            peer,
            str(n),
            f"{p['per_kb']:.1f}" if "per_kb" in p else p.get("error", "n/a"),
            f"{p['per_kb'] * n / 1024:.1f}" if "per_kb" in p else "",
            f"{p.get('open_s', float('nan')):.1f}",
        ]
        for peer, by in mem["streams"].items()
        for n, p in by.items()
    ]
    out += _rows(["peer", "open streams", "KiB per stream", "MiB in all", "s to open them"], rows)
    out += [
        "## Peak memory of one call against the answer's size (3 calls, after a warm-up elsewhere)",
        "",
        "![sizes](curves-sizes.svg)",
        "",
    ]
    rows = [
        [peer, f"{n:,}", f"{p.get('peak_growth_kb', float('nan')):,}", f"{p.get('peak_growth_kb', 0) * 1024 / n:.1f}"]
        for peer, by in mem["sizes"].items()
        for n, p in by.items()
    ]
    out += _rows(["peer", "answer characters", "peak growth KiB", "bytes of peak per answer byte"], rows)
    out += [
        "## Replay against cassette size (matched on method, URL and body; repeats allowed)",
        "",
        "![replay](curves-replay.svg)",
        "",
    ]
    rows = [
        [f"{n:,}", f"{v['cassette_mb']:.1f}", f"{v['load_ms']:,.0f}", f"{v['p50_us']:.0f}", f"{v['p99_us']:.0f}"]
        for n, v in r["replay"]["llmrail replay"].items()
    ]
    out += _rows(["interactions", "cassette MB", "load ms", "p50 µs/call", "p99 µs/call"], rows)
    out += [
        "(The openai SDK has no replay of its own; bench/replay.py compares vcrpy at one size.)",
        "",
        "## Parse + validate against schema size (flat objects; answer built to match)",
        "",
        "![extraction](curves-extraction.svg)",
        "",
    ]
    rows = [
        [peer, str(n), f"{v['us']:.1f}", f"{v['us'] / n:.2f}"]
        for peer, by in r["extraction"].items()
        for n, v in by.items()
    ]
    out += _rows(["", "fields", "µs per answer", "µs per field"], rows)
    return "\n".join(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", type=Path, default=reference.REPO / "bench-results")
    args = parser.parse_args()
    s = QUICK if args.quick else FULL
    start, load = time.perf_counter(), os.getloadavg()[0]
    reference.build()
    r: dict[str, Any] = {}
    for name, fn in (
        ("concurrency", concurrency),
        ("memory", memory_curves),
        ("replay", replay),
        ("extraction", extraction),
    ):
        log(f"[{time.perf_counter() - start:5.1f} s] {name} ...")
        r[name] = fn(s)
    r["meta"] = {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "machine": f"{os.cpu_count()} cores, Python {sys.version.split()[0]}",
        "quick": args.quick,
        "load_at_start": load,
        "load_at_end": os.getloadavg()[0],
        "duration_s": time.perf_counter() - start,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    for name, svg in charts(r).items():
        (args.out / f"curves-{name}.svg").write_text(svg + "\n")
    md = markdown(r)
    (args.out / "curves.md").write_text(md + "\n")
    (args.out / "curves.json").write_text(json.dumps(r, indent=2, default=str) + "\n")
    print(md)
    log(f"written to {args.out}/curves.md, curves.json and curves-*.svg in {r['meta']['duration_s']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
