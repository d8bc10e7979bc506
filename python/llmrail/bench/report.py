"""The files a benchmark leaves: ``bench.json`` (everything), ``bench.csv`` (one row per model),
``bench.html`` (one self-contained page with the charts, see :mod:`.html`)."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

from .html import render
from .stats import ModelResult

if TYPE_CHECKING:
    from .results import BenchResults

CSV_COLUMNS = (
    "model",
    "requests",
    "succeeded",
    "error_rate",
    "errors",
    "latency_p50_s",
    "latency_p95_s",
    "latency_p99_s",
    "ttft_p50_s",
    "ttft_p95_s",
    "ttft_p99_s",
    "requests_per_s",
    "output_tokens_per_s",
    "per_request_tokens_per_s",
    "input_tokens_per_1k",
    "output_tokens_per_1k",
    "cost_per_1k_usd",
    "wall_seconds",
)


def write(results: BenchResults, out_dir: str | os.PathLike[str]) -> dict[str, Path]:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "bench.json", "csv": out / "bench.csv", "html": out / "bench.html"}
    paths["json"].write_text(json.dumps(results.to_dict(), indent=2) + "\n", encoding="utf-8")
    with paths["csv"].open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(CSV_COLUMNS)
        writer.writerows(_csv_row(m) for m in results.models)
    paths["html"].write_text(render(results), encoding="utf-8")
    return paths


def _csv_row(m: ModelResult) -> list[object]:
    lat, ttft = m.latency, m.ttft
    return [
        m.model,
        m.requests,
        m.succeeded,
        m.error_rate,
        ";".join(f"{kind}={n}" for kind, n in m.errors.items()),
        *((lat.p50, lat.p95, lat.p99) if lat else ("", "", "")),
        *((ttft.p50, ttft.p95, ttft.p99) if ttft else ("", "", "")),
        m.requests_per_s,
        m.output_tokens_per_s,
        "" if m.per_request_tokens_per_s is None else m.per_request_tokens_per_s,
        m.input_tokens_per_1k,
        m.output_tokens_per_1k,
        "" if m.cost_per_1k_usd is None else m.cost_per_1k_usd,
        m.wall_seconds,
    ]
