"""Record and replay with `llmrail.replay.cassette`: recorded over real HTTP against the mock
server, replayed with the server gone."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import llmrail
import pytest
import yaml
from llmrail.replay import cassette
from llmrail.testing import MockServer

from .conftest import make_client


@pytest.fixture(autouse=True)
def not_on_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests record on purpose (against the local mock server): CI=true would make `none`
    the default mode."""
    monkeypatch.delenv("CI", raising=False)


async def test_recorded_calls_replay_offline(tmp_path: Path, provider: str) -> None:
    path = tmp_path / "chat.yaml"
    with MockServer() as srv:
        srv.reply("Paris.", usage={"input_tokens": 12, "output_tokens": 2})
        client = make_client(srv, provider)
        with cassette(path, mode="once") as c:
            live = await client.chat("Capital of France?", max_tokens=20)
        assert (c.record_count, len(srv.requests)) == (1, 1)
    # The server is gone: only the cassette can answer now.
    with cassette(path, mode="none") as c:
        again = await client.chat("Capital of France?", max_tokens=20)
    assert (again.text, again.usage, again.finish_reason) == ("Paris.", live.usage, "stop")
    assert again.request_id == live.request_id
    assert (len(c), c.play_count, c.record_count, c.all_played, c.mode) == (1, 1, 0, True, "none")


def test_sync_calls_from_other_threads_replay_too(tmp_path: Path, srv: MockServer) -> None:
    path = tmp_path / "threads.yaml"
    client = make_client(srv, "openai")
    prompts = [f"question {i}" for i in range(8)]
    with cassette(path), ThreadPoolExecutor(4) as pool:
        live = [r.text for r in pool.map(client.chat_sync, prompts)]
    srv.shutdown()
    with cassette(path, mode="none"), ThreadPoolExecutor(4) as pool:
        # In another order: each request finds its own answer by its body.
        again = list(pool.map(lambda p: client.chat_sync(p).text, reversed(prompts)))
    assert again == list(reversed(live))
    assert live[3] == "mock reply to: question 3"


async def test_concurrent_calls_replay_by_body(tmp_path: Path, srv: MockServer) -> None:
    path = tmp_path / "gather.yaml"
    client = make_client(srv, "anthropic")
    prompts = [f"p{i}" for i in range(20)]
    async with cassette(path):
        live = await asyncio.gather(*(client.chat(p) for p in prompts))
    srv.shutdown()
    async with cassette(path, mode="none") as c:
        again = await asyncio.gather(*(client.chat(p) for p in reversed(prompts)))
    assert [r.text for r in again] == [r.text for r in reversed(live)]
    assert c.all_played


def test_the_file_is_vcrpy_layout_with_readable_json(tmp_path: Path, srv: MockServer) -> None:
    path = tmp_path / "layout.yaml"
    srv.reply(tool_calls=[{"name": "get_weather", "arguments": {"city": "Paris"}}])
    with cassette(path):
        make_client(srv, "openai").chat_sync("Weather in Paris?", tools=[{"name": "get_weather"}])
    text = path.read_text()
    assert text.startswith("interactions:\n- request:\n    body: |-\n      {\n")
    assert '"content": "Weather in Paris?"' in text  # pretty-printed, one field a line
    doc = yaml.safe_load(text)
    assert doc["version"] == 1
    (i,) = doc["interactions"]
    assert set(i["request"]) == {"body", "headers", "method", "uri"}
    assert i["request"]["method"] == "POST" and i["request"]["uri"] == srv.openai_base_url + "/chat/completions"
    assert i["request"]["headers"]["content-type"] == ["application/json"]
    assert i["response"]["status"] == {"code": 200, "message": "OK"}
    assert '"name": "get_weather"' in i["response"]["body"]["string"]
    assert i["response"]["latency_ms"] > 0


def test_header_values_stay_strings_for_yaml_1_1_readers(tmp_path: Path, srv: MockServer) -> None:
    path = tmp_path / "anthropic.yaml"
    with cassette(path):
        make_client(srv, "anthropic", headers=[("x-flag", "on")]).chat_sync("hi")
    (i,) = yaml.safe_load(path.read_text())["interactions"]  # PyYAML reads YAML 1.1, like vcrpy
    assert i["request"]["headers"]["anthropic-version"] == ["2023-06-01"]
    assert i["request"]["headers"]["x-flag"] == ["on"]


def test_vcrpy_loads_and_replays_an_llmrail_cassette(tmp_path: Path, srv: MockServer) -> None:
    vcr = pytest.importorskip("vcr")
    httpx = pytest.importorskip("httpx")
    path = tmp_path / "for-vcrpy.yaml"
    srv.reply("recorded by llmrail")
    with cassette(path):
        make_client(srv, "openai").chat_sync("hi")
    url = srv.openai_base_url + "/chat/completions"
    srv.shutdown()
    with vcr.use_cassette(str(path), record_mode="none", match_on=["method", "path"]):
        r = httpx.post(url, json={"model": "gpt-4.1-mini", "messages": []})
    assert r.status_code == 200
    assert r.json()["choices"][0]["message"]["content"] == "recorded by llmrail"


