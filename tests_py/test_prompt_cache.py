"""Prompt caching end to end against the mock server, which reports cache reads and writes the
way Anthropic and OpenAI do: breakpoints on the wire, usage, cost, hit rate, cache-break warnings."""

from __future__ import annotations

import logging
from typing import Any

import llmrail
import pytest
from llmrail import _core
from llmrail.testing import MockServer

from .conftest import make_client

# About 1,500 tokens: above Sonnet 4.5's 1,024-token minimum.
SYSTEM = "You are the support assistant of Example Corp. " + "Follow the refund policy in section 4. " * 150


def markers(body: Any) -> list[dict[str, Any]]:
    """Every cache_control object in a request body, in order."""
    found: list[dict[str, Any]] = []
    if isinstance(body, dict):
        for key, value in body.items():
            if key == "cache_control":
                found.append(value)
            else:
                found.extend(markers(value))
    elif isinstance(body, list):
        for item in body:
            found.extend(markers(item))
    return found


def test_nothing_changes_unless_asked(srv: MockServer) -> None:
    client = make_client(srv, "anthropic")
    client.chat_sync("Hi", system=SYSTEM)
    body = srv.last_request["body"]
    assert body["system"] == SYSTEM
    assert markers(body) == []


def test_cache_written_then_read_and_cost_drops(srv: MockServer) -> None:
    client = make_client(srv, "anthropic", prompt_cache="5m")
    first = client.chat_sync("What is the refund window?", system=SYSTEM)
    body = srv.last_request["body"]
    assert body["system"] == [{"type": "text", "text": SYSTEM, "cache_control": {"type": "ephemeral"}}]
    assert first.usage.cache_write_tokens > 1000 and first.usage.cache_read_tokens == 0
    second = client.chat_sync("And for damaged goods?", system=SYSTEM)
    assert second.usage.cache_read_tokens == first.usage.cache_write_tokens
    assert second.usage.cache_write_tokens == 0
    assert first.cost_usd is not None and second.cost_usd is not None
    assert second.cost_usd < first.cost_usd
    stats = client.cache_stats()
    assert stats.requests == 2 and stats.cache_read_tokens == second.usage.cache_read_tokens
    assert 0.4 < stats.hit_rate < 1.0
    assert stats.cache_breaks == 0


async def test_async_stream_reports_cache_tokens_and_cost(srv: MockServer) -> None:
    client = make_client(srv, "anthropic", prompt_cache="5m")
    await client.chat("first", system=SYSTEM)
    done = [e async for e in client.stream("second", system=SYSTEM) if e.type == "done"]
    assert done[0].usage is not None and done[0].usage.cache_read_tokens > 1000
    assert done[0].cost_usd is not None and done[0].cost_usd > 0
    assert client.cache_stats().requests == 2


def test_per_call_setting_overrides_the_client(srv: MockServer) -> None:
    cached = make_client(srv, "anthropic", prompt_cache="5m")
    cached.chat_sync("Hi", system=SYSTEM, prompt_cache="off")
    assert markers(srv.last_request["body"]) == []
    plain = make_client(srv, "anthropic")
    plain.chat_sync("Hi", system=SYSTEM, prompt_cache="1h")
    request = srv.last_request
    assert markers(request["body"]) == [{"type": "ephemeral", "ttl": "1h"}]
    assert ("anthropic-beta", "extended-cache-ttl-2025-04-11") in request["headers"]
    assert plain.chat_sync("Again", system=SYSTEM, prompt_cache="1h").usage.cache_read_tokens > 1000


def test_auto_uses_the_top_level_field(srv: MockServer) -> None:
    client = make_client(srv, "anthropic", prompt_cache="auto")
    history = [{"role": "user", "content": "Q1"}, {"role": "assistant", "content": "A1"},
               {"role": "user", "content": "Q2"}]
    client.chat_sync(history, system=SYSTEM)
    body = srv.last_request["body"]
    assert body["cache_control"] == {"type": "ephemeral"}
    assert body["system"][0]["cache_control"] == {"type": "ephemeral"}


def test_caller_markers_are_kept(srv: MockServer) -> None:
    client = make_client(srv, "anthropic")
    doc = "The contract text. " * 400
    client.chat_sync([{"role": "user", "content": [
        {"type": "text", "text": doc, "cache_control": {"type": "ephemeral", "ttl": "1h"}},
        {"type": "text", "text": "Summarise it."}]}])
    request = srv.last_request
    assert request["body"]["messages"][0]["content"][0]["cache_control"] == {"type": "ephemeral", "ttl": "1h"}
    assert ("anthropic-beta", "extended-cache-ttl-2025-04-11") in request["headers"]


