"""One options contract: `chat`, `chat_sync`, `stream` and the three `extract` methods take their
keyword options as `**options`, typed `Unpack[ChatOptions]` / `Unpack[ExtractOptions]` in the stub
and read by one extractor in Rust (src/py/options.rs)."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import llmrail
import pytest
from llmrail.testing import MockServer
from mypy import api as mypy_api

from .conftest import make_client

SCHEMA = {"type": "object", "properties": {"a": {"type": "integer"}}}

Call = Callable[..., object]


def chat_calls(client: llmrail.Client) -> dict[str, Call]:
    def stream(*args: Any, **kwargs: Any) -> object:
        return list(client.stream(*args, **kwargs))

    return {"chat": client.chat, "chat_sync": client.chat_sync, "stream": stream}


def extract_calls(client: llmrail.Client) -> dict[str, Call]:
    def stream(*args: Any, **kwargs: Any) -> object:
        return list(client.extract_stream(*args, **kwargs))

    return {"extract": client.extract, "extract_sync": client.extract_sync, "extract_stream": stream}


async def call(method: Call, *args: Any, **kwargs: Any) -> object:
    out = method(*args, **kwargs)
    if hasattr(out, "__await__"):
        out = await out
    return out


@pytest.mark.parametrize(
    ("name", "meant"), [("max_token", "max_tokens"), ("temprature", "temperature"), ("Deadline", "deadline")]
)
async def test_a_misspelt_chat_option_names_the_one_meant(srv: MockServer, name: str, meant: str) -> None:
    client = make_client(srv, "openai")
    for method, f in chat_calls(client).items():
        with pytest.raises(TypeError) as info:
            await call(f, "hi", **{name: 1})
        assert str(info.value) == (
            f"Client.{method}() got an unexpected keyword argument '{name}'. Did you mean '{meant}'?"
        )
    assert srv.requests == []


async def test_a_misspelt_extract_option_names_the_one_meant(srv: MockServer) -> None:
    client = make_client(srv, "openai")
    for method, f in extract_calls(client).items():
        with pytest.raises(TypeError, match=rf"^Client\.{method}\(\) got an unexpected keyword argument "
                                            r"'max_retry'\. Did you mean 'max_retries'\?$"):
            await call(f, SCHEMA, "hi", max_retry=1)
    assert srv.requests == []


async def test_a_name_near_no_option_is_refused_as_before(srv: MockServer) -> None:
    client = make_client(srv, "openai")
    with pytest.raises(TypeError) as info:
        client.chat_sync("hi", timeout=5)  # type: ignore[call-arg]
    assert str(info.value) == "Client.chat_sync() got an unexpected keyword argument 'timeout'"
    # Tools belong to chat: extraction brings its own.
    with pytest.raises(TypeError, match=r"^Client\.extract_sync\(\) got an unexpected keyword argument 'tools'$"):
        client.extract_sync(SCHEMA, "hi", tools=[])  # type: ignore[call-overload]
    # And extraction's options to extraction.
    with pytest.raises(TypeError, match="unexpected keyword argument 'include_raw'"):
        await client.chat("hi", include_raw=True)  # type: ignore[call-arg]
    assert srv.requests == []


async def test_an_unknown_option_is_refused_before_a_bad_value_is_read(srv: MockServer) -> None:
    client = make_client(srv, "openai")
    with pytest.raises(TypeError, match="unexpected keyword argument 'max_token'"):
        client.chat_sync("hi", system=3, max_token=5)  # type: ignore[call-arg, arg-type]


def test_messages_stays_positional_or_keyword(srv: MockServer) -> None:
    client = make_client(srv, "openai")
    srv.reply("ok")
    assert client.chat_sync(messages="hi", max_tokens=5).text == "ok"
    with pytest.raises(TypeError, match="multiple values for argument 'messages'"):
        client.chat_sync("hi", messages="again")  # type: ignore[misc]


OPTION_LISTS = [
    (llmrail.ChatOptions, chat_calls, ("hi",)),
    (llmrail.ExtractOptions, extract_calls, (SCHEMA, "hi")),
]


@pytest.mark.parametrize(("options", "calls", "args"), OPTION_LISTS, ids=["chat", "extract"])
async def test_the_typed_options_are_exactly_the_ones_the_methods_take(
    srv: MockServer, options: type, calls: Callable[[llmrail.Client], dict[str, Call]], args: tuple[Any, ...]
) -> None:
    """The TypedDicts the stub unpacks and the names the Rust extractor reads are one list."""
    client = make_client(srv, "openai")
    typed = options.__optional_keys__ | options.__required_keys__  # type: ignore[attr-defined]
    every = llmrail.ChatOptions.__optional_keys__ | llmrail.ExtractOptions.__optional_keys__
    for method, f in calls(client).items():
        for name in sorted(every):
            try:
                # A value no option accepts: each raises its own error, or none (validation_context).
                srv.reply('{"a": 1}')
                await call(f, *args, **{name: object()})
            except TypeError as e:
                assert ("unexpected keyword argument" in str(e)) == (name not in typed), (method, name, e)
            except llmrail.ConfigurationError:
                assert name in typed, (method, name)
            else:
                assert name in typed, (method, name)


MISSPELT = """
    import llmrail

    async def ask(client: llmrail.Client) -> None:
        await client.chat("hi", max_token=5)
        client.extract_sync({"type": "object"}, "hi", max_retry=2)
        client.stream("hi", temperature="hot")
"""


def test_mypy_rejects_a_misspelt_option(tmp_path: Path) -> None:
    path = tmp_path / "misspelt.py"
    path.write_text(textwrap.dedent(MISSPELT))
    out, err, status = mypy_api.run(["--strict", "--no-incremental", "--cache-dir", str(tmp_path / "cache"), str(path)])
    assert status == 1, out + err
    # chat is overloaded (a `queue=` call may return `Queued`), so mypy words it as for extract_sync.
    assert ('Unexpected keyword argument "max_token" for overloaded function "chat" of "Client"; '
            'did you mean "max_tokens"?') in out
    assert 'Unexpected keyword argument "max_retry" for overloaded function "extract_sync"' in out
    assert 'Argument "temperature" to "stream" of "Client" has incompatible type "str"' in out
    # Nothing else: the three lines (the names the misspelt options stand on) are the only errors.
    lines = {int(line.split(":")[1]) for line in out.splitlines() if ": error:" in line}
    assert lines == {5, 6, 7}, out
