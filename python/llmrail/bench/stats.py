"""What one benchmark measured: per-request samples, and each model's summary of them."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Sample:
    """One request: when it started (seconds into its model's run), how it went."""

    started: float
    latency: float
    """Seconds from sending to the whole answer (a stream's last event)."""
    ttft: float | None
    """Seconds to a stream's first token (text, thinking or a tool call); ``None`` when not streamed."""
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float | None = None
    error: str | None = None
    """The exception's class name (``RateLimitError``, ``TimeoutError``, ...) when it failed."""


@dataclass(frozen=True)
class Percentiles:
    """Seconds at the 50th, 95th and 99th percentile (linear interpolation between ranks)."""

    p50: float
    p95: float
    p99: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Percentiles | None:
        if not values:
            return None
        ordered = sorted(values)
        return cls(*(percentile(ordered, q) for q in (50, 95, 99)))


def percentile(ordered: Sequence[float], q: float) -> float:
    """The ``q``-th percentile of sorted values, interpolated as numpy's default ("linear") does."""
    if not ordered:
        raise ValueError("percentile of no values")
    rank = (len(ordered) - 1) * q / 100
    lo, hi = math.floor(rank), math.ceil(rank)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (rank - lo)


@dataclass(frozen=True)
class ModelResult:
    """One model's run: counts, latency, speed, errors, tokens and cost."""

    model: str
    requests: int
    succeeded: int
    errors: dict[str, int]
    """Failed requests by error kind (the exception's class name)."""
    wall_seconds: float
    latency: Percentiles | None
    """Over successful requests."""
    ttft: Percentiles | None
    """Time to first token, over successful streamed requests."""
    requests_per_s: float
    """Requests completed (failed ones too) per second of the run."""
    output_tokens_per_s: float
    """Output tokens of the whole run per second: the throughput at this concurrency."""
    per_request_tokens_per_s: float | None
    """Median of each answer's output tokens over its generation time (after the first token
    when streamed): the speed one caller sees."""
    input_tokens_per_1k: float
    output_tokens_per_1k: float
    cost_per_1k_usd: float | None
    """USD per 1,000 successful requests at the catalogue's prices; ``None`` for a model without one."""
    samples: tuple[Sample, ...] = field(repr=False)

    @property
    def error_rate(self) -> float:
        return (self.requests - self.succeeded) / self.requests if self.requests else 0.0

    @property
    def error_rates(self) -> dict[str, float]:
        """Each error kind's share of all requests."""
        return {kind: n / self.requests for kind, n in self.errors.items()}

    def to_dict(self, *, samples: bool = True) -> dict[str, Any]:
        out = {k: v for k, v in asdict(self).items() if k != "samples"}
        out["error_rate"] = self.error_rate
        out["error_rates"] = self.error_rates
        if samples:
            out["samples"] = [asdict(s) for s in self.samples]
        return out


def summarise(model: str, samples: Sequence[Sample], wall_seconds: float) -> ModelResult:
    ok = [s for s in samples if s.error is None]
    wall = max(wall_seconds, 1e-9)
    speeds = sorted(
        s.output_tokens / gen for s in ok if s.output_tokens and (gen := s.latency - (s.ttft or 0.0)) > 0
    )
    costs = [s.cost_usd for s in ok]
    priced = bool(ok) and all(c is not None for c in costs)
    return ModelResult(
        model=model,
        requests=len(samples),
        succeeded=len(ok),
        errors=dict(sorted(Counter(s.error for s in samples if s.error is not None).items())),
        wall_seconds=wall_seconds,
        latency=Percentiles.of([s.latency for s in ok]),
        ttft=Percentiles.of([s.ttft for s in ok if s.ttft is not None]),
        requests_per_s=len(samples) / wall,
        output_tokens_per_s=sum(s.output_tokens for s in ok) / wall,
        per_request_tokens_per_s=percentile(speeds, 50) if speeds else None,
        input_tokens_per_1k=_per_1k([s.input_tokens for s in ok]),
        output_tokens_per_1k=_per_1k([s.output_tokens for s in ok]),
        cost_per_1k_usd=_per_1k([c for c in costs if c is not None]) if priced else None,
        samples=tuple(samples),
    )


def _per_1k(values: Sequence[float]) -> float:
    return 1000 * sum(values) / len(values) if values else 0.0
