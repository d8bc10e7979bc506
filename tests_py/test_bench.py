"""llmrail.bench: the runner's numbers on the mock server, its prompts files, its percentiles."""

from __future__ import annotations

import asyncio
import io
import json
import random
from collections import Counter
from pathlib import Path

import llmrail
import pytest
from llmrail.bench import DEFAULT_PROMPTS, Prompt, load_prompts
from llmrail.bench.profiles import DEFAULT, FAULTS, PROFILES, profile_for, script
from llmrail.bench.progress import PlainLine, Tqdm, progress
from llmrail.bench.stats import percentile
from llmrail.testing import MockServer

FAST = {"mock": True, "mock_time_scale": 0.02, "max_tokens": 16, "progress": False}
MODELS = ["openai/gpt-4o-mini", "anthropic/claude-haiku-4-5"]


def test_a_mocked_run_answers_every_request_and_orders_its_percentiles() -> None:
    results = llmrail.bench.run(MODELS, requests=24, concurrency=6, seed=1, **FAST)
    assert [m.model for m in results] == MODELS
    for m in results:
        assert (m.requests, m.succeeded, m.errors, m.error_rate) == (24, 24, {}, 0.0)
        assert m.latency is not None and 0 < m.latency.p50 <= m.latency.p95 <= m.latency.p99
        assert m.ttft is None  # not streamed
        assert m.requests_per_s > 0 and m.output_tokens_per_s > 0
        assert 0 < m.output_tokens_per_1k <= 16_000  # max_tokens caps every answer
        assert m.input_tokens_per_1k > 0
        # Both models have catalogue prices: the cost is what ChatResponse.cost_usd summed.
        assert m.cost_per_1k_usd is not None and m.cost_per_1k_usd > 0
        assert len(m.samples) == 24 and all(s.error is None for s in m.samples)
    assert results["anthropic/claude-haiku-4-5"] is results.models[1] and results.settings.requests == 24


def test_injected_faults_show_as_error_rates_by_kind() -> None:
    results = llmrail.bench.run("openai/gpt-4o-mini", requests=40, concurrency=8, mock_error_rate=0.2, seed=7, **FAST)
    m = results["openai/gpt-4o-mini"]
    # The same seed scripts the same faults: which error class each one raises is llmrail's own
    # mapping of a 429, a 529, a 500 and a dropped connection.
    planned = script(
        profile_for(m.model), 40, stream=False, max_tokens=16, error_rate=0.2, time_scale=0.02, rng=random.Random(7)
    )
    assert m.errors == dict(sorted(Counter(kind for _, kind in planned if kind).items()))
    assert sum(m.errors.values()) == 8 and m.succeeded == 32 and m.error_rate == pytest.approx(0.2)
    assert set(m.errors) <= {kind for _, kind in FAULTS}
    assert m.error_rates == {kind: n / 40 for kind, n in m.errors.items()}
    assert m.latency is not None and m.latency.p50 <= m.latency.p95 <= m.latency.p99


def test_a_streamed_run_measures_time_to_first_token_before_the_whole_answer() -> None:
    results = llmrail.bench.run(MODELS, requests=12, concurrency=4, stream=True, seed=2, **FAST)
    for m in results:
        assert m.succeeded == 12
        assert m.ttft is not None and m.latency is not None
        assert 0 < m.ttft.p50 < m.latency.p50 and m.ttft.p50 <= m.ttft.p95 <= m.ttft.p99
        assert all(s.ttft is not None and s.ttft < s.latency for s in m.samples)
        assert m.per_request_tokens_per_s is not None and m.per_request_tokens_per_s > 0
        assert m.cost_per_1k_usd is not None and m.cost_per_1k_usd > 0


def test_the_mock_profiles_make_a_large_model_slower_than_a_small_one() -> None:
    results = llmrail.bench.run(
        ["anthropic/claude-opus-4-1", "openai/gpt-4.1-nano"], requests=8, concurrency=8, seed=3,
        mock=True, mock_time_scale=0.05, max_tokens=20, progress=False,
    )
    opus, nano = results.models
    assert opus.latency is not None and nano.latency is not None
    assert opus.latency.p50 > 2 * nano.latency.p50


async def test_arun_is_the_same_run_awaited() -> None:
    results = await llmrail.bench.arun(MODELS[:1], ["Say hi."], requests=6, concurrency=3, **FAST)
    assert results.models[0].succeeded == 6 and results.settings.prompts == 1


async def test_cancelling_arun_stops_its_requests() -> None:
    task = asyncio.create_task(
        llmrail.bench.arun(MODELS[:1], requests=50, concurrency=4, mock=True, mock_time_scale=5.0, progress=False)
    )
    await asyncio.sleep(0.2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 5)


