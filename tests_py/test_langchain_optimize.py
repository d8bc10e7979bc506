"""optimize(): llmrail around ChatAnthropic / ChatOpenAI, compared on the mock server's wire."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

import llmrail
import pytest
from langchain_anthropic import ChatAnthropic
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI
from llmrail.langchain import OptimizedChatModel, detect, optimize
from llmrail.testing import MockServer, RecordedRequest
from pydantic import BaseModel

from .conftest import API_KEY

POLICY = "You are the support assistant of Example Corp. " + "Follow the refund policy. " * 300
# Headers that differ between any two requests of the same SDK.
VOLATILE = {"x-stainless-retry-count", "x-stainless-read-timeout", "idempotency-key", "content-length"}


def wrapped_model(srv: MockServer, provider: str) -> BaseChatModel:
    if provider == "anthropic":
        return ChatAnthropic(  # type: ignore[call-arg]
            model="claude-sonnet-4-6", base_url=srv.anthropic_base_url, api_key=API_KEY, max_retries=0
        )
    return ChatOpenAI(model="gpt-4.1-mini", base_url=srv.openai_base_url, api_key=API_KEY, max_retries=0)  # type: ignore[arg-type]


@pytest.fixture(params=["anthropic", "openai"])
def wrapped(request: pytest.FixtureRequest, srv: MockServer) -> BaseChatModel:
    return wrapped_model(srv, request.param)


@tool
def get_weather(city: str) -> str:
    """Current weather in a city."""
    return "sunny"


def wire(r: RecordedRequest) -> tuple[str, Any, list[tuple[str, str]]]:
    return r["path"], r["body"], sorted((k, v) for k, v in r["headers"] if k not in VOLATILE)


def conversation() -> list[Any]:
    return [
        SystemMessage(POLICY),
        HumanMessage("Can I return a gift?"),
        AIMessage("Yes, within 30 days."),
        HumanMessage("And without a receipt?"),
    ]


def test_disabled_wrapper_sends_exactly_what_the_model_sends(srv: MockServer, wrapped: BaseChatModel) -> None:
    srv.default("Yes.")
    wrapped.bind_tools([get_weather]).invoke(conversation())
    optimize(wrapped).bind_tools([get_weather]).invoke(conversation())
    wrapped.stream("hi").__next__()
    list(optimize(wrapped).stream("hi"))
    first, second, third, fourth = srv.requests
    assert wire(first) == wire(second)
    assert wire(third) == wire(fourth)


async def test_disabled_wrapper_async_and_batch_are_the_same_too(srv: MockServer, wrapped: BaseChatModel) -> None:
    srv.default("Yes.")
    await wrapped.ainvoke("hi")
    await optimize(wrapped).ainvoke("hi")
    await optimize(wrapped).abatch(["hi"])
    a, b, c = srv.requests
    assert wire(a) == wire(b) == wire(c)


def test_capabilities_are_detected(srv: MockServer, wrapped: BaseChatModel) -> None:
    caps = detect(wrapped)
    assert caps.provider in ("anthropic", "openai") and caps.model in ("claude-sonnet-4-6", "gpt-4.1-mini")
    assert caps.api_key is not None and caps.api_key.get_secret_value() == API_KEY
    assert caps.base_url is not None and caps.base_url.startswith(srv.url)
    assert caps.prompt_cache and caps.llmrail and caps.batch_api
    assert API_KEY not in repr(caps)


def test_the_core_says_which_providers_have_a_batch_api(srv: MockServer) -> None:
    assert llmrail.Capabilities.of("anthropic/claude-sonnet-4-6").batch_api is True
    assert llmrail.Capabilities.of("openai/gpt-4.1-mini").batch_api is True
    assert llmrail.Capabilities.of("openrouter/openai/gpt-4.1-mini").batch_api is False
    on_openrouter = ChatOpenAI(model="openai/gpt-4.1-mini", base_url="https://openrouter.ai/api/v1", api_key=API_KEY)  # type: ignore[arg-type]
    assert detect(on_openrouter).provider == "openrouter" and not detect(on_openrouter).batch_api
    with pytest.raises(llmrail.ConfigurationError, match="unknown provider"):
        llmrail.Capabilities.of("nowhere/model")


def test_prompt_cache_marks_anthropic_requests_and_cache_shows_in_usage(srv: MockServer) -> None:
    model = optimize(wrapped_model(srv, "anthropic"), prompt_cache="5m").bind_tools([get_weather])
    srv.default("Yes.")
    first = model.invoke(conversation())
    second = model.invoke(conversation())
    body = srv.last_request["body"]
    assert "cache_control" not in body["tools"][-1]  # tools alone are below the model's minimum
    assert body["system"][-1]["cache_control"] == {"type": "ephemeral"}
    # The stable conversation ends with the assistant's answer, before the newest question.
    assert body["messages"][1]["content"][-1]["cache_control"] == {"type": "ephemeral"}
    assert "cache_control" not in json.dumps(body["messages"][2])
    assert first.usage_metadata is not None and second.usage_metadata is not None
    # ChatAnthropic reports writes by TTL (its cache_creation stays 0 when it has that detail).
    written = first.usage_metadata["input_token_details"]
    assert written.get("cache_creation", 0) + written.get("ephemeral_5m_input_tokens", 0) > 1000
    assert second.usage_metadata["input_token_details"]["cache_read"] > 0
    assert conversation()[0].content == POLICY  # the caller's messages are not modified


async def test_prompt_cache_one_hour_and_automatic(srv: MockServer) -> None:
    srv.default("Yes.")
    await optimize(wrapped_model(srv, "anthropic"), prompt_cache="1h").ainvoke(conversation())
    assert srv.last_request["body"]["system"][-1]["cache_control"] == {"type": "ephemeral", "ttl": "1h"}
    await optimize(wrapped_model(srv, "anthropic"), prompt_cache="auto").ainvoke(conversation())
    assert srv.last_request["body"]["cache_control"] == {"type": "ephemeral"}


def test_prompt_cache_marks_an_agent_loop_at_the_tool_result(srv: MockServer) -> None:
    ai = AIMessage("", tool_calls=[{"name": "get_weather", "args": {"city": "Oslo"}, "id": "t1", "type": "tool_call"}])
    history = [SystemMessage(POLICY), HumanMessage("Weather in Oslo?"), ai, get_weather.invoke(ai.tool_calls[0])]
    srv.default("Sunny.")
    optimize(wrapped_model(srv, "anthropic"), prompt_cache="5m").invoke(history)
    sent = srv.last_request["body"]["messages"]
    tool_result = sent[2]["content"][0]
    assert tool_result["type"] == "tool_result" and tool_result["cache_control"] == {"type": "ephemeral"}


def test_prompt_cache_gives_openai_a_cache_key(srv: MockServer) -> None:
    srv.default("Yes.")
    optimize(wrapped_model(srv, "openai"), prompt_cache="5m").invoke(conversation())
    key = srv.last_request["body"]["prompt_cache_key"]
    optimize(wrapped_model(srv, "openai"), prompt_cache="5m").invoke(conversation())
    assert isinstance(key, str) and srv.last_request["body"]["prompt_cache_key"] == key


def test_a_failing_optimisation_falls_back_to_the_plain_call(
    srv: MockServer, caplog: pytest.LogCaptureFixture
) -> None:
    srv.fault(400, body={"type": "error", "error": {"type": "invalid_request_error", "message": "bad marker"}})
    srv.reply("Answered anyway.")
    with caplog.at_level(logging.WARNING, logger="llmrail.langchain"):
        msg = optimize(wrapped_model(srv, "anthropic"), prompt_cache="5m").invoke(conversation())
    assert msg.content == "Answered anyway."
    marked, plain = srv.requests
    assert "cache_control" in json.dumps(marked["body"]) and "cache_control" not in json.dumps(plain["body"])
    assert "retrying without them" in caplog.text and "bad marker" in caplog.text


async def test_a_failing_plan_falls_back_too(srv: MockServer, caplog: pytest.LogCaptureFixture) -> None:
    srv.default("Fine.")
    pdf = HumanMessage([{"type": "document", "source": {"type": "text", "data": "x", "media_type": "text/plain"}}])
    with caplog.at_level(logging.WARNING, logger="llmrail.langchain"):
        msg = await optimize(wrapped_model(srv, "anthropic"), prompt_cache="5m").ainvoke([pdf])
    assert msg.content == "Fine." and len(srv.requests) == 1
    assert "planning failed" in caplog.text


def batch_posts(srv: MockServer) -> int:
    """Provider batches created (Anthropic's create, or OpenAI's create after its upload)."""
    creates = ("/v1/messages/batches", "/v1/batches")
    return sum(1 for r in srv.requests if r["method"] == "POST" and r["path"] in creates)


def calls(srv: MockServer) -> list[RecordedRequest]:
    """Real-time chat calls."""
    return [r for r in srv.requests if r["path"] in ("/v1/messages", "/v1/chat/completions")]


def batched(srv: MockServer, **options: Any) -> dict[str, Any]:
    return {"max_wait": 0.05, "poll_interval": 0.02, **options}


async def test_batch_goes_through_the_providers_batch_api(
    srv: MockServer, wrapped: BaseChatModel, tmp_path: Path
) -> None:
    srv.default("ok")
    model = optimize(wrapped, batch=batched(srv, store=tmp_path / "jobs.sqlite3"))
    assert model.capabilities.batch_api
    out = await model.bind_tools([get_weather]).abatch([f"q{i}" for i in range(8)])
    assert [m.content for m in out] == ["ok"] * 8
    assert all(m.usage_metadata is not None and m.usage_metadata["output_tokens"] > 0 for m in out)
    assert batch_posts(srv) == 1 and calls(srv) == []
    agents = {dict(r["headers"]).get("user-agent", "") for r in srv.requests}
    assert all(a.startswith("llmrail") for a in agents), agents
    # Each item of the provider batch carries the bound tools.
    if isinstance(wrapped, ChatAnthropic):
        create = next(r for r in srv.requests if r["path"] == "/v1/messages/batches")
        items = create["body"]["requests"]
    else:
        upload = next(r for r in srv.requests if r["path"] == "/v1/files")
        text = upload["body"] if isinstance(upload["body"], str) else json.dumps(upload["body"])
        items = [line for line in text.splitlines() if '"custom_id"' in line]
    assert len(items) == 8 and all("get_weather" in json.dumps(i) for i in items)


async def test_concurrent_abatch_callers_share_provider_batches(srv: MockServer, tmp_path: Path) -> None:
    srv.default("ok")
    model = optimize(wrapped_model(srv, "anthropic"), batch=batched(srv, max_wait=0.5, store=tmp_path / "s"))
    first, second = await asyncio.gather(model.abatch(["a", "b", "c"]), model.abatch(["d", "e"]))
    assert [m.content for m in first + second] == ["ok"] * 5
    assert batch_posts(srv) == 1
    create = next(r for r in srv.requests if r["path"] == "/v1/messages/batches")
    assert len(create["body"]["requests"]) == 5


async def test_items_the_batch_api_could_not_answer_are_sent_as_calls(
    srv: MockServer, wrapped: BaseChatModel, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    srv.default("ok")
    srv.batch_settings(outcomes={"1": ["invalid_request_error"]})
    model = optimize(wrapped, batch=batched(srv, store=tmp_path / "s"))
    with caplog.at_level(logging.WARNING, logger="llmrail.langchain"):
        out = await model.abatch(["a", "b", "c"])
    assert [m.content for m in out] == ["ok"] * 3
    assert batch_posts(srv) == 1 and len(calls(srv)) == 1
    assert "1 of 3 inputs got no answer from the provider's batch API" in caplog.text


async def test_a_server_without_a_batch_api_gets_concurrent_calls_through_llmrail(
    srv: MockServer, wrapped: BaseChatModel, tmp_path: Path
) -> None:
    srv.default("ok", latency=0.1)
    srv.batch_settings(available=False)
    model = optimize(wrapped, batch=batched(srv, store=tmp_path / "s"))
    out = await model.bind_tools([get_weather]).abatch([f"q{i}" for i in range(8)])
    assert [m.content for m in out] == ["ok"] * 8
    assert batch_posts(srv) + sum(r["path"] == "/v1/files" for r in srv.requests) == 1  # the refused first step
    agents = {dict(r["headers"]).get("user-agent", "") for r in calls(srv)}
    assert len(calls(srv)) == 8 and all(a.startswith("llmrail") for a in agents), agents
    assert all("get_weather" in json.dumps(r["body"]["tools"]) for r in calls(srv))


async def test_an_input_that_fails_every_way_raises_or_is_returned(srv: MockServer, tmp_path: Path) -> None:
    srv.default("ok")
    srv.batch_settings(processing=0.2, outcomes={"0": ["invalid_request_error"]})
    model = optimize(wrapped_model(srv, "anthropic"), batch=batched(srv, store=tmp_path / "s"))
    running = asyncio.create_task(model.abatch(["a", "b"], return_exceptions=True))
    await srv.wait_for_requests(1)  # the batch's create
    # The call that follows the batch's refusal is refused too.
    srv.fault(400, body={"type": "error", "error": {"type": "invalid_request_error", "message": "too long"}})
    out = await running
    assert isinstance(out[0], Exception) and "too long" in str(out[0])
    assert isinstance(out[1], AIMessage) and out[1].content == "ok"


def test_structured_output_goes_through_the_wrapper(srv: MockServer, wrapped: BaseChatModel) -> None:
    class Person(BaseModel):
        name: str
        age: int

    if isinstance(wrapped, ChatOpenAI):
        srv.default(json={"name": "Ada", "age": 36})
    else:
        srv.default(tool_calls=[{"name": "Person", "arguments": {"name": "Ada", "age": 36}}])
    model = optimize(wrapped, prompt_cache="5m")
    assert model.with_structured_output(Person).invoke([SystemMessage(POLICY), HumanMessage("Ada")]) == Person(
        name="Ada", age=36
    )
    if isinstance(wrapped, ChatAnthropic):
        assert "cache_control" in json.dumps(srv.last_request["body"]["system"])


def test_works_inside_an_lcel_chain(srv: MockServer, wrapped: BaseChatModel) -> None:
    srv.default("Bonjour")
    prompt = ChatPromptTemplate.from_messages([("system", POLICY), ("human", "{text}")])
    chain = prompt | optimize(wrapped, prompt_cache="5m") | StrOutputParser()
    assert chain.invoke({"text": "Hello"}) == "Bonjour"
    assert isinstance(optimize(wrapped), OptimizedChatModel)


async def test_a_wrapped_model_records_into_a_cassette_and_replays_offline_with_its_cost(
        tmp_path: Path, provider: str) -> None:
    cassette = tmp_path / "wrapped.yaml"
    with llmrail.testing.MockServer() as srv:
        srv.default("Yes.")
        model = optimize(wrapped_model(srv, provider))
        with llmrail.replay.cassette(cassette, mode="once") as tape:
            sync = model.invoke("hi")
            streamed = "".join(str(c.content) for c in model.stream("hi"))
            answer = await model.ainvoke("hello")
        assert tape.record_count == 3 and len(srv.requests) == 3
        recorded = model.usage
        assert recorded is not None and recorded.requests >= 2 and recorded.input_tokens > 0
        assert recorded.cost_usd is not None and recorded.cost_usd > 0
    assert API_KEY not in cassette.read_text()
    offline = optimize(wrapped_model(srv, provider))  # the server is gone
    with llmrail.replay.cassette(cassette, mode="none") as tape:
        assert (await offline.ainvoke("hello")).content == answer.content == sync.content
        assert offline.invoke("hi").content == sync.content
        assert "".join(str(c.content) for c in offline.stream("hi")) == streamed
        assert tape.play_count == 3
    assert offline.usage is not None and offline.usage.cost_usd is not None and offline.usage.cost_usd > 0


def test_a_model_with_a_http_client_of_the_callers_keeps_it(srv: MockServer) -> None:
    import httpx2

    own = httpx2.Client()
    model = ChatOpenAI(model="gpt-4.1-mini", base_url=srv.openai_base_url, api_key=API_KEY,  # type: ignore[arg-type]
                       http_client=own, http_async_client=httpx2.AsyncClient())
    wrapped = optimize(model)
    assert wrapped.wrapped is model and wrapped.usage is None
    assert optimize(wrapped_model(srv, "openai"), transport=False).usage is None
