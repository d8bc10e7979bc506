"""instructor over llmrail's transport: ``instructor.from_openai(openai.AsyncOpenAI(http_client=
llmrail.httpx.AsyncClient()))`` against the mock server on 127.0.0.1. A ``response_model=``
extraction and a validation retry (the server answers an invalid tool call, then a valid one) are
recorded to a cassette, then replayed with the server gone and no API key."""

from __future__ import annotations

import json
from pathlib import Path

import instructor
import instructor.core
import llmrail
import llmrail.httpx
import openai
import pytest
from llmrail.testing import MockServer
from pydantic import BaseModel, field_validator

API_KEY = "sk-instructor-0123456789-secret"
MODEL = "gpt-4.1-mini"


class City(BaseModel):
    name: str
    country: str
    population: int

    @field_validator("population")
    @classmethod
    def population_is_positive(cls, v: int) -> int:
        if v <= 0:
            raise ValueError("population must be a positive number of people")
        return v


def extractor(base_url: str, api_key: str = API_KEY) -> instructor.AsyncInstructor:
    sdk = openai.AsyncOpenAI(base_url=base_url, api_key=api_key, max_retries=0,
                             http_client=llmrail.httpx.AsyncClient())
    return instructor.from_openai(sdk)


async def extract(client: instructor.AsyncInstructor, text: str, retries: int = 0) -> City:
    return await client.chat.completions.create(
        model=MODEL, response_model=City, max_retries=retries,
        messages=[{"role": "user", "content": f"Extract the city: {text}"}])


PARIS = {"name": "Paris", "country": "France", "population": 2_100_000}
LYON = {"name": "Lyon", "country": "France", "population": 520_000}


def script(srv: MockServer) -> None:
    srv.reply(tool_calls=[{"name": "City", "arguments": PARIS}])
    srv.reply(tool_calls=[{"name": "City", "arguments": {**LYON, "population": -5}}])
    srv.reply(tool_calls=[{"name": "City", "arguments": LYON}])


async def test_instructor_extracts_a_model_and_retries_an_invalid_answer_then_replays_offline_with_no_key(
        tmp_path: Path) -> None:
    cassette = tmp_path / "instructor.yaml"
    with MockServer() as srv:
        script(srv)
        base = srv.openai_base_url
        with llmrail.replay.cassette(cassette, mode="once") as tape:
            client = extractor(base)
            paris = await extract(client, "Paris, France, 2.1 million people")
            lyon = await extract(client, "Lyon, France, 520 thousand people", retries=1)
        assert tape.record_count == 3
        sent = srv.requests
    assert paris.model_dump() == PARIS
    assert lyon.model_dump() == LYON
    # instructor asked for its tool and, on the retry, sent the server its validation error.
    assert sent[0]["body"]["tools"][0]["function"]["name"] == "City"
    assert "population must be a positive number" in json.dumps(sent[2]["body"]["messages"])
    assert API_KEY not in cassette.read_text()
    with llmrail.replay.cassette(cassette, mode="none") as tape:
        client = extractor(base, api_key="sk-no-key-offline")
        assert (await extract(client, "Paris, France, 2.1 million people")).model_dump() == PARIS
        assert (await extract(client, "Lyon, France, 520 thousand people", retries=1)).model_dump() == LYON
        assert tape.play_count == 3


async def test_without_retries_instructor_reports_the_invalid_answer_it_was_sent(srv: MockServer) -> None:
    srv.reply(tool_calls=[{"name": "City", "arguments": {**LYON, "population": 0}}])
    with pytest.raises(instructor.core.InstructorRetryException, match="population must be a positive"):
        await extract(extractor(srv.openai_base_url), "Lyon")
    assert len(srv.requests) == 1


async def test_a_partial_stream_of_the_model_arrives_through_the_transport(srv: MockServer) -> None:
    # instructor parses the streamed tool arguments with jiter's partial mode: this runs it with the
    # jiter the openai SDK needs (instructor 1.17 pins an older one; see the Makefile).
    srv.reply(tool_calls=[{"name": "City", "arguments": PARIS}])  # a stream sends the arguments in pieces
    client = extractor(srv.openai_base_url)
    partials = [p async for p in client.chat.completions.create_partial(
        model=MODEL, response_model=City, messages=[{"role": "user", "content": "Paris"}])]
    assert len(partials) > 1
    assert partials[-1].model_dump() == PARIS
    assert srv.requests[0]["body"]["stream"] is True
