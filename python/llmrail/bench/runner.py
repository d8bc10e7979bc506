"""The load generator: each model in turn, ``concurrency`` callers sharing ``requests`` requests.

Models run one after another, not side by side, so that one model's requests never share the
event loop, the connection pool or the machine's cores with another's: each gets the whole
``concurrency``, and their numbers compare. Timings are taken around the public async API
(``client.chat`` / ``client.stream``), so they are what a caller of llmrail sees.
"""

from __future__ import annotations

import asyncio
import datetime
import os
import random
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from .._core import Client, Retry
from ..errors import LLMError
from ..testing import MockServer
from . import profiles
from .progress import progress as progress_bar
from .prompts import Prompt, as_prompts
from .results import BenchResults, Settings
from .stats import ModelResult, Sample, summarise

DEFAULT_MODELS = ("openai/gpt-4o-mini", "anthropic/claude-haiku-4-5")
# Providers the mock server speaks at its root URL; every other one is OpenAI-compatible (/v1).
_AT_ROOT = frozenset({"anthropic", "gemini", "ollama"})
_NOT_MOCKED = frozenset({"bedrock", "azure", "mock"})


async def arun(
    models: Sequence[str] | str = DEFAULT_MODELS,
    prompts: Sequence[Prompt | str] | str | os.PathLike[str] | None = None,
    *,
    requests: int = 100,
    concurrency: int = 8,
    stream: bool = False,
    max_tokens: int = 256,
    mock: bool = False,
    mock_error_rate: float = 0.0,
    mock_time_scale: float = 1.0,
    retries: int = 0,
    timeout: float = 60.0,
    seed: int | None = None,
    progress: bool = True,
) -> BenchResults:
    """Benchmark each model; see :func:`run`."""
    models = (models,) if isinstance(models, str) else tuple(models)
    chosen = as_prompts(prompts)
    _check(models, requests, concurrency, max_tokens, mock_error_rate, mock_time_scale, retries)
    settings = Settings(
        models=models,
        requests=requests,
        concurrency=concurrency,
        stream=stream,
        max_tokens=max_tokens,
        prompts=len(chosen),
        mock=mock,
        retries=retries,
        started_at=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    )
    rng = random.Random(seed)
    results = []
    with _mock_server(mock) as srv:
        for model in models:
            if srv is not None:
                profile = profiles.profile_for(model)
                srv.clear()
                entries = profiles.script(
                    profile,
                    requests,
                    stream=stream,
                    max_tokens=max_tokens,
                    error_rate=mock_error_rate,
                    time_scale=mock_time_scale,
                    rng=rng,
                )
                for reply, _ in entries:
                    srv.push(reply)
                # Retries ask for more answers than the script holds: they get a typical one.
                typical = min(max_tokens, profile.output_tokens)
                srv.default(
                    **profiles.answer(
                        typical, profile.ttft * mock_time_scale, profile.tokens_per_s / mock_time_scale, stream=stream
                    )
                )
            client = _client(model, srv, retries, timeout)
            results.append(await _run_model(client, model, chosen, settings, progress))
    return BenchResults(settings, tuple(results))


def run(
    models: Sequence[str] | str = DEFAULT_MODELS,
    prompts: Sequence[Prompt | str] | str | os.PathLike[str] | None = None,
    *,
    requests: int = 100,
    concurrency: int = 8,
    stream: bool = False,
    max_tokens: int = 256,
    mock: bool = False,
    mock_error_rate: float = 0.0,
    mock_time_scale: float = 1.0,
    retries: int = 0,
    timeout: float = 60.0,
    seed: int | None = None,
    progress: bool = True,
) -> BenchResults:
    """Send ``requests`` requests to each of ``models`` (``"provider/model"``), ``concurrency`` at
    a time, and measure them.

    ``prompts``: a prompts file's path, a list of prompts, or ``None`` for the built-in set.
    ``stream``: stream the answers (and measure time to first token). ``retries``: retries per
    request (0 by default, so that the error rates are the provider's own). ``mock``: answer
    from llmrail's mock server with each model family's latency profile, no key needed;
    ``mock_error_rate`` of those requests then fail (rate limits, overloads, server errors,
    dropped connections), ``mock_time_scale`` scales every mocked delay. ``progress``: a
    progress bar on stderr. Blocks; in async code, ``await llmrail.bench.arun(...)``.
    """
    return asyncio.run(
        arun(
            models,
            prompts,
            requests=requests,
            concurrency=concurrency,
            stream=stream,
            max_tokens=max_tokens,
            mock=mock,
            mock_error_rate=mock_error_rate,
            mock_time_scale=mock_time_scale,
            retries=retries,
            timeout=timeout,
            seed=seed,
            progress=progress,
        )
    )


