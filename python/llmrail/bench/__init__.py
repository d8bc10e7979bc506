"""Benchmark providers and models: ``python -m llmrail bench`` or ``llmrail.bench.run(...)``.

    results = llmrail.bench.run(["openai/gpt-4o-mini", "anthropic/claude-haiku-4-5"], requests=200,
                                concurrency=16, mock=True)
    print(results.table())
    results.write("report/")      # bench.json, bench.csv, bench.html (charts, opens offline)

Each model gets ``requests`` requests, ``concurrency`` at a time, one model after the other;
per model: latency p50/p95/p99, time to first token (streams), output tokens per second,
requests per second, errors by kind, tokens and cost per 1,000 requests.
"""

from .prompts import DEFAULT_PROMPTS, Prompt, load_prompts
from .results import BenchResults, Settings
from .runner import DEFAULT_MODELS, arun, run
from .stats import ModelResult, Percentiles, Sample

__all__ = [
    "DEFAULT_MODELS",
    "DEFAULT_PROMPTS",
    "BenchResults",
    "ModelResult",
    "Percentiles",
    "Prompt",
    "Sample",
    "Settings",
    "arun",
    "load_prompts",
    "run",
]
