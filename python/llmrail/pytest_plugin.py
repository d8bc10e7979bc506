"""pytest plugin: record a test's LLM calls once, replay them offline ever after.

Loaded automatically once llmrail is installed (entry point ``pytest11``)::

    @pytest.mark.llm_cassette
    async def test_summary():
        client = llmrail.Client("openai/gpt-4.1-mini")    # any client, made anywhere
        assert "Paris" in (await client.chat("Capital of France?")).text

The cassette lives at ``<test dir>/cassettes/<test module>/<test name>.yaml``, as with
pytest-recording. ``@pytest.mark.llm_cassette("other.yaml", match_on=("method", "path"))`` names
another file (relative to that folder, or absolute) and takes every option of
:func:`llmrail.replay.cassette`. The ``llm_cassette`` fixture is the active
:class:`llmrail.replay.Cassette` (requesting it also turns recording on for an unmarked test);
override the ``llm_cassette_config`` fixture (a dict of options) in a conftest to set defaults.

``--llm-record-mode=none|once|new_episodes|all`` overrides every marker; without it a marker's
``mode`` applies, else ``none`` when ``CI=true`` and ``once`` otherwise. See
:mod:`llmrail.replay` for matching, scrubbing and the file format. Works with pytest-asyncio
and pytest-xdist (each worker process has its own active cassette).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .replay import Cassette

MODES = ("none", "once", "new_episodes", "all")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("llmrail", "llmrail record and replay")
    group.addoption(
        "--llm-record-mode",
        choices=MODES,
        default=None,
        help="record mode for every llm_cassette (default: a marker's mode, else none under CI=true, else once)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "llm_cassette(path=None, **options): record/replay this test's LLM calls (see llmrail.pytest_plugin)",
    )


def cassette_dir(request: pytest.FixtureRequest) -> Path:
    """``<test dir>/cassettes/<test module>/``."""
    module = Path(request.node.path)
    return module.parent / "cassettes" / module.stem


def cassette_name(request: pytest.FixtureRequest) -> str:
    """The test's name (``Class.test_name[param]``), safe as a file name."""
    name = request.node.name
    if request.cls is not None:
        name = f"{request.cls.__name__}.{name}"
    return re.sub(r"[/\\:*?\"<>|]", "-", name)


@pytest.fixture
def llm_cassette_config() -> dict[str, Any]:
    """Default options for every ``llm_cassette`` in scope; override it in a conftest."""
    return {}


@pytest.fixture
def llm_cassette(request: pytest.FixtureRequest, llm_cassette_config: dict[str, Any]) -> Iterator[Cassette]:
    """The cassette every LLM call of this test goes through."""
    marker = request.node.get_closest_marker("llm_cassette")
    args: tuple[Any, ...] = marker.args if marker else ()
    options: dict[str, Any] = {**llm_cassette_config, **(marker.kwargs if marker else {})}
    if "path" in options:
        args = (options.pop("path"),)
    if len(args) > 1:
        raise pytest.UsageError("llm_cassette takes at most one positional argument, the cassette path")
    folder = cassette_dir(request)
    path = folder / args[0] if args and args[0] is not None else folder / f"{cassette_name(request)}.yaml"
    forced = request.config.getoption("--llm-record-mode")
    if forced is not None:
        options["mode"] = forced
    with Cassette(path, **options) as cassette:
        yield cassette


@pytest.fixture(autouse=True)
def _llm_cassette_marker(request: pytest.FixtureRequest) -> None:
    """Activate the cassette for marked tests, before any other fixture of the test runs."""
    if request.node.get_closest_marker("llm_cassette") is not None:
        request.getfixturevalue("llm_cassette")