def test_identical_requests_replay_in_recorded_order(tmp_path: Path, srv: MockServer) -> None:
    """A 429 then a 200 for the same request replay as the same sequence (and so as the same
    retry, when the client retries)."""
    path = tmp_path / "retry.yaml"
    client = make_client(srv, "openai")

    def call() -> str:
        try:
            return client.chat_sync("hi").text
        except llmrail.RateLimitError as e:
            assert e.retry_after == 0.01
            return client.chat_sync("hi").text

    srv.fault(429, retry_after=0.01)
    srv.reply("after the retry")
    with cassette(path):
        assert call() == "after the retry"
    statuses = [i["response"]["status"]["code"] for i in yaml.safe_load(path.read_text())["interactions"]]
    assert statuses == [429, 200]
    srv.shutdown()
    with cassette(path, mode="none") as c:
        assert call() == "after the retry"
        assert c.all_played
        with pytest.raises(llmrail.CassetteMissError, match="already played"):
            client.chat_sync("hi")


def test_a_miss_names_the_request_the_closest_recording_and_what_differs(tmp_path: Path, srv: MockServer) -> None:
    path = tmp_path / "miss.yaml"
    client = make_client(srv, "openai")
    with cassette(path):
        client.chat_sync("What is 2+2?", max_tokens=10)
        client.chat_sync("Name a river", max_tokens=10)
    with cassette(path, mode="none"), pytest.raises(llmrail.CassetteMissError) as info:
        client.chat_sync("What is 3+3?", max_tokens=10)
    msg = str(info.value)
    assert f"POST {srv.openai_base_url}/chat/completions" in msg
    assert "miss.yaml" in msg and "#0" in msg
    assert 'body.messages[0].content: recorded "What is 2+2?", sent "What is 3+3?"' in msg
    assert isinstance(info.value, llmrail.LLMError)
    assert info.value.provider == "openai"
    assert len(srv.requests) == 2, "none mode never touches the network"


def test_record_modes(tmp_path: Path, srv: MockServer) -> None:
    path = tmp_path / "modes.yaml"
    client = make_client(srv, "openai")

    def count() -> int:
        return len(yaml.safe_load(path.read_text())["interactions"])

    with pytest.raises(llmrail.CassetteMissError, match="does not exist"), cassette(path, mode="none"):
        client.chat_sync("a")
    assert not path.exists()
    with cassette(path, mode="once"):
        client.chat_sync("a")
    with cassette(path, mode="once"), pytest.raises(llmrail.CassetteMissError):
        client.chat_sync("b")
    with cassette(path, mode="new_episodes") as c:
        client.chat_sync("a")
        client.chat_sync("b")
    assert (c.play_count, c.record_count, count()) == (1, 1, 2)
    srv.default("re-recorded")
    with cassette(path, mode="all") as c:
        client.chat_sync("a")
    assert (c.play_count, c.record_count, count()) == (0, 1, 2)
    with cassette(path, mode="none"):
        assert client.chat_sync("a").text == "re-recorded"
        assert client.chat_sync("b").text == "mock reply to: b"
    assert len(srv.requests) == 3
    with pytest.raises(llmrail.ConfigurationError, match="unknown record mode"), cassette(path, mode="sometimes"):  # type: ignore[arg-type]
        pass


