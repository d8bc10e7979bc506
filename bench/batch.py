"""``make bench``, provider batch jobs: build, submit and collect a 10,000-item Anthropic Message
Batch against the mock server (in its own process), llmrail (``client.batch``) against the
official ``anthropic`` SDK's batches API doing the same (create, poll, stream the results, put
them in input order, read every text), each in a fresh process of its own: client CPU time per
item and peak memory, in the same run. The machine may be shared, so the two alternate for
``--rounds`` rounds and each figure is the median with its range (lowest-highest); the ratio is
the median of each round's own ratio. CPU is the process's (``time.process_time``: every thread
of it, the Rust runtime's too), from the client's construction to the last text read.

    .venv/bin/python bench/batch.py [--n 10000] [--rounds 5] [--out bench-results]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from server import MockServerProcess  # noqa: E402

# Each peer runs in a child: imports first (not measured), then the work, then one JSON line.
_MEASURE = """
import json, resource, sys, time
n, base = int(sys.argv[1]), sys.argv[2]
{imports}
cpu0, wall0 = time.process_time(), time.perf_counter()
chars = run(n, base)
cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({{"cpu_s": cpu, "wall_s": wall, "peak_mb": peak_kb / 1024, "chars": chars}}))
"""

LLMRAIL = """
import asyncio, os, tempfile
import llmrail

def run(n, base):
    client = llmrail.Client("anthropic/claude-sonnet-4-5", base_url=base, api_key="sk-bench")
    reqs = [{"custom_id": f"r{i}", "messages": f"Classify document {i}", "max_tokens": 200}
            for i in range(n)]
    with tempfile.TemporaryDirectory() as d:
        store = os.path.join(d, "jobs.sqlite3")
        results = asyncio.run(client.batch(reqs, poll_interval=0.05, store=store))
    return sum(len(r.text) for r in results)
"""

SDK = """
import time
import anthropic

def run(n, base):
    client = anthropic.Anthropic(base_url=base, api_key="sk-bench", max_retries=0)
    reqs = [{"custom_id": f"r{i}", "params": {"model": "claude-sonnet-4-5", "max_tokens": 200,
             "messages": [{"role": "user", "content": f"Classify document {i}"}]}} for i in range(n)]
    batch = client.messages.batches.create(requests=reqs)
    while batch.processing_status != "ended":
        time.sleep(0.05)
        batch = client.messages.batches.retrieve(batch.id)
    by_id = {r.custom_id: r for r in client.messages.batches.results(batch.id)}
    ordered = [by_id[f"r{i}"] for i in range(n)]
    return sum(len(r.result.message.content[0].text) for r in ordered)
"""


def measure(code: str, n: int, base: str) -> dict[str, Any]:
    imports, _, body = code.partition("\ndef run")
    program = _MEASURE.format(imports=imports + "\ndef run" + body)
    out = subprocess.run([sys.executable, "-c", program, str(n), base], capture_output=True, text=True, check=True)
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def spread(values: list[float], fmt: str) -> str:
    """The median, and the lowest and highest in brackets."""
    return f"{fmt.format(statistics.median(values))} ({fmt.format(min(values))}–{fmt.format(max(values))})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--out", default="bench-results")
    args = ap.parse_args()
    peers = [("llmrail", LLMRAIL), ("anthropic SDK", SDK)]
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name, _ in peers}
    ratios = []
    loads = [os.getloadavg()[0]]
    with MockServerProcess() as srv:
        for r in range(args.rounds):
            # Alternating which goes first, so neither always meets the same moment of the load.
            for name, code in peers if r % 2 == 0 else peers[::-1]:
                runs[name].append(measure(code, args.n, srv.url))
            ours, theirs = runs["llmrail"][-1], runs["anthropic SDK"][-1]
            if ours["chars"] != theirs["chars"]:
                raise SystemExit(f"the two runs read different answers: {ours} {theirs}")
            ratios.append(theirs["cpu_s"] / ours["cpu_s"])
            loads.append(os.getloadavg()[0])
    lines = [
        f"## Batch jobs: {args.n:,} items, build + submit + collect (Anthropic Message Batches, mock server)",
        "",
        f"Median of {args.rounds} alternating rounds (lowest–highest); 1-minute load average "
        f"{min(loads):.1f}–{max(loads):.1f} on {os.cpu_count()} CPUs during the run.",
        "",
        "| | client CPU | CPU per item | wall | peak memory |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, rs in runs.items():
        cpu = [r["cpu_s"] for r in rs]
        lines.append(
            f"| {name} | {spread(cpu, '{:.2f} s')} | {spread([c / args.n * 1e6 for c in cpu], '{:.0f} µs')}"
            f" | {spread([r['wall_s'] for r in rs], '{:.2f} s')} | {spread([r['peak_mb'] for r in rs], '{:.0f} MB')} |"
        )
    lines += ["", f"llmrail uses {spread(ratios, '{:.1f}x')} less CPU per item (goal: at least 10x)."]
    text = "\n".join(lines) + "\n"
    print(text)
    out = Path(args.out)
    out.mkdir(exist_ok=True)
    (out / "batch.md").write_text(text)


if __name__ == "__main__":
    main()
