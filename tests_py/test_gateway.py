"""`llmrail serve` in front of the mock server, called by the official `openai` and `anthropic`
SDKs, plain curl, the `openai` npm package under Node.js, and the command line with SIGTERM."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import anthropic
import llmrail
import openai
import pytest
from llmrail.testing import MockServer

ROOT = Path(__file__).resolve().parent.parent
KEY_A = "gw-team-a-0123456789abcdef"
KEY_B = "gw-team-b-0123456789abcdef"
UPSTREAM_OPENAI = "sk-upstream-openai-secret-1234"
UPSTREAM_ANTHROPIC = "sk-ant-upstream-secret-5678"


def config(srv: MockServer, extra: str = "") -> str:
    return textwrap.dedent(f"""\
        models:
          fast:
            model: openai/gpt-4o-mini
            base_url: {srv.openai_base_url}
            api_key: {UPSTREAM_OPENAI}
            retry: {{max_attempts: 1}}
          claude:
            model: anthropic/claude-haiku-4-5
            base_url: {srv.anthropic_base_url}
            api_key: {UPSTREAM_ANTHROPIC}
            retry: {{max_attempts: 1}}
        keys:
          - name: team-a
            key: {KEY_A}
          - name: team-b
            key: {KEY_B}
            models: [claude]
            rate_limit: {{rpm: 2}}
        """) + extra


@pytest.fixture
def gateway(srv: MockServer) -> Iterator[llmrail.Gateway]:
    with llmrail.serve(config_text=config(srv), port=0, background=True) as gw:
        yield gw


OPENED: list[openai.OpenAI | anthropic.Anthropic] = []


@pytest.fixture(autouse=True)
def close_sdk_clients() -> Iterator[None]:
    yield
    while OPENED:
        OPENED.pop().close()


def oai(gw: llmrail.Gateway, key: str = KEY_A) -> openai.OpenAI:
    client = openai.OpenAI(base_url=gw.url + "/v1", api_key=key, max_retries=0)
    OPENED.append(client)
    return client


def ant(gw: llmrail.Gateway, key: str = KEY_A) -> anthropic.Anthropic:
    client = anthropic.Anthropic(base_url=gw.url, api_key=key, max_retries=0)
    OPENED.append(client)
    return client


USER = [{"role": "user", "content": "hi"}]


def test_the_openai_sdk_chats_through_a_virtual_model(srv: MockServer, gateway: llmrail.Gateway) -> None:
    srv.reply("hello there", usage={"input_tokens": 11, "output_tokens": 3})
    r = oai(gateway).chat.completions.create(model="fast", messages=USER)  # type: ignore[arg-type]
    assert r.choices[0].message.content == "hello there"
    assert r.model == "fast" and r.usage is not None and r.usage.prompt_tokens == 11
    sent = srv.last_request
    assert sent["body"]["model"] == "gpt-4o-mini"
    assert dict(sent["headers"])["authorization"] == f"Bearer {UPSTREAM_OPENAI}"


def test_the_openai_sdk_streams_with_usage_in_the_last_chunk(srv: MockServer, gateway: llmrail.Gateway) -> None:
    srv.reply(chunks=["one ", "two ", "three"], usage={"input_tokens": 5, "output_tokens": 3}, times=2)
    for model in ("fast", "claude"):  # an OpenAI and an Anthropic upstream, one wire out
        chunks = list(oai(gateway).chat.completions.create(
            model=model, messages=USER, stream=True, stream_options={"include_usage": True}))  # type: ignore[arg-type]
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert text == "one two three", model
        assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 3


def test_the_openai_sdk_gets_tool_calls_from_an_anthropic_model(srv: MockServer, gateway: llmrail.Gateway) -> None:
    srv.reply(tool_calls=[{"name": "get_weather", "arguments": {"city": "Paris"}}])
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {
        "type": "object", "properties": {"city": {"type": "string"}}}}}]
    r = oai(gateway).chat.completions.create(model="claude", messages=USER, tools=tools)  # type: ignore[arg-type]
    call = r.choices[0].message.tool_calls[0]  # type: ignore[index]
    assert call.function.name == "get_weather"  # type: ignore[union-attr]
    assert json.loads(call.function.arguments) == {"city": "Paris"}  # type: ignore[union-attr]
    assert r.choices[0].finish_reason == "tool_calls"
    # Anthropic's wire upstream: the tool went out with its input_schema.
    assert srv.last_request["body"]["tools"][0]["input_schema"]["properties"]["city"]["type"] == "string"


def test_response_format_reaches_an_anthropic_model_as_output_config(srv: MockServer, gateway: llmrail.Gateway) -> None:
    srv.reply('{"name": "Paris"}')
    schema = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"],
              "additionalProperties": False}
    r = oai(gateway).chat.completions.create(model="claude", messages=USER, response_format={  # type: ignore[call-overload]
        "type": "json_schema", "json_schema": {"name": "city", "schema": schema, "strict": True}})
    assert json.loads(r.choices[0].message.content or "") == {"name": "Paris"}
    body = srv.last_request["body"]
    assert body["output_config"]["format"]["type"] == "json_schema" and "response_format" not in body


def test_the_anthropic_sdk_calls_an_openai_model_whole_and_streamed(srv: MockServer, gateway: llmrail.Gateway) -> None:
    client = ant(gateway)
    srv.reply("bonjour", usage={"input_tokens": 9, "output_tokens": 2})
    m = client.messages.create(model="fast", max_tokens=50, messages=USER)  # type: ignore[arg-type]
    assert m.content[0].type == "text" and m.content[0].text == "bonjour"
    assert m.usage.input_tokens == 9 and m.stop_reason == "end_turn"
    srv.reply(chunks=["bon", "jour"], usage={"input_tokens": 9, "output_tokens": 2})
    with client.messages.stream(model="fast", max_tokens=50, messages=USER) as stream:  # type: ignore[arg-type]
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "bonjour" and final.usage.output_tokens == 2


def test_the_anthropic_sdk_gets_tool_use_streamed(srv: MockServer, gateway: llmrail.Gateway) -> None:
    srv.reply(tool_calls=[{"name": "get_weather", "arguments": {"city": "Oslo"}}])
    tools = [{"name": "get_weather", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}]
    with ant(gateway).messages.stream(model="fast", max_tokens=50, messages=USER, tools=tools) as s:  # type: ignore[arg-type]
        final = s.get_final_message()
    block = final.content[-1]
    assert block.type == "tool_use" and block.name == "get_weather" and block.input == {"city": "Oslo"}
    assert final.stop_reason == "tool_use"


def test_refusals_are_each_sdks_own_exceptions(srv: MockServer, gateway: llmrail.Gateway) -> None:
    with pytest.raises(openai.AuthenticationError) as no_key:
        oai(gateway, key="not-a-key").chat.completions.create(model="fast", messages=USER)  # type: ignore[arg-type]
    assert no_key.value.body["type"] == "authentication_error"  # type: ignore[index]
    with pytest.raises(anthropic.PermissionDeniedError, match="may not call"):
        ant(gateway, key=KEY_B).messages.create(model="fast", max_tokens=5, messages=USER)  # type: ignore[arg-type]
    with pytest.raises(openai.NotFoundError):
        oai(gateway).chat.completions.create(model="nosuch", messages=USER)  # type: ignore[arg-type]
    assert srv.requests == []
    # team-b's limit is 2 requests a minute: the third is refused with the wait.
    for _ in range(2):
        srv.reply("ok")
        ant(gateway, key=KEY_B).messages.create(model="claude", max_tokens=5, messages=USER)  # type: ignore[arg-type]
    with pytest.raises(anthropic.RateLimitError) as limited:
        ant(gateway, key=KEY_B).messages.create(model="claude", max_tokens=5, messages=USER)  # type: ignore[arg-type]
    assert int(limited.value.response.headers["retry-after"]) >= 1


def test_upstream_failures_keep_their_kind_without_the_provider_key(srv: MockServer, gateway: llmrail.Gateway) -> None:
    srv.fault(429, retry_after=3)
    with pytest.raises(openai.RateLimitError) as limited:
        oai(gateway).chat.completions.create(model="fast", messages=USER)  # type: ignore[arg-type]
    assert limited.value.response.headers["retry-after"] == "3"
    srv.fault(401, body={"error": {"message": f"Incorrect API key provided: {UPSTREAM_OPENAI}"}})
    with pytest.raises(openai.APIStatusError) as refused:
        oai(gateway).chat.completions.create(model="fast", messages=USER)  # type: ignore[arg-type]
    assert refused.value.status_code == 502
    assert UPSTREAM_OPENAI not in refused.value.response.text
    srv.fault(500)
    with pytest.raises(anthropic.InternalServerError):
        ant(gateway).messages.create(model="claude", max_tokens=5, messages=USER)  # type: ignore[arg-type]


def test_models_lists_what_the_key_may_call(gateway: llmrail.Gateway) -> None:
    assert sorted(m.id for m in oai(gateway).models.list()) == ["claude", "fast"]
    assert [m.id for m in ant(gateway, key=KEY_B).models.list()] == ["claude"]


def curl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["curl", "-sS", "-w", "\n%{http_code}", *args], capture_output=True, text=True,
                          timeout=30, check=True)


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_plain_curl_chats_and_reads_health_and_metrics(srv: MockServer, gateway: llmrail.Gateway,
                                                       tmp_path: Path) -> None:
    srv.reply("from curl")
    out = curl(gateway.url + "/v1/chat/completions", "-H", f"Authorization: Bearer {KEY_A}",
               "-H", "content-type: application/json",
               "-d", json.dumps({"model": "fast", "messages": USER})).stdout
    body, status = out.rsplit("\n", 1)
    assert status == "200" and json.loads(body)["choices"][0]["message"]["content"] == "from curl"
    assert curl(gateway.url + "/healthz").stdout.endswith("200")
    ready = curl(gateway.url + "/readyz").stdout
    assert ready.endswith("200") and '"ready":true' in ready
    metrics = curl(gateway.url + "/metrics").stdout
    assert 'llmrail_requests_total{provider="openai",model="gpt-4o-mini"' in metrics
    big = tmp_path / "big.json"
    big.write_text("x" * (5 * 1024 * 1024))  # over the default limit of 4 MiB
    too_big = curl(gateway.url + "/v1/messages", "-H", f"x-api-key: {KEY_A}", "-H", "content-type: application/json",
                   "--data-binary", f"@{big}").stdout
    assert too_big.endswith("413") and "request_too_large" in too_big


def test_a_config_mistake_is_refused_before_anything_listens_naming_its_line() -> None:
    with pytest.raises(llmrail.ConfigurationError, match=r"line 3: models\.fast: unknown field `fallback`"):
        llmrail.serve(config_text="models:\n  fast:\n    fallback: x\n", port=0, background=True)


def test_without_a_config_provider_model_names_route_directly(srv: MockServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", UPSTREAM_OPENAI)
    monkeypatch.setenv("OPENAI_BASE_URL", srv.openai_base_url)
    srv.reply("direct")
    with llmrail.serve(port=0, background=True) as gw:
        r = oai(gw, key="anything").chat.completions.create(model="openai/gpt-4.1-mini", messages=USER)  # type: ignore[arg-type]
    assert r.choices[0].message.content == "direct"
    assert srv.last_request["body"]["model"] == "gpt-4.1-mini"


NODE_DIR = ROOT / ".venv" / "node"


def node_openai() -> Path | None:
    """The `openai` npm package, installed into .venv/node on first use (None: no npm or registry)."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        return None
    if not (NODE_DIR / "node_modules" / "openai").exists():
        done = subprocess.run(["npm", "install", "--silent", "--prefix", str(NODE_DIR), "openai@7"],
                              capture_output=True, timeout=300, check=False)
        if done.returncode != 0:
            return None
    return NODE_DIR