def test_a_real_run_sends_the_prompts_files_messages_to_the_provider(
    srv: MockServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-bench")
    monkeypatch.setenv("OPENAI_BASE_URL", srv.openai_base_url)
    srv.default("an answer", usage={"input_tokens": 30, "output_tokens": 3})
    srv.fault(503, times=1)
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text(
        '"Name three primes."\n\n'
        '{"prompt": "Two sentences on tides.", "max_tokens": 40}\n'
        '{"messages": [{"role": "system", "content": "Be terse."}, {"role": "user", "content": "Hi"}]}\n'
    )
    results = llmrail.bench.run("openai/gpt-4o-mini", prompts, requests=3, concurrency=1, max_tokens=99, progress=False)
    m = results["openai/gpt-4o-mini"]
    assert (m.succeeded, m.errors) == (2, {"ServerError": 1})  # no retries: the 503 is counted
    bodies = [r["body"] for r in srv.requests]
    assert [b["messages"][-1]["content"] for b in bodies] == ["Name three primes.", "Two sentences on tides.", "Hi"]
    assert [b.get("max_completion_tokens", b.get("max_tokens")) for b in bodies] == [99, 40, 99]
    assert bodies[2]["messages"][0] == {"role": "system", "content": "Be terse."}
    assert m.input_tokens_per_1k == 30_000 and m.output_tokens_per_1k == 3_000
    # gpt-4o-mini at $0.15 in and $0.60 out per million tokens.
    assert m.cost_per_1k_usd == pytest.approx(1000 * (30 * 0.15 + 3 * 0.6) / 1e6)


def test_prompts_files_take_strings_prompts_and_messages(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    path.write_text(json.dumps("a") + "\n" + json.dumps({"prompt": "b", "max_tokens": 5}) + "\n"
                    + json.dumps({"messages": [{"role": "user", "content": "c"}]}) + "\n")
    assert load_prompts(path) == (
        Prompt.text("a"),
        Prompt.text("b", 5),
        Prompt(({"role": "user", "content": "c"},)),
    )
    txt = tmp_path / "p.txt"
    txt.write_text("first\n\n  second  \n")
    assert load_prompts(txt) == (Prompt.text("first"), Prompt.text("second"))
    assert len(DEFAULT_PROMPTS) >= 10


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("not json", "p.jsonl:2: not JSON"),
        ("[1, 2]", "p.jsonl:2: expected a string"),
        ('{"messages": []}', '"messages" must be a non-empty list'),
        ('{"prompt": "x", "max_tokens": 0}', "max_tokens must be a positive integer"),
    ],
)
def test_a_bad_prompts_line_is_named(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "p.jsonl"
    path.write_text('"fine"\n' + line + "\n")
    with pytest.raises(ValueError, match=message):
        load_prompts(path)


def test_bad_settings_are_refused_before_anything_is_sent() -> None:
    with pytest.raises(ValueError, match="concurrency must be at least 1"):
        llmrail.bench.run(MODELS, concurrency=0, **FAST)
    with pytest.raises(ValueError, match="mock_error_rate"):
        llmrail.bench.run(MODELS, mock_error_rate=1.5, **FAST)
    with pytest.raises(ValueError, match="cannot stand in for 'bedrock/"):
        llmrail.bench.run(["bedrock/anthropic.claude-3-haiku"], requests=1, **FAST)


def test_percentiles_interpolate_between_ranks_as_numpy_does() -> None:
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert percentile([float(i) for i in range(1, 101)], 95) == pytest.approx(95.05)
    assert percentile([7.0], 99) == 7.0


def test_the_plain_progress_line_adds_a_line_each_quarter_in_a_log() -> None:
    out = io.StringIO()  # not a terminal: no carriage returns
    bar = PlainLine("m", 8, out)
    for i in range(8):
        bar.update(failed=i == 2)
    bar.close()
    assert out.getvalue().splitlines() == [
        "m  2/8 requests, 0 failed",
        "m  4/8 requests, 1 failed",
        "m  6/8 requests, 1 failed",
        "m  8/8 requests, 1 failed",
    ]


def test_the_progress_bar_is_tqdms_when_it_is_installed() -> None:
    out = io.StringIO()
    bar = progress("m", 5, enabled=True, out=out)
    assert isinstance(bar, Tqdm)
    for _ in range(5):
        bar.update(failed=True)
    bar.close()
    assert "5/5" in out.getvalue() and "failed=5" in out.getvalue()


def test_each_model_family_has_its_profile_and_unknown_models_a_middling_one() -> None:
    profiles = dict(PROFILES)
    assert profile_for("openai/gpt-4o-mini") == profiles["gpt-4o-mini"] != profiles["gpt-4o"]
    assert profile_for("anthropic/claude-haiku-4-5") == profiles["claude-haiku"]
    assert profile_for("openrouter/anthropic/claude-opus-4-1") == profiles["claude-opus"]
    assert profile_for("openai/my-finetune") == DEFAULT
    planned = script(DEFAULT, 50, stream=True, max_tokens=30, error_rate=0.1, time_scale=1.0, rng=random.Random(0))
    answers = [reply for reply, kind in planned if kind is None]
    assert len(answers) == 45 and all(len(r["chunks"]) == r["usage"]["output_tokens"] <= 30 for r in answers)
    assert all(r["chunk_delay"] == round(1 / DEFAULT.tokens_per_s, 6) for r in answers)
