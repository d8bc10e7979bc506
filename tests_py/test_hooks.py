"""Client(on_request=..., on_response=..., on_error=...): each call's options and outcome reach
the hooks, sync or async ones, off the call path: a slow hook never delays a call, and one that
raises is logged on the `llmrail` logger while the call succeeds. Real calls to the mock server."""

from __future__ import annotations

import asyncio
import gc
import logging
import threading
import time
import weakref
from typing import Any

import llmrail
import pytest
from llmrail.testing import MockServer
from pydantic import BaseModel

from .conftest import API_KEY

HI = [{"role": "user", "content": "hi"}]


def client(srv: MockServer, **hooks: Any) -> llmrail.Client:
    return llmrail.Client(
        "openai/gpt-4.1-mini", base_url=srv.openai_base_url, api_key=API_KEY,
        retry=llmrail.Retry(max_attempts=1), **hooks,
    )


def wait_for(condition: Any, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the hook never ran"
        time.sleep(0.01)


async def test_hooks_get_the_options_then_the_response_or_the_error(srv: MockServer) -> None:
    seen: list[tuple[str, Any]] = []

    async def on_response(options: dict[str, Any], response: llmrail.ChatResponse) -> None:
        seen.append(("response", (options["max_tokens"], response.text)))

    c = client(
        srv,
        on_request=lambda options: seen.append(("request", (options["model"], options["messages"]))),
        on_response=on_response,
        on_error=lambda options, error: seen.append(("error", type(error))),
    )
    srv.reply("Paris.")
    await c.chat(HI, max_tokens=20)
    srv.fault(429)
    with pytest.raises(llmrail.RateLimitError):
        c.chat_sync(HI, max_tokens=20)
    wait_for(lambda: len(seen) == 4)
    assert sorted(seen, key=str) == sorted([
        ("request", ("gpt-4.1-mini", HI)),
        ("response", (20, "Paris.")),
        ("request", ("gpt-4.1-mini", HI)),
        ("error", llmrail.RateLimitError),
    ], key=str)


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_a_slow_hook_does_not_slow_the_call(srv: MockServer, kind: str) -> None:
    done = threading.Event()

    def slow_sync(options: dict[str, Any], response: llmrail.ChatResponse) -> None:
        time.sleep(1.5)
        done.set()

    async def slow_async(options: dict[str, Any], response: llmrail.ChatResponse) -> None:
        await asyncio.sleep(1.5)
        done.set()

    c = client(srv, on_request=lambda o: time.sleep(1.5), on_response=slow_sync if kind == "sync" else slow_async)
    srv.default("fast", latency=0)
    started = time.monotonic()
    await c.chat(HI)
    c.chat_sync(HI)
    assert time.monotonic() - started < 1.0
    assert await asyncio.to_thread(done.wait, 10)


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_a_raising_hook_is_logged_and_the_call_succeeds(
    srv: MockServer, caplog: pytest.LogCaptureFixture, kind: str
) -> None:
    def broken_sync(options: dict[str, Any], response: llmrail.ChatResponse) -> None:
        raise RuntimeError("hook bug")

    async def broken_async(options: dict[str, Any], response: llmrail.ChatResponse) -> None:
        raise RuntimeError("hook bug")

    caplog.set_level(logging.ERROR, logger="llmrail")
    c = client(srv, on_response=broken_sync if kind == "sync" else broken_async)
    srv.reply("still fine")
    assert c.chat_sync(HI).text == "still fine"

    def logged() -> list[logging.LogRecord]:
        return [r for r in caplog.records if r.name == "llmrail" and "on_response hook" in r.getMessage()]

    wait_for(lambda: bool(logged()))
    record = logged()[0]
    assert record.levelno == logging.ERROR
    assert record.exc_info is not None and "hook bug" in str(record.exc_info[1])


def test_a_hook_must_be_callable(srv: MockServer) -> None:
    with pytest.raises(TypeError, match="on_error must be a callable"):
        client(srv, on_error="print")


def test_a_client_whose_hook_refers_to_it_is_collected(srv: MockServer) -> None:
    answered: list[str] = []

    def build() -> tuple[weakref.ref[llmrail.Client], weakref.ref[Any]]:
        me: llmrail.Client | None = None

        def on_response(options: dict[str, Any], response: Any) -> None:
            answered.append(f"{me!r} {response.text}")  # the hook refers to its own client

        me = client(srv, on_response=on_response)
        srv.reply("Hello")
        me.chat_sync(HI)
        wait_for(lambda: bool(answered))
        return weakref.ref(me), weakref.ref(on_response)

    was_client, was_hook = build()
    gc.collect()
    assert was_client() is None and was_hook() is None
    assert answered[0].startswith("Client(openai/gpt-4.1-mini") and answered[0].endswith("Hello")


def recorder(seen: list[tuple[str, Any]]) -> dict[str, Any]:
    return {
        "on_request": lambda options: seen.append(("request", options)),
        "on_response": lambda options, response: seen.append(("response", response)),
        "on_error": lambda options, error: seen.append(("error", error)),
    }


async def test_a_streams_hooks_get_its_options_then_the_done_event_or_the_error(srv: MockServer) -> None:
    seen: list[tuple[str, Any]] = []
    c = client(srv, **recorder(seen))
    srv.reply(chunks=["Par", "is."], usage={"input_tokens": 5, "output_tokens": 2})
    events = [e async for e in c.stream(HI, max_tokens=20)]
    wait_for(lambda: len(seen) == 2)
    (_, options), (_, done) = seen
    assert (options["model"], options["messages"], options["max_tokens"]) == ("gpt-4.1-mini", HI, 20)
    assert done is events[-1] and done.type == "done"
    assert (done.usage.input_tokens, done.usage.output_tokens) == (5, 2)
    seen.clear()
    srv.fault(400)
    with pytest.raises(llmrail.BadRequestError) as raised:
        list(c.stream(HI))
    wait_for(lambda: len(seen) == 2)
    assert seen[0][0] == "request" and seen[1] == ("error", raised.value)


class City(BaseModel):
    name: str
    population: int


async def test_an_extractions_hooks_get_its_options_then_the_extraction_with_its_usage(srv: MockServer) -> None:
    seen: list[tuple[str, Any]] = []
    c = client(srv, **recorder(seen))
    srv.reply('{"name": "Paris"}', usage={"input_tokens": 10, "output_tokens": 4})
    srv.reply('{"name": "Paris", "population": 2100000}', usage={"input_tokens": 30, "output_tokens": 9})
    got = await c.extract(City, HI, max_retries=1)
    assert got == City(name="Paris", population=2100000)
    wait_for(lambda: len(seen) == 2)
    (_, options), (_, extraction) = seen
    assert (options["model"], options["messages"], options["max_retries"]) == ("gpt-4.1-mini", HI, 1)
    assert extraction.value is got and extraction.attempts == 2
    assert (extraction.usage.input_tokens, extraction.usage.output_tokens) == (40, 13)
    seen.clear()
    srv.reply('{"name": "Paris"}', times=2)
    with pytest.raises(llmrail.ExtractionError) as raised:
        c.extract_sync(City, HI, max_retries=1)
    wait_for(lambda: len(seen) == 2)
    assert seen[1] == ("error", raised.value)


async def test_an_extraction_streams_hooks_get_its_options_then_the_extraction_once_it_ends(srv: MockServer) -> None:
    seen: list[tuple[str, Any]] = []
    c = client(srv, **recorder(seen))
    srv.reply(chunks=['{"name": "Pa', 'ris"}'], usage={"input_tokens": 10, "output_tokens": 4})
    srv.reply(chunks=['{"name": "Paris", "population": 2100000}'], usage={"input_tokens": 30, "output_tokens": 9})
    *partials, got = [item async for item in c.extract_stream(City, HI, max_retries=1)]
    assert got == City(name="Paris", population=2100000) and partials
    wait_for(lambda: len(seen) == 2)
    (_, options), (_, extraction) = seen
    assert (options["model"], options["messages"], options["max_retries"]) == ("gpt-4.1-mini", HI, 1)
    assert extraction.value is got and extraction.attempts == 2
    assert (extraction.usage.input_tokens, extraction.usage.output_tokens) == (40, 13)
    seen.clear()
    srv.fault(400)
    with pytest.raises(llmrail.BadRequestError) as raised:
        list(c.extract_stream(City, HI))
    wait_for(lambda: len(seen) == 2)
    assert seen[1] == ("error", raised.value)

async def test_an_image_call_hands_its_options_and_outcome_to_the_hooks_without_waiting_for_them(
    srv: MockServer, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[tuple[str, Any]] = []
    caplog.set_level(logging.ERROR, logger="llmrail")

    def on_response(options: dict[str, Any], response: llmrail.ImagesResponse) -> None:
        time.sleep(1.5)
        seen.append(("response", (options["prompt"], len(response))))
        raise RuntimeError("hook bug")

    c = llmrail.Client(
        "openai/gpt-image-1", base_url=srv.openai_base_url, api_key=API_KEY, retry=llmrail.Retry(max_attempts=1),
        on_request=lambda options: seen.append(("request", options)),
        on_response=on_response,
        on_error=lambda options, error: seen.append(("error", (options["model"], type(error)))),
    )
    started = time.monotonic()
    r = await c.images.generate("a fox", n=2, size="1024x1536", quality="low")
    assert len(r) == 2 and time.monotonic() - started < 1.0
    srv.fault(400, body={"error": {"code": "moderation_blocked", "message": "rejected", "type": "x"}})
    with pytest.raises(llmrail.ContentPolicyError):
        c.images_sync.generate("something refused", model="openai/dall-e-3")
    wait_for(lambda: len(seen) == 4)
    assert sorted(seen, key=str) == sorted([
        ("request", {"model": "gpt-image-1", "prompt": "a fox", "n": 2, "size": "1024x1536", "quality": "low"}),
        ("response", ("a fox", 2)),
        ("request", {"model": "dall-e-3", "prompt": "something refused"}),
        ("error", ("dall-e-3", llmrail.ContentPolicyError)),
    ], key=str)
    wait_for(lambda: any("on_response hook" in r.getMessage() for r in caplog.records))
