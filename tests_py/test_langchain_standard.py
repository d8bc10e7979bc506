"""LangChain's own standard tests for chat models (langchain-tests), run on ChatLlmrail.

The integration suite talks real HTTP to llmrail's mock server, once per provider protocol. The
mock server cannot think, so each test's expected answer (a tool call to the test's tool, a joke
as structured output) is scripted before it runs, from the test's name: the requests ChatLlmrail
builds and the answers it parses are real.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessageChunk, HumanMessage, SystemMessage
from langchain_tests.integration_tests import ChatModelIntegrationTests
from langchain_tests.unit_tests import ChatModelUnitTests
from llmrail.langchain import ChatLlmrail
from llmrail.testing import MockServer

from .conftest import API_KEY

POLICY = "You are the support assistant of Example Corp. " + "Follow the refund policy. " * 300
JOKE = {"setup": "Why did the cat sit on the computer?", "punchline": "To keep an eye on the mouse."}


def _tool(name: str, **arguments: Any) -> Callable[[MockServer], object]:
    return lambda srv: srv.default(tool_calls=[{"name": name, "arguments": arguments}])


def _replies(
    *tool_calls: tuple[str, dict[str, Any]], then: str | None = "It's sunny in San Francisco."
) -> Callable[[MockServer], object]:
    def script(srv: MockServer) -> None:
        for name, arguments in tool_calls:
            srv.reply(tool_calls=[{"name": name, "arguments": arguments}])
        if then is not None:
            srv.default(then)

    return script


# What a capable model would answer in each test that needs more than a greeting back.
SCRIPTS: dict[str, Callable[[MockServer], object]] = {
    "test_tool_calling": _tool("magic_function", input=3),
    "test_tool_calling_async": _tool("magic_function", input=3),
    "test_tool_choice": _tool("magic_function", input=3),
    "test_tool_calling_with_no_arguments": _tool("magic_function_no_args"),
    "test_bind_runnables_as_tools": _tool("greeting_generator", answer_style="pirate"),
    "test_structured_output_pydantic_2_v1": _tool("Joke", **JOKE),
    "test_structured_output_optional_param": _replies(
        *[("Joke", {"setup": JOKE["setup"]})] * 3, ("JokeDict", {"setup": JOKE["setup"]}), then=None
    ),
    "test_json_mode": lambda srv: srv.default(json=JOKE),
    "test_agent_loop": _replies(("get_weather", {"location": "San Francisco, CA"})),
    "test_unicode_tool_call_integration": _replies(
        ("unicode_customer", {"customer_name": "你好啊集团", "description": "科技公司"}),
        ("unicode_customer", {"customer_name": "こんにちは株式会社", "description": "日本の会社"}),
    ),
}


class _Mock:
    """One mock server per test class, started on first use."""

    server: MockServer | None = None

    @classmethod
    def get(cls) -> MockServer:
        if cls.server is None:
            cls.server = MockServer()
        return cls.server


class TestChatLlmrailUnit(ChatModelUnitTests):
    @property
    def chat_model_class(self) -> type[BaseChatModel]:
        return ChatLlmrail

    @property
    def chat_model_params(self) -> dict[str, Any]:
        return {"model": "anthropic/claude-sonnet-4-5"}

    @property
    def init_from_env_params(self) -> tuple[dict[str, str], dict[str, Any], dict[str, Any]]:
        return (
            {"ANTHROPIC_API_KEY": "sk-ant-from-env"},
            {"model": "anthropic/claude-sonnet-4-5", "api_key": "sk-ant-from-env"},
            {"api_key": "sk-ant-from-env"},
        )

    @property
    def supports_image_inputs(self) -> bool:
        return True

    @property
    def supports_image_urls(self) -> bool:
        return True

    @property
    def supports_json_mode(self) -> bool:
        return True

    # dumpd() matches the snapshot (the key as a secret named ANTHROPIC_API_KEY); load() then
    # refuses any class outside langchain-core's own allowlist of partner packages.
    @pytest.mark.xfail(strict=True, raises=ValueError, reason="load() only revives allowlisted classes")
    def test_serdes(self, model: BaseChatModel, snapshot: Any) -> None:
        super().test_serdes(model, snapshot)


class _Integration(ChatModelIntegrationTests):
    provider = "openai"
    model_name = "gpt-4.1-mini"

    @pytest.fixture(autouse=True)
    def _script(self, request: pytest.FixtureRequest) -> Iterator[MockServer]:
        srv = _Mock.get()
        srv.clear()
        name = request.node.originalname
        if name in ("test_structured_output", "test_structured_output_async"):
            typed = request.node.callspec.params.get("schema_type") == "typeddict"
            _tool("JokeDict" if typed else "Joke", **JOKE)(srv)
        elif name in SCRIPTS:
            SCRIPTS[name](srv)
        yield srv
        srv.clear()

    @property
    def chat_model_class(self) -> type[BaseChatModel]:
        return ChatLlmrail

    @property
    def chat_model_params(self) -> dict[str, Any]:
        srv = _Mock.get()
        base = srv.openai_base_url if self.provider == "openai" else srv.anthropic_base_url
        return {"model": f"{self.provider}/{self.model_name}", "base_url": base, "api_key": API_KEY}

    @property
    def model_override_value(self) -> str:
        return "gpt-4.1" if self.provider == "openai" else "claude-haiku-4-5"

    @property
    def supports_json_mode(self) -> bool:
        return True

    @property
    def supports_image_inputs(self) -> bool:
        return True

    @property
    def supports_image_urls(self) -> bool:
        return True

    @property
    def supports_anthropic_inputs(self) -> bool:
        return True

    @property
    def supported_usage_metadata_details(self) -> dict[Any, Any]:
        details = ["cache_read_input", "cache_creation_input"]
        return {"invoke": details, "stream": details}

    def _cached(self, *, stream: bool, read: bool) -> AIMessage:
        """A call whose long system prompt the mock server caches (written once, then read)."""
        model = ChatLlmrail(**self.chat_model_params, prompt_cache="5m")
        messages = [SystemMessage(POLICY), HumanMessage("Can I return a gift?")]
        if read:
            model.invoke(messages)
        if not stream:
            return model.invoke(messages)
        full: BaseMessageChunk | None = None
        for chunk in model.stream(messages):
            full = chunk if full is None else full + chunk
        assert isinstance(full, AIMessageChunk)
        return full

    def invoke_with_cache_read_input(self, *, stream: bool = False) -> AIMessage:
        return self._cached(stream=stream, read=True)

    def invoke_with_cache_creation_input(self, *, stream: bool = False) -> AIMessage:
        return self._cached(stream=stream, read=False)

    @pytest.mark.xfail(run=False, reason="downloads an image from the internet; test_langchain.py sends images")
    def test_image_inputs(self, model: BaseChatModel) -> None:
        super().test_image_inputs(model)

    @pytest.mark.xfail(run=False, reason="downloads an image from the internet; test_langchain.py sends these blocks")
    def test_anthropic_inputs(self, model: BaseChatModel) -> None:
        super().test_anthropic_inputs(model)


class TestChatLlmrailOpenAI(_Integration):
    provider = "openai"
    model_name = "gpt-4.1-mini"


class TestChatLlmrailAnthropic(_Integration):
    provider = "anthropic"
    model_name = "claude-sonnet-4-5"


@pytest.fixture(scope="module", autouse=True)
def _shutdown() -> Iterator[None]:
    yield
    if _Mock.server is not None:
        _Mock.server.shutdown()
        _Mock.server = None
