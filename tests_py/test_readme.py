"""Every Python example in the README runs against the mock server."""

from __future__ import annotations

import ast
import asyncio
import json
from pathlib import Path
from typing import Any

import llmrail
import pytest
from llmrail.testing import MockServer

from .conftest import reset_otel_globals
from .readme_examples import snippets


def test_readme_has_examples() -> None:
    assert len(snippets()) >= 6


def test_every_readme_example_runs(srv: MockServer, monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                   request: pytest.FixtureRequest) -> None:
    monkeypatch.chdir(tmp_path)  # the record-and-replay example writes a cassette
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))  # the batch examples' default store
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-readme")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", srv.anthropic_base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-readme")
    monkeypatch.setenv("OPENAI_BASE_URL", srv.openai_base_url)
    # A bare host:port, as Ollama users set it.
    monkeypatch.setenv("OLLAMA_HOST", srv.url.removeprefix("http://"))
    # The tools example expects a tool call; everything else gets the echo reply.
    srv.default("a reply", latency=0)
    # Without retries, so the errors example sees the scripted 429 instead of retrying past it.
    client = llmrail.Client("anthropic/claude-sonnet-4-5", retry=llmrail.Retry(max_attempts=1))
    namespace: dict[str, Any] = {"llmrail": llmrail, "client": client}
    request.addfinalizer(reset_otel_globals)  # the tracing example sets a tracer provider
    for i, code in enumerate(snippets()):
        if "tool_calls" in code and "weather" in code:
            srv.reply(tool_calls=[{"name": "get_weather", "arguments": {"city": "Paris"}}])
        if "except llmrail.RateLimitError" in code:
            srv.fault(429, retry_after=3)
        if "class Judgement" in code:
            judgement = {"winner": "Essay B", "confidence": 4.0,
                         "justification": "Essay B weighs costs and benefits; Essay A only asserts its case."}
            srv.reply(tool_calls=[{"name": "Judgement", "arguments": judgement}])  # Anthropic: a tool call
            srv.reply(json.dumps(judgement))  # OpenAI-compatible: json_schema text
            srv.reply(tool_calls=[{"name": "Judgement", "arguments": {**judgement, "confidence": 7.5}}])
            srv.reply(tool_calls=[{"name": "Judgement", "arguments": judgement}])  # the re-ask
            srv.reply(tool_calls=[{"name": "Judgement", "arguments": judgement}])  # the stream
        # dont_inherit: run as users do, without this file's `from __future__ import annotations`
        # (pydantic models in an example need their annotations evaluated).
        compiled = compile(code, f"README example {i}", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT,
                           dont_inherit=True)
        result = eval(compiled, namespace)  # noqa: S307 - our own README
        if asyncio.iscoroutine(result):
            asyncio.run(result)
    out = capsys.readouterr().out
    assert "slow down for 3.0 s" in out
    assert "p50 ms" in out and (tmp_path / "report" / "bench.html").exists()  # the benchmark example
    assert "Paris" in out
    assert "['attempt 1 chat claude-sonnet-4-5', 'chat claude-sonnet-4-5', 'answer a question']" in out
    assert "anthropic Essay B 0.75" in out and "openai Essay B 0.75" in out
    assert "2 " in out and "confidence: 7.5 is greater than the maximum of 5.0" in out
    # The SDK example recorded its chat and its stream through llmrail's transport, key scrubbed.
    sdk_cassette = (tmp_path / "cassettes" / "sdk.yaml").read_text()
    assert sdk_cassette.count("uri: http") == 2 and "sk-readme" not in sdk_cassette
