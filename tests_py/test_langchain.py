"""ChatLlmrail as a LangChain user sees it, over real HTTP to the mock server."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any

import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.load import dumps
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessageChunk,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.tools import tool
from llmrail.langchain import ChatLlmrail
from llmrail.testing import MockServer
from pydantic import BaseModel

from .conftest import API_KEY


def chat_model(srv: MockServer, provider: str, **kwargs: Any) -> ChatLlmrail:
    base = srv.openai_base_url if provider == "openai" else srv.anthropic_base_url
    name = "gpt-4.1-mini" if provider == "openai" else "claude-sonnet-4-5"
    return ChatLlmrail(model=f"{provider}/{name}", base_url=base, api_key=API_KEY, **kwargs)


class Person(BaseModel):
    """A person mentioned in the text."""

    name: str
    age: int


@tool
def get_weather(city: str) -> str:
    """Current weather in a city."""
    return "sunny"


async def test_ainvoke_sends_the_conversation_and_reads_the_answer(srv: MockServer, provider: str) -> None:
    srv.reply("Paris.", usage={"input_tokens": 30, "output_tokens": 2, "cache_read_tokens": 20})
    model = chat_model(srv, provider, temperature=0.2, max_tokens=50)
    msg = await model.ainvoke([SystemMessage("Be brief."), HumanMessage("Capital of France?")])
    assert msg.content == "Paris."
    assert msg.usage_metadata == {
        "input_tokens": 30,
        "output_tokens": 2,
        "total_tokens": 32,
        "input_token_details": {"cache_read": 20, "cache_creation": 0},
    }
    meta = msg.response_metadata
    assert meta["finish_reason"] == "stop" and meta["model_name"] and meta["request_id"]
    body = srv.last_request["body"]
    assert body["temperature"] == 0.2 and body["max_tokens"] == 50
    text = json.dumps(body)
    assert "Be brief." in text and "Capital of France?" in text


def test_invoke_sync_with_stop_and_model_override(srv: MockServer) -> None:
    model = chat_model(srv, "openai", stop=["END"])
    msg = model.invoke("hi", model="gpt-4.1")
    assert msg.response_metadata["model_name"] == "gpt-4.1"
    assert srv.last_request["body"]["stop"] == ["END"]
    model.invoke("hi", stop=["STOP"])
    assert srv.last_request["body"]["stop"] == ["STOP"]


class Tokens(BaseCallbackHandler):
    def __init__(self) -> None:
        self.tokens: list[str] = []

    def on_llm_new_token(self, token: str, **kwargs: Any) -> None:
        self.tokens.append(token)


async def test_astream_gives_tokens_to_callbacks_and_usage_last(srv: MockServer, provider: str) -> None:
    srv.reply(chunks=["Once ", "upon ", "a time."], usage={"input_tokens": 9, "output_tokens": 4})
    handler = Tokens()
    chunks = [c async for c in chat_model(srv, provider).astream("story", config={"callbacks": [handler]})]
    assert "".join(str(c.content) for c in chunks) == "Once upon a time."
    assert [t for t in handler.tokens if t] == ["Once ", "upon ", "a time."]
    assert [c.usage_metadata is not None for c in chunks].count(True) == 1
    last = chunks[-1]
    assert last.chunk_position == "last" and last.usage_metadata is not None
    assert last.usage_metadata["input_tokens"] == 9 and last.response_metadata["finish_reason"] == "stop"
    assert (last.response_metadata["attempts"], last.response_metadata["fallback_used"]) == (1, False)


def test_stream_tool_call_chunks_merge_into_a_tool_call(srv: MockServer, provider: str) -> None:
    srv.reply(tool_calls=[{"name": "get_weather", "arguments": {"city": "Oslo"}, "id": "call_1"}])
    full: BaseMessageChunk | None = None
    for c in chat_model(srv, provider).bind_tools([get_weather]).stream("weather?"):
        full = c if full is None else full + c
    assert isinstance(full, AIMessageChunk)
    assert full.tool_calls == [{"name": "get_weather", "args": {"city": "Oslo"}, "id": "call_1", "type": "tool_call"}]


async def test_tool_call_arguments_that_are_not_json_become_invalid_tool_calls(srv: MockServer, provider: str) -> None:
    raw = '{"city": "Os'
    srv.reply(tool_calls=[{"name": "get_weather", "arguments": raw, "id": "call_1"}])
    msg = await chat_model(srv, provider).bind_tools([get_weather]).ainvoke("weather?")
    assert msg.tool_calls == []
    [bad] = msg.invalid_tool_calls
    assert (bad["name"], bad["args"], bad["id"], bad["type"]) == ("get_weather", raw, "call_1", "invalid_tool_call")
    assert bad["error"] and "not a JSON object" in bad["error"]


def test_streamed_tool_call_arguments_that_are_not_json_become_invalid_tool_calls(
    srv: MockServer, provider: str
) -> None:
    # LangChain completes a cut-off prefix itself when merging chunks (as for ChatOpenAI);
    # text no completion repairs is an invalid call.
    raw = '{"city": Oslo}'
    srv.reply(tool_calls=[{"name": "get_weather", "arguments": raw, "id": "call_1"}])
    full: BaseMessageChunk | None = None
    for c in chat_model(srv, provider).bind_tools([get_weather]).stream("weather?"):
        full = c if full is None else full + c
    assert isinstance(full, AIMessageChunk)
    assert full.tool_calls == []
    [bad] = full.invalid_tool_calls
    assert (bad["name"], bad["args"], bad["id"]) == ("get_weather", raw, "call_1")


async def test_an_invalid_tool_call_goes_back_to_the_model_as_it_wrote_it(srv: MockServer, provider: str) -> None:
    raw = '{"city": Oslo}'
    srv.reply(tool_calls=[{"name": "get_weather", "arguments": raw, "id": "call_1"}]).reply("Sorry, Oslo it is.")
    model = chat_model(srv, provider).bind_tools([get_weather])
    history: list[Any] = [HumanMessage("weather?")]
    ai = await model.ainvoke(history)
    history += [ai, ToolMessage("Error: the arguments are not JSON", tool_call_id="call_1")]
    assert (await model.ainvoke(history)).content == "Sorry, Oslo it is."
    sent = srv.last_request["body"]["messages"]
    if provider == "openai":
        assert sent[1]["tool_calls"][0]["function"] == {"name": "get_weather", "arguments": raw}
    else:
        assert sent[1]["content"][0] == {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {}}


def test_bind_tools_takes_every_kind_of_tool(srv: MockServer) -> None:
    def lookup(term: str) -> str:
        """Look a term up."""
        return term

    raw = {"type": "function", "function": {"name": "raw", "parameters": {"type": "object", "properties": {}}}}
    anthropic_shape = {"name": "pick", "description": "Pick.", "input_schema": {"type": "object", "properties": {}}}
    srv.reply(tool_calls=[{"name": "Person", "arguments": {"name": "Ada", "age": 36}}])
    tools = [get_weather, Person, lookup, raw, anthropic_shape]
    model = chat_model(srv, "openai").bind_tools(tools, tool_choice="Person")
    msg = model.invoke("Who?")
    assert msg.tool_calls[0]["args"] == {"name": "Ada", "age": 36}
    body = srv.last_request["body"]
    assert [t["function"]["name"] for t in body["tools"]] == ["get_weather", "Person", "lookup", "raw", "pick"]
    assert body["tool_choice"] == {"type": "function", "function": {"name": "Person"}}
    chat_model(srv, "openai").bind_tools([get_weather], tool_choice="any").invoke("weather?")
    assert srv.last_request["body"]["tool_choice"] == "required"


async def test_tool_call_round_trip(srv: MockServer, provider: str) -> None:
    srv.reply(tool_calls=[{"name": "get_weather", "arguments": {"city": "Oslo"}}]).reply("Sunny in Oslo.")
    model = chat_model(srv, provider).bind_tools([get_weather])
    history: list[Any] = [HumanMessage("Weather in Oslo?")]
    ai = await model.ainvoke(history)
    history += [ai, await get_weather.ainvoke(ai.tool_calls[0])]
    final = await model.ainvoke(history)
    assert final.content == "Sunny in Oslo."
    sent = json.dumps(srv.last_request["body"])
    assert ai.tool_calls[0]["id"] in sent and "sunny" in sent


@pytest.mark.parametrize("method", ["function_calling", "json_schema", "json_mode"])
def test_with_structured_output(srv: MockServer, provider: str, method: str) -> None:
    if method == "function_calling":
        srv.default(tool_calls=[{"name": "Person", "arguments": {"name": "Ada", "age": 36}}])
    else:
        srv.default(json={"name": "Ada", "age": 36})
    model = chat_model(srv, provider).with_structured_output(Person, method=method)  # type: ignore[arg-type]
    assert model.invoke("Ada is 36.") == Person(name="Ada", age=36)
    raw = chat_model(srv, provider).with_structured_output(Person, method=method, include_raw=True).invoke("Ada")  # type: ignore[arg-type]
    assert isinstance(raw, dict) and isinstance(raw["raw"], AIMessage)
    assert raw["parsed"] == Person(name="Ada", age=36) and raw["parsing_error"] is None
    modes = {"function_calling": "tool", "json_schema": "json_schema", "json_mode": "json"}
    assert raw["raw"].response_metadata["extract_mode"] == modes[method]
    sent = json.dumps(srv.last_request["body"])
    assert "Person" in sent or "age" in sent


async def test_structured_output_re_asks_with_the_validation_errors(srv: MockServer, provider: str) -> None:
    srv.reply(tool_calls=[{"name": "Person", "arguments": {"name": "Ada", "age": "thirty-six"}}])
    srv.reply(tool_calls=[{"name": "Person", "arguments": {"name": "Ada", "age": 36}}])
    model = chat_model(srv, provider).with_structured_output(Person, include_raw=True)
    out = await model.ainvoke("Ada is thirty-six.")
    assert isinstance(out, dict) and out["parsed"] == Person(name="Ada", age=36)
    assert out["raw"].response_metadata["attempts"] == 2
    assert out["raw"].usage_metadata["input_tokens"] > 0
    assert "age" in json.dumps(srv.requests[1]["body"]["messages"])  # the error went back to the model


def test_include_raw_reports_parsing_errors(srv: MockServer) -> None:
    import llmrail

    srv.default(tool_calls=[{"name": "Person", "arguments": {"name": "Ada"}}])
    model = chat_model(srv, "anthropic")
    out = model.with_structured_output(Person, include_raw=True, max_retries=1).invoke("Ada")
    assert isinstance(out, dict) and out["parsed"] is None
    assert isinstance(out["parsing_error"], llmrail.ExtractionError) and len(srv.requests) == 2
    with pytest.raises(llmrail.ExtractionError):
        model.with_structured_output(Person, max_retries=0).invoke("Ada")


def test_structured_output_typed_dict_and_json_schema_stream(srv: MockServer) -> None:
    from typing_extensions import TypedDict

    class Movie(TypedDict):
        """A movie."""

        title: str
        year: int

    srv.default(tool_calls=[{"name": "Movie", "arguments": {"title": "Alien", "year": 1979}}])
    chunks = list(chat_model(srv, "openai").with_structured_output(Movie).stream("Alien?"))
    assert chunks[-1] == {"title": "Alien", "year": 1979}
    schema = {"title": "Movie", "type": "object", "properties": {"title": {"type": "string"}}, "required": ["title"]}
    assert chat_model(srv, "openai").with_structured_output(schema).invoke("Alien?") == {"title": "Alien", "year": 1979}


def test_images_and_anthropic_blocks_are_translated(srv: MockServer, provider: str) -> None:
    pixel = "iVBORw0KGgo="
    messages = [
        SystemMessage("you're a good assistant"),
        HumanMessage(
            [
                {"type": "text", "text": "what is in this image", "cache_control": {"type": "ephemeral"}},
                {"type": "image", "base64": pixel, "mime_type": "image/png"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": pixel}},
                {"type": "image", "url": "https://example.com/cat.png"},
            ]
        ),
        AIMessage(
            [
                {"type": "thinking", "thinking": "hmm", "signature": "sig"},
                {"type": "text", "text": "Let me look"},
                {"type": "tool_use", "input": {"city": "Oslo"}, "id": "foo", "name": "get_weather"},
            ],
            tool_calls=[{"name": "get_weather", "args": {"city": "Oslo"}, "id": "foo", "type": "tool_call"}],
        ),
        HumanMessage("Well?"),
    ]
    assert chat_model(srv, provider).bind_tools([get_weather]).invoke(messages).content
    sent = json.dumps(srv.last_request["body"])
    assert sent.count(pixel) == 2 and "https://example.com/cat.png" in sent and "hmm" not in sent
    if provider == "anthropic":
        assert '"cache_control"' in sent


def test_unsupported_blocks_are_refused_clearly(srv: MockServer) -> None:
    pdf = HumanMessage([{"type": "file", "base64": "JVBERi0=", "mime_type": "application/pdf"}])
    with pytest.raises(ValueError, match="'file' content blocks"):
        chat_model(srv, "openai").invoke([pdf])


async def test_abatch_runs_concurrently_in_the_core(srv: MockServer) -> None:
    srv.default("ok", latency=0.2)
    started = time.perf_counter()
    out = await chat_model(srv, "anthropic").abatch([f"q{i}" for i in range(10)])
    assert [m.content for m in out] == ["ok"] * 10
    assert time.perf_counter() - started < 1.0


def test_api_key_is_a_secret_never_serialised(srv: MockServer) -> None:
    model = chat_model(srv, "anthropic")
    assert model.api_key is not None and model.api_key.get_secret_value() == API_KEY
    assert API_KEY not in repr(model) and API_KEY not in str(model)
    assert API_KEY not in dumps(model)
    assert "ANTHROPIC_API_KEY" in dumps(model)


def test_ls_params_name_provider_and_model(srv: MockServer) -> None:
    params = chat_model(srv, "anthropic", temperature=0.5, max_tokens=9)._get_ls_params(stop=["x"])
    assert params == {
        "ls_provider": "anthropic",
        "ls_model_name": "claude-sonnet-4-5",
        "ls_model_type": "chat",
        "ls_temperature": 0.5,
        "ls_max_tokens": 9,
        "ls_stop": ["x"],
    }


def test_resilience_options_reach_the_core(srv: MockServer) -> None:
    import llmrail

    srv.fault(503).reply("recovered")
    model = chat_model(srv, "openai", retry=llmrail.Retry(max_attempts=2, initial_delay=0.01))
    msg = model.invoke("hi")
    assert msg.content == "recovered" and msg.response_metadata["attempts"] == 2
    srv.fault(503)
    with pytest.raises(llmrail.ServerError):
        chat_model(srv, "openai", max_retries=0).invoke("hi")


def test_lcel_chain(srv: MockServer) -> None:
    srv.reply("Bonjour")
    prompt = ChatPromptTemplate.from_messages([("system", "Translate to {lang}."), ("human", "{text}")])
    chain = prompt | chat_model(srv, "anthropic") | StrOutputParser()
    assert chain.invoke({"lang": "French", "text": "Hello"}) == "Bonjour"


def test_import_llmrail_does_not_import_langchain() -> None:
    code = "import sys, llmrail; print('langchain_core' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
