"""Structured extraction against the mock server: both providers, async and sync, the re-ask
with its exact follow-up message, max_retries and the token budget, the caller's validators."""

from __future__ import annotations

import asyncio
import json
import pickle
from typing import Annotated, Any, Literal

import llmrail
import pytest
from llmrail.testing import MockServer
from pydantic import AfterValidator, BaseModel, Field, ValidationInfo, field_validator

from .conftest import make_client


class Judgement(BaseModel):
    """Which essay is better: the seeds' pairwise judgement, confidence normalised to 0-1."""

    winner: Literal["Essay A", "Essay B"]
    justification: str = Field(min_length=50, max_length=500)
    confidence: Annotated[float, Field(ge=1.0, le=5.0), AfterValidator(lambda c: (c - 1.0) / 4.0)]


GOOD = {
    "winner": "Essay B",
    "justification": "Essay B states a clear thesis and supports every claim with evidence.",
    "confidence": 4.0,
}
USAGE: Any = {"input_tokens": 120, "output_tokens": 30}
MESSAGES = [{"role": "user", "content": "Essay A: ...\n\nEssay B: ...\n\nWhich is better?"}]


def answer(srv: MockServer, provider: str, value: Any, **kwargs: Any) -> None:
    """Script one answer the way the provider's auto mode gets it: OpenAI-compatible servers use
    json_schema (the answer is the text), Anthropic a forced tool call."""
    if provider == "openai":
        text = value if isinstance(value, str) else json.dumps(value)
        srv.reply(text, usage=USAGE, **kwargs)
    else:
        srv.reply(tool_calls=[{"name": "Judgement", "arguments": value, "id": "toolu_01"}], usage=USAGE, **kwargs)


async def test_essay_judgement_through_both_providers(srv: MockServer, client: llmrail.Client, provider: str) -> None:
    answer(srv, provider, GOOD)
    j = await client.extract(Judgement, MESSAGES, max_tokens=400)
    assert isinstance(j, Judgement)
    assert (j.winner, j.confidence) == ("Essay B", 0.75)
    body = srv.last_request["body"]
    if provider == "openai":
        fmt = body["response_format"]
        assert (fmt["type"], fmt["json_schema"]["name"]) == ("json_schema", "Judgement")
        # minLength is beyond strict mode: sent as a plain schema, checked here instead
        assert "strict" not in fmt["json_schema"]
    else:
        assert body["tool_choice"] == {"type": "tool", "name": "Judgement"}
        assert body["tools"][0]["input_schema"]["properties"]["confidence"]["maximum"] == 5.0


def test_essay_judgement_sync(srv: MockServer, client: llmrail.Client, provider: str) -> None:
    answer(srv, provider, GOOD)
    j = client.extract_sync(Judgement, MESSAGES)
    assert (j.winner, j.confidence) == ("Essay B", 0.75)


@pytest.mark.parametrize("mode", ["tool", "json_schema", "json", "prompt"])
def test_every_mode_reads_its_answer(srv: MockServer, mode: str) -> None:
    client = make_client(srv, "openai")
    if mode == "tool":
        srv.reply(tool_calls=[{"name": "Judgement", "arguments": GOOD}])
    else:
        srv.reply("Here it is:\n```json\n" + json.dumps(GOOD) + "\n```")
    j = client.extract_sync(Judgement, "Judge.", mode=mode, system="You judge essays.")  # type: ignore[arg-type]
    assert j.winner == "Essay B"
    body = srv.last_request["body"]
    if mode in ("json", "prompt"):
        assert body["messages"][0]["content"].startswith("You judge essays.\n\nAnswer with one JSON object")
        assert ("response_format" in body) == (mode == "json")


