"""Shared fixtures: every test talks real HTTP to llmrail's own mock server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Iterator
from typing import Any

import llmrail
import pytest
from llmrail.testing import MockServer

from .redis_server import RedisServer

API_KEY = "sk-test-0123456789abcdef-secret"


@pytest.fixture
def srv() -> Iterator[MockServer]:
    with MockServer() as server:
        yield server


class CountingLoop(asyncio.SelectorEventLoop):
    """A selector loop that counts what llmrail asks of it: sockets to watch (``add_reader``)
    and wake-ups from other threads (``call_soon_threadsafe``)."""

    readers = 0
    threadsafe = 0

    def add_reader(self, *args: Any, **kwargs: Any) -> None:
        self.readers += 1
        super().add_reader(*args, **kwargs)

    def call_soon_threadsafe(self, *args: Any, **kwargs: Any) -> asyncio.Handle:
        self.threadsafe += 1
        return super().call_soon_threadsafe(*args, **kwargs)


def make_client(srv: MockServer, provider: str, **kwargs: object) -> llmrail.Client:
    base = srv.openai_base_url if provider == "openai" else srv.anthropic_base_url
    model = "gpt-4.1-mini" if provider == "openai" else "claude-sonnet-4-5"
    return llmrail.Client(f"{provider}/{model}", base_url=base, api_key=API_KEY, **kwargs)  # type: ignore[arg-type]


@pytest.fixture(params=["openai", "anthropic"])
def provider(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def client(srv: MockServer, provider: str) -> llmrail.Client:
    return make_client(srv, provider)


def reset_otel_globals() -> None:
    """Unset OpenTelemetry's global providers (the API sets them once per process; tests set and
    unset them, as the SDK's own test utilities do), so that no other test's clients are traced."""
    if "opentelemetry.trace" not in sys.modules:
        return
    from opentelemetry import trace
    from opentelemetry.metrics import _internal as metrics_internal
    from opentelemetry.util._once import Once

    trace._TRACER_PROVIDER_SET_ONCE = Once()
    trace._TRACER_PROVIDER = None
    metrics_internal._METER_PROVIDER_SET_ONCE = Once()
    metrics_internal._METER_PROVIDER = None


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A real redis-server for the session (keys are unique per test). Missing redis-server
    skips locally and fails in CI, where `make test` has installed it."""
    try:
        server = RedisServer()
    except FileNotFoundError as e:
        if os.environ.get("CI"):
            raise
        pytest.skip(str(e))
    with server:
        yield server.url
