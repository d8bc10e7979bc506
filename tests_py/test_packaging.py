"""What `pip install "llmrail[...]"` promises: each extra brings exactly what its integration imports;
and what a release ships: one version, PyPI's metadata, the licence file, the release workflow."""

from __future__ import annotations

import ast
import io
import re
import subprocess
import sys
import tarfile
from importlib import metadata
from pathlib import Path

import llmrail
import pytest

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


# What PyPI shows and what a release ships: one version, metadata, the licence file, the workflow.

ROOT = Path(__file__).resolve().parent.parent


def test_the_version_is_the_package_metadatas() -> None:
    assert llmrail.__version__ == metadata.version("llmrail")


def test_the_version_is_written_once_in_cargo_toml() -> None:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    cargo = tomllib.loads((ROOT / "Cargo.toml").read_text())["package"]
    assert "version" not in project and "version" in project["dynamic"]
    assert cargo["version"] == llmrail.__version__


def test_pypi_shows_project_urls_classifiers_and_keywords() -> None:
    meta = metadata.metadata("llmrail")
    urls = dict(url.split(", ", 1) for url in meta.get_all("Project-URL") or [])
    assert {"Homepage", "Source", "Issues", "Changelog", "Documentation"} <= urls.keys()
    assert all(url.startswith("https://") for url in urls.values())
    classifiers = set(meta.get_all("Classifier") or [])
    floor = re.fullmatch(r">=3\.(\d+)", meta["Requires-Python"])
    assert floor and f"Programming Language :: Python :: 3.{floor[1]}" in classifiers
    assert {"Typing :: Typed", "Operating System :: POSIX :: Linux", "Operating System :: MacOS",
            "Operating System :: Microsoft :: Windows", "Framework :: Pytest"} <= classifiers
    # PEP 639: the SPDX expression, and no licence classifier beside it (PyPI refuses both).
    assert meta["License-Expression"] == "MIT"
    assert not any(c.startswith("License ::") for c in classifiers)
    assert "llm" in (meta["Keywords"] or "").split(",")


def test_the_wheel_carries_the_licence_file() -> None:
    record = metadata.distribution("llmrail").files or []
    licences = [f for f in record if f.parts[0].endswith(".dist-info") and f.parts[1:] == ("licenses", "LICENSE")]
    assert len(licences) == 1
    assert licences[0].read_text() == (ROOT / "LICENSE").read_text()
    assert metadata.metadata("llmrail")["License-File"] == "LICENSE"


def test_the_sdist_carries_the_licence_the_changelog_and_what_a_build_needs(tmp_path: Path) -> None:
    maturin = Path(sys.executable).parent / "maturin"
    subprocess.run([str(maturin), "sdist", "--out", str(tmp_path)], cwd=ROOT, check=True, capture_output=True)
    (sdist,) = tmp_path.glob("llmrail-*.tar.gz")
    top = sdist.name.removesuffix(".tar.gz")
    with tarfile.open(sdist) as tar:
        names = set(tar.getnames())
        pkg_info = (tar.extractfile(f"{top}/PKG-INFO") or io.BytesIO()).read().decode()
    for needed in ("LICENSE", "CHANGELOG.md", "README.md", "Cargo.toml", "Cargo.lock", "pyproject.toml",
                   "src/lib.rs", "python/llmrail/__init__.py", "python/llmrail/_core.pyi", "python/llmrail/py.typed"):
        assert f"{top}/{needed}" in names, needed
    assert "License-File: LICENSE" in pkg_info
    assert f"Version: {llmrail.__version__}" in pkg_info


def test_the_changelog_keeps_an_unreleased_section_and_the_current_versions() -> None:
    changelog = (ROOT / "CHANGELOG.md").read_text()
    headings = re.findall(r"^## \[([^\]]+)\]", changelog, re.M)
    assert headings[0] == "Unreleased"
    assert llmrail.__version__ in headings
    # every heading has its link, as Keep a Changelog writes them
    assert all(re.search(rf"^\[{re.escape(h)}\]: https://", changelog, re.M) for h in headings)


WORKFLOW = ROOT / ".github" / "workflows" / "release.yml"


def test_the_release_workflow_builds_every_platform_and_smoke_tests_each() -> None:
    yaml = pytest.importorskip("yaml")
    jobs = yaml.safe_load(WORKFLOW.read_text())["jobs"]
    linux = {(e["target"], e["libc"]) for e in jobs["linux"]["strategy"]["matrix"]["include"]}
    assert linux == {(arch, libc) for arch in ("x86_64", "aarch64") for libc in ("manylinux", "musllinux")}
    mac = {e["target"] for e in jobs["macos"]["strategy"]["matrix"]["include"]}
    assert mac == {"aarch64-apple-darwin", "x86_64-apple-darwin"}
    assert any(s.get("with", {}).get("target") == "x86_64-pc-windows-msvc" for s in jobs["windows"]["steps"])
    assert any(s.get("with", {}).get("command") == "sdist" for s in jobs["sdist"]["steps"])
    for name in ("linux", "macos", "windows", "sdist"):
        steps = jobs[name]["steps"]
        assert any(s.get("uses", "").startswith("PyO3/maturin-action@") for s in steps), name
        assert any("scripts/smoke.py" in s.get("run", "") for s in steps), name


def test_the_release_workflow_publishes_by_trusted_publishing_on_a_tag_only() -> None:
    yaml = pytest.importorskip("yaml")
    workflow = yaml.safe_load(WORKFLOW.read_text())
    assert workflow[True]["push"] == {"tags": ["v*"]}  # YAML 1.1 reads the key `on` as True
    assert workflow["permissions"] == {"contents": "read"}
    publish = workflow["jobs"]["publish"]
    assert publish["if"] == "startsWith(github.ref, 'refs/tags/v')"
    assert publish["permissions"] == {"id-token": "write"}
    assert set(publish["needs"]) == {"linux", "macos", "windows", "sdist"}
    (upload,) = [s for s in publish["steps"] if s.get("uses", "").startswith("pypa/gh-action-pypi-publish@")]
    assert "password" not in upload.get("with", {})  # no token: PyPI trusts the workflow's OIDC identity
    others = [job for name, job in workflow["jobs"].items() if name != "publish"]
    assert all("id-token" not in job.get("permissions", {}) for job in others)
