"""Providers beyond OpenAI and Anthropic, over real HTTP to the mock server: Azure OpenAI."""

from __future__ import annotations

from pathlib import Path

import llmrail
import pytest
from llmrail.replay import cassette
from llmrail.testing import MockServer

AZURE_KEY = "azure-live-key-3f9c1e7a5b2d4c8e"


@pytest.fixture
def azure_env(monkeypatch: pytest.MonkeyPatch, srv: MockServer) -> None:
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", srv.url)
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", AZURE_KEY)
    monkeypatch.setenv("OPENAI_API_VERSION", "2024-10-21")
    monkeypatch.delenv("CI", raising=False)  # the cassette test records on purpose


@pytest.mark.usefixtures("azure_env")
async def test_an_azure_deployment_is_called_at_its_path_with_the_key_in_api_key(srv: MockServer) -> None:
    srv.reply("Bonjour.")
    client = llmrail.Client("azure/prod-gpt4o")
    r = await client.chat("hello", max_tokens=20)
    assert (r.text, r.provider, client.provider, client.model) == ("Bonjour.", "azure", "azure", "prod-gpt4o")
    sent = srv.last_request
    assert sent["path"] == "/openai/deployments/prod-gpt4o/chat/completions"
    assert sent["query"] == "api-version=2024-10-21"
    headers = dict(sent["headers"])
    assert headers["api-key"] == AZURE_KEY
    assert "authorization" not in headers
    assert sent["body"]["max_completion_tokens"] == 20
    assert AZURE_KEY not in repr(client)


@pytest.mark.usefixtures("azure_env")
def test_an_azure_stream_and_tool_call_decode_as_openai_ones(srv: MockServer) -> None:
    srv.reply(chunks=["Bon", "jour"])
    srv.reply(tool_calls=[{"name": "get_weather", "arguments": {"city": "Paris"}}])
    client = llmrail.Client("azure/prod-gpt4o", api_version="2025-01-01-preview")
    assert "".join(e.text for e in client.stream("hello")) == "Bonjour"
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
    r = client.chat_sync("weather?", tools=tools)
    assert r.tool_calls[0].name == "get_weather" and r.tool_calls[0].arguments == {"city": "Paris"}
    assert all(q["query"] == "api-version=2025-01-01-preview" for q in srv.requests)


@pytest.mark.usefixtures("azure_env")
def test_an_azure_key_the_service_refuses_is_an_authentication_error(srv: MockServer) -> None:
    with pytest.raises(llmrail.AuthenticationError) as e:
        llmrail.Client("azure/prod-gpt4o", api_key=" ").chat_sync("hi")
    assert e.value.status == 401


def test_azure_without_an_endpoint_or_a_version_says_what_to_set(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AZURE_OPENAI_ENDPOINT", "OPENAI_API_VERSION"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(llmrail.ConfigurationError, match="AZURE_OPENAI_ENDPOINT"):
        llmrail.Client("azure/d", api_key="k", api_version="2024-10-21")
    with pytest.raises(llmrail.ConfigurationError, match="OPENAI_API_VERSION"):
        llmrail.Client("azure/d", api_key="k", base_url="https://r.openai.azure.com")
    with pytest.raises(llmrail.ConfigurationError, match="api_version"):
        llmrail.Client("openai/gpt-4.1", api_key="k", api_version="2024-10-21")


@pytest.mark.usefixtures("azure_env")
def test_an_azure_key_never_reaches_a_cassette(tmp_path: Path, srv: MockServer) -> None:
    path = tmp_path / "azure.yaml"
    with cassette(path):
        live = llmrail.Client("azure/prod-gpt4o").chat_sync("hi").text
    text = path.read_text()
    assert AZURE_KEY not in text
    assert "api-key:\n      - REDACTED" in text
    srv.shutdown()
    with cassette(path, mode="none") as c:
        assert llmrail.Client("azure/prod-gpt4o").chat_sync("hi").text == live
    assert c.all_played
