"""The official SDKs over llmrail's transport (llmrail.httpx, llmrail.httpx2): real `openai` and
`anthropic` clients against the mock server on 127.0.0.1, recorded to a cassette, then replayed
with the server gone. (`anthropic` 2.x takes only httpx2 clients; `openai` 3.x takes either.)"""

from __future__ import annotations

import asyncio
import json
import textwrap
import threading
import time
from pathlib import Path

import anthropic
import httpx
import httpx2
import llmrail
import llmrail.httpx
import llmrail.httpx2
import openai
import pytest
from llmrail import _core
from llmrail.testing import MockServer

from .test_replay_plugin import run_pytest

API_KEY = "sk-sdk-transport-0123456789-secret"
ANTHROPIC_KEY = "sk-ant-sdk-transport-0123456789-secret"
HI = [{"role": "user", "content": "hi"}]
WORDS = ["Paris ", "is ", "the ", "capital."]


def async_openai(base_url: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=base_url, api_key=API_KEY, max_retries=0,
                              http_client=llmrail.httpx.AsyncClient())


def sync_openai(base_url: str, http: httpx.Client | httpx2.Client | None = None) -> openai.OpenAI:
    return openai.OpenAI(base_url=base_url, api_key=API_KEY, max_retries=0, http_client=http or llmrail.httpx.Client())


async def openai_chat_and_stream(sdk: openai.AsyncOpenAI) -> tuple[str, str]:
    r = await sdk.chat.completions.create(model="gpt-4.1-mini", messages=HI)  # type: ignore[arg-type]
    stream = await sdk.chat.completions.create(model="gpt-4.1-mini", messages=HI, stream=True)  # type: ignore[arg-type]
    text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    return r.choices[0].message.content or "", text


def sync_openai_chat_and_stream(sdk: openai.OpenAI) -> tuple[str, str]:
    r = sdk.chat.completions.create(model="gpt-4.1-mini", messages=HI)  # type: ignore[arg-type]
    stream = sdk.chat.completions.create(model="gpt-4.1-mini", messages=HI, stream=True)  # type: ignore[arg-type]
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    return r.choices[0].message.content or "", text


def assert_no_secret(cassette: Path, *secrets: str) -> None:
    text = cassette.read_text()
    assert "interactions" in text
    for secret in secrets:
        assert secret not in text


async def test_the_async_openai_sdk_records_a_chat_and_a_stream_then_replays_them_with_the_server_gone(
        tmp_path: Path) -> None:
    cassette = tmp_path / "openai.yaml"
    with MockServer() as srv:
        srv.reply("Paris.")
        srv.reply(chunks=WORDS)
        base = srv.openai_base_url
        with llmrail.replay.cassette(cassette, mode="once") as tape:
            recorded = await openai_chat_and_stream(async_openai(base))
        assert tape.record_count == 2
        assert len(srv.requests) == 2
        assert srv.requests[1]["body"]["stream"] is True
        assert srv.requests[0]["headers"].count(("authorization", f"Bearer {API_KEY}")) == 1
    assert recorded == ("Paris.", "Paris is the capital.")
    assert_no_secret(cassette, API_KEY)
    with llmrail.replay.cassette(cassette, mode="none") as tape:
        assert await openai_chat_and_stream(async_openai(base)) == recorded
        assert tape.play_count == 2


@pytest.mark.parametrize("http", [llmrail.httpx.Client, llmrail.httpx2.Client])
def test_the_sync_openai_sdk_records_and_replays_through_the_same_cassette(
        tmp_path: Path, http: type[httpx.Client] | type[httpx2.Client]) -> None:
    cassette = tmp_path / "openai_sync.yaml"
    with MockServer() as srv:
        srv.reply("Paris.")
        srv.reply(chunks=WORDS)
        base = srv.openai_base_url
        with llmrail.replay.cassette(cassette, mode="once") as tape:
            recorded = sync_openai_chat_and_stream(sync_openai(base, http()))
        assert tape.record_count == 2
    assert recorded == ("Paris.", "Paris is the capital.")
    assert_no_secret(cassette, API_KEY)
    with llmrail.replay.cassette(cassette, mode="none") as tape:
        assert sync_openai_chat_and_stream(sync_openai(base, http())) == recorded
        assert tape.play_count == 2


