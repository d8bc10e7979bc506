"""Real structured-output recordings (pydantic-ai's cassettes, see tests/data/real-cassettes/)
replayed through llmrail and decoded into pydantic models by `client.extract`: OpenAI
`response_format` json_schema, Anthropic `output_config` json_schema after a strict tool call, and
a local Ollama's json_schema answer."""

from __future__ import annotations

from pathlib import Path

import llmrail
import pytest
from pydantic import BaseModel

REAL = Path(__file__).resolve().parent.parent / "tests" / "data" / "real-cassettes" / "pydantic-ai" / "tests" / "models"


class CityLocation(BaseModel):
    city: str
    country: str


class CityDetails(CityLocation):
    population: int


def replayed(path: Path) -> pytest.MarkDecorator:
    return pytest.mark.llm_cassette(path, mode="none", match_on=("method", "path"))


@pytest.fixture(autouse=True)
def no_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


@replayed(REAL / "cassettes/test_openai/test_openai_native_output.yaml")
async def test_openai_json_schema_answer() -> None:
    client = llmrail.Client("openai/gpt-4o")
    await client.chat("Where do I live?", tools=[{"name": "get_user_country"}])  # the recorded tool turn
    x = await client.extract(CityLocation, "Where do I live?", include_raw=True)
    assert x.value == CityLocation(city="Mexico City", country="Mexico")
    assert (x.mode, x.attempts, x.usage.input_tokens, x.usage.output_tokens) == ("json_schema", 1, 92, 15)
    assert x.model == "gpt-4o-2024-08-06" and x.cost_usd is not None


@replayed(REAL / "anthropic/cassettes/test_output/test_strict_true_tool_native_output.yaml")
def test_anthropic_output_config_answer() -> None:
    client = llmrail.Client("anthropic/claude-sonnet-4-5")
    client.chat_sync("Give me details about Paris", tools=[{"name": "lookup_country", "strict": True}])
    x = client.extract_sync(CityDetails, "Give me details about Paris", mode="json_schema", include_raw=True)
    assert x.value == CityDetails(city="Paris", country="France", population=2161000)
    assert (x.usage.input_tokens, x.usage.output_tokens) == (811, 23)


@replayed(REAL / "cassettes/test_ollama/test_ollama_local_native_output_uses_json_schema.yaml")
async def test_local_ollama_json_schema_answer(llm_cassette: llmrail.replay.Cassette) -> None:
    client = llmrail.Client("openai/qwen3:0.6b", base_url="http://localhost:11434/v1")
    city = await client.extract(CityLocation, "What is the capital of France?")
    assert city == CityLocation(city="Paris", country="France")
    assert llm_cassette.all_played
