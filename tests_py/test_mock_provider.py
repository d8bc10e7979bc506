"""The in-process mock provider, `Client("mock/<name>")`: chat, stream, tools, extraction,
faults through retries and fallbacks, fixtures files, sync and async, and no socket at all."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import llmrail
import pytest
from llmrail.testing import MockProvider
from pydantic import BaseModel

QUICK = llmrail.Retry(max_attempts=3, initial_delay=0.001, jitter="none")


@pytest.fixture
def mock() -> Iterator[MockProvider]:
    """A fresh name per test: a name's script lives as long as the process."""
    with MockProvider(f"t-{uuid.uuid4().hex[:10]}") as provider:
        yield provider


class City(BaseModel):
    name: str
    population: int


def test_a_chat_is_answered_from_the_script_with_usage_estimated_from_the_text(mock: MockProvider) -> None:
    mock.reply("Paris.")
    r = llmrail.Client(mock.model).chat_sync("Capital of France?")
    assert (r.text, r.provider, r.model, r.finish_reason) == ("Paris.", "mock", mock.name, "stop")
    # One message (4 tokens of framing) of 18 characters (5 tokens), as the limiter estimates.
    assert (r.usage.input_tokens, r.usage.output_tokens) == (9, 1)
    body = mock.last_request["body"]
    assert (body["model"], body["messages"][-1]["content"]) == (mock.name, "Capital of France?")
    assert mock.last_request["path"] == "/v1/chat/completions"


async def test_a_stream_arrives_in_the_scripted_chunks(mock: MockProvider) -> None:
    mock.reply(chunks=["The", " capital", " is Paris."], usage={"input_tokens": 12, "output_tokens": 5})
    events = [e async for e in llmrail.Client(mock.model).stream("Capital?")]
    assert [e.text for e in events if e.type == "text"] == ["The", " capital", " is Paris."]
    done = events[-1]
    assert (done.type, done.finish_reason, done.usage.input_tokens, done.usage.output_tokens) == (
        "done", "stop", 12, 5)


def test_tool_calls_and_their_results_go_round_trip(mock: MockProvider) -> None:
    mock.reply(tool_calls=[{"name": "get_weather", "arguments": {"city": "Paris"}}])
    mock.reply("Sunny in Paris.")
    client = llmrail.Client(mock.model)
    tools = [{"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}]
    r = client.chat_sync("Weather in Paris?", tools=tools)
    call = r.tool_calls[0]
    assert (r.finish_reason, call.name, call.arguments) == ("tool_calls", "get_weather", {"city": "Paris"})
    function = {"name": call.name, "arguments": json.dumps(call.arguments)}
    sent_call = {"id": call.id, "type": "function", "function": function}
    messages = [
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": None, "tool_calls": [sent_call]},
        {"role": "tool", "tool_call_id": call.id, "content": "sunny"},
    ]
    assert client.chat_sync(messages, tools=tools).text == "Sunny in Paris."
    sent = mock.last_request["body"]["messages"]
    assert (sent[-1]["role"], sent[-1]["tool_call_id"], sent[-1]["content"]) == ("tool", call.id, "sunny")


async def test_extraction_reads_the_scripted_json(mock: MockProvider) -> None:
    mock.reply(json={"name": "Paris", "population": 2_100_000})
    city = await llmrail.Client(mock.model).extract(City, "Tell me about Paris.")
    assert city == City(name="Paris", population=2_100_000)
    mock.reply(json={"name": "Lyon"}).reply(json={"name": "Lyon", "population": 520_000})
    # An invalid answer is asked again, as with any provider.
    assert llmrail.Client(mock.model).extract_sync(City, "Lyon?").population == 520_000


def test_a_429_is_retried_after_its_retry_after_then_succeeds(mock: MockProvider) -> None:
    mock.fault(429, retry_after=0.2).reply("ok after the wait")
    start = time.monotonic()
    r = llmrail.Client(mock.model, retry=QUICK).chat_sync("hi")
    assert (r.text, r.attempts) == ("ok after the wait", 2)
    assert time.monotonic() - start >= 0.2
    assert len(mock.requests) == 2


async def test_a_failing_mock_falls_back_to_another(mock: MockProvider) -> None:
    with MockProvider(f"{mock.name}-b") as backup:
        mock.fault(500, times=5)
        backup.reply("from b")
        client = llmrail.Client(mock.model, retry=QUICK, fallbacks=[backup.model])
        r = await client.chat("hi")
        assert (r.text, r.model, r.fallback_used) == ("from b", backup.name, True)
        assert len(mock.requests) == 3


def test_latency_beyond_the_timeout_is_a_timeout_and_a_cut_stream_a_connection_error(mock: MockProvider) -> None:
    client = llmrail.Client(mock.model, retry=llmrail.Retry(max_attempts=1), timeout=0.05)
    mock.reply("late", latency=1.0)
    with pytest.raises(llmrail.TimeoutError):
        client.chat_sync("hi")
    mock.fault("truncate", after=2)
    with pytest.raises(llmrail.ConnectionError):
        list(client.stream("hi"))


def test_a_fixtures_file_answers_by_rules_on_the_last_user_message(mock: MockProvider, tmp_path: Path) -> None:
    path = tmp_path / "fixtures.yaml"
    path.write_text(textwrap.dedent("""
        rules:
          - match: {equals: "ping"}
            reply: {text: "pong"}
          - match: {regex: "(?i)weather in (\\\\w+)"}
            reply: {tool_calls: [{name: get_weather, arguments: {city: Paris}}]}
          - match: {contains: "flaky"}
            replies:
              - {fault: {status: 429, retry_after: 0}}
              - {text: "steady now"}
        default: {text: "no rule matched"}
    """))
    mock.fixtures(str(path))
    client = llmrail.Client(mock.model, retry=QUICK)
    assert client.chat_sync("ping").text == "pong"
    assert client.chat_sync("What is the WEATHER in Paris?").tool_calls[0].arguments == {"city": "Paris"}
    assert client.chat_sync("a flaky one").text == "steady now"
    assert client.chat_sync("anything else").text == "no rule matched"
    # A queued reply comes first; the rules stay after clear().
    mock.reply("queued")
    assert client.chat_sync("ping").text == "queued"
    mock.clear()
    assert client.chat_sync("ping").text == "pong"


def test_a_bad_fixtures_file_is_a_configuration_error_naming_the_field(mock: MockProvider, tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"rules": [{"match": {"contains": "x"}, "reply": {"txt": "typo"}}]}))
    with pytest.raises(llmrail.ConfigurationError, match="txt"):
        mock.fixtures(str(path))



