"""What `pip install "llmrail[...]"` promises: each extra brings exactly what its integration imports."""

from __future__ import annotations

import ast
import re
import sys
from importlib import metadata
from pathlib import Path

import llmrail

PACKAGE = Path(llmrail.__file__).parent


def third_party_imports(*paths: Path) -> set[str]:
    """Top-level names of the non-stdlib, non-llmrail modules these files import."""
    names: set[str] = set()
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return {n for n in names if n not in sys.stdlib_module_names and n not in ("llmrail", "__future__")}


def extra(name: str) -> set[str]:
    """Import names of the requirements of `llmrail[name]`, from the installed wheel's metadata."""
    wanted = re.compile(rf"""extra\s*==\s*["']{name}["']""")
    found = set()
    for req in metadata.requires("llmrail") or []:
        if wanted.search(req):
            found.add(re.split(r"[<>=!~; \[]", req, maxsplit=1)[0].replace("-", "_").lower())
    return found


def test_the_langchain_extra_brings_what_the_integration_imports() -> None:
    assert third_party_imports(*(PACKAGE / "langchain").glob("*.py")) == extra("langchain") == {
        "langchain_core",
        "pydantic",
    }


def test_the_pytest_extra_brings_what_the_plugin_imports() -> None:
    assert third_party_imports(PACKAGE / "pytest_plugin.py") == extra("pytest") == {"pytest"}


def test_the_package_itself_needs_nothing_but_python() -> None:
    assert metadata.requires("llmrail") is not None
    assert all(re.search(r"extra\s*==", req) for req in metadata.requires("llmrail") or [])


def test_the_httpx_extra_brings_what_the_sdk_transport_imports() -> None:
    assert third_party_imports(PACKAGE / "httpx.py") == extra("httpx") == {"httpx"}


def test_the_httpx2_extra_brings_what_its_twin_imports() -> None:
    assert third_party_imports(PACKAGE / "httpx2.py", PACKAGE / "_sdk_transport.py") == extra("httpx2") == {"httpx2"}


def test_the_bench_extra_brings_the_progress_bar_the_runner_imports() -> None:
    assert third_party_imports(*(PACKAGE / "bench").glob("*.py")) == extra("bench") == {"tqdm"}


def test_the_otel_extra_brings_what_the_tracing_imports() -> None:
    assert third_party_imports(PACKAGE / "_otel.py") == {"opentelemetry"}
    assert extra("otel") == {"opentelemetry_api"}


def test_the_progress_extra_brings_the_bar_that_wait_progress_shows() -> None:
    assert third_party_imports(PACKAGE / "_progress.py") == extra("progress") == {"tqdm"}
