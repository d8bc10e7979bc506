"""`client.stream(prompt=..., variables=...)` renders a prompt template as `chat` does: the
variant for the client's provider, and again for a fallback's."""

from __future__ import annotations

from pathlib import Path

import llmrail
import pytest
from llmrail.testing import MockServer

from .conftest import API_KEY, make_client
from .test_prompts import SUMMARIZE, write


async def test_a_stream_of_a_prompt_sends_the_clients_provider_variant(srv: MockServer, tmp_path: Path) -> None:
    prompts = llmrail.Prompts(write(tmp_path, summarize=SUMMARIZE))
    srv.reply("one two three")
    client = make_client(srv, "openai")
    text = ""
    async for event in client.stream(prompt=prompts["summarize"], variables={"text": "t"}, max_tokens=20):
        text += event.text or ""
    assert text == "one two three"
    body = srv.last_request["body"]
    assert body["stream"] is True
    assert body["messages"] == [
        {"role": "system", "content": "You write for an engineer."},
        {"role": "user", "content": "Summarise in 3 points:\nt"},
    ]
    assert body.get("max_tokens", body.get("max_completion_tokens")) == 20


def test_a_streamed_fallback_of_another_provider_gets_its_own_variant(srv: MockServer, tmp_path: Path) -> None:
    prompts = llmrail.Prompts(write(tmp_path, summarize=SUMMARIZE))
    with MockServer() as backup:
        fallback = {"model": "anthropic/claude-haiku-4-5", "base_url": backup.anthropic_base_url, "api_key": API_KEY}
        client = make_client(srv, "openai", retry=llmrail.Retry(max_attempts=1), fallbacks=[fallback])
        srv.fault(503)
        backup.reply("from the backup")
        events = list(client.stream(prompt=prompts["summarize"], variables={"text": "t", "reader": "a child"}))
        assert "".join(e.text or "" for e in events) == "from the backup"
        system = backup.last_request["body"]["system"]
        text = system if isinstance(system, str) else system[0]["text"]
        assert text == "<role>You write for a child.</role>"


def test_a_stream_refuses_both_messages_and_a_prompt(srv: MockServer, tmp_path: Path) -> None:
    prompts = llmrail.Prompts(write(tmp_path, summarize=SUMMARIZE))
    client = make_client(srv, "openai")
    with pytest.raises(llmrail.ConfigurationError, match="not both"):
        client.stream("hi", prompt=prompts["summarize"], variables={"text": "t"})
    with pytest.raises(llmrail.ConfigurationError, match="required"):
        client.stream()
