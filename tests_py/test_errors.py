"""Errors: one tree, typed attributes, stdlib bases, and never a key in sight."""

from __future__ import annotations

import builtins
import pickle

import llmrail
import pytest
from llmrail.testing import MockServer

from .conftest import API_KEY, make_client

# Clients retry by default; these tests fail every attempt of a quick policy, or turn retries off.
QUICK = llmrail.Retry(max_attempts=3, initial_delay=0.001, max_delay=0.01)
NO_RETRY = llmrail.Retry(max_attempts=1)
RETRIED = {429, 500, 503, 529}

STATUS_CLASSES = [
    (400, llmrail.BadRequestError),
    (401, llmrail.AuthenticationError),
    (403, llmrail.PermissionDeniedError),
    (404, llmrail.NotFoundError),
    (422, llmrail.BadRequestError),
    (429, llmrail.RateLimitError),
    (500, llmrail.ServerError),
    (503, llmrail.ServerError),
    (529, llmrail.OverloadedError),
]


@pytest.mark.parametrize(("status", "cls"), STATUS_CLASSES)
async def test_status_maps_to_class(srv: MockServer, client: llmrail.Client, provider: str,
                                    status: int, cls: type[llmrail.LLMError]) -> None:
    srv.fault(status, times=3)
    with pytest.raises(cls) as info:
        await client.chat("hi", retry=QUICK)
    e = info.value
    assert e.attempts == (3 if status in RETRIED else 1)
    assert len(srv.requests) == e.attempts
    assert isinstance(e, llmrail.APIStatusError)
    assert e.status == status
    assert e.provider == provider
    assert e.model == client.model
    assert e.request_id
    assert e.body
    assert str(status) in str(e) or e.message


async def test_rate_limit_carries_retry_after(srv: MockServer, client: llmrail.Client) -> None:
    srv.fault(429, retry_after=2)
    with pytest.raises(llmrail.RateLimitError) as info:
        await client.chat("hi", retry=NO_RETRY)
    assert info.value.retry_after == 2.0
    assert info.value.attempts == 1
    assert info.value.retry_wait == 0.0


def test_sync_raises_the_same_classes(srv: MockServer, client: llmrail.Client) -> None:
    srv.fault(503, times=3)
    with pytest.raises(llmrail.ServerError) as info:
        client.chat_sync("hi", retry=QUICK)
    assert info.value.attempts == 3


async def test_reset_is_a_connection_error(srv: MockServer, client: llmrail.Client) -> None:
    srv.fault("reset", times=3)
    with pytest.raises(llmrail.ConnectionError) as info:
        await client.chat("hi", retry=QUICK)
    assert isinstance(info.value, builtins.ConnectionError)
    assert info.value.attempts == 3


async def test_timeout_is_a_builtin_timeout(srv: MockServer) -> None:
    client = make_client(srv, "openai", timeout=0.2, retry=NO_RETRY)
    srv.reply("late", latency=2.0)
    with pytest.raises(builtins.TimeoutError) as info:
        await client.chat("hi")
    assert isinstance(info.value, llmrail.TimeoutError)


async def test_malformed_json_is_an_invalid_response(srv: MockServer, client: llmrail.Client) -> None:
    srv.fault("malformed_json")
    with pytest.raises(llmrail.InvalidResponseError) as info:
        await client.chat("hi")
    assert info.value.body


async def test_key_never_appears_in_errors(srv: MockServer, client: llmrail.Client, provider: str) -> None:
    # A server that echoes the key back must not make us print it.
    echoed = {"error": {"message": f"Incorrect API key provided: {API_KEY}", "type": "invalid_request_error"}}
    srv.fault(401, body=echoed)
    with pytest.raises(llmrail.AuthenticationError) as info:
        await client.chat("hi")
    e = info.value
    for text in (str(e), repr(e), e.message, e.body or "", repr(client)):
        assert API_KEY not in text


def test_bad_model_string_is_a_clear_value_error() -> None:
    with pytest.raises(ValueError, match="provider/model"):
        llmrail.Client("gpt-4", api_key="k")
    with pytest.raises(llmrail.ConfigurationError, match="known providers"):
        llmrail.Client("nosuch/model", api_key="k")


def test_missing_key_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(llmrail.ConfigurationError, match="OPENAI_API_KEY"):
        llmrail.Client("openai/gpt-4.1")


async def test_bad_messages_are_named(client: llmrail.Client) -> None:
    with pytest.raises(llmrail.ConfigurationError, match=r"messages\[1\]"):
        await client.chat([{"role": "user", "content": "ok"}, {"role": "wizard", "content": "x"}])
    with pytest.raises(ValueError, match="empty"):
        client.chat_sync([])


def test_errors_pickle_with_their_attributes() -> None:
    e = llmrail.RateLimitError("slow down", provider="openai", model="m", status=429, retry_after=1.5)
    back = pickle.loads(pickle.dumps(e))
    assert type(back) is llmrail.RateLimitError
    assert (back.status, back.retry_after, back.provider) == (429, 1.5, "openai")
