"""`bedrock/<model>` from Python: the region and endpoint configuration, capabilities from the
catalogue, and calls (async, sync, streamed) against Bedrock's recorded answers served over
127.0.0.1 (tests/data/real-cassettes: pydantic-ai's Nova Micro Converse and ConverseStream
recordings, the stream as its real event-stream frames). The mock server's own Bedrock wire is
tested beside it."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import llmrail
import pytest
import yaml
from llmrail._core import plan_prompt_cache

CASSETTES = Path(__file__).resolve().parent.parent / "tests/data/real-cassettes/pydantic-ai/tests/models/cassettes"
MODEL = "us.amazon.nova-micro-v1:0"
KEY = "bedrock-api-key-7c1e9a3f5b"


def recorded(name: str) -> dict[str, Any]:
    doc = yaml.safe_load((CASSETTES / "test_bedrock" / name).read_text())
    interaction: dict[str, Any] = doc["interactions"][0]
    return interaction


class Bedrock(ThreadingHTTPServer):
    requests: list[tuple[str, dict[str, str], bytes]]


class Handler(BaseHTTPRequestHandler):
    server: Bedrock

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        self.server.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}, body))
        if self.path.endswith("/converse-stream"):
            # yaml reads `!!binary` as bytes: the frames as Bedrock sent them.
            payload: bytes = recorded("test_bedrock_model_stream.yaml")["response"]["body"]["string"]
            kind = "application/vnd.amazon.eventstream"
        else:
            payload = json.dumps(recorded("test_bedrock_model.yaml")["response"]["parsed_body"]).encode()
            kind = "application/json"
        self.send_response(200)
        self.send_header("content-type", kind)
        self.send_header("content-length", str(len(payload)))
        self.send_header("x-amzn-requestid", "req-bedrock-1")
        self.end_headers()
        for i in range(0, len(payload), 64):  # in small writes, as a network cuts it
            self.wfile.write(payload[i : i + 64])
            self.wfile.flush()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass


@pytest.fixture
def bedrock() -> Iterator[Bedrock]:
    server = Bedrock(("127.0.0.1", 0), Handler)
    server.requests = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def client(server: Bedrock) -> llmrail.Client:
    host, port = server.server_address[:2]
    return llmrail.Client(f"bedrock/{MODEL}", base_url=f"http://{host!s}:{port}", api_key=KEY)


def test_without_a_region_the_error_names_the_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.setenv("AWS_BEARER_TOKEN_BEDROCK", KEY)
    # Nor a profile whose config file names one.
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/config")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials")
    with pytest.raises(llmrail.ConfigurationError, match=r"AWS_REGION \(or AWS_DEFAULT_REGION\)"):
        llmrail.Client(f"bedrock/{MODEL}")


def test_the_region_picks_the_endpoint_and_the_catalogue_the_capabilities(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-central-1")
    nova = llmrail.Client("bedrock/us.amazon.nova-pro-v1:0", api_key=KEY)
    assert nova.base_url == "https://bedrock-runtime.eu-central-1.amazonaws.com"
    assert (nova.provider, nova.model) == ("bedrock", "us.amazon.nova-pro-v1:0")
    caps = nova.capabilities
    assert (caps.structured_output, caps.vision, caps.prompt_caching) == (False, True, True)
    assert KEY not in repr(nova)
    monkeypatch.setenv("AWS_REGION", "us-west-2")
    # A client needs a key or AWS credentials: the environment's key stands for the argument.
    monkeypatch.setenv("AWS_BEARER_TOKEN_BEDROCK", KEY)
    claude = llmrail.Client("bedrock/us.anthropic.claude-sonnet-4-5-20250929-v1:0")
    assert claude.base_url == "https://bedrock-runtime.us-west-2.amazonaws.com"
    on_anthropic = llmrail.Client("anthropic/claude-sonnet-4-5", api_key="k").capabilities
    facts = ("streaming", "tools", "structured_output", "vision", "prompt_caching")
    assert [getattr(claude.capabilities, f) for f in facts] == [getattr(on_anthropic, f) for f in facts]
    # The same model, but llmrail's batch jobs on Bedrock are concurrent calls.
    assert (claude.capabilities.batch_api, on_anthropic.batch_api) == (False, True)
    monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", "http://127.0.0.1:9")
    assert llmrail.Client(f"bedrock/{MODEL}").base_url == "http://127.0.0.1:9"


async def test_a_chat_goes_to_converse_async_and_sync(bedrock: Bedrock) -> None:
    c = client(bedrock)
    r = await c.chat("Hello!", system="You are a chatbot.")
    s = c.chat_sync("Hello!", system="You are a chatbot.")
    for answer in (r, s):
        assert answer.text.startswith("Hello! How can I assist you today?")
        assert (answer.provider, answer.model, answer.finish_reason) == ("bedrock", MODEL, "stop")
        assert (answer.usage.input_tokens, answer.usage.output_tokens) == (7, 30)
        assert answer.request_id == "req-bedrock-1"
        assert answer.cost_usd == pytest.approx((7 * 0.035 + 30 * 0.14) / 1e6)
    path, headers, body = bedrock.requests[0]
    assert path == "/model/us.amazon.nova-micro-v1%3A0/converse"
    assert headers["authorization"] == f"Bearer {KEY}"
    assert json.loads(body) == {
        "messages": [{"role": "user", "content": [{"text": "Hello!"}]}],
        "system": [{"text": "You are a chatbot."}],
    }


async def test_a_stream_of_event_stream_frames_async_and_sync(bedrock: Bedrock) -> None:
    c = client(bedrock)
    async_events = [e async for e in c.stream("What is the capital of France?")]
    sync_events = list(c.stream("What is the capital of France?"))
    for events in (async_events, sync_events):
        text = "".join(e.text for e in events if e.type == "text")
        assert text.startswith("The capital of France is Paris.")
        done = events[-1]
        assert (done.type, done.finish_reason, done.model) == ("done", "stop", MODEL)
        assert done.usage is not None and (done.usage.input_tokens, done.usage.output_tokens) == (13, 82)
        assert done.cost_usd is not None and done.cost_usd > 0
    assert bedrock.requests[0][0] == "/model/us.amazon.nova-micro-v1%3A0/converse-stream"


def test_prompt_caching_places_cache_points_for_claude_on_bedrock(bedrock: Bedrock) -> None:
    host, port = bedrock.server_address[:2]
    claude = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
    c = llmrail.Client(f"bedrock/{claude}", base_url=f"http://{host!s}:{port}", api_key=KEY, prompt_cache="1h")
    rules = "Answer in the style of a ship's log. " * 300  # past Sonnet 4.5's 1,024-token minimum
    conversation = [
        {"role": "user", "content": "Where are we?"},
        {"role": "assistant", "content": "Off the coast."},
        {"role": "user", "content": "And now?"},
    ]
    c.chat_sync(conversation, system=rules)
    body = json.loads(bedrock.requests[0][2])
    assert body["system"] == [{"text": rules}, {"cachePoint": {"type": "default", "ttl": "1h"}}]
    assert body["messages"][1]["content"][-1] == {"cachePoint": {"type": "default", "ttl": "1h"}}
    assert "cachePoint" not in json.dumps(body["messages"][2])
    plan = plan_prompt_cache("bedrock", claude, conversation, system=rules, prompt_cache="1h")
    assert plan["automatic"] is None  # Bedrock has no top-level breakpoint


def test_the_recorded_frames_are_binary() -> None:
    frames = recorded("test_bedrock_model_stream.yaml")["response"]["body"]["string"]
    assert isinstance(frames, bytes) and frames[:4] == base64.b64decode("AAAAjw==")