def _check(
    models: Sequence[str],
    requests: int,
    concurrency: int,
    max_tokens: int,
    error_rate: float,
    time_scale: float,
    retries: int,
) -> None:
    if not models:
        raise ValueError("no models to benchmark")
    for name, value in (("requests", requests), ("concurrency", concurrency), ("max_tokens", max_tokens)):
        if value < 1:
            raise ValueError(f"{name} must be at least 1, got {value}")
    if retries < 0:
        raise ValueError(f"retries must not be negative, got {retries}")
    if not 0 <= error_rate <= 1:
        raise ValueError(f"mock_error_rate must be between 0 and 1, got {error_rate}")
    if not 0 < time_scale <= 100:
        raise ValueError(f"mock_time_scale must be above 0 and at most 100, got {time_scale}")


@contextmanager
def _mock_server(mock: bool) -> Iterator[MockServer | None]:
    if not mock:
        yield None
        return
    with MockServer() as srv:
        yield srv


def _client(model: str, srv: MockServer | None, retries: int, timeout: float) -> Client:
    # No breaker: a benchmark wants every request's own outcome, not fast failures after a run
    # of errors.
    retry = Retry(max_attempts=retries + 1)
    if srv is None:
        return Client(model, retry=retry, circuit_breaker=False, timeout=timeout)
    provider = model.split("/", 1)[0]
    if provider in _NOT_MOCKED or "/" not in model:
        raise ValueError(f"--mock cannot stand in for {model!r}: use an openai, anthropic, gemini or ollama model")
    base_url = srv.url if provider in _AT_ROOT else srv.openai_base_url
    return Client(model, base_url=base_url, api_key="sk-mock", retry=retry, circuit_breaker=False, timeout=timeout)


async def _run_model(
    client: Client, model: str, prompts: Sequence[Prompt], settings: Settings, show: bool
) -> ModelResult:
    bar = progress_bar(model, settings.requests, enabled=show)
    samples: list[Sample] = []
    todo = iter(range(settings.requests))  # shared by the callers: next() never awaits
    t0 = time.perf_counter()

    async def caller() -> None:
        for i in todo:
            prompt = prompts[i % len(prompts)]
            sample = await _one(client, prompt, settings, t0)
            samples.append(sample)
            bar.update(sample.error is not None)

    try:
        await asyncio.gather(*(caller() for _ in range(min(settings.concurrency, settings.requests))))
    finally:
        bar.close()
    wall = time.perf_counter() - t0
    samples.sort(key=lambda s: s.started)
    return summarise(model, samples, wall)


async def _one(client: Client, prompt: Prompt, settings: Settings, t0: float) -> Sample:
    max_tokens = prompt.max_tokens or settings.max_tokens
    start = time.perf_counter()
    ttft: float | None = None
    try:
        if settings.stream:
            usage, cost = None, None
            async for event in client.stream(list(prompt.messages), max_tokens=max_tokens):
                if event.type == "done":
                    usage, cost = event.usage, event.cost_usd
                elif ttft is None:  # thinking counts: the model has begun to answer
                    ttft = time.perf_counter() - start
        else:
            response = await client.chat(list(prompt.messages), max_tokens=max_tokens)
            usage, cost = response.usage, response.cost_usd
    except LLMError as e:
        return Sample(start - t0, time.perf_counter() - start, None, error=type(e).__name__)
    latency = time.perf_counter() - start
    return Sample(
        start - t0,
        latency,
        ttft,
        input_tokens=usage.input_tokens if usage else 0,
        output_tokens=usage.output_tokens if usage else 0,
        cost_usd=cost,
    )
