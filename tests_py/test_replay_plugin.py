"""The pytest plugin, loaded by its entry point: marker, fixture, `--llm-record-mode`, default
cassette paths, pytest-asyncio and pytest-xdist. Inner test suites run in a pytest subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import llmrail
import pytest
from llmrail.testing import MockServer

from .conftest import make_client

HERE = Path(__file__).resolve().parent

INNER = '''
import os
import llmrail
import pytest
from helpers import ask

@pytest.mark.llm_cassette
def test_sync(llm_cassette):
    assert ask("one") == "mock reply to: one"
    assert llm_cassette.mode == os.environ["EXPECT_MODE"]

@pytest.mark.llm_cassette
async def test_async():
    client = llmrail.Client("openai/gpt-4.1-mini", base_url=os.environ["LLM_BASE"], api_key="sk-inner")
    assert (await client.chat("two")).text == "mock reply to: two"

@pytest.mark.llm_cassette("shared.yaml", match_on=("method", "path", "body"))
def test_named():
    assert ask("three") == "mock reply to: three"

@pytest.mark.parametrize("n", [1, 2])
@pytest.mark.llm_cassette
def test_param(n):
    assert ask(f"param {n}") == f"mock reply to: param {n}"

class TestGroup:
    @pytest.mark.llm_cassette
    def test_in_class(self):
        assert ask("four") == "mock reply to: four"

def test_unmarked_tests_are_left_alone():
    assert llmrail.replay  # no cassette: would need the server, so skip the call
'''

HELPERS = '''
import os
import llmrail

def ask(prompt):
    """A client made deep inside application code."""
    client = llmrail.Client("anthropic/claude-sonnet-4-5", base_url=os.environ["LLM_ROOT"], api_key="sk-inner")
    return client.chat_sync(prompt).text
'''


def run_pytest(folder: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k not in ("CI", "PYTEST_ADDOPTS")}
    environ.update(env)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=folder, env=environ, capture_output=True, text=True, timeout=120,
    )


@pytest.fixture
def suite(tmp_path: Path) -> Path:
    (tmp_path / "test_inner.py").write_text(textwrap.dedent(INNER))
    (tmp_path / "helpers.py").write_text(textwrap.dedent(HELPERS))
    (tmp_path / "pytest.ini").write_text("[pytest]\nasyncio_mode = auto\n")
    return tmp_path


def test_record_then_replay_in_parallel_workers(suite: Path) -> None:
    with MockServer() as srv:
        env = {"LLM_BASE": srv.openai_base_url, "LLM_ROOT": srv.anthropic_base_url}
        rec = run_pytest(suite, "--llm-record-mode=once", EXPECT_MODE="once", **env)
        assert rec.returncode == 0, rec.stdout + rec.stderr
        assert len(srv.requests) == 6
    folder = suite / "cassettes" / "test_inner"
    assert sorted(p.name for p in folder.iterdir()) == [
        "TestGroup.test_in_class.yaml", "shared.yaml", "test_async.yaml",
        "test_param[1].yaml", "test_param[2].yaml", "test_sync.yaml",
    ]
    # The server is gone; two xdist workers, and CI=true makes `none` the default mode.
    rep = run_pytest(suite, "-n", "2", EXPECT_MODE="none", CI="true", **env)
    assert rep.returncode == 0, rep.stdout + rep.stderr
    assert "7 passed" in rep.stdout


def test_a_missing_recording_fails_on_ci_with_a_clear_error(suite: Path) -> None:
    env = {"LLM_BASE": "http://127.0.0.1:9/v1", "LLM_ROOT": "http://127.0.0.1:9"}
    out = run_pytest(suite, "-k", "test_sync", EXPECT_MODE="none", CI="true", **env)
    assert out.returncode == 1
    assert "CassetteMissError: no recorded response for POST http://127.0.0.1:9/v1/messages" in out.stdout
    assert "the file does not exist" in out.stdout


def test_the_command_line_mode_wins_over_markers(suite: Path) -> None:
    (suite / "test_inner.py").write_text(textwrap.dedent('''
        import pytest

        @pytest.mark.llm_cassette(mode="all")
        def test_mode(llm_cassette):
            print("MODE", llm_cassette.mode)
    '''))
    assert "MODE all" in run_pytest(suite, "-s").stdout
    assert "MODE new_episodes" in run_pytest(suite, "-s", "--llm-record-mode=new_episodes").stdout


@pytest.mark.llm_cassette(match_on=("method", "path", "body"))
def test_this_suite_replays_its_own_committed_cassette(
    llm_cassette: llmrail.replay.Cassette, srv: MockServer
) -> None:
    """Dogfood: recorded once against the mock server, replayed from
    tests_py/cassettes/test_replay_plugin/ ever since (matching ignores the server's port)."""
    assert llm_cassette.path == HERE / "cassettes" / "test_replay_plugin" / (
        "test_this_suite_replays_its_own_committed_cassette.yaml"
    )
    srv.reply("Rivers: Nile, Amazon, Yangtze.", usage={"input_tokens": 11, "output_tokens": 9})
    r = make_client(srv, "openai").chat_sync("Name three rivers.", max_tokens=30)
    assert r.text == "Rivers: Nile, Amazon, Yangtze."
    assert (r.usage.input_tokens, r.usage.output_tokens) == (11, 9)
    if llm_cassette.record_count == 0:
        assert srv.requests == [] and llm_cassette.all_played
