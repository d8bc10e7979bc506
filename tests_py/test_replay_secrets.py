"""Secrets never reach a cassette or a development log; replaying needs no key."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import llmrail
import pytest
from llmrail.replay import cassette
from llmrail.testing import MockServer

OPENAI_KEY = "sk-proj-live-4f1c9a7e2b8d4c6fa0e1d2c3b4a59687"
ANTHROPIC_KEY = "sk-ant-api03-live-9d8c7b6a5f4e3d2c1b0a"
SECRETS = (OPENAI_KEY, ANTHROPIC_KEY, "team-token-5551234", "alice@example.com")


@pytest.fixture(autouse=True)
def not_on_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests record on purpose (against the local mock server): CI=true would make `none`
    the default mode."""
    monkeypatch.delenv("CI", raising=False)


@pytest.fixture
def keys_in_env(monkeypatch: pytest.MonkeyPatch, srv: MockServer) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    monkeypatch.setenv("ANTHROPIC_API_KEY", ANTHROPIC_KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", srv.openai_base_url)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", srv.anthropic_base_url)


def calls() -> list[str]:
    """A chat and a stream to each provider, keys from the environment, plus a custom token
    header and a user e-mail in the body that the cassette is told to scrub."""
    texts = []
    for model in ("openai/gpt-4.1-mini", "anthropic/claude-sonnet-4-5"):
        client = llmrail.Client(model, headers=[("x-team-token", "team-token-5551234")])
        texts.append(client.chat_sync("hi", extra_body={"user": "alice@example.com"}).text)
        texts.append("".join(e.text for e in client.stream("stream please")))
    return texts


@pytest.mark.usefixtures("keys_in_env")
def test_keys_from_the_environment_never_reach_the_cassette(
    tmp_path: Path, srv: MockServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "secrets.yaml"
    with cassette(path, scrub_headers=["X-Team-Token"], scrub_fields=["user"]):
        live = calls()
    # The server did see them: the scrubbing happened on the way to the file only.
    assert any(("authorization", f"Bearer {OPENAI_KEY}") in r["headers"] for r in srv.requests)
    text = path.read_text()
    for secret in SECRETS:
        assert secret not in text
    assert "authorization:\n      - REDACTED" in text
    assert "x-api-key:\n      - REDACTED" in text
    assert "x-team-token:\n      - REDACTED" in text
    assert '"user": "REDACTED"' in text

    # Replaying needs neither the key nor the server.
    for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY"):
        monkeypatch.delenv(name)
    srv.shutdown()
    with cassette(path, mode="none", scrub_headers=["X-Team-Token"], scrub_fields=["user"]) as c:
        assert calls() == live
    assert c.all_played


@pytest.mark.usefixtures("keys_in_env")
def test_the_development_recorder_writes_scrubbed_readable_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LLMRAIL_RECORD_RESPONSES", "1")
    calls()
    files = sorted((tmp_path / "llm_response_logs").glob("*.json"))
    assert len(files) == 4
    for f in files:
        text = f.read_text()
        for secret in (OPENAI_KEY, ANTHROPIC_KEY):
            assert secret not in text
    docs = [json.loads(f.read_text()) for f in files]
    chat = next(d for d in docs if "chat/completions" in d["request"]["url"] and "body" in d["response"])
    assert chat["request"]["headers"]["authorization"] == "REDACTED"
    assert chat["request"]["body"]["messages"] == [{"role": "user", "content": "hi"}]
    assert chat["response"]["body"]["choices"][0]["message"]["content"] == "mock reply to: hi"
    stream = next(d for d in docs if "/v1/messages" in d["request"]["url"] and "events" in d["response"])
    first_event = stream["response"]["events"][0]
    assert first_event["event"] == "message_start" and first_event["data"]["type"] == "message_start"
    assert stream["response"]["chunks"] >= 1
    monkeypatch.setenv("LLMRAIL_RECORD_RESPONSES", "0")
    calls()
    assert len(list((tmp_path / "llm_response_logs").glob("*.json"))) == 4


def files_under(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


def test_a_password_in_base_url_reaches_no_file_and_no_repr(
    tmp_path: Path, srv: MockServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    password, user = "pw-SECRET-7f3e9a1c", "user-SECRET-b2d4"
    base = srv.openai_base_url.replace("http://", f"http://{user}:{password}@")
    logs = tmp_path / "logs"
    monkeypatch.setenv("LLMRAIL_RECORD_RESPONSES", "1")
    monkeypatch.setenv("LLMRAIL_RESPONSE_LOG_DIR", str(logs))
    client = llmrail.Client("openai/gpt-4.1-mini", base_url=base, api_key="sk-test")
    path = tmp_path / "cassettes" / "userinfo.yaml"
    with cassette(path):
        live = [client.chat_sync("hi").text, "".join(e.text for e in client.stream("s"))]
    written = files_under(tmp_path)
    assert path in written and len(list(logs.glob("*.json"))) == 2
    for f in written:
        for secret in (password, user):
            assert secret not in str(f.relative_to(tmp_path))
            assert secret.encode() not in f.read_bytes(), f
    assert "uri: http://REDACTED@127.0.0.1:" in path.read_text()
    for shown in (repr(client), client.base_url):
        assert "SECRET" not in shown and "REDACTED@127.0.0.1" in shown
    # The redacted URI still matches the live one on replay.
    monkeypatch.setenv("LLMRAIL_RECORD_RESPONSES", "0")
    srv.shutdown()
    with cassette(path, mode="none") as c:
        again = [client.chat_sync("hi").text, "".join(e.text for e in client.stream("s"))]
    assert again == live and c.all_played


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_a_base_url_query_is_kept_after_the_path_and_its_secrets_are_not_shown(
    srv: MockServer, provider: str
) -> None:
    base = srv.openai_base_url if provider == "openai" else srv.anthropic_base_url
    base += "/?api-version=2024-10-21&sig=SAS-SECRET-1234"
    client = llmrail.Client(f"{provider}/m", base_url=base, api_key="sk-test")
    assert client.chat_sync("hi").text == "mock reply to: hi"
    (req,) = srv.requests
    assert req["path"].endswith(("/v1/chat/completions", "/v1/messages"))
    assert req["query"] == "api-version=2024-10-21&sig=SAS-SECRET-1234"
    for shown in (repr(client), client.base_url):
        assert "api-version=2024-10-21&sig=REDACTED" in shown and "SAS-SECRET" not in shown


@pytest.mark.parametrize("stream", [False, True])
def test_a_connection_error_does_not_quote_secrets_in_base_url(stream: bool) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    base = f"http://127.0.0.1:{port}/v1?api-version=2024-10-21&sig=SAS-SECRET-1234"
    client = llmrail.Client("openai/m", base_url=base, api_key="sk-test")
    with pytest.raises(llmrail.ConnectionError) as e:
        if stream:
            list(client.stream("hi", retry=llmrail.Retry(max_attempts=1)))
        else:
            client.chat_sync("hi", retry=llmrail.Retry(max_attempts=1))
    assert "SAS-SECRET" not in str(e.value) and "SAS-SECRET" not in repr(e.value)
