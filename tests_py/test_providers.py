"""Providers beyond OpenAI and Anthropic, over real HTTP to the mock server: Azure OpenAI, your
own (register_provider), OpenRouter's attribution headers, default headers given way to."""

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


def test_a_registered_provider_is_called_by_its_name(srv: MockServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOGETHER_PY_API_KEY", "tg-key-0123456789")
    llmrail.register_provider("together-py", base_url=srv.openai_base_url, api_key_env="TOGETHER_PY_API_KEY",
                              wire="openai", headers=[("X-Team", "search")])
    srv.reply("hello from together")
    client = llmrail.Client("together-py/meta-llama/Llama-3.3-70B")
    r = client.chat_sync("hi")
    assert (r.text, r.provider, client.provider) == ("hello from together", "together-py", "together-py")
    headers = dict(srv.last_request["headers"])
    assert headers["authorization"] == "Bearer tg-key-0123456789"
    assert headers["x-team"] == "search"
    assert srv.last_request["body"]["model"] == "meta-llama/Llama-3.3-70B"


def test_a_registered_anthropic_speaking_service_takes_no_key_without_a_variable(srv: MockServer) -> None:
    llmrail.register_provider("claude-gw-py", base_url=srv.anthropic_base_url, wire="anthropic")
    srv.reply(tool_calls=[{"name": "f", "arguments": {"x": 1}}])
    r = llmrail.Client("claude-gw-py/claude-sonnet-4-5", headers=[("x-api-key", "gateway")]).chat_sync("hi")
    assert r.tool_calls[0].arguments == {"x": 1}
    assert srv.last_request["path"] == "/v1/messages"


@pytest.mark.parametrize(
    ("kwargs", "word"),
    [
        ({"name": "Bad/Name"}, "name"),
        ({"name": "anthropic"}, "built-in"),
        ({"base_url": "localhost:8000"}, "base_url"),
        ({"api_key_env": "MY KEY"}, "api_key_env"),
        ({"wire": "gemini"}, "wire"),
        ({"headers": [("Content-Length", "1")]}, "headers"),
        ({"headers": "x"}, "headers"),
        ({"name": 3}, "name"),
    ],
)
def test_a_bad_registration_is_a_configuration_error_naming_the_argument(kwargs: dict[str, object], word: str) -> None:
    args: dict[str, object] = {"name": "fine-py", "base_url": "https://api.together.xyz/v1", **kwargs}
    with pytest.raises(llmrail.ConfigurationError, match=word):
        llmrail.register_provider(**args)  # type: ignore[arg-type]


def test_openrouter_attribution_comes_from_the_environment_and_headers_win(
    srv: MockServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENROUTER_API_KEY", "or-key")
    monkeypatch.setenv("OPENROUTER_HTTP_REFERER", "https://grader.example.com")
    monkeypatch.setenv("OPENROUTER_X_TITLE", "Grader")
    llmrail.Client("openrouter/openai/gpt-4.1", base_url=srv.openai_base_url).chat_sync("hi")
    first = dict(srv.last_request["headers"])
    assert (first["http-referer"], first["x-title"]) == ("https://grader.example.com", "Grader")
    llmrail.Client("openrouter/openai/gpt-4.1", base_url=srv.openai_base_url,
                   headers=[("X-Title", "Grader (staging)")]).chat_sync("hi")
    assert dict(srv.last_request["headers"])["x-title"] == "Grader (staging)"


def test_a_default_header_such_as_anthropic_version_gives_way_to_headers(srv: MockServer) -> None:
    base = srv.anthropic_base_url
    llmrail.Client("anthropic/claude-sonnet-4-5", base_url=base, api_key="k").chat_sync("hi")
    assert dict(srv.last_request["headers"])["anthropic-version"] == "2023-06-01"
    llmrail.Client("anthropic/claude-sonnet-4-5", base_url=base, api_key="k",
                   headers=[("anthropic-version", "2099-01-01")]).chat_sync("hi")
    sent = [v for k, v in srv.last_request["headers"] if k == "anthropic-version"]
    assert sent == ["2099-01-01"]


async def test_check_lists_the_models_and_returns_the_latency(srv: MockServer) -> None:
    for provider in ("openai", "anthropic"):
        base = srv.openai_base_url if provider == "openai" else srv.anthropic_base_url
        client = llmrail.Client(f"{provider}/m", base_url=base, api_key="sk-test")
        latency = await client.check()
        assert 0 < latency < 5 and client.check_sync() > 0
        assert (srv.last_request["method"], srv.last_request["path"]) == ("GET", "/v1/models")


def test_check_with_a_refused_key_is_an_authentication_error(srv: MockServer) -> None:
    client = llmrail.Client("anthropic/claude-sonnet-4-5", base_url=srv.anthropic_base_url, api_key=" ")
    with pytest.raises(llmrail.AuthenticationError) as e:
        client.check_sync()
    assert e.value.status == 401 and len(srv.requests) == 1


def test_capabilities_come_from_the_catalogue(srv: MockServer) -> None:
    caps = llmrail.Client("anthropic/claude-sonnet-4-5", base_url=srv.anthropic_base_url, api_key="k").capabilities
    assert (caps.streaming, caps.tools, caps.prompt_caching, caps.vision) == (True, True, True, True)
    gpt = llmrail.Client("openai/gpt-4.1-mini", base_url=srv.openai_base_url, api_key="k").capabilities
    assert gpt.structured_output is True
    unknown = llmrail.Client("openai/my-finetune", base_url=srv.openai_base_url, api_key="k").capabilities
    assert unknown.structured_output is None and unknown.streaming
    assert "structured_output=None" in repr(unknown)
    with pytest.raises(AttributeError):
        caps.vision = False  # type: ignore[misc]


def test_without_a_model_the_environment_chooses_it_and_its_fallbacks(
    srv: MockServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LLMRAIL_MODEL", "openai/gpt-4.1-mini")
    monkeypatch.setenv("LLMRAIL_FALLBACKS", "anthropic/claude-sonnet-4-5, openai/gpt-4.1")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("OPENAI_BASE_URL", srv.openai_base_url)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", srv.anthropic_base_url)
    client = llmrail.Client(retry=llmrail.Retry(max_attempts=1))
    assert (client.provider, client.model) == ("openai", "gpt-4.1-mini")
    assert [b.name for b in client.health()] == [
        "openai/gpt-4.1-mini", "anthropic/claude-sonnet-4-5", "openai/gpt-4.1"]
    # The chain is live: the primary's 500 falls back to the first fallback.
    srv.fault(500)
    srv.reply("from the fallback")
    assert client.chat_sync("hi").text == "from the fallback"
    assert srv.last_request["path"] == "/v1/messages"

    given = llmrail.Client(fallbacks=["openai/gpt-4.1"])
    assert [b.name for b in given.health()] == ["openai/gpt-4.1-mini", "openai/gpt-4.1"]

    monkeypatch.delenv("LLMRAIL_MODEL")
    with pytest.raises(llmrail.ConfigurationError, match="LLMRAIL_MODEL"):
        llmrail.Client()
