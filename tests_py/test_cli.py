"""The command line and the logging bridge, as a user meets them."""

from __future__ import annotations

import logging
import os
import subprocess
import sys

import llmrail
import pytest
from llmrail import _core
from llmrail.testing import MockServer

from .conftest import API_KEY, make_client


def test_demo_runs_end_to_end_without_a_key() -> None:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    result = subprocess.run([sys.executable, "-m", "llmrail", "demo"], capture_output=True, text=True,
                            env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "mock server" in out
    assert "[chat]" in out and "[stream]" in out and "[tools]" in out
    assert "get_weather" in out
    assert "latency" in out and "usage" in out


def test_core_logs_reach_python_logging(srv: MockServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="llmrail")
    _core.reset_log_levels()
    client = make_client(srv, "openai")
    client.chat_sync("hi")
    records = [r for r in caplog.records if r.name.startswith("llmrail")]
    finished = [r.getMessage() for r in records if "chat finished" in r.getMessage()]
    assert finished and 'gen_ai.system="openai"' in finished[0] and "status=200" in finished[0]
    assert all(API_KEY not in r.getMessage() for r in caplog.records)


def test_version_is_exposed() -> None:
    assert llmrail.__version__.count(".") == 2