async def test_an_invalid_answer_is_reasked_with_the_exact_errors(
    srv: MockServer, client: llmrail.Client, provider: str
) -> None:
    answer(srv, provider, {**GOOD, "winner": "Essay C", "confidence": 7.5})
    answer(srv, provider, GOOD)
    x = await client.extract(Judgement, MESSAGES, include_raw=True)
    assert (x.value.winner, x.attempts, x.mode) == ("Essay B", 2, "json_schema" if provider == "openai" else "tool")
    assert (x.usage.input_tokens, x.usage.output_tokens) == (240, 60)
    assert x.cost_usd is not None and x.cost_usd > 0
    assert json.loads(x.raw[0])["winner"] == "Essay C"
    assert x.errors[1] == []
    expected = (
        "That answer is not valid:\n"
        "- confidence: 7.5 is greater than the maximum of 5.0\n"
        '- winner: "Essay C" is not one of "Essay A" or "Essay B"\n'
    )
    assert x.errors[0] == [line[2:] for line in expected.splitlines()[1:]]
    follow_up = srv.requests[1]["body"]["messages"]
    if provider == "openai":
        assert follow_up[-2] == {"role": "assistant", "content": x.raw[0]}
        assert follow_up[-1] == {
            "role": "user",
            "content": expected + "Answer again with one corrected JSON object that follows the schema.",
        }
    else:
        assert follow_up[-2]["content"][0]["type"] == "tool_use"
        result = follow_up[-1]["content"][0]
        assert (result["type"], result["tool_use_id"]) == ("tool_result", "toolu_01")
        assert result["content"] == [
            {"type": "text", "text": expected + "Call Judgement again with corrected arguments."}
        ]


def test_pydantic_validators_see_the_attempt_and_the_context(srv: MockServer) -> None:
    class Strict(Judgement):
        @field_validator("justification")
        @classmethod
        def names_an_essay(cls, v: str, info: ValidationInfo) -> str:
            assert info.context is not None
            seen.append((info.context["attempt"], info.context["rubric"]))
            if "Essay" not in v:
                raise ValueError("must name the essay it prefers")
            return v

    seen: list[tuple[int, str]] = []
    client = make_client(srv, "openai")
    srv.reply(json.dumps({**GOOD, "justification": "The second one argues its case with evidence, clearly."}))
    srv.reply(json.dumps(GOOD))
    x = client.extract_sync(Strict, MESSAGES, validation_context={"rubric": "clarity"}, include_raw=True)
    assert seen == [(1, "clarity"), (2, "clarity")]
    assert x.errors[0] == [
        "justification: Value error, must name the essay it prefers "
        "(got 'The second one argues its case with evidence, clearly.')"
    ]


def test_a_validator_bug_comes_out_unchanged(srv: MockServer) -> None:
    class Broken(BaseModel):
        winner: str

        @field_validator("winner")
        @classmethod
        def explode(cls, v: str) -> str:
            raise KeyError("not a validation error")

    client = make_client(srv, "openai")
    srv.reply(json.dumps(GOOD))
    with pytest.raises(KeyError, match="not a validation error"):
        client.extract_sync(Broken, MESSAGES)
    assert len(srv.requests) == 1


async def test_max_retries_then_an_extraction_error_with_every_attempt(
    srv: MockServer, client: llmrail.Client, provider: str
) -> None:
    answer(srv, provider, {"winner": "Essay A", "confidence": 9}, times=5)
    with pytest.raises(llmrail.ExtractionError) as info:
        await client.extract(Judgement, MESSAGES, max_retries=2)
    e = info.value
    assert (e.attempts, len(e.failures), len(srv.requests)) == (3, 3, 3)
    assert (e.input_tokens, e.output_tokens) == (360, 90)
    assert json.loads(e.failures[0].raw) == {"winner": "Essay A", "confidence": 9}
    assert "confidence: 9 is greater than the maximum of 5.0" in e.failures[2].errors
    assert any('"justification" is a required property' in m for m in e.failures[0].errors)
    assert "no valid answer after 3 attempt(s)" in str(e) and e.provider == provider
    copy = pickle.loads(pickle.dumps(e))
    assert (type(copy), copy.failures, copy.input_tokens) == (llmrail.ExtractionError, e.failures, 360)


def test_the_token_budget_stops_early(srv: MockServer) -> None:
    client = make_client(srv, "openai")
    srv.reply('{"winner": "Essay C"}', usage=USAGE, times=5)
    with pytest.raises(llmrail.ExtractionError, match=r"token budget \(200\) is spent: 300 tokens") as info:
        client.extract_sync(Judgement, MESSAGES, max_retries=5, token_budget=200)
    assert info.value.attempts == 2 and len(srv.requests) == 2