def test_the_openai_npm_package_under_node_chats_and_streams(srv: MockServer, gateway: llmrail.Gateway) -> None:
    where = node_openai()
    if where is None:
        pytest.skip("node, npm or the npm registry is not available here")
    srv.reply("from node")
    srv.reply(chunks=["str", "eamed"])
    script = textwrap.dedent("""
        const OpenAI = require("openai");
        const client = new OpenAI({ baseURL: process.env.BASE, apiKey: process.env.KEY, maxRetries: 0 });
        (async () => {
          const r = await client.chat.completions.create({ model: "fast",
            messages: [{ role: "user", content: "hi" }] });
          let text = "";
          const s = await client.chat.completions.create({ model: "fast", stream: true,
            messages: [{ role: "user", content: "hi" }] });
          for await (const c of s) text += c.choices[0]?.delta?.content ?? "";
          let status = 0;
          try { await new OpenAI({ baseURL: process.env.BASE, apiKey: "wrong", maxRetries: 0 })
                  .chat.completions.create({ model: "fast", messages: [] }); }
          catch (e) { status = e.status; }
          console.log(JSON.stringify({ whole: r.choices[0].message.content, streamed: text, status }));
        })();
        """)
    env = {**os.environ, "BASE": gateway.url + "/v1", "KEY": KEY_A, "NODE_PATH": str(where / "node_modules")}
    out = subprocess.run(["node", "-e", script], cwd=where, capture_output=True, text=True, timeout=60, check=True,
                         env=env)
    assert json.loads(out.stdout) == {"whole": "from node", "streamed": "streamed", "status": 401}


