"""The command line and the logging bridge, as a user meets them."""

from __future__ import annotations

import logging
import os
import signal
import socket
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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def test_the_mock_server_listens_on_the_port_asked_for() -> None:
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "llmrail", "mock-server", "--port", str(port)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        lines = [server.stdout.readline() for _ in range(4)]
        assert f"listening on http://127.0.0.1:{port}" in lines[0], lines
        client = llmrail.Client("openai/gpt-4.1-mini", base_url=f"http://127.0.0.1:{port}/v1", api_key=API_KEY)
        assert client.chat_sync("hi").text == "mock reply to: hi"
    finally:
        server.send_signal(signal.SIGINT)
        server.communicate(timeout=10)
    assert server.returncode == 0


def test_a_port_in_use_is_refused_with_a_message_not_a_traceback() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run([sys.executable, "-m", "llmrail", "mock-server", "--port", str(port)],
                                capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert f"bind 127.0.0.1:{port}" in result.stderr and "Traceback" not in result.stderr
