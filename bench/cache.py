"""``make bench``, prompt caching: a 20-turn support conversation with a ~5,000-token system prompt
against the mock server (which reports cache writes and reads the way Anthropic does), run with and
without ``prompt_cache``; then what planning adds per call, measured in Rust
(examples/bench_cache_plan.rs).

    .venv/bin/python bench/cache.py [--turns 20] [--no-rust] [--out bench-results]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import llmrail
from llmrail.testing import MockServer

ROOT = Path(__file__).resolve().parent.parent
MODEL = "anthropic/claude-sonnet-4-5"
ANSWER = "Your order left our warehouse this morning; tracking updates within a day. " * 3
PLAN_BIN = ROOT / "target" / "release" / "examples" / "bench_cache_plan"


def system_prompt() -> str:
    """About 20,000 characters (~5,000 tokens) of rules, like examples/bench_cache_plan.rs."""
    parts, i, size = ["You are the support assistant of Example Corp.\n"], 0, 0
    while size < 20_000:
        rule = f"Rule {i}: answer questions about order {i} politely and cite policy section {i % 17}. "
        parts.append(rule)
        size += len(rule)
        i += 1
    return "".join(parts)


@dataclass
class Run:
    setting: str
    input_tokens: int = 0
    cache_write_tokens: int = 0
    cache_read_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    hit_rate: float = 0.0
    ms_per_call: float = 0.0


def conversation(prompt_cache: str | None, turns: int, system: str) -> Run:
    run = Run(setting=f"prompt_cache={prompt_cache!r}")
    with MockServer() as srv:
        srv.default(ANSWER, latency=0)
        client = llmrail.Client(MODEL, base_url=srv.anthropic_base_url, api_key="sk-bench",
                                prompt_cache=prompt_cache)  # type: ignore[arg-type]
        history: list[dict[str, Any]] = []
        started = time.perf_counter()
        for i in range(turns):
            history.append({"role": "user", "content": f"Question {i}: where is my order number {i}?"})
            r = client.chat_sync(history, system=system, max_tokens=300)
            history.append({"role": "assistant", "content": r.text})
            u = r.usage
            run.input_tokens += u.input_tokens
            run.cache_write_tokens += u.cache_write_tokens
            run.cache_read_tokens += u.cache_read_tokens
            run.output_tokens += u.output_tokens
            run.cost_usd += r.cost_usd or 0.0
        run.ms_per_call = (time.perf_counter() - started) / turns * 1e3
        run.hit_rate = client.cache_stats().hit_rate
    return run


def planning(iterations: int = 2000) -> dict[str, Any] | None:
    """examples/bench_cache_plan.rs: microseconds per call, or None without cargo."""
    try:
        subprocess.run(["cargo", "build", "--release", "--example", "bench_cache_plan", "--quiet"],
                       cwd=ROOT, check=True)
        out = subprocess.run([str(PLAN_BIN), str(iterations)], check=True, capture_output=True, text=True)
    except (OSError, subprocess.CalledProcessError) as e:
        print(f"planning benchmark skipped: {e}", file=sys.stderr)
        return None
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--turns", type=int, default=20)
    parser.add_argument("--no-rust", action="store_true", help="skip the planning measurement")
    parser.add_argument("--out", type=Path, default=ROOT / "bench-results")
    args = parser.parse_args()
    system = system_prompt()
    runs = [conversation(None, args.turns, system), conversation("5m", args.turns, system)]
    plain, cached = runs
    print(f"\nPrompt caching: {args.turns}-turn conversation, {len(system):,}-character system prompt "
          f"(~{len(system) // 4:,} tokens), {MODEL} prices, mock server")
    header = f"{'':20} {'input tok':>10} {'cache write':>12} {'cache read':>11} {'output':>7} " \
             f"{'cost USD':>9} {'hit rate':>9} {'ms/call':>8}"
    print(header)
    for r in runs:
        print(f"{r.setting:20} {r.input_tokens:>10,} {r.cache_write_tokens:>12,} {r.cache_read_tokens:>11,} "
              f"{r.output_tokens:>7,} {r.cost_usd:>9.4f} {r.hit_rate:>9.1%} {r.ms_per_call:>8.2f}")
    saving = 1 - cached.cost_usd / plain.cost_usd if plain.cost_usd else 0.0
    print(f"cost with prompt_cache: ${cached.cost_usd:.4f} instead of ${plain.cost_usd:.4f} ({saving:.0%} less)")
    plan = None if args.no_rust else planning()
    if plan:
        verdict = "under" if plan["added_us"] < 20 else "OVER"
        print(f"planning per call (Rust, same conversation): plan {plan['plan_us']:.1f} us, client check "
              f"{plan['prepare_us']:.1f} us, body {plan['build_uncached_us']:.1f} -> {plan['build_cached_us']:.1f} us; "
              f"caching adds {plan['added_us']:.1f} us per call ({verdict} the 20 us goal)")
    args.out.mkdir(parents=True, exist_ok=True)
    result = {"runs": [asdict(r) for r in runs], "saving": saving, "planning": plan}
    (args.out / "cache.json").write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