def test_the_command_line_serves_logs_access_without_keys_and_stops_on_sigterm(srv: MockServer, tmp_path: Path) -> None:
    path = tmp_path / "llmrail.yaml"
    path.write_text(config(srv).replace(UPSTREAM_OPENAI, "${UPSTREAM_KEY}"))
    with subprocess.Popen(
        [sys.executable, "-m", "llmrail", "serve", "--config", str(path), "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "UPSTREAM_KEY": UPSTREAM_OPENAI},
    ) as proc:
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            assert "listening on http://127.0.0.1:" in line, line
            url = line.split("listening on ", 1)[1].split()[0]
            srv.reply("slow", latency=0.5)
            client = openai.OpenAI(base_url=url + "/v1", api_key=KEY_A, max_retries=0)
            OPENED.append(client)
            answers: list[str | None] = []
            t = threading.Thread(target=lambda: answers.append(
                client.chat.completions.create(model="fast", messages=USER).choices[0].message.content))  # type: ignore[arg-type]
            t.start()
            srv.wait_for_requests_sync(1)
            proc.send_signal(signal.SIGTERM)  # the request in flight still finishes
            t.join(10)
            assert answers == ["slow"]
            _, logs = proc.communicate(timeout=10)
            assert proc.returncode == 0
        finally:
            if proc.poll() is None:
                proc.kill()
    assert "POST /v1/chat/completions 200 model=fast key=team-a" in logs, logs
    assert KEY_A not in logs and UPSTREAM_OPENAI not in logs
    # The access line, not also the library's per-call record (written on the runtime's worker).
    assert "attempt(s)" not in logs, logs


# A gateway whose access log has a slow handler (20 ms a record): its records are written from a
# thread of their own, behind the requests.
SLOW_ACCESS_LOG = textwrap.dedent("""\
    import logging, sys, time
    import llmrail
    from llmrail._serve import _block

    class Slow(logging.Handler):
        def emit(self, record):
            time.sleep(0.02)
            f = record.__dict__
            print(record.getMessage(), "|", f["method"], f["path"], f["status"], f["model"], f["key"],
                  f["stream"], f["latency_ms"], file=sys.stderr, flush=True)

    logging.getLogger("llmrail").setLevel(logging.INFO)
    logging.getLogger("llmrail.gateway.access").addHandler(Slow())
    gateway = llmrail.Gateway(sys.argv[1], port=0)
    print(gateway.url, flush=True)
    _block(gateway)
    """)


def test_a_graceful_stop_writes_every_access_line_still_waiting(srv: MockServer, tmp_path: Path) -> None:
    path = tmp_path / "llmrail.yaml"
    path.write_text(config(srv))
    with subprocess.Popen(
        [sys.executable, "-c", SLOW_ACCESS_LOG, str(path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    ) as proc:
        try:
            assert proc.stdout is not None
            url = proc.stdout.readline().strip()
            assert url.startswith("http://127.0.0.1:"), url
            client = openai.OpenAI(base_url=url + "/v1", api_key=KEY_A, max_retries=0)
            OPENED.append(client)

            def five() -> None:
                for _ in range(5):
                    client.chat.completions.create(model="fast", messages=USER)  # type: ignore[arg-type]

            threads = [threading.Thread(target=five) for _ in range(8)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(30)
            # 40 answers are in; their lines take 0.8 s to write: most are still waiting.
            proc.send_signal(signal.SIGTERM)
            _, logs = proc.communicate(timeout=30)
            assert proc.returncode == 0
        finally:
            if proc.poll() is None:
                proc.kill()
    lines = [ln for ln in logs.splitlines() if "POST /v1/chat/completions 200" in ln]
    assert len(lines) == 40, logs
    # The record's fields (the `extra` of Python's record) as well as its text.
    fields = [ln.split(" | ", 1)[1].rsplit(" ", 1) for ln in lines]
    assert all(f == "POST /v1/chat/completions 200 fast team-a false" for f, _ in fields), lines[0]
    assert all(float(ms) > 0 for _, ms in fields), lines[0]


def test_a_background_gateway_stops_and_releases_its_port(srv: MockServer) -> None:
    gw = llmrail.serve(config_text=config(srv), port=0, background=True)
    assert repr(gw) == f"Gateway(url=\"{gw.url}\")"
    gw.stop()
    started = time.monotonic()
    with pytest.raises(openai.APIConnectionError):
        oai(gw).chat.completions.create(model="fast", messages=USER)  # type: ignore[arg-type]
    assert time.monotonic() - started < 5
