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

pytest-recording's markers, when pytest-recording is not installed (or is turned off with
``-p no:recording``): ``@pytest.mark.vcr`` records and replays a test through llmrail's
cassette at pytest-recording's path (the same folder as above, so existing vcrpy cassettes are
read as they are), and ``--record-mode=none|once|new_episodes|all|rewrite`` sets the mode. As
there, the mode is ``none`` unless ``--record-mode``, the marker's ``record_mode=`` or a
``vcr_config`` fixture says otherwise (theirs win over ``--record-mode``), and
``@pytest.mark.default_cassette("name")`` renames the file. vcrpy's options map to llmrail's:
``match_on`` (``method``, ``uri``, ``scheme``, ``host``, ``port``, ``path``, ``query``,
``body``; ``raw_body`` is ``body``), ``filter_headers``, ``filter_query_parameters`` and
``allow_playback_repeats``; another option (vcrpy's hooks, ``headers`` matching) is ignored with
a warning. Extra cassettes named as positional arguments (``@pytest.mark.vcr("a.yaml",
"b.yaml")``, relative to the test's cassette folder or absolute) answer requests too, after the
test's own cassette; as with pytest-recording, only the test's own cassette is written.
"""

from __future__ import annotations

import importlib.util
import re
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest

from .replay import Cassette, RecordMode

MODES = ("none", "once", "new_episodes", "all")
VCR_MODES = (*MODES, "rewrite")
# vcrpy's matchers that are llmrail's too (`raw_body` compares the body, as llmrail's does).
VCR_MATCHERS = {"method": "method", "uri": "uri", "scheme": "scheme", "host": "host", "port": "port",
                "path": "path", "query": "query", "body": "body", "raw_body": "body"}


def _pytest_recording_absent(pluginmanager: pytest.PytestPluginManager) -> bool:
    """pytest-recording owns ``vcr`` and ``--record-mode`` when it is installed and not turned off."""
    return importlib.util.find_spec("pytest_recording") is None or pluginmanager.is_blocked("recording")


def pytest_addoption(parser: pytest.Parser, pluginmanager: pytest.PytestPluginManager) -> None:
    group = parser.getgroup("llmrail", "llmrail record and replay")
    group.addoption(
        "--llm-record-mode",
        choices=MODES,
        default=None,
        help="record mode for every llm_cassette (default: a marker's mode, else none under CI=true, else once)",
    )
    if _pytest_recording_absent(pluginmanager):
        group.addoption(
            "--record-mode",
            choices=VCR_MODES,
            default=None,
            help="record mode of @pytest.mark.vcr tests, as pytest-recording's (default: none)",
        )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "llm_cassette(path=None, **options): record/replay this test's LLM calls (see llmrail.pytest_plugin)",
    )
    if _pytest_recording_absent(config.pluginmanager):
        config.addinivalue_line("markers", "vcr(**options): pytest-recording's marker, run by llmrail's cassettes")
        config.addinivalue_line("markers", "default_cassette(name): the vcr marker's cassette file name")


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
    elif request.node.get_closest_marker("vcr") is not None and _pytest_recording_absent(request.config.pluginmanager):
        request.getfixturevalue("_llm_vcr_cassette")


def _vcr_options(request: pytest.FixtureRequest) -> tuple[dict[str, Any], list[Path]]:
    """pytest-recording's configuration of this test: the ``vcr_config`` fixture, then the
    ``vcr`` markers from the outermost to the closest; and the extra cassettes the markers name
    (relative to the test's cassette folder, or absolute)."""
    try:
        options: dict[str, Any] = dict(request.getfixturevalue("vcr_config"))
    except pytest.FixtureLookupError:
        options = {}
    markers = list(request.node.iter_markers("vcr"))
    for marker in reversed(markers):
        options.update(marker.kwargs)
    extras = [cassette_dir(request) / path for marker in markers for path in marker.args]
    return options, extras


def _llmrail_options(vcr: dict[str, Any]) -> dict[str, Any]:
    """vcrpy's options as llmrail's cassette's; what has no counterpart is named in a warning."""
    out: dict[str, Any] = {}
    ignored = []
    for key, value in vcr.items():
        if key == "match_on":
            names = [VCR_MATCHERS.get(m) for m in value]
            ignored += [f"match_on={m!r}" for m, n in zip(value, names, strict=True) if n is None]
            out["match_on"] = list(dict.fromkeys(n for n in names if n is not None))
        elif key == "filter_headers":
            out["scrub_headers"] = [h if isinstance(h, str) else h[0] for h in value]
        elif key == "filter_query_parameters":
            out["scrub_query"] = [q if isinstance(q, str) else q[0] for q in value]
        elif key == "allow_playback_repeats":
            out[key] = bool(value)
        elif key != "record_mode":
            ignored.append(key)
    if ignored:
        warnings.warn(f"llmrail's vcr marker ignores vcrpy options it has no counterpart for: {ignored}",
                      pytest.PytestWarning, stacklevel=2)
    return out


@pytest.fixture
def _llm_vcr_cassette(request: pytest.FixtureRequest) -> Iterator[Cassette]:
    """The cassette of a ``@pytest.mark.vcr`` test, as pytest-recording would name and mode it."""
    vcr, extras = _vcr_options(request)
    mode = vcr.get("record_mode") or request.config.getoption("--record-mode") or "none"
    if mode not in VCR_MODES:
        raise pytest.UsageError(f"record_mode must be one of {VCR_MODES}, got {mode!r}")
    named = request.node.get_closest_marker("default_cassette")
    if named is not None:
        name = str(named.args[0])
    else:
        name = f"{request.cls.__name__}.{request.node.name}" if request.cls is not None else request.node.name
        name = re.sub(r"[<>?%*:|\"'/\\]", "-", name)
    path = cassette_dir(request) / (name if name.endswith((".yaml", ".yml")) else f"{name}.yaml")
    if mode == "rewrite":
        path.unlink(missing_ok=True)
        mode = "new_episodes"
    options = _llmrail_options(vcr)
    with Cassette(path, mode=cast(RecordMode, mode), extra_cassettes=extras, **options) as cassette:
        yield cassette