async def test_the_anthropic_sdk_records_a_message_and_a_stream_then_replays_them_sync_and_async(
        tmp_path: Path) -> None:
    cassette = tmp_path / "anthropic.yaml"

    async def run(base: str) -> tuple[str, str]:
        sdk = anthropic.AsyncAnthropic(base_url=base, api_key=ANTHROPIC_KEY, max_retries=0,
                                       http_client=llmrail.httpx2.AsyncClient())
        m = await sdk.messages.create(model="claude-sonnet-4-5", max_tokens=100, messages=HI)  # type: ignore[arg-type]
        async with sdk.messages.stream(model="claude-sonnet-4-5", max_tokens=100, messages=HI) as s:  # type: ignore[arg-type]
            text = "".join([t async for t in s.text_stream])
        block = m.content[0]
        return (block.text if block.type == "text" else ""), text

    def run_sync(base: str) -> tuple[str, str]:
        sdk = anthropic.Anthropic(base_url=base, api_key=ANTHROPIC_KEY, max_retries=0,
                                  http_client=llmrail.httpx2.Client())
        m = sdk.messages.create(model="claude-sonnet-4-5", max_tokens=100, messages=HI)  # type: ignore[arg-type]
        with sdk.messages.stream(model="claude-sonnet-4-5", max_tokens=100, messages=HI) as s:  # type: ignore[arg-type]
            text = "".join(s.text_stream)
        block = m.content[0]
        return (block.text if block.type == "text" else ""), text

    with MockServer() as srv:
        for _ in range(2):
            srv.reply("Paris.")
            srv.reply(chunks=WORDS)
        base = srv.anthropic_base_url
        with llmrail.replay.cassette(cassette, mode="once"):
            recorded = await run(base)
        with llmrail.replay.cassette(tmp_path / "anthropic_sync.yaml", mode="once"):
            assert run_sync(base) == recorded
        assert srv.requests[0]["path"] == "/v1/messages"
        assert ("authorization", f"Bearer {ANTHROPIC_KEY}") in srv.requests[0]["headers"]
    assert recorded == ("Paris.", "Paris is the capital.")
    for name in ("anthropic.yaml", "anthropic_sync.yaml"):
        assert_no_secret(tmp_path / name, ANTHROPIC_KEY)
    with llmrail.replay.cassette(cassette, mode="none"):
        assert await run(base) == recorded
    with llmrail.replay.cassette(tmp_path / "anthropic_sync.yaml", mode="none"):
        assert run_sync(base) == recorded


async def test_a_stream_reaches_the_sdk_event_by_event_as_the_server_sends_it(srv: MockServer) -> None:
    srv.reply(chunks=[f"w{i} " for i in range(6)], chunk_delay=0.15)
    sdk = async_openai(srv.openai_base_url)
    started = time.perf_counter()
    stream = await sdk.chat.completions.create(model="gpt-4.1-mini", messages=HI, stream=True)  # type: ignore[arg-type]
    seen: list[tuple[float, str]] = []
    async for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            seen.append((time.perf_counter() - started, chunk.choices[0].delta.content))
    assert [t for _, t in seen] == [f"w{i} " for i in range(6)]
    # Six words 150 ms apart: the first is in hand long before the last was sent.
    assert seen[-1][0] - seen[0][0] >= 0.6


def test_the_sync_sdk_sees_the_first_event_before_the_last_is_sent(srv: MockServer) -> None:
    srv.reply(chunks=[f"w{i} " for i in range(6)], chunk_delay=0.15)
    sdk = sync_openai(srv.openai_base_url)
    started = time.perf_counter()
    times = [time.perf_counter() - started
             for c in sdk.chat.completions.create(model="gpt-4.1-mini", messages=HI, stream=True)  # type: ignore[arg-type]
             if c.choices and c.choices[0].delta.content]
    assert len(times) == 6 and times[-1] - times[0] >= 0.6


async def test_bytes_pass_unchanged_and_an_error_status_is_the_sdks_to_read(srv: MockServer) -> None:
    srv.reply("Paris.", headers={"x-custom-answer": "kept"})
    async with llmrail.httpx.AsyncClient() as http:
        body = b'{"model": "gpt-4.1-mini",   "messages": [{"role": "user", "content": "hi"}]}'
        r = await http.post(f"{srv.openai_base_url}/chat/completions", content=body,
                            headers={"authorization": f"Bearer {API_KEY}", "x-trace": "t-1"})
        assert r.status_code == 200
        assert r.headers["x-custom-answer"] == "kept"
        assert r.json()["choices"][0]["message"]["content"] == "Paris."
        assert ("x-trace", "t-1") in srv.last_request["headers"]
        srv.fault(429, retry_after=7)
        sdk = openai.AsyncOpenAI(base_url=srv.openai_base_url, api_key=API_KEY, max_retries=0, http_client=http)
        with pytest.raises(openai.RateLimitError) as caught:
            await sdk.chat.completions.create(model="gpt-4.1-mini", messages=HI)  # type: ignore[arg-type]
        assert caught.value.response.headers["retry-after"] == "7"


