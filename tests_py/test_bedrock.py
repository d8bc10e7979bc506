"""`bedrock/<model>` end to end against llmrail's own mock server (real HTTP on 127.0.0.1): chat,
stream and a tool loop with a Bedrock API key; the same call SigV4-signed from AWS credentials in
the environment, recorded into a cassette that keeps no key, token or signature and replays
offline; a throttle retried; and `check()` on the model listing."""

from __future__ import annotations

from pathlib import Path

import llmrail
import pytest
from llmrail.replay import cassette
from llmrail.testing import MockServer

NOVA = "us.amazon.nova-micro-v1:0"
API_KEY = "bedrock-test-api-key"
# Plainly fake credentials: the mock checks the signature's shape, not its value.
KEY_ID = "AKIDEXAMPLE"
SECRET = "bedrock-test-secret-access-key"
TOKEN = "bedrock-test-session-token"

WEATHER = [
    {
        "type": "function",
        "function": {
            "name": "weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
]


@pytest.fixture
def no_aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_BEARER_TOKEN_BEDROCK",
        "AWS_ENDPOINT_URL_BEDROCK_RUNTIME",
        "AWS_ENDPOINT_URL",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/config")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials")
    monkeypatch.setenv("AWS_REGION", "us-east-1")


def test_chat_stream_and_a_tool_loop_speak_converse(srv: MockServer, no_aws_env: None) -> None:
    client = llmrail.Client(f"bedrock/{NOVA}", base_url=srv.url, api_key=API_KEY)
    srv.reply("Paris.", usage={"input_tokens": 12, "output_tokens": 2})
    r = client.chat_sync("Capital of France?", system="Be brief.")
    assert (r.text, r.finish_reason, r.provider, r.model) == ("Paris.", "stop", "bedrock", NOVA)
    assert (r.usage.input_tokens, r.usage.output_tokens) == (12, 2)
    assert r.cost_usd is not None and r.cost_usd > 0
    chat = srv.last_request
    assert chat["path"] == "/model/us.amazon.nova-micro-v1%3A0/converse"
    assert chat["body"]["system"] == [{"text": "Be brief."}]
    assert dict(chat["headers"])["authorization"] == f"Bearer {API_KEY}"

    srv.reply("The capital is Paris.")
    pieces = [e.text for e in client.stream("And of Spain?") if e.text]
    assert len(pieces) > 1 and "".join(pieces) == "The capital is Paris."
    assert srv.last_request["path"].endswith("/converse-stream")

    srv.reply(tool_calls=[{"name": "weather", "arguments": {"city": "Paris"}}])
    srv.reply("Sunny in Paris.")
    messages: list[dict[str, object]] = [{"role": "user", "content": "Weather in Paris?"}]
    first = client.chat_sync(messages, tools=WEATHER, tool_choice="required")
    (call,) = first.tool_calls
    assert (call.name, call.arguments, first.finish_reason) == ("weather", {"city": "Paris"}, "tool_calls")
    messages += [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": call.id, "type": "function", "function": {"name": call.name, "arguments": call.raw_arguments}}
            ],
        },
        {"role": "tool", "tool_call_id": call.id, "content": "sunny"},
    ]
    assert client.chat_sync(messages, tools=WEATHER).text == "Sunny in Paris."
    asked, answered = (r["body"] for r in srv.requests[-2:])
    assert asked["toolConfig"]["toolChoice"] == {"any": {}}
    assert answered["messages"][2]["content"][0]["toolResult"]["toolUseId"] == call.id


def test_sigv4_from_the_environment_is_recorded_without_a_secret_and_replays(
    srv: MockServer, no_aws_env: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_SESSION_TOKEN", TOKEN)
    client = llmrail.Client(f"bedrock/{NOVA}", base_url=srv.url)
    assert SECRET not in repr(client) and TOKEN not in repr(client)
    srv.reply("Signed.")
    srv.reply("Signed stream.")
    path = tmp_path / "bedrock.yaml"
    with cassette(path):
        live = [client.chat_sync("hi").text, "".join(e.text for e in client.stream("s"))]
    assert live == ["Signed.", "Signed stream."]
    headers = dict(srv.requests[0]["headers"])
    auth = headers["authorization"]
    assert auth.startswith(f"AWS4-HMAC-SHA256 Credential={KEY_ID}/")
    assert "/us-east-1/bedrock/aws4_request" in auth
    assert headers["x-amz-security-token"] == TOKEN
    signature = auth.rsplit("Signature=", 1)[1]
    text = path.read_text()
    for secret in (SECRET, TOKEN, signature, KEY_ID):
        assert secret not in text
    srv.shutdown()
    with cassette(path, mode="none") as c:
        assert [client.chat_sync("hi").text, "".join(e.text for e in client.stream("s"))] == live
    assert c.all_played


def test_a_throttle_is_retried_and_an_exhausted_one_is_a_rate_limit_error(srv: MockServer, no_aws_env: None) -> None:
    client = llmrail.Client(f"bedrock/{NOVA}", base_url=srv.url, api_key=API_KEY)
    srv.fault(429, retry_after=0.1).reply("after the wait")
    r = client.chat_sync("hi")
    assert (r.text, r.attempts) == ("after the wait", 2)
    once = llmrail.Client(f"bedrock/{NOVA}", base_url=srv.url, api_key=API_KEY, retry=llmrail.Retry(max_attempts=1))
    srv.fault(429)
    with pytest.raises(llmrail.RateLimitError) as e:
        once.chat_sync("hi")
    assert e.value.status == 429


async def test_check_lists_the_foundation_models(srv: MockServer, no_aws_env: None) -> None:
    client = llmrail.Client(f"bedrock/{NOVA}", base_url=srv.url, api_key=API_KEY)
    assert await client.check() > 0
    assert (srv.last_request["method"], srv.last_request["path"]) == ("GET", "/foundation-models")
    refused = llmrail.Client(f"bedrock/{NOVA}", base_url=srv.url, api_key=" ")
    with pytest.raises(llmrail.AuthenticationError):
        await refused.check()