def test_openai_gets_a_cache_key_and_reports_cached_tokens(srv: MockServer) -> None:
    client = make_client(srv, "openai", prompt_cache="5m")
    first = client.chat_sync("Hi", system=SYSTEM)
    key = srv.last_request["body"]["prompt_cache_key"]
    assert key.startswith("llmrail-")
    second = client.chat_sync("Hi again", system=SYSTEM)
    assert srv.last_request["body"]["prompt_cache_key"] == key
    assert first.usage.cache_read_tokens == 0
    assert second.usage.cache_read_tokens >= 1024 and second.usage.cache_read_tokens % 128 == 0
    # gpt-4.1-mini: $0.40 input, $0.10 cached input, $1.60 output per million tokens.
    u = second.usage
    expected = ((u.input_tokens - u.cache_read_tokens) * 0.40 + u.cache_read_tokens * 0.10
                + u.output_tokens * 1.60) / 1e6
    assert second.cost_usd == pytest.approx(expected)
    client.chat_sync("Mine", system=SYSTEM, extra_body={"prompt_cache_key": "tenant-7"})
    assert srv.last_request["body"]["prompt_cache_key"] == "tenant-7"


def test_unknown_models_have_no_cost(srv: MockServer) -> None:
    local = llmrail.Client("openai/llama3.2", base_url=srv.openai_base_url, api_key="sk-local")
    r = local.chat_sync("Hi")
    assert r.cost_usd is None and r.usage.input_tokens > 0


def test_bad_values_are_configuration_errors(srv: MockServer) -> None:
    with pytest.raises(llmrail.ConfigurationError, match="prompt_cache"):
        make_client(srv, "anthropic", prompt_cache="10m")
    client = make_client(srv, "anthropic")
    with pytest.raises(ValueError, match="prompt_cache"):
        client.chat_sync("Hi", prompt_cache="forever")  # type: ignore[arg-type]
    with pytest.raises(llmrail.ConfigurationError, match="ttl"):
        client.chat_sync([{"role": "user", "content": [
            {"type": "text", "text": "x", "cache_control": {"type": "ephemeral", "ttl": "2d"}}]}])


@pytest.fixture
def warnings_log(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.WARNING, logger="llmrail")
    _core.reset_log_levels()
    return caplog


def cache_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name.startswith("llmrail.cache")]


def test_a_changing_system_prompt_is_reported(srv: MockServer, warnings_log: pytest.LogCaptureFixture) -> None:
    client = make_client(srv, "anthropic", prompt_cache="5m")
    for minute in ("10:00", "10:01"):
        client.chat_sync("Hi", system=f"{SYSTEM}\nNow: 2026-05-01 {minute}")
    [warning] = cache_warnings(warnings_log)
    column = len("Now: 2026-05-01 10:0") + 1
    assert f"system prompt differs from the previous call at line 2, column {column}" in warning
    assert client.cache_stats().cache_breaks == 1
    # The same prompt again is a read, not another break.
    assert client.chat_sync("Hi", system=f"{SYSTEM}\nNow: 2026-05-01 10:01").usage.cache_read_tokens > 0
    assert len(cache_warnings(warnings_log)) == 1


def test_an_edited_message_is_reported(srv: MockServer, warnings_log: pytest.LogCaptureFixture) -> None:
    client = make_client(srv, "anthropic", prompt_cache="5m")
    history: list[dict[str, Any]] = [{"role": "user", "content": "Order 1234 arrived broken."},
                                     {"role": "assistant", "content": "Sorry! A refund or a new one?"},
                                     {"role": "user", "content": "A refund."}]
    client.chat_sync(history, system=SYSTEM)
    history += [{"role": "assistant", "content": "Done."}, {"role": "user", "content": "Thanks."}]
    client.chat_sync(history, system=SYSTEM)
    assert cache_warnings(warnings_log) == []
    history[1] = {"role": "assistant", "content": "Sorry!! (edited) A refund or a new one?"}
    client.chat_sync(history, system=SYSTEM)
    [warning] = cache_warnings(warnings_log)
    assert "messages[1] (assistant) differs from this conversation's previous call" in warning


def test_other_conversations_and_tools_changes(srv: MockServer, warnings_log: pytest.LogCaptureFixture) -> None:
    client = make_client(srv, "anthropic", prompt_cache="5m")
    tool = {"name": "lookup", "description": "Find an order.", "parameters": {"type": "object"}}
    for user in ("alice", "bob"):  # two conversations sharing the system prompt: no break
        client.chat_sync([{"role": "user", "content": f"I am {user}"}, {"role": "assistant", "content": "Hi"},
                          {"role": "user", "content": "Help"}], system=SYSTEM, tools=[tool])
    assert cache_warnings(warnings_log) == []
    changed = {**tool, "description": "Find an order by id."}
    client.chat_sync("Help", system=SYSTEM, tools=[changed])
    [warning] = cache_warnings(warnings_log)
    assert 'tool "lookup" (tools[0]) differs from the previous call' in warning
