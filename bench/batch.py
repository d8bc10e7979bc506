"""``make bench``, provider batch jobs: build, submit and collect a 10,000-item Anthropic Message
Batch against the mock server (in its own process), llmrail (``client.batch``) against the
official ``anthropic`` SDK's batches API doing the same (create, poll, stream the results, put
them in input order, read every text), each in a fresh process of its own: client CPU time per
item and peak memory, in the same run.

    .venv/bin/python bench/batch.py [--n 10000] [--out bench-results]
"""

from __future__ import annotations

import argparse
import json
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--out", default="bench-results")
    args = ap.parse_args()
    rows = {}
    with MockServerProcess() as srv:
        for name, code in [("llmrail", LLMRAIL), ("anthropic SDK", SDK)]:
            rows[name] = measure(code, args.n, srv.url)
    if rows["llmrail"]["chars"] != rows["anthropic SDK"]["chars"]:
        raise SystemExit(f"the two runs read different answers: {rows}")
    ratio = rows["anthropic SDK"]["cpu_s"] / rows["llmrail"]["cpu_s"]
    lines = [
        f"## Batch jobs: {args.n:,} items, build + submit + collect (Anthropic Message Batches, mock server)",
        "",
        "| | client CPU | CPU per item | wall | peak memory |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, r in rows.items():
        lines.append(
            f"| {name} | {r['cpu_s']:.2f} s | {r['cpu_s'] / args.n * 1e6:.0f} µs | {r['wall_s']:.2f} s"
            f" | {r['peak_mb']:.0f} MB |"
        )
    lines += ["", f"llmrail uses {ratio:.1f}x less CPU per item (goal: at least 10x)."]
    text = "\n".join(lines) + "\n"
    print(text)
    out = Path(args.out)
    out.mkdir(exist_ok=True)
    (out / "batch.md").write_text(text)


if __name__ == "__main__":
    main()
