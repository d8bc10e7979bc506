"""Tool-call arguments as the model sent them (`raw_arguments`) and parsed (`arguments`, or None)."""

from __future__ import annotations

import json

import llmrail
import pytest
from llmrail.testing import MockServer

BAD_ARGUMENTS = '{"city": "Par'
DEEP_ARGUMENTS = "[" * 100_000 + "]" * 100_000


@pytest.mark.parametrize("raw", [BAD_ARGUMENTS, DEEP_ARGUMENTS], ids=["cut-off", "nested-100000"])
async def test_tool_call_arguments_that_are_not_json_come_back_raw(
    srv: MockServer, client: llmrail.Client, raw: str
) -> None:
    srv.reply(tool_calls=[{"name": "get_weather", "arguments": raw, "id": "call_1"}])
    r = await client.chat("weather?")
    [call] = r.tool_calls
    assert call.arguments is None
    assert call.raw_arguments == raw
    assert "arguments=None" in repr(call)

    srv.reply(tool_calls=[{"name": "get_weather", "arguments": raw, "id": "call_1"}])
    streamed = "".join(e.arguments or "" for e in client.stream("weather?") if e.type == "tool_call_delta")
    assert streamed == raw


async def test_valid_tool_call_arguments_have_both_forms(srv: MockServer, client: llmrail.Client) -> None:
    srv.reply(tool_calls=[{"name": "get_weather", "arguments": {"city": "Paris"}}])
    [call] = (await client.chat("weather?")).tool_calls
    assert call.arguments == {"city": "Paris"}
    assert json.loads(call.raw_arguments) == {"city": "Paris"}
