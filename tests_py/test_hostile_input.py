"""Objects a caller hands over that JSON cannot hold: refused with the argument and the path.

The crash cases run in a child process: before the fix each one overflowed the stack and took
the interpreter down (SIGSEGV), which would end this whole test run instead of failing a test.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from typing import Any

import llmrail
import pytest
from llmrail.testing import MockServer

from .conftest import make_client

PRELUDE = """
import llmrail
from llmrail._core import JsonSchema

client = llmrail.Client("openai/gpt-4.1-mini", api_key="k", base_url="http://127.0.0.1:9")

def nest(n, key="x"):
    top = cur = {}
    for _ in range(n):
        cur[key] = {}
        cur = cur[key]
    return top

def deep_list(n):
    top = cur = []
    for _ in range(n):
        cur.append([])
        cur = cur[0]
    return top
"""

CRASHES = {
    "extra_body that contains itself": (
        "d = {'a': {}}; d['a']['b'] = d['a']\nclient.chat_sync('hi', extra_body=d)",
        'extra_body["a"]["b"] is extra_body["a"] again: a circular reference',
    ),
    "extra_body that is itself": (
        "d = {}; d['me'] = d\nclient.chat_sync('hi', extra_body=d)",
        'extra_body["me"] is extra_body again',
    ),
    "extra_body nested 100,000 deep": (
        "client.chat_sync('hi', extra_body=nest(100_000))",
        'extra_body["x"]["x"]["x"]["x"]...["x"]["x"] nests deeper than 100 levels',
    ),
    "message content parts that contain themselves": (
        "parts = [{'type': 'text', 'text': 'hi'}]; parts.append(parts)\n"
        "client.chat_sync([{'role': 'user', 'content': parts}])",
        'messages[0]["content"][1] is messages[0]["content"] again',
    ),
    "a message nested 100,000 deep": (
        "client.chat_sync([{'role': 'user', 'content': 'hi', 'metadata': nest(100_000)}])",
        'messages[0]["metadata"]["x"]["x"]["x"]...["x"]["x"] nests deeper',
    ),
    "tool parameters that contain themselves": (
        "p = {'type': 'object', 'properties': {}}; p['properties']['child'] = p\n"
        "client.chat_sync('hi', tools=[{'name': 'f', 'parameters': p}])",
        'tools[0]["parameters"]["properties"]["child"] is tools[0]["parameters"] again',
    ),
    "tool_choice nested 100,000 deep": (
        "client.chat_sync('hi', tool_choice=nest(100_000))",
        'tool_choice["x"]',
    ),
    "stop as a list nested 100,000 deep": (
        "client.chat_sync('hi', stop=deep_list(100_000))",
        "stop[0][0][0][0]...[0][0] nests deeper",
    ),
    "a JsonSchema that contains itself": (
        "s = {'type': 'object', 'properties': {}}; s['properties']['s'] = s\nJsonSchema(s)",
        'the schema["properties"]["s"] is the schema again',
    ),
    "a value to validate nested 100,000 deep": (
        "JsonSchema({'type': 'object'}).errors(nest(100_000))",
        "the value",
    ),
    "an extraction schema nested 100,000 deep": (
        "client.extract_sync(nest(100_000), 'hi')",
        "the schema nests too deeply",
    ),
    "a stream's extra_body that contains itself": (
        "d = {}; d['d'] = d\nclient.stream('hi', extra_body=d)",
        'extra_body["d"] is extra_body again',
    ),
}


@pytest.mark.parametrize("case", sorted(CRASHES))
def test_a_cycle_or_deep_nesting_is_a_configuration_error_not_a_crash(case: str) -> None:
    code, expected = CRASHES[case]
    script = PRELUDE + textwrap.dedent(f"""
try:
{textwrap.indent(code, "    ")}
except llmrail.ConfigurationError as e:
    print("ConfigurationError:", e)
else:
    print("no error")
