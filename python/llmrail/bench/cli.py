"""``python -m llmrail bench``: run the benchmark, print the table, write the report."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import LLMError
from .runner import DEFAULT_MODELS, run


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "bench",
        help="latency, throughput, errors and cost per model; JSON, CSV and an HTML report",
        description="Benchmark models: each gets --requests requests, --concurrency at a time.",
    )
    p.add_argument(
        "--model",
        action="append",
        metavar="PROVIDER/MODEL",
        help=f"a model to measure; repeat for several (default with --mock: {' and '.join(DEFAULT_MODELS)})",
    )
    p.add_argument("--prompts", metavar="FILE", help="JSONL of prompts or messages, or .txt lines (default: built in)")
    p.add_argument("--requests", type=int, default=100, metavar="N", help="requests per model (default 100)")
    p.add_argument("--concurrency", type=int, default=8, metavar="N", help="requests in flight (default 8)")
    p.add_argument("--stream", action="store_true", help="stream the answers and measure time to first token")
    p.add_argument("--max-tokens", type=int, default=256, metavar="N", help="per request unless the prompt says")
    p.add_argument("--retries", type=int, default=0, metavar="N", help="retries per request (default 0)")
    p.add_argument("--timeout", type=float, default=60.0, metavar="S", help="seconds per attempt (default 60)")
    p.add_argument("--out", metavar="DIR", help="write bench.json, bench.csv and bench.html here")
    p.add_argument("--mock", action="store_true", help="the built-in mock server with per-model latency profiles")
    p.add_argument("--mock-error-rate", type=float, default=0.0, metavar="R", help="share of mocked requests to fail")
    p.add_argument("--mock-time-scale", type=float, default=1.0, metavar="X", help="multiply every mocked delay")
    p.add_argument("--seed", type=int, metavar="N", help="make the mocked latencies and faults repeatable")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def main(args: argparse.Namespace) -> int:
    models = args.model or (list(DEFAULT_MODELS) if args.mock else None)
    if not models:
        print("llmrail bench: name at least one --model (or use --mock)", file=sys.stderr)
        return 2
    try:
        results = run(
            models,
            args.prompts,
            requests=args.requests,
            concurrency=args.concurrency,
            stream=args.stream,
            max_tokens=args.max_tokens,
            mock=args.mock,
            mock_error_rate=args.mock_error_rate,
            mock_time_scale=args.mock_time_scale,
            retries=args.retries,
            timeout=args.timeout,
            seed=args.seed,
            progress=not args.no_progress,
        )
    except (OSError, ValueError, LLMError) as e:  # a bad file, option or model: say so, no traceback
        print(f"llmrail bench: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\nllmrail bench: interrupted, nothing written", file=sys.stderr)
        return 130
    print(results.table())
    if args.out:
        paths = results.write(Path(args.out))
        print("\nwrote " + ", ".join(str(p) for p in paths.values()))
    return 0
