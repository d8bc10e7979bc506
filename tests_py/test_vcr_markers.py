"""A pytest-recording suite runs on llmrail's cassettes as it is: ``@pytest.mark.vcr`` (its
arguments, ``vcr_config``) and ``--record-mode`` when pytest-recording is absent (here: turned off
with ``-p no:recording``, since the dev environment has it), and existing vcrpy cassettes in the
same folders are read. Each suite runs in a pytest of its own, against the mock server."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

from llmrail.testing import MockServer

from .test_replay_plugin import run_pytest

NO_RECORDING = ("-p", "no:recording")
REAL = Path(__file__).parent.parent / "tests/data/real-cassettes/llm-anthropic/tests/cassettes/test_anthropic"

SUITE = '''
import os

import llmrail
import pytest


def client():
    return llmrail.Client("openai/gpt-4.1-mini", base_url=os.environ["LLM_BASE"], api_key="sk-vcr-0123456789-secret")


@pytest.mark.vcr
def test_plain():
    assert client().chat_sync("hi").text == "Paris."


@pytest.mark.vcr(record_mode="once", match_on=["method", "path"], filter_headers=["x-team"])
def test_by_path():
    assert client().chat_sync(os.environ.get("QUESTION", "hi")).text == "Paris."


@pytest.mark.vcr
@pytest.mark.default_cassette("shared")
def test_named():
    assert client().chat_sync("named").text == "Paris."


class TestGroup:
    @pytest.mark.vcr
    def test_in_class(self):
        assert client().chat_sync("in class").text == "Paris."
'''


def suite(tmp_path: Path) -> Path:
    (tmp_path / "test_inner.py").write_text(textwrap.dedent(SUITE))
    return tmp_path


def test_vcr_markers_record_where_pytest_recording_would_then_replay_with_the_server_gone(tmp_path: Path) -> None:
    folder = suite(tmp_path)
    with MockServer() as srv:
        srv.default("Paris.")
        base = srv.openai_base_url
        rec = run_pytest(folder, *NO_RECORDING, "--record-mode=once", LLM_BASE=base)
        assert rec.returncode == 0, rec.stdout + rec.stderr
        assert len(srv.requests) == 4
    cassettes = folder / "cassettes" / "test_inner"
    assert sorted(p.name for p in cassettes.iterdir()) == [
        "TestGroup.test_in_class.yaml", "shared.yaml", "test_by_path.yaml", "test_plain.yaml"]
    assert "sk-vcr-0123456789-secret" not in "".join(p.read_text() for p in cassettes.iterdir())
    # pytest-recording's default mode is none: the server is gone and nothing may be recorded.
    again = run_pytest(folder, *NO_RECORDING, LLM_BASE=base)
    assert again.returncode == 0, again.stdout + again.stderr
    # The marker's match_on maps to llmrail's: another question is the same request by path.
    by_path = run_pytest(folder, *NO_RECORDING, "-k", "by_path", LLM_BASE=base, QUESTION="another")
    assert by_path.returncode == 0, by_path.stdout + by_path.stderr


def test_record_mode_none_refuses_a_missing_cassette_and_rewrite_records_afresh(tmp_path: Path) -> None:
    folder = suite(tmp_path)
    with MockServer() as srv:
        srv.default("Paris.")
        refused = run_pytest(folder, *NO_RECORDING, "-k", "plain", LLM_BASE=srv.openai_base_url)
        assert refused.returncode == 1 and "CassetteMissError" in refused.stdout, refused.stdout
        assert srv.requests == []
        for _ in range(2):
            rewrite = run_pytest(folder, *NO_RECORDING, "-k", "plain", "--record-mode=rewrite",
                                 LLM_BASE=srv.openai_base_url)
            assert rewrite.returncode == 0, rewrite.stdout + rewrite.stderr
        assert len(srv.requests) == 2
    assert (folder / "cassettes/test_inner/test_plain.yaml").read_text().count("- request:") == 1


def test_vcr_config_and_options_without_a_counterpart(tmp_path: Path) -> None:
    folder = suite(tmp_path)
    (folder / "conftest.py").write_text(textwrap.dedent('''
        import pytest

        @pytest.fixture
        def vcr_config():
            return {"record_mode": "all", "match_on": ["method", "headers"], "decode_compressed_response": True}
    '''))
    with MockServer() as srv:
        srv.default("Paris.")
        run = run_pytest(folder, *NO_RECORDING, "-k", "plain", LLM_BASE=srv.openai_base_url)
        assert run.returncode == 0, run.stdout + run.stderr
        assert len(srv.requests) == 1  # "all" from vcr_config wins over the default "none"
    assert "ignores vcrpy options" in run.stdout
    assert "headers" in run.stdout and "decode_compressed_response" in run.stdout


def test_an_existing_vcrpy_cassette_in_pytest_recordings_folder_is_replayed(tmp_path: Path) -> None:
    # A recording by pytest-recording (llm-anthropic's suite: vcrpy YAML, a gzip !!binary body).
    (tmp_path / "cassettes" / "test_old").mkdir(parents=True)
    shutil.copy(REAL / "test_tools.yaml", tmp_path / "cassettes" / "test_old" / "test_tools.yaml")
    (tmp_path / "test_old.py").write_text(textwrap.dedent('''
        import llmrail.httpx
        import pytest

        @pytest.mark.vcr(match_on=["method", "path"])
        def test_tools():
            with llmrail.httpx.Client() as http:
                r = http.post("https://api.anthropic.com/v1/messages", json={"model": "claude-haiku-4-5-20251001"})
            assert r.status_code == 200
            assert "event: message_start" in r.text and "pelican_name_generator" in r.text
    '''))
    run = run_pytest(tmp_path, *NO_RECORDING)
    assert run.returncode == 0, run.stdout + run.stderr


COMBINED = '''
import os

import llmrail
import pytest


def ask(question):
    client = llmrail.Client("openai/gpt-4.1-mini", base_url=os.environ["LLM_BASE"], api_key="sk-vcr-0123456789-secret")
    return client.chat_sync(question).text


@pytest.mark.vcr
@pytest.mark.default_cassette("first")
def test_first():
    assert ask("first") == "one"


@pytest.mark.vcr
@pytest.mark.default_cassette("second")
def test_second():
    assert ask("second") == "two"


@pytest.mark.vcr("first.yaml", os.environ["SECOND"])
def test_combined():
    assert ask("first") == "one"
    assert ask("second") == "two"
    if os.environ.get("THIRD"):
        assert ask("third") == "three"
'''


def test_extra_cassettes_in_the_marker_answer_too_and_only_the_tests_own_cassette_is_written(
        tmp_path: Path) -> None:
    (tmp_path / "test_extras.py").write_text(textwrap.dedent(COMBINED))
    folder = tmp_path / "cassettes" / "test_extras"
    second = folder / "second.yaml"  # named by its absolute path; "first.yaml" relative to the folder
    with MockServer() as srv:
        srv.reply("one").reply("two").reply("three")
        env = {"LLM_BASE": srv.openai_base_url, "SECOND": str(second)}
        rec = run_pytest(tmp_path, *NO_RECORDING, "--record-mode=once", "-k", "first or second", **env)
        assert rec.returncode == 0, rec.stdout + rec.stderr
        extras = {p.name: p.read_text() for p in folder.iterdir()}
        assert sorted(extras) == ["first.yaml", "second.yaml"]
        # "first" and "second" are answered by the extra cassettes; only "third" goes out, and
        # is recorded into the test's own cassette.
        rec = run_pytest(tmp_path, *NO_RECORDING, "--record-mode=once", "-k", "combined", THIRD="1", **env)
        assert rec.returncode == 0, rec.stdout + rec.stderr
        assert [r["body"]["messages"][0]["content"] for r in srv.requests] == ["first", "second", "third"]
    assert (folder / "test_combined.yaml").read_text().count("- request:") == 1
    assert {p.name: p.read_text() for p in folder.iterdir() if p.name != "test_combined.yaml"} == extras
    # The server is gone: all three come from the test's own cassette and the two extra ones.
    replay = run_pytest(tmp_path, *NO_RECORDING, "-k", "combined", THIRD="1", **env)
    assert replay.returncode == 0, replay.stdout + replay.stderr


def test_pytest_recording_keeps_its_marker_when_active(tmp_path: Path) -> None:
    (tmp_path / "test_extra.py").write_text(textwrap.dedent('''
        import pytest

        @pytest.mark.vcr("other.yaml")
        def test_extra():
            pass
    '''))
    # With pytest-recording on, the marker and --record-mode are its own: no clash, no llmrail cassette.
    theirs = run_pytest(tmp_path, "--record-mode=none")
    assert theirs.returncode == 0, theirs.stdout + theirs.stderr
    assert not (tmp_path / "cassettes").exists()
