"""A benchmark's results: the settings it ran with, one summary per model, the printed table."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .stats import ModelResult


@dataclass(frozen=True)
class Settings:
    """What was run: models, load, whether streamed or mocked, when."""

    models: tuple[str, ...]
    requests: int
    concurrency: int
    stream: bool
    max_tokens: int
    prompts: int
    mock: bool
    retries: int
    started_at: str


@dataclass(frozen=True)
class BenchResults:
    """Every model's :class:`ModelResult`, in the order they ran; ``results["openai/gpt-4o-mini"]``."""

    settings: Settings
    models: tuple[ModelResult, ...]

    def __getitem__(self, model: str) -> ModelResult:
        for result in self.models:
            if result.model == model:
                return result
        raise KeyError(model)

    def __iter__(self) -> Iterator[ModelResult]:
        return iter(self.models)

    def to_dict(self, *, samples: bool = True) -> dict[str, Any]:
        """Plain JSON-ready data (what ``bench.json`` holds); ``samples``: each request too."""
        return {"settings": asdict(self.settings), "models": [m.to_dict(samples=samples) for m in self.models]}

    def table(self) -> str:
        """The summary as aligned text, one row per model (what the CLI prints)."""
        rows = [TABLE_HEADER] + [table_row(m) for m in self.models]
        widths = [max(len(r[i]) for r in rows) for i in range(len(TABLE_HEADER))]
        lines = [
            "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))
            for r in rows
        ]
        lines.insert(1, "  ".join("-" * w for w in widths))
        return "\n".join(lines)

    def write(self, out_dir: str | os.PathLike[str]) -> dict[str, Path]:
        """Write ``bench.json``, ``bench.csv`` and ``bench.html`` into ``out_dir``; their paths by kind."""
        from .report import write

        return write(self, out_dir)


TABLE_HEADER = (
    "model",
    "ok",
    "errors",
    "p50 ms",
    "p95 ms",
    "p99 ms",
    "ttft p50 ms",
    "out tok/s",
    "req/s",
    "in tok/1k req",
    "out tok/1k req",
    "$/1k req",
)


def table_row(m: ModelResult) -> tuple[str, ...]:
    lat, ttft = m.latency, m.ttft
    return (
        m.model,
        f"{m.succeeded}/{m.requests}",
        f"{m.error_rate:.1%}",
        _ms(lat.p50 if lat else None),
        _ms(lat.p95 if lat else None),
        _ms(lat.p99 if lat else None),
        _ms(ttft.p50 if ttft else None),
        f"{m.output_tokens_per_s:,.0f}",
        f"{m.requests_per_s:,.1f}",
        f"{m.input_tokens_per_1k:,.0f}",
        f"{m.output_tokens_per_1k:,.0f}",
        "-" if m.cost_per_1k_usd is None else f"{m.cost_per_1k_usd:,.4f}",
    )


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:,.0f}"
