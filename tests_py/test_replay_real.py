"""Cassettes that vcrpy recorded for the official OpenAI and Anthropic SDKs (pydantic-ai's and
llm-anthropic's test suites, see tests/data/real-cassettes/SOURCE.md) replay through llmrail
with the `llm_cassette` marker, matching on method and path: real provider bytes, decoded by
llmrail, with no key, no base_url and no network."""

from __future__ import annotations

import json
from pathlib import Path

import llmrail
import pytest

REAL = Path(__file__).resolve().parent.parent / "tests" / "data" / "real-cassettes"
OPENAI = REAL / "pydantic-ai/tests/models/cassettes/test_openai"
ANTHROPIC = REAL / "pydantic-ai/tests/models/cassettes/test_anthropic"
DBOS = REAL / "pydantic-ai/tests/cassettes/test_dbos"
LLM_ANTHROPIC = REAL / "llm-anthropic/tests/cassettes/test_anthropic"


def replayed(path: Path) -> pytest.MarkDecorator:
    return pytest.mark.llm_cassette(path, mode="none", match_on=("method", "path"))


@pytest.fixture(autouse=True)
def no_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


def usage(u: llmrail.Usage | None) -> tuple[int, int]:
    assert u is not None
    return (u.input_tokens, u.output_tokens)


@replayed(OPENAI / "test_valid_response.yaml")
def test_openai_chat(llm_cassette: llmrail.replay.Cassette) -> None:
    client = llmrail.Client("openai/gpt-4o")
    assert client.base_url == "https://api.openai.com/v1"
    r = client.chat_sync("What is the capital of France?")
    assert r.text == "The capital of France is Paris."
    assert (usage(r.usage), r.finish_reason, r.model) == ((14, 7), "stop", "gpt-4o-2024-08-06")
    assert llm_cassette.all_played


@replayed(OPENAI / "test_openai_native_output.yaml")
async def test_openai_tool_call_round_trip() -> None:
    client = llmrail.Client("openai/gpt-4o")
    first = await client.chat("Where do I live?", tools=[{"name": "get_user_country"}])
    (call,) = first.tool_calls
    assert (call.id, call.name, call.arguments) == ("call_PkRGedQNRFUzJp2R7dO7avWR", "get_user_country", {})
    assert first.finish_reason == "tool_calls"
    second = await client.chat("and then?")  # the next identical (method, path) request
    assert json.loads(second.text) == {"city": "Mexico City", "country": "Mexico"}
    assert usage(second.usage) == (92, 15)


@replayed(DBOS / "test_dbos_model_stream_direct.yaml")
async def test_openai_stream() -> None:
    events = [e async for e in llmrail.Client("openai/gpt-4o").stream("Capital of Mexico?")]
    assert "".join(e.text for e in events if e.type == "text") == "The capital of Mexico is Mexico City."
    assert (events[-1].finish_reason, usage(events[-1].usage)) == ("stop", (14, 8))


@replayed(ANTHROPIC / "test_anthropic_model_instructions.yaml")
def test_anthropic_chat() -> None:
    r = llmrail.Client("anthropic/claude-3-opus-20240229").chat_sync("What is the capital of France?")
    assert (r.text, usage(r.usage), r.model) == ("The capital of France is Paris.", (20, 10), "claude-3-opus-20240229")


@replayed(ANTHROPIC / "test_anthropic_tool_output.yaml")
def test_anthropic_tool_use_round_trip() -> None:
    client = llmrail.Client("anthropic/claude-sonnet-4-5")
    a = client.chat_sync("Where do I live?", tools=[{"name": "get_user_country"}])
    b = client.chat_sync("Where do I live?", tools=[{"name": "final_result"}])
    assert [c.name for c in a.tool_calls] == ["get_user_country"]
    assert [(c.name, c.arguments) for c in b.tool_calls] == [
        ("final_result", {"city": "Mexico City", "country": "Mexico"})
    ]


@replayed(ANTHROPIC / "test_anthropic_model_thinking_part_stream.yaml")
def test_anthropic_stream_with_thinking() -> None:
    events = list(llmrail.Client("anthropic/claude-sonnet-4-0").stream("How do I cross the street?"))
    thinking = "".join(e.text for e in events if e.type == "thinking")
    text = "".join(e.text for e in events if e.type == "text")
    assert thinking.startswith("This is a straightforward question about pedestrian safety.")
    assert text.endswith("Always prioritize safety over speed when crossing streets.")
    assert usage(events[-1].usage) == (43, 282)


@replayed(LLM_ANTHROPIC / "test_prompt.yaml")
async def test_anthropic_gzip_stream_recorded_by_stock_vcrpy() -> None:
    events = [e async for e in llmrail.Client("anthropic/claude-sonnet-4-5").stream("Two names for a pet pelican")]
    assert "".join(e.text for e in events if e.type == "text") == "- Captain\n- Scoop"
    assert (events[-1].model, usage(events[-1].usage)) == ("claude-sonnet-4-5-20250929", (17, 10))


@replayed(LLM_ANTHROPIC / "test_tools.yaml")
def test_anthropic_streamed_tool_calls_then_text() -> None:
    client = llmrail.Client("anthropic/claude-haiku-4-5")
    first = list(client.stream("Two names for a pet pelican", tools=[{"name": "pelican_name_generator"}]))
    names = [e.name for e in first if e.type == "tool_call_delta" and e.name]
    assert names == ["pelican_name_generator", "pelican_name_generator"]
    second = "".join(e.text for e in client.stream("and now?") if e.type == "text")
    assert "2. **Sammy**" in second
