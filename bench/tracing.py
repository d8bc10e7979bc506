"""``make bench`` (tracing part): what OpenTelemetry tracing adds to each call.

    .venv/bin/python bench/tracing.py [--n 400] [--rounds 7] [--out bench-results]

One mock server (its own process, bench/server.py), sequential sync chat calls, in one process:

- llmrail in a process that never imports OpenTelemetry (a child process, as if it were not
  installed), llmrail with no OpenTelemetry configured (its client built before any provider was
  set), and llmrail traced (the OpenTelemetry SDK, a TracerProvider with an in-memory exporter
  behind a SimpleSpanProcessor, and a MeterProvider with an in-memory reader);
- the openai SDK bare, and instrumented by the official ``opentelemetry-instrumentation-openai-v2``
  on the same providers.

Each round runs every configuration ``--n`` times, in turn; a round's figure is its median
per-call latency, and the overhead of tracing is the traced median minus the untraced one of the
same round. The table gives the median over the rounds and their spread (lowest to highest).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import llmrail
import openai
from opentelemetry import metrics, trace
from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from server import TEXT, MockServerProcess

MODEL = "gpt-4.1-mini"
API_KEY = "sk-bench"
MESSAGES = [{"role": "user", "content": "Summarise the benefits of connection pooling."}]


def median_us(call: Callable[[], object], n: int) -> float:
    lat = []
    for _ in range(n):
        t0 = time.perf_counter_ns()
        call()
        lat.append(time.perf_counter_ns() - t0)
    return statistics.median(lat) / 1e3


# The same loop in a process where OpenTelemetry is never imported.
WITHOUT_OTEL = """
import statistics, sys, time, llmrail
c = llmrail.Client("openai/{model}", base_url={base_url!r}, api_key="sk-bench")
m = {messages!r}
for _ in range(50):
    c.chat_sync(m, max_tokens=300)
lat = []
for _ in range({n}):
    t0 = time.perf_counter_ns()
    c.chat_sync(m, max_tokens=300)
    lat.append(time.perf_counter_ns() - t0)
assert "opentelemetry" not in sys.modules
print(statistics.median(lat) / 1e3)
"""


def without_otel_us(base_url: str, n: int) -> float:
    code = WITHOUT_OTEL.format(model=MODEL, base_url=base_url, messages=MESSAGES, n=n)
    return float(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=400, help="calls per configuration per round")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--out", type=Path, default=Path("bench-results"))
    args = ap.parse_args()

    with MockServerProcess() as srv:
        plain = llmrail.Client(f"openai/{MODEL}", base_url=srv.base_url, api_key=API_KEY)

        exporter = InMemorySpanExporter()
        tracer_provider = TracerProvider()
        tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
        reader = InMemoryMetricReader()
        trace.set_tracer_provider(tracer_provider)
        metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
        traced = llmrail.Client(f"openai/{MODEL}", base_url=srv.base_url, api_key=API_KEY)
        sdk = openai.OpenAI(base_url=srv.base_url, api_key=API_KEY)
        instrumentor = OpenAIInstrumentor()

        def rail(client: llmrail.Client) -> Callable[[], str]:
            return lambda: client.chat_sync(MESSAGES, max_tokens=300).text

        def sdk_call() -> str:
            r = sdk.chat.completions.create(model=MODEL, messages=MESSAGES, max_tokens=300)  # type: ignore[arg-type]
            return r.choices[0].message.content or ""

        for check in (rail(plain), rail(traced), sdk_call):
            assert check() == TEXT
        exporter.clear()
        rail(traced)()
        assert len(exporter.get_finished_spans()) == 2, "the traced client makes a call span and an attempt span"

        names = ("llmrail, OpenTelemetry never imported", "llmrail", "llmrail traced", "openai", "openai traced")
        rows: dict[str, list[float]] = {k: [] for k in names}
        for r in range(args.rounds):
            rows[names[0]].append(without_otel_us(srv.base_url, args.n))
            rows["llmrail"].append(median_us(rail(plain), args.n))
            rows["llmrail traced"].append(median_us(rail(traced), args.n))
            rows["openai"].append(median_us(sdk_call, args.n))
            instrumentor.instrument()
            rows["openai traced"].append(median_us(sdk_call, args.n))
            instrumentor.uninstrument()
            exporter.clear()  # spans kept in memory would grow the process round after round
            print(f"round {r + 1}/{args.rounds}: " + ", ".join(f"{k} {v[-1]:.0f} us" for k, v in rows.items()),
                  file=sys.stderr, flush=True)

    overhead = {
        "llmrail": [t - p for t, p in zip(rows["llmrail traced"], rows["llmrail"], strict=True)],
        "openai (opentelemetry-instrumentation-openai-v2)": [
            t - p for t, p in zip(rows["openai traced"], rows["openai"], strict=True)
        ],
    }

    def stat(values: list[float]) -> dict[str, float]:
        return {"median_us": statistics.median(values), "min_us": min(values), "max_us": max(values)}

    result = {
        "calls_per_round": args.n,
        "rounds": args.rounds,
        "latency": {k: stat(v) for k, v in rows.items()},
        "tracing_overhead": {k: stat(v) for k, v in overhead.items()},
    }
    lines = [
        f"Tracing overhead per call (sequential sync chat, mock server in its own process; median of "
        f"{args.rounds} rounds of {args.n} calls, spread lowest-highest round)",
        "",
        "| | per-call median (us) | spread (us) |",
        "|---|---:|---:|",
    ]
    for k, v in result["latency"].items():
        lines.append(f"| {k} | {v['median_us']:.0f} | {v['min_us']:.0f}-{v['max_us']:.0f} |")
    lines += ["", "| tracing overhead | median (us) | spread (us) |", "|---|---:|---:|"]
    for k, v in result["tracing_overhead"].items():
        lines.append(f"| {k} | {v['median_us']:.0f} | {v['min_us']:.0f} to {v['max_us']:.0f} |")
    table = "\n".join(lines)
    print(table)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "tracing.json").write_text(json.dumps(result, indent=2))
    (args.out / "tracing.md").write_text(table + "\n")


if __name__ == "__main__":
    main()