def test_the_default_mode_is_none_on_ci(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with cassette(tmp_path / "ci.yaml") as c:
        assert c.mode == "none"
    monkeypatch.delenv("CI")
    with cassette(tmp_path / "dev.yaml") as c:
        assert c.mode == "once"


def test_json_bodies_match_whatever_the_key_order_and_whitespace(tmp_path: Path, srv: MockServer) -> None:
    path = tmp_path / "order.yaml"
    client = make_client(srv, "openai")
    with cassette(path):
        client.chat_sync("hi", max_tokens=5, temperature=1)
    # Rewrite the recorded body with its keys reversed and other whitespace.
    doc = yaml.safe_load(path.read_text())
    request = doc["interactions"][0]["request"]
    body = json.loads(request["body"])
    request["body"] = json.dumps(dict(reversed(list(body.items()))), indent=7, separators=(" ,", " :  "))
    path.write_text(yaml.safe_dump(doc))
    with cassette(path, mode="none"):
        assert client.chat_sync("hi", max_tokens=5, temperature=1.0).text == "mock reply to: hi"


def test_volatile_fields_can_be_ignored(tmp_path: Path, srv: MockServer) -> None:
    path = tmp_path / "volatile.yaml"
    client = make_client(srv, "openai")

    def call() -> str:
        return client.chat_sync("hi", extra_body={"metadata": {"run_id": str(uuid.uuid4()), "team": "x"}}).text

    with cassette(path, ignore_fields=["metadata.run_id"]):
        call()
    with cassette(path, mode="none", ignore_fields=["metadata.run_id"]):
        assert call() == "mock reply to: hi"
    with cassette(path, mode="none"), pytest.raises(llmrail.CassetteMissError, match="body.metadata.run_id"):
        call()
    with cassette(path, mode="none", match_on=["method", "path"]):
        assert client.chat_sync("anything at all").text == "mock reply to: hi"


def test_a_broken_file_is_a_configuration_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("interactions:\n- request: {method: POST}\n")
    with pytest.raises(llmrail.ConfigurationError, match="broken.yaml"), cassette(path):
        pass


async def test_a_decorated_function_records_and_replays(tmp_path: Path, srv: MockServer) -> None:
    client = make_client(srv, "openai")

    @cassette(tmp_path / "sync.yaml")
    def sync_call() -> str:
        return client.chat_sync("from a decorator").text

    @cassette(tmp_path / "async.yaml")
    async def async_call() -> str:
        return (await client.chat("from an async decorator")).text

    assert sync_call() == "mock reply to: from a decorator"
    assert await async_call() == "mock reply to: from an async decorator"
    srv.shutdown()
    assert sync_call() == "mock reply to: from a decorator"
    assert await async_call() == "mock reply to: from an async decorator"


@pytest.mark.parametrize(
    ("edit", "named"),
    [
        (("version: 1", "version: 2"), "cassette version 2 is not supported"),
        (("latency_ms: ", "latency_ms: 1.0e+300 #"), "`latency_ms` is 1e300"),
        (("latency_ms: ", "latency_ms: -5 #"), "`latency_ms` is -5"),
        (("latency_ms: ", "latency_ms: .nan #"), "`latency_ms` is .nan"),
    ],
)
def test_an_impossible_cassette_is_an_error_naming_the_file_and_the_field(
    tmp_path: Path, srv: MockServer, edit: tuple[str, str], named: str
) -> None:
    path = tmp_path / "edited.yaml"
    client = make_client(srv, "openai")
    with cassette(path):
        client.chat_sync("hi")
    text = path.read_text()
    assert edit[0] in text
    path.write_text(text.replace(*edit))
    with pytest.raises(llmrail.ConfigurationError) as e, cassette(path, mode="none", pace=1.0):
        client.chat_sync("hi")
    assert named in str(e.value) and "edited.yaml" in str(e.value)


@pytest.mark.parametrize(
    "pace", [10**400, -1.0, float("nan"), float("inf"), "fast"], ids=["10**400", "-1", "nan", "inf", "str"]
)
def test_an_impossible_pace_is_an_error_naming_it(tmp_path: Path, pace: object) -> None:
    with pytest.raises(llmrail.ConfigurationError, match="pace must be"):
        with cassette(tmp_path / "c.yaml", pace=pace):  # type: ignore[arg-type]
            pass


RECORD_ONE = """
import sys
import llmrail
from llmrail.replay import cassette

path, base, prompt, mode = sys.argv[1:5]
client = llmrail.Client("openai/gpt-4.1-mini", base_url=base, api_key="sk-test")
with cassette(path, mode=mode):
    client.chat_sync(prompt)
    print("recorded", flush=True)
    sys.stdin.readline()  # every process has recorded before any of them saves
"""


@pytest.mark.parametrize("mode", ["once", "new_episodes", "all"])
def test_processes_recording_one_cassette_together_lose_nothing(
    tmp_path: Path, srv: MockServer, mode: str
) -> None:
    path = tmp_path / "shared.yaml"
    client = make_client(srv, "openai")
    if mode != "once":
        with cassette(path):
            client.chat_sync("recorded earlier")
    prompts = [f"process {n}" for n in range(4)]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", RECORD_ONE, str(path), srv.openai_base_url, p, mode],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for p in prompts
    ]
    for proc in procs:
        assert proc.stdout is not None and proc.stdout.readline() == "recorded\n"
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("\n")
        proc.stdin.close()
    assert [proc.wait(timeout=60) for proc in procs] == [0] * len(procs)
    for proc in procs:
        assert proc.stdout is not None
        proc.stdout.close()
    srv.shutdown()
    earlier = [] if mode == "once" else ["recorded earlier"]
    with cassette(path, mode="none") as c:
        for p in earlier + prompts:
            assert client.chat_sync(p).text == f"mock reply to: {p}"
    assert len(c) == len(earlier) + len(prompts) and c.all_played