def test_truncated_and_wrapped_answers(srv: MockServer) -> None:
    client = make_client(srv, "openai")
    srv.reply('{"winner": "Essay B", "justification": "Essay B is', finish_reason="length")
    srv.reply("[" + json.dumps(GOOD) + ",]")
    x = client.extract_sync(Judgement, MESSAGES, include_raw=True)
    assert x.errors[0] == ["(root): the answer was cut off at max_tokens (finish_reason=length); answer more briefly"]
    assert x.value.winner == "Essay B"


def test_a_json_schema_dict_gives_a_dict(srv: MockServer) -> None:
    schema = {"title": "City", "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    client = make_client(srv, "openai")
    srv.reply('{"city": "Paris"}')
    assert client.extract_sync(schema, "Capital of France?") == {"city": "Paris"}
    assert srv.last_request["body"]["response_format"]["json_schema"]["strict"] is True


def test_a_schema_dict_changed_in_place_is_sent_as_it_is_now(srv: MockServer) -> None:
    schema: dict[str, Any] = {"title": "City", "type": "object", "properties": {"city": {"type": "string"}}}
    client = make_client(srv, "openai")
    srv.reply('{"city": "Paris"}')
    client.extract_sync(schema, "Capital of France?")
    schema["properties"]["country"] = {"type": "string"}
    schema["title"] = "Place"
    srv.reply('{"city": "Paris", "country": "FR"}')
    assert client.extract_sync(schema, "Capital of France?") == {"city": "Paris", "country": "FR"}
    sent = srv.last_request["body"]["response_format"]["json_schema"]
    assert sent["name"] == "Place"
    assert set(sent["schema"]["properties"]) == {"city", "country"}


def test_bad_arguments_are_configuration_errors(srv: MockServer) -> None:
    client = make_client(srv, "openai")
    with pytest.raises(llmrail.ConfigurationError, match="json_schema"):
        client.extract_sync(Judgement, "x", mode="xml")  # type: ignore[call-overload]
    with pytest.raises(llmrail.ConfigurationError, match="pydantic model class or a JSON Schema"):
        client.extract_sync(42, "x")  # type: ignore[call-overload]


async def test_extract_stream_gives_partials_then_the_model(
    srv: MockServer, client: llmrail.Client, provider: str
) -> None:
    text = json.dumps(GOOD)
    if provider == "openai":
        srv.reply(chunks=[text[i : i + 8] for i in range(0, len(text), 8)])
    else:
        srv.reply(tool_calls=[{"name": "Judgement", "arguments": text}])
    items = [item async for item in client.extract_stream(Judgement, MESSAGES)]
    *partials, final = items
    assert isinstance(final, Judgement) and final.confidence == 0.75
    assert all(isinstance(p, dict) for p in partials) and len(partials) >= 3
    assert partials[-1] == GOOD
    assert any(p.get("justification", "").startswith("Essay B") and p != GOOD for p in partials)


def test_extract_stream_sync_reasks_too(srv: MockServer) -> None:
    client = make_client(srv, "openai")
    srv.reply(chunks=['{"winner": "Essay C"}'])
    srv.reply(chunks=[json.dumps(GOOD)])
    items = list(client.extract_stream(Judgement, MESSAGES, include_raw=True))
    final = items[-1]
    assert isinstance(final, llmrail.Extraction) and final.attempts == 2
    assert {"winner": "Essay C"} in items


async def test_cancelling_an_extraction_drops_the_request(
    srv: MockServer, client: llmrail.Client, provider: str
) -> None:
    answer(srv, provider, GOOD, latency=10)
    task = asyncio.ensure_future(client.extract(Judgement, MESSAGES))
    await srv.wait_for_requests(1, timeout=5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await srv.wait_for_disconnects(1, timeout=5)


async def test_leaving_an_extract_stream_drops_the_request(srv: MockServer) -> None:
    client = make_client(srv, "openai")
    text = json.dumps(GOOD)
    srv.reply(chunks=[text[:15], *text[15:]], chunk_delay=0.2)  # ~20 s if read to the end
    stream = client.extract_stream(Judgement, MESSAGES)
    first = await stream.__anext__()
    assert first == {"winner": "Ess"}
    stream.close()
    await srv.wait_for_disconnects(1, timeout=5)