async def test_a_refused_connection_is_httpx_connect_error_and_the_sdk_reports_it_as_its_own() -> None:
    with MockServer() as gone:
        base = gone.openai_base_url
    async with llmrail.httpx.AsyncClient() as http:
        with pytest.raises(httpx.ConnectError):
            await http.get(base + "/models")
    with pytest.raises(openai.APIConnectionError) as caught:
        await async_openai(base).chat.completions.create(model="gpt-4.1-mini", messages=HI)  # type: ignore[arg-type]
    assert isinstance(caught.value.__cause__, httpx.ConnectError)
    with llmrail.httpx.Client() as sync_http, pytest.raises(httpx.ConnectError):
        sync_http.get(base + "/models")


async def test_a_silent_server_is_httpx_read_timeout_and_the_sdk_reports_its_timeout(srv: MockServer) -> None:
    srv.reply("late", latency=2.0, times=2)
    sdk = openai.AsyncOpenAI(base_url=srv.openai_base_url, api_key=API_KEY, max_retries=0, timeout=0.3,
                             http_client=llmrail.httpx.AsyncClient())
    started = time.perf_counter()
    with pytest.raises(openai.APITimeoutError) as caught:
        await sdk.chat.completions.create(model="gpt-4.1-mini", messages=HI)  # type: ignore[arg-type]
    assert time.perf_counter() - started < 1.5
    assert isinstance(caught.value.__cause__, httpx.ReadTimeout)
    with llmrail.httpx.Client(timeout=0.3) as http, pytest.raises(httpx.ReadTimeout):
        http.post(f"{srv.openai_base_url}/chat/completions", json={"model": "m", "messages": HI},
                  headers={"authorization": f"Bearer {API_KEY}"})


async def test_closing_a_stream_part_way_closes_the_connection_and_records_nothing(
        srv: MockServer, tmp_path: Path) -> None:
    srv.reply(chunks=[f"w{i} " for i in range(20)], chunk_delay=0.1)
    cassette = tmp_path / "closed.yaml"
    with llmrail.replay.cassette(cassette, mode="once") as tape:
        stream = await async_openai(srv.openai_base_url).chat.completions.create(
            model="gpt-4.1-mini", messages=HI, stream=True)  # type: ignore[arg-type]
        async for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                break
        await stream.close()
        for _ in range(50):
            if srv.disconnects:
                break
            await asyncio.sleep(0.02)
        assert srv.disconnects == 1
        assert tape.record_count == 0


async def test_cancelling_the_task_drops_the_request_and_the_server_sees_it_close(srv: MockServer) -> None:
    srv.reply("late", latency=5.0)
    sdk = async_openai(srv.openai_base_url)
    task = asyncio.create_task(sdk.chat.completions.create(model="gpt-4.1-mini", messages=HI))  # type: ignore[arg-type]
    srv.wait_for_requests_sync(0)
    await asyncio.sleep(0.3)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    for _ in range(50):
        if srv.disconnects:
            break
        await asyncio.sleep(0.02)
    assert srv.disconnects == 1


async def test_a_request_the_cassette_cannot_answer_raises_cassette_miss_not_a_transport_error(
        tmp_path: Path) -> None:
    with llmrail.replay.cassette(tmp_path / "empty.yaml", mode="none"):
        with pytest.raises(llmrail.CassetteMissError, match="no recorded response for POST"):
            await async_openai("http://127.0.0.1:9/v1").chat.completions.create(
                model="gpt-4.1-mini", messages=HI)  # type: ignore[arg-type]
        async with llmrail.httpx2.AsyncClient() as http:
            with pytest.raises(llmrail.CassetteMissError):
                await http.get("http://127.0.0.1:9/v1/models")


PLUGIN_SUITE = """
import os
import anthropic
import llmrail.httpx2
import openai
import pytest

HI = [{"role": "user", "content": "hi"}]

@pytest.mark.llm_cassette
async def test_openai_async():
    sdk = openai.AsyncOpenAI(base_url=os.environ["LLM_BASE"], api_key="sk-plugin-secret-key",
                             http_client=llmrail.httpx2.AsyncClient())
    r = await sdk.chat.completions.create(model="gpt-4.1-mini", messages=HI)
    stream = await sdk.chat.completions.create(model="gpt-4.1-mini", messages=HI, stream=True)
    text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert r.choices[0].message.content == text == "mock reply to: hi"

@pytest.mark.llm_cassette
def test_anthropic_sync():
    sdk = anthropic.Anthropic(base_url=os.environ["LLM_ROOT"], api_key="sk-plugin-secret-key",
                              http_client=llmrail.httpx2.Client())
    with sdk.messages.stream(model="claude-sonnet-4-5", max_tokens=50, messages=HI) as s:
        assert "".join(s.text_stream) == "mock reply to: hi"
"""


