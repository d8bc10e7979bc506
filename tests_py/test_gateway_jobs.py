"""`llmrail serve` as separate processes: jobs on a sqlite queue survive a SIGKILL of the gateway,
and two gateways on the README's multi-process config share a key's rate limit, its budget and
the jobs queue through one real redis-server."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from llmrail.testing import MockServer, UsageSpec

ROOT = Path(__file__).resolve().parent.parent
KEY_A = "gw-team-a-0123456789abcdef"
UPSTREAM = "sk-upstream-openai-secret-1234"
CHAT = {"model": "fast", "messages": [{"role": "user", "content": "hi"}]}


def call(method: str, url: str, body: Any = None, key: str = KEY_A) -> tuple[int, dict[str, str], Any]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers={
        "authorization": f"Bearer {key}", "content-type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, dict(r.headers), json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), json.loads(e.read() or b"null")


@contextmanager
def gateway(config: Path, env: dict[str, str] | None = None) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """`python -m llmrail serve` on a free port; yields the process and its URL."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "llmrail", "serve", "--config", str(config), "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env={**os.environ, **(env or {})},
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "listening on http://127.0.0.1:" in line, line
        yield proc, line.split("listening on ", 1)[1].split()[0]
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()


def wait_for(what: Any, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        got = what()
        if got or time.monotonic() > deadline:
            return got
        time.sleep(0.05)


def test_jobs_queued_in_sqlite_all_complete_after_the_gateway_is_killed_and_restarted(
        srv: MockServer, tmp_path: Path) -> None:
    config = tmp_path / "llmrail.yaml"
    config.write_text(textwrap.dedent(f"""\
        models:
          fast:
            model: openai/gpt-4o-mini
            base_url: {srv.openai_base_url}
            api_key: {UPSTREAM}
            retry: {{max_attempts: 1}}
        keys:
          - name: team-a
            key: {KEY_A}
        queue:
          url: sqlite://{tmp_path / "jobs.db"}
          workers: 2
          lease: 1
        """))
    # Each answer takes a while, so the kill finds two jobs in flight and the rest queued.
    srv.default("done", latency=0.5)
    with gateway(config) as (proc, url):
        submitted = [call("POST", url + "/v1/jobs", CHAT) for _ in range(6)]
        assert [s for s, _, _ in submitted] == [202] * 6, submitted
        ids = [body["queue_id"] for _, _, body in submitted]
        assert submitted[0][1]["location"] == f"/v1/jobs/{ids[0]}"
        srv.wait_for_requests_sync(1)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    answered_before = len(srv.requests)
    assert answered_before < 6
    with gateway(config) as (_, url):
        def all_completed() -> bool:
            return all(call("GET", f"{url}/v1/jobs/{i}")[2]["status"] == "completed" for i in ids)
        assert wait_for(all_completed), [call("GET", f"{url}/v1/jobs/{i}")[2] for i in ids]
        for i in ids:
            status, _, result = call("GET", f"{url}/v1/jobs/{i}/result")
            assert status == 200 and result["choices"][0]["message"]["content"] == "done"
            assert result["queue_id"] == i


def readme_config() -> str:
    """The YAML block of the README's "Several gateways behind a load balancer" section."""
    text = (ROOT / "README.md").read_text()
    section = text.split("### Several gateways behind a load balancer", 1)[1]
    found = re.search(r"```yaml\n(.*?)```", section, re.S)
    assert found is not None
    return found.group(1)


def test_two_gateways_on_the_readmes_config_share_a_keys_limit_budget_and_queue_through_redis(
        srv: MockServer, redis_url: str, tmp_path: Path) -> None:
    config = tmp_path / "llmrail.yaml"
    # The README's file as it is, with a limit of 3 a minute instead of 600 to reach it quickly,
    # and a budget of $0.40 instead of $10 (each call below costs $0.15).
    text = readme_config()
    # Limits and budgets are kept in Redis by the key's name: a name of this run's own.
    text = text.replace("name: team-a", f"name: team-{uuid.uuid4().hex}")
    text = text.replace("rate_limit: {rpm: 600}", "rate_limit: {rpm: 3}")
    text = text.replace("budget: {usd: 10.0, period: day}", "budget: {usd: 0.40, period: day}")
    config.write_text(text)
    # Unique names per run: the session's Redis is shared by every test.
    key = f"gw-{uuid.uuid4().hex}"
    env = {
        "LLMRAIL_REDIS_URL": redis_url,
        "LLMRAIL_QUEUE_URL": f"{redis_url}?queue=gw-{uuid.uuid4().hex}",
        "OPENAI_BASE_URL": srv.openai_base_url,
        "OPENAI_API_KEY": UPSTREAM,
        "GATEWAY_KEY_TEAM_A": key,
    }
    usage: UsageSpec = {"input_tokens": 1_000_000, "output_tokens": 0}  # $0.15 on gpt-4o-mini
    srv.default("shared", usage=usage)
    with gateway(config, env) as (_, a), gateway(config, env) as (_, b):
        # The key's 3 requests a minute are counted across both processes.
        statuses = [call("POST", u + "/v1/chat/completions", CHAT, key)[0] for u in (a, b, a)]
        assert statuses == [200, 200, 200]
        status, headers, body = call("POST", b + "/v1/chat/completions", CHAT, key)
        assert status == 429 and int(headers["retry-after"]) >= 1, body
        assert "over its rate limit" in body["error"]["message"]
    # The budget, with the README's limit of 600: a job submitted to one gateway (worked by
    # either) is read back through the other, and with two more calls $0.45 is spent, over the
    # $0.40 of every gateway, the budget being counted in Redis too.
    srv.clear()
    srv.default("shared", usage=usage)
    key2 = f"gw-{uuid.uuid4().hex}"
    env2 = {**env, "GATEWAY_KEY_TEAM_A": key2, "LLMRAIL_QUEUE_URL": f"{redis_url}?queue=gw-{uuid.uuid4().hex}"}
    second = readme_config().replace("name: team-a", f"name: team-{uuid.uuid4().hex}")
    config.write_text(second.replace("budget: {usd: 10.0, period: day}", "budget: {usd: 0.40, period: day}"))
    with gateway(config, env2) as (_, a), gateway(config, env2) as (_, b):
        status, _, job = call("POST", a + "/v1/jobs", CHAT, key2)
        assert status == 202, job
        done = wait_for(lambda: call("GET", f"{b}/v1/jobs/{job['queue_id']}/result", key=key2)[0] == 200)
        assert done, call("GET", f"{b}/v1/jobs/{job['queue_id']}", key=key2)
        # The job's cost is charged by whichever gateway's worker completed it; then two more.
        for u in (b, a):
            assert call("POST", u + "/v1/chat/completions", CHAT, key2)[0] == 200
        spent = wait_for(lambda: call("POST", b + "/v1/chat/completions", CHAT, key2)[0] == 429, timeout=5)
        assert spent
        status, _, body = call("POST", a + "/v1/chat/completions", CHAT, key2)
        assert status == 429 and body["error"]["code"] == "insufficient_quota", body
