"""Prompt templates from real YAML files in temporary folders: every check with its file and
line, variants and environments, rendering errors, reload, chat and extract with ``prompt=``
against the mock server, and the ``prompts check`` command in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import llmrail
import pytest
from llmrail._core import check_prompts
from llmrail.testing import MockServer

from .conftest import API_KEY, make_client

SUMMARIZE = textwrap.dedent('''\
    name: summarize
    description: Summarise a text for a reader
    version: 1
    variables:
      - {name: text, type: string, required: true}
      - {name: reader, type: string, default: "an engineer"}
      - {name: points, type: int, default: 3}
    system: "You write for {{ reader }}."
    messages:
      - role: user
        content: "Summarise in {{ points }} points:\\n{{ text }}"
    variants:
      anthropic:
        system: "<role>You write for {{ reader }}.</role>"
    environments:
      production:
        max_tokens: 300
    ''')


def write(folder: Path, **files: str) -> Path:
    for name, text in files.items():
        (folder / f"{name}.yaml").write_text(text)
    return folder


def test_the_issue_example_renders_for_each_provider(tmp_path: Path) -> None:
    prompts = llmrail.Prompts(write(tmp_path, summarize=SUMMARIZE), env="dev")
    assert prompts.names() == ["summarize"] and "summarize" in prompts and len(prompts) == 1
    r = prompts.render("summarize", {"text": "<b>bold</b>"}, model="anthropic/claude-sonnet-4-5")
    assert r == {
        "system": "<role>You write for an engineer.</role>",
        "messages": [{"role": "user", "content": "Summarise in 3 points:\n<b>bold</b>"}],
    }
    r = prompts.render("summarize", {"text": "t", "points": 5}, model="openai/gpt-4o")
    assert r["system"] == "You write for an engineer."
    assert r["messages"][0]["content"] == "Summarise in 5 points:\nt"


def test_the_environment_comes_from_env_or_llmrail_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, summarize=SUMMARIZE)
    assert llmrail.Prompts(tmp_path, env="production").render("summarize", {"text": "t"})["max_tokens"] == 300
    monkeypatch.setenv("LLMRAIL_ENV", "production")
    prompts = llmrail.Prompts(tmp_path)
    assert prompts.env == "production"
    assert prompts["summarize"].render({"text": "t"})["max_tokens"] == 300
    monkeypatch.setenv("LLMRAIL_ENV", "staging")
    assert "max_tokens" not in llmrail.Prompts(tmp_path).render("summarize", {"text": "t"})


def test_a_missing_variable_and_a_wrong_type_name_prompt_variable_and_type(tmp_path: Path) -> None:
    prompts = llmrail.Prompts(write(tmp_path, summarize=SUMMARIZE))
    with pytest.raises(llmrail.ConfigurationError, match=r"prompt 'summarize': variable 'text' \(string\) is required"):
        prompts.render("summarize", {})
    wrong = "prompt 'summarize': variable 'points' must be int, got string"
    with pytest.raises(llmrail.ConfigurationError, match=wrong):
        prompts.render("summarize", {"text": "t", "points": "3"})
    with pytest.raises(llmrail.ConfigurationError, match="no prompt named 'other'"):
        prompts["other"]



SHAPES = textwrap.dedent("""\
    name: shapes
    variables:
      - {name: s}
      - {name: i, type: int}
      - {name: f, type: float}
      - {name: b, type: bool}
      - {name: l, type: list}
      - {name: o, type: object}
    system: "{{ s }}|{{ i }}|{{ f }}|{{ b }}|{{ l | join(',') }}|{{ o.k.n }} {{ o['z'] is none }}|{{ o | length }}"
    """)


def test_every_json_shape_of_variable_renders_and_what_json_refuses_is_named_with_its_path(tmp_path: Path) -> None:
    prompts = llmrail.Prompts(write(tmp_path, shapes=SHAPES))

    class Tag(str):
        pass

    given = {"s": Tag("<b>"), "i": 2**64 - 1, "f": 3, "b": False, "l": (1, "x", 2.5), "o": {"k": {"n": -7}, "z": None}}
    assert prompts.render("shapes", given)["system"] == "<b>|18446744073709551615|3|False|1,x,2.5|-7 True|2"
    with pytest.raises(llmrail.ConfigurationError, match="variable 'i' must be int, got float"):
        prompts.render("shapes", {**given, "i": 2.0})
    with pytest.raises(llmrail.ConfigurationError, match="variable 'o' must be object, got list"):
        prompts.render("shapes", {**given, "o": [1]})
    with pytest.raises(llmrail.ConfigurationError, match=r'variables\["o"\]\["k"\]'):
        prompts.render("shapes", {**given, "o": {"k": float("nan")}})
    with pytest.raises(llmrail.ConfigurationError, match="variables"):
        prompts.render("shapes", {**given, "i": 2**64})
    with pytest.raises(llmrail.ConfigurationError, match="variable 'nope' is not declared"):
        prompts.render("shapes", {**given, "nope": 1})


BROKEN = textwrap.dedent('''\
    name: broken
    variables:
      - {name: a}
      - {name: unused}
    system: "{{ a }} {{ b }}"
    messages:
      - role: user
        content: |
          fine {{ a }}
          broken {% if %}
    ''')


def test_each_problem_is_named_with_its_file_and_line(tmp_path: Path) -> None:
    write(tmp_path, broken=BROKEN, typo=SUMMARIZE.replace("version: 1", "version: 1\nmax_token: 5"),
          twin=SUMMARIZE)
    found = [(Path(f).name, line, level, msg) for f, line, level, msg in check_prompts(tmp_path)]
    assert found[:3] == [
        ("broken.yaml", 5, "error", "system uses variable 'b', which is not declared in variables"),
        ("broken.yaml", 10, "error", "template syntax error in messages[0].content: unexpected end of block"),
        ("broken.yaml", 4, "warning", "variable 'unused' is declared but no template uses it"),
    ]
    (name, line, level, msg), = found[3:]
    assert (name, line, level) == ("typo.yaml", 4, "error") and "unknown field `max_token`" in msg
    with pytest.raises(llmrail.ConfigurationError, match="broken.yaml:5: error: system uses variable 'b'"):
        llmrail.Prompts(tmp_path)


def test_two_files_with_one_name_fail_the_load(tmp_path: Path) -> None:
    write(tmp_path, a=SUMMARIZE, b=SUMMARIZE)
    twice = r"b.yaml:1: error: prompt name 'summarize' is already used by .*a.yaml"
    with pytest.raises(llmrail.ConfigurationError, match=twice):
        llmrail.Prompts(tmp_path)


def test_a_warning_does_not_fail_the_load(tmp_path: Path) -> None:
    text = "name: w\nvariables:\n  - {name: x}\nsystem: hello\n"
    prompts = llmrail.Prompts(write(tmp_path, w=text))
    assert prompts.warnings == [f"{tmp_path / 'w.yaml'}:3: warning: variable 'x' is declared but no template uses it"]


def test_reload_recompiles_a_changed_file_and_only_with_reload(tmp_path: Path) -> None:
    write(tmp_path, m="name: m\nsystem: one\n")
    fixed, live = llmrail.Prompts(tmp_path), llmrail.Prompts(tmp_path, reload=True)
    write(tmp_path, m="name: m\nsystem: two\n")
    later = os.stat(tmp_path / "m.yaml").st_mtime + 5
    os.utime(tmp_path / "m.yaml", (later, later))
    assert fixed.render("m")["system"] == "one"
    assert live.render("m")["system"] == "two"
    assert live["m"].render()["system"] == "two"


async def test_chat_with_a_prompt_sends_the_clients_provider_variant(srv: MockServer, tmp_path: Path) -> None:
    prompts = llmrail.Prompts(write(tmp_path, summarize=SUMMARIZE), env="production")
    srv.default("ok")
    client = make_client(srv, "anthropic")
    r = await client.chat(prompt=prompts["summarize"], variables={"text": "the text"})
    assert r.text == "ok"
    body = srv.last_request["body"]
    assert body["system"] == "<role>You write for an engineer.</role>" or \
        body["system"][0]["text"] == "<role>You write for an engineer.</role>"
    assert body["messages"] == [{"role": "user", "content": "Summarise in 3 points:\nthe text"}] or \
        body["messages"][0]["content"][0]["text"] == "Summarise in 3 points:\nthe text"
    assert body["max_tokens"] == 300

    openai = make_client(srv, "openai")
    openai.chat_sync(prompt=prompts["summarize"], variables={"text": "t"}, max_tokens=20)
    body = srv.last_request["body"]
    assert body["messages"][0] == {"role": "system", "content": "You write for an engineer."}
    assert body.get("max_tokens", body.get("max_completion_tokens")) == 20, "the caller's option wins"


async def test_a_fallback_of_another_provider_gets_its_own_variant(srv: MockServer, tmp_path: Path) -> None:
    prompts = llmrail.Prompts(write(tmp_path, summarize=SUMMARIZE))
    with MockServer() as backup:
        client = make_client(
            srv, "openai", retry=llmrail.Retry(max_attempts=1),
            fallbacks=[{"model": "anthropic/claude-haiku-4-5", "base_url": backup.anthropic_base_url,
                        "api_key": API_KEY}],
        )
        srv.fault(503, times=1)
        backup.default("from the backup")
        r = await client.chat(prompt=prompts["summarize"], variables={"text": "t", "reader": "a child"})
        assert (r.text, r.fallback_used) == ("from the backup", True)
        assert srv.last_request["body"]["messages"][0]["content"] == "You write for a child."
        system = backup.last_request["body"]["system"]
        text = system if isinstance(system, str) else system[0]["text"]
        assert text == "<role>You write for a child.</role>"


async def test_chat_refuses_both_messages_and_a_prompt(srv: MockServer, tmp_path: Path) -> None:
    prompts = llmrail.Prompts(write(tmp_path, summarize=SUMMARIZE))
    client = make_client(srv, "openai")
    with pytest.raises(llmrail.ConfigurationError, match="not both"):
        await client.chat("hi", prompt=prompts["summarize"], variables={"text": "t"})
    with pytest.raises(llmrail.ConfigurationError, match=r"variable 'text' \(string\) is required"):
        client.chat_sync(prompt=prompts["summarize"])


EXTRACT = textwrap.dedent('''\
    name: person
    variables:
      - {name: text, type: string, required: true}
    messages:
      - role: user
        content: "Who is in: {{ text }}"
    response_schema:
      type: object
      properties: {name: {type: string}}
      required: [name]
    ''')


async def test_extract_with_a_prompt_validates_against_its_response_schema(srv: MockServer, tmp_path: Path) -> None:
    prompts = llmrail.Prompts(write(tmp_path, person=EXTRACT))
    assert prompts["person"].response_schema == {
        "type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}
    srv.default('{"name": "Ada"}')
    client = make_client(srv, "openai")
    assert await client.extract(prompt=prompts["person"], variables={"text": "Ada wrote"}) == {"name": "Ada"}
    assert "Who is in: Ada wrote" in str(srv.last_request["body"]["messages"])
    assert client.extract_sync(prompt=prompts["person"], variables={"text": "x"}) == {"name": "Ada"}


def test_the_check_command_prints_every_problem_and_fails(tmp_path: Path) -> None:
    write(tmp_path, broken=BROKEN)
    out = subprocess.run([sys.executable, "-m", "llmrail", "prompts", "check", str(tmp_path)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 1
    lines = out.stdout.splitlines()
    undeclared = "system uses variable 'b', which is not declared in variables"
    assert lines[0] == f"{tmp_path / 'broken.yaml'}:5: error: {undeclared}"
    assert len(lines) == 3 and "2 error(s), 1 warning(s)" in out.stderr
    (tmp_path / "broken.yaml").unlink()
    write(tmp_path, summarize=SUMMARIZE)
    ok = subprocess.run([sys.executable, "-m", "llmrail", "prompts", "check", str(tmp_path)],
                        capture_output=True, text=True, timeout=60)
    assert (ok.returncode, ok.stdout) == (0, "")


_ = API_KEY