def test_a_fixtures_file_may_be_named_by_a_pathlib_path(mock: MockProvider, tmp_path: Path) -> None:
    path = tmp_path / "fixtures.yaml"
    path.write_text('default: {text: "from the file"}\n')
    mock.fixtures(path)
    assert llmrail.Client(mock.model).chat_sync("hi").text == "from the file"
    with pytest.raises(llmrail.ConfigurationError, match="missing.yaml"):
        mock.fixtures(tmp_path / "missing.yaml")

SOCKETLESS = """
import llmrail
from llmrail.testing import MockProvider

mock = MockProvider("socketless").reply("Paris.").fault(429, retry_after=0).reply("streamed reply")
client = llmrail.Client(mock.model, retry=llmrail.Retry(initial_delay=0.001))
assert client.chat_sync("Capital?").text == "Paris."
assert "".join(e.text or "" for e in client.stream("again")) == "streamed reply"
print("fixture:", llmrail.Client("mock/from-env").chat_sync("ping").text)
try:
    llmrail.Client("openai/gpt-4.1", base_url="http://127.0.0.1:9/v1", api_key="sk-x").chat_sync("hi")
except llmrail.ConnectionError:
    print("no network here")
"""


def test_no_socket_is_opened_even_with_the_fixtures_from_the_environment(tmp_path: Path) -> None:
    """Run in a network namespace with no interface (`unshare -rn`): there, any socket to any
    address fails, as the HTTP client's call shows; the mock still answers everything."""
    if shutil.which("unshare") is None or subprocess.run(["unshare", "-rn", "true"], check=False).returncode:
        pytest.skip("unshare -rn (an empty network namespace) is not available here")
    fixtures = tmp_path / "f.json"
    fixtures.write_text(json.dumps({"rules": [{"match": {"equals": "ping"}, "reply": {"text": "pong"}}]}))
    env = {**os.environ, "LLMRAIL_MOCK_FIXTURES": str(fixtures)}
    out = subprocess.run(
        ["unshare", "-rn", sys.executable, "-c", SOCKETLESS],
        capture_output=True, text=True, env=env, timeout=60, check=False,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["fixture: pong", "no network here"]


def test_the_mock_needs_no_key_and_a_name() -> None:
    assert llmrail.Client("mock/keyless").chat_sync("hello").text == "mock reply to: hello"
    with pytest.raises(llmrail.ConfigurationError):
        MockProvider("")


def test_a_mock_call_is_recorded_and_replayed_like_any_provider(mock: MockProvider, tmp_path: Path) -> None:
    mock.reply("recorded answer")
    client = llmrail.Client(mock.model)
    path = tmp_path / "mock.yaml"
    with llmrail.replay.cassette(path, mode="once") as tape:
        assert client.chat_sync("hi").text == "recorded answer"
    assert (tape.record_count, len(mock.requests)) == (1, 1)
    assert "mock://llmrail/v1/chat/completions" in path.read_text()
    with llmrail.replay.cassette(path, mode="none") as tape:
        assert client.chat_sync("hi").text == "recorded answer"
    # Replayed by the cassette: the script was not asked again.
    assert (tape.play_count, len(mock.requests)) == (1, 1)