""")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, f"exit {done.returncode}: {done.stderr[-2000:]}"
    assert done.stdout.startswith("ConfigurationError:"), done.stdout + done.stderr[-2000:]
    assert expected in done.stdout


NOT_FINITE: dict[str, dict[str, Any]] = {
    "temperature": {"temperature": float("nan")},
    "top_p": {"top_p": float("inf")},
    'extra_body["scores"][1]': {"extra_body": {"scores": [0.5, float("nan")]}},
    'tools[0]["parameters"]["properties"]["n"]["maximum"]': {
        "tools": [
            {"name": "f", "parameters": {"type": "object", "properties": {"n": {"maximum": float("-inf")}}}}
        ]
    },
}


@pytest.mark.parametrize("where", sorted(NOT_FINITE))
async def test_nan_and_infinity_are_refused_not_sent_as_null(
    srv: MockServer, client: llmrail.Client, where: str
) -> None:
    with pytest.raises(llmrail.ConfigurationError, match=r"(nan|inf)") as e:
        await client.chat("hi", **NOT_FINITE[where])
    assert str(e.value).startswith(where)
    with pytest.raises(llmrail.ConfigurationError):
        client.chat_sync("hi", **NOT_FINITE[where])
    assert srv.requests == []


RESERVED = {
    "model": "Client's model",
    "messages": "messages argument",
    "system": "system argument",
    "max_tokens": "max_tokens argument",
    "max_completion_tokens": "max_tokens argument",
    "stream": "client.stream()",
    "tools": "tools argument",
    "tool_choice": "tool_choice argument",
}


@pytest.mark.parametrize("key", sorted(RESERVED))
async def test_extra_body_cannot_replace_a_field_an_argument_sets(
    srv: MockServer, client: llmrail.Client, key: str
) -> None:
    with pytest.raises(llmrail.ConfigurationError, match=f'"{key}"') as e:
        await client.chat("hi", extra_body={key: "x"})
    assert RESERVED[key] in str(e.value)
    with pytest.raises(llmrail.ConfigurationError, match=f'"{key}"'):
        client.stream("hi", extra_body={key: "x"})
    assert srv.requests == []


@pytest.mark.parametrize(
    ("key", "argument"),
    [("temperature", {"temperature": 0.2}), ("top_p", {"top_p": 0.9}), ("stop_sequences", {"stop": "END"})],
)
async def test_a_sampling_knob_in_extra_body_is_refused_beside_its_argument(
    srv: MockServer, client: llmrail.Client, key: str, argument: dict[str, Any]
) -> None:
    with pytest.raises(llmrail.ConfigurationError, match=f'extra_body sets "{key}" and the .* argument is given too'):
        await client.chat("hi", extra_body={key: 0.5}, **argument)
    assert srv.requests == []


async def test_extra_body_still_adds_fields_no_argument_sets(srv: MockServer, client: llmrail.Client) -> None:
    srv.reply("ok")
    await client.chat("hi", extra_body={"metadata": {"user_id": "u1"}, "seed": 7})
    body = srv.requests[-1]["body"]
    assert (body["metadata"], body["seed"]) == ({"user_id": "u1"}, 7)
    assert body["messages"][-1]["content"] == "hi"


SURROGATES: dict[str, dict[str, Any]] = {
    'messages[0]["content"]': {"messages": [{"role": "user", "content": "caf\udce9"}]},
    'messages[1]["content"][0]["text"]': {
        "messages": [
            {"role": "user", "content": "hi"},
            {"role": "user", "content": [{"type": "text", "text": "\ud800"}]},
        ]
    },
    "messages": {"messages": "\udc80 lone"},
    'tools[0]["description"]': {"messages": "hi", "tools": [{"name": "f", "description": "bad \udcff"}]},
    "a key in extra_body": {"messages": "hi", "extra_body": {"k\ud800": 1}},
    "stop": {"messages": "hi", "stop": "\ud800"},
}


@pytest.mark.parametrize("where", sorted(SURROGATES))
async def test_a_lone_surrogate_is_a_configuration_error_naming_where(
    srv: MockServer, client: llmrail.Client, where: str
) -> None:
    with pytest.raises(llmrail.ConfigurationError, match="lone surrogate") as e:
        await client.chat(**SURROGATES[where])
    assert str(e.value).startswith(where)
    assert isinstance(e.value.__cause__, UnicodeEncodeError)
    assert srv.requests == []


def test_other_non_json_values_are_named(srv: MockServer) -> None:
    client = make_client(srv, "openai")
    with pytest.raises(llmrail.ConfigurationError, match=r'extra_body\["blob"\] is bytes'):
        client.chat_sync("hi", extra_body={"blob": b"\x00"})
    with pytest.raises(llmrail.ConfigurationError, match=r'extra_body\["n"\] is an integer beyond 64 bits'):
        client.chat_sync("hi", extra_body={"n": 2**70})
    with pytest.raises(llmrail.ConfigurationError, match=r"extra_body has the key 1: JSON keys are strings"):
        client.chat_sync("hi", extra_body={1: "x"})
    with pytest.raises(llmrail.ConfigurationError, match=r'extra_body\["when"\] is an object, not JSON'):
        client.chat_sync("hi", extra_body={"when": object()})
    assert srv.requests == []


def test_json_like_containers_still_convert(srv: MockServer) -> None:
    client = make_client(srv, "openai")
    srv.reply("ok")
    nested: Any = {"tuple": (1, 2), "big": 2**63, "neg": -(2**63), "ok": True, "none": None}
    client.chat_sync("hi", extra_body={"meta": nested})
    sent = srv.requests[-1]["body"]["meta"]
    assert sent == {"tuple": [1, 2], "big": 2**63, "neg": -(2**63), "ok": True, "none": None}
