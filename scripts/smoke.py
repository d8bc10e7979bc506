"""Smoke test of an installed llmrail wheel: what a user's first minutes touch, and nothing else.

Run by `make dist-check` on the wheel built from the sdist in a fresh virtualenv, and by the release
workflow on every platform's wheel. It needs only the wheel (and pytest, from `llmrail[pytest]`,
for the plugin check): the answers come from the built-in mock server over 127.0.0.1.

    python scripts/smoke.py
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import textwrap
from importlib import metadata
from pathlib import Path

import llmrail
from llmrail.testing import MockServer

# A recorded run of the plugin: the marker makes a cassette of the one call the test makes.
PLUGIN_TEST = '''
import os
import llmrail
import pytest

@pytest.mark.llm_cassette
def test_recorded(llm_cassette):
    client = llmrail.Client("openai/gpt-4.1-mini", base_url=os.environ["SMOKE_BASE"], api_key="sk-smoke")
    assert client.chat_sync("hello").text == "mock reply to: hello"
    assert llm_cassette.mode == "once"
'''


def check_version() -> None:
    assert llmrail.__version__ == metadata.version("llmrail"), (llmrail.__version__, metadata.version("llmrail"))


def check_chat_stream_extract(srv: MockServer) -> None:
    client = llmrail.Client("openai/gpt-4.1", base_url=srv.openai_base_url, api_key="sk-smoke")
    srv.reply("Paris.", usage={"input_tokens": 12, "output_tokens": 2})
    r = client.chat_sync("Capital of France?")
    assert (r.text, r.usage.input_tokens, r.usage.output_tokens) == ("Paris.", 12, 2), r

    async def stream() -> str:
        srv.reply("one two three")
        text = ""
        async for event in client.stream("Count to three."):
            if event.type == "text":
                text += event.text
        return text

    assert asyncio.run(stream()) == "one two three"

    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "population": {"type": "integer"}},
        "required": ["city", "population"],
        "additionalProperties": False,
    }
    srv.reply(json.dumps({"city": "Paris", "population": 2_100_000}))
    assert client.extract_sync(schema, "Paris has 2.1 million people.") == {"city": "Paris", "population": 2_100_000}


def check_pytest_plugin(srv: MockServer) -> None:
    with tempfile.TemporaryDirectory() as folder:
        Path(folder, "test_smoke.py").write_text(textwrap.dedent(PLUGIN_TEST))
        env = {k: v for k, v in os.environ.items() if k not in ("CI", "PYTEST_ADDOPTS")}
        env["SMOKE_BASE"] = srv.openai_base_url
        run = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_smoke.py"],
            cwd=folder, env=env, capture_output=True, text=True, timeout=120,
        )
        assert run.returncode == 0, run.stdout + run.stderr
        cassette = Path(folder, "cassettes", "test_smoke", "test_recorded.yaml")
        assert cassette.is_file(), run.stdout
        assert "sk-smoke" not in cassette.read_text()


def main() -> None:
    check_version()
    with MockServer() as srv:
        check_chat_stream_extract(srv)
        check_pytest_plugin(srv)
    print(f"smoke: llmrail {llmrail.__version__} imports, chats, streams, extracts; pytest plugin records")


if __name__ == "__main__":
    main()
