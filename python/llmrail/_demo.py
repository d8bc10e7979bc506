"""What ``make demo`` shows: a chat, a stream and a tool call end to end over real HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Iterator
from typing import Any

from . import Client, LLMError

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}

REAL_DEFAULTS = (
    ("ANTHROPIC_API_KEY", "anthropic/claude-haiku-4-5"),
    ("OPENAI_API_KEY", "openai/gpt-4.1-mini"),
)


@contextlib.contextmanager
def _client(model: str | None, force_mock: bool) -> Iterator[Client]:
    if not force_mock:
        chosen = model or next((m for env, m in REAL_DEFAULTS if os.environ.get(env)), None)
        if chosen:
            print(f"using the real provider: {chosen}")
            yield Client(chosen)
            return
    from .testing import MockServer

    with MockServer() as srv:
        print(f"no API key set: using llmrail's built-in mock server at {srv.url}")
        srv.reply("Rust cores make Python services fast and calm.", latency=0.02)
        srv.reply(chunks=["Streaming ", "arrives ", "piece ", "by ", "piece."], chunk_delay=0.01)
        srv.reply(tool_calls=[{"name": "get_weather", "arguments": {"city": "Paris"}}])
        yield Client("openai/gpt-4.1-mini", base_url=srv.openai_base_url, api_key="sk-mock")


def _usage(u: Any) -> str:
    return f"in={u.input_tokens} out={u.output_tokens} cache_read={u.cache_read_tokens}"


async def _show(client: Client) -> None:
    r = await client.chat("Say one sentence about Rust and Python.", max_tokens=60)
    print(f"\n[chat]   {r.text!r}\n         usage {_usage(r.usage)}  latency {r.latency * 1e3:.1f} ms")

    print("\n[stream] ", end="", flush=True)
    started = time.perf_counter()
    first: float | None = None
    async for event in client.stream("Count to five in words.", max_tokens=60):
        if event.type == "text":
            first = first or time.perf_counter() - started
            print(event.text, end="", flush=True)
        elif event.type == "done" and event.usage is not None:
            total = time.perf_counter() - started
            print(f"\n         usage {_usage(event.usage)}  first token {(first or 0) * 1e3:.1f} ms"
                  f"  total {total * 1e3:.1f} ms")

    r = await client.chat("What's the weather in Paris?", tools=[WEATHER_TOOL], tool_choice="required")
    for call in r.tool_calls:
        print(f"\n[tools]  {call.name}({call.arguments})  finish_reason={r.finish_reason}")
    print(f"         usage {_usage(r.usage)}  latency {r.latency * 1e3:.1f} ms")


def run(model: str | None = None, force_mock: bool = False) -> int:
    try:
        with _client(model, force_mock) as client:
            asyncio.run(_show(client))
    except LLMError as e:
        print(f"\nfailed: {type(e).__name__}: {e}")
        return 1
    return 0
