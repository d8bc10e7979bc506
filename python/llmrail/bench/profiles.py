"""Per-model latency profiles for ``--mock``: the mock server answers like the model family would.

The figures are rough medians from public provider dashboards and our own runs in 2025 (time to
first token, output tokens per second, answer length): enough for the report to show the shapes a
real comparison shows (a fast small model, a slow large one, long tails), not a measurement of any
provider. Unknown models get a middling profile.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

# Log-normal spread of the time to first token: sigma 0.35 puts p99 near 2.3x the median, the
# tail hosted APIs show.
TTFT_SIGMA = 0.35
# Faults an injected error draws from, with the error class llmrail raises for each.
FAULTS: tuple[tuple[Any, str], ...] = (
    ({"status": 429, "retry_after": 0}, "RateLimitError"),
    ({"status": 529}, "OverloadedError"),
    ({"status": 500}, "ServerError"),
    ("reset", "ConnectionError"),
)


@dataclass(frozen=True)
class Profile:
    """How a model family answers: seconds to the first token, tokens per second, answer length."""

    ttft: float
    tokens_per_s: float
    output_tokens: int


# First match wins, so the longer names come before their prefixes.
PROFILES: tuple[tuple[str, Profile], ...] = (
    ("gpt-4o-mini", Profile(0.35, 85, 180)),
    ("gpt-4o", Profile(0.45, 60, 200)),
    ("gpt-4.1-nano", Profile(0.28, 140, 150)),
    ("gpt-4.1-mini", Profile(0.38, 80, 180)),
    ("gpt-4.1", Profile(0.50, 55, 220)),
    ("gpt-5-nano", Profile(0.9, 150, 250)),
    ("gpt-5-mini", Profile(1.4, 110, 300)),
    ("gpt-5", Profile(2.5, 60, 350)),
    ("o3", Profile(3.0, 70, 350)),
    ("o4-mini", Profile(1.8, 110, 300)),
    ("claude-haiku", Profile(0.55, 110, 200)),
    ("claude-3-5-haiku", Profile(0.60, 65, 200)),
    ("claude-sonnet", Profile(1.0, 65, 260)),
    ("claude-opus", Profile(1.6, 40, 300)),
    ("gemini-2.5-flash-lite", Profile(0.30, 250, 200)),
    ("gemini-2.5-flash", Profile(0.45, 190, 220)),
    ("gemini-2.5-pro", Profile(1.8, 95, 320)),
    ("llama", Profile(0.25, 45, 200)),
)
DEFAULT = Profile(0.6, 70, 200)


def profile_for(model: str) -> Profile:
    """The profile of ``"provider/model"`` (or a bare model name)."""
    name = model.rsplit("/", 1)[-1].lower()
    return next((p for key, p in PROFILES if key in name), DEFAULT)


def script(
    profile: Profile,
    requests: int,
    *,
    stream: bool,
    max_tokens: int,
    error_rate: float,
    time_scale: float,
    rng: random.Random,
) -> list[tuple[dict[str, Any], str | None]]:
    """One scripted mock reply per request, in order, and the error kind each should raise.

    Exactly ``round(error_rate * requests)`` of them are faults, at random places: a run's error
    counts are then known in advance, which is what a test of the report needs."""
    faulty = set(rng.sample(range(requests), round(error_rate * requests)))
    out: list[tuple[dict[str, Any], str | None]] = []
    for i in range(requests):
        ttft = profile.ttft * time_scale * rng.lognormvariate(0, TTFT_SIGMA)
        if i in faulty:
            fault, kind = FAULTS[rng.randrange(len(FAULTS))]
            out.append(({"fault": fault, "latency": round(ttft / 2, 6)}, kind))
            continue
        # Answers vary around the family's typical length; max_tokens cuts them as a model would.
        n = max(1, min(max_tokens, round(profile.output_tokens * rng.uniform(0.4, 1.6))))
        out.append((answer(n, ttft, profile.tokens_per_s / time_scale, stream=stream), None))
    return out


def answer(tokens: int, ttft: float, tokens_per_s: float, *, stream: bool) -> dict[str, Any]:
    """A reply of ``tokens`` one-token words: streamed one per ``1/tokens_per_s`` after ``ttft``,
    or whole after the time the stream would have taken."""
    words = _words(tokens)
    reply: dict[str, Any] = {"usage": {"output_tokens": tokens}}
    if stream:
        reply.update(chunks=words, latency=round(ttft, 6), chunk_delay=round(1 / tokens_per_s, 6))
    else:
        reply.update(text="".join(words), latency=round(ttft + tokens / tokens_per_s, 6))
    return reply


_VOCABULARY = "the model answers each request with words that stand in for tokens of a real reply".split()


def _words(n: int) -> Sequence[str]:
    return [(" " if i else "") + _VOCABULARY[i % len(_VOCABULARY)] for i in range(n)]