def test_the_pytest_plugins_marker_records_sdk_calls_and_replays_them_on_ci_with_the_server_gone(
        tmp_path: Path) -> None:
    (tmp_path / "test_sdk_inner.py").write_text(textwrap.dedent(PLUGIN_SUITE))
    (tmp_path / "pytest.ini").write_text("[pytest]\nasyncio_mode = auto\n")
    with MockServer() as srv:
        env = {"LLM_BASE": srv.openai_base_url, "LLM_ROOT": srv.anthropic_base_url}
        rec = run_pytest(tmp_path, "--llm-record-mode=once", **env)
        assert rec.returncode == 0, rec.stdout + rec.stderr
        assert len(srv.requests) == 3
    folder = tmp_path / "cassettes" / "test_sdk_inner"
    assert sorted(p.name for p in folder.iterdir()) == ["test_anthropic_sync.yaml", "test_openai_async.yaml"]
    for cassette in folder.iterdir():
        assert_no_secret(cassette, "sk-plugin-secret-key")
    rep = run_pytest(tmp_path, CI="true", **env)
    assert rep.returncode == 0, rep.stdout + rep.stderr
    assert "2 passed" in rep.stdout


async def test_a_stream_that_stalls_mid_way_fails_as_httpx_read_timeout_sync_and_async(srv: MockServer) -> None:
    srv.reply(chunks=["one ", "two "], chunk_delay=1.5, times=2)
    url, body = f"{srv.openai_base_url}/chat/completions", {"model": "m", "messages": HI, "stream": True}
    headers = {"authorization": f"Bearer {API_KEY}"}
    timeout = httpx2.Timeout(5.0, read=0.3)
    async with llmrail.httpx2.AsyncClient(timeout=timeout) as http:
        async with http.stream("POST", url, json=body, headers=headers) as r:
            assert r.headers["content-type"].startswith("text/event-stream")
            with pytest.raises(httpx2.ReadTimeout):
                async for _ in r.aiter_bytes():
                    pass
    with llmrail.httpx2.Client(timeout=timeout) as sync_http, sync_http.stream("POST", url, json=body,
                                                                               headers=headers) as r:
        with pytest.raises(httpx2.ReadTimeout):
            for _ in r.iter_bytes():
                pass


STREAM_HEADERS = [(b"content-type", b"application/json"), (b"authorization", f"Bearer {API_KEY}".encode())]


async def stalled_read(srv: MockServer) -> tuple[_core.HttpBody, asyncio.Future[bytes]]:
    """A streamed body, and a read of it waiting for a chunk the server holds back."""
    srv.reply(chunks=["a ", "b ", "c "], chunk_delay=5.0)
    body = json.dumps({"model": "gpt-4.1-mini", "messages": HI, "stream": True}).encode()
    reply = await _core.HttpForwarder().send(
        "POST", f"{srv.openai_base_url}/chat/completions", STREAM_HEADERS, body)
    assert reply.stream is not None
    for _ in range(10):
        read = asyncio.ensure_future(reply.stream.__anext__())
        await asyncio.sleep(0.3)
        if not read.done():
            return reply.stream, read
        read.result()
    raise AssertionError("every read was answered at once")


async def test_closing_a_stream_while_a_read_waits_ends_that_read_and_the_connection_at_once(
        srv: MockServer) -> None:
    stream, read = await stalled_read(srv)
    closed = time.perf_counter()
    stream.close()
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(read, 2)
    assert time.perf_counter() - closed < 1.0
    for _ in range(50):
        if srv.disconnects:
            break
        await asyncio.sleep(0.02)
    assert srv.disconnects == 1
    with pytest.raises(StopAsyncIteration):
        await stream.__anext__()


def test_closing_a_stream_while_a_thread_reads_it_ends_that_read_and_the_connection(srv: MockServer) -> None:
    srv.reply(chunks=["a ", "b ", "c "], chunk_delay=5.0)
    body = json.dumps({"model": "gpt-4.1-mini", "messages": HI, "stream": True}).encode()
    reply = _core.HttpForwarder().send_sync(
        "POST", f"{srv.openai_base_url}/chat/completions", STREAM_HEADERS, body)
    stream = reply.stream
    assert stream is not None
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.extend(stream), daemon=True)
    reader.start()
    time.sleep(1.0)  # the first chunks read, the reader waits for one held back
    assert reader.is_alive()
    closed = time.perf_counter()
    stream.close()
    reader.join(2)
    assert not reader.is_alive() and time.perf_counter() - closed < 1.0
    assert got
    for _ in range(50):
        if srv.disconnects:
            break
        time.sleep(0.02)
    assert srv.disconnects == 1
