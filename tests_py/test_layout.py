"""The Rust modules of src/ import each other in one direction only (scripts/module_cycles.py)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "module_cycles.py"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, check=False)


def test_no_two_modules_of_src_import_each_other() -> None:
    out = run()
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.startswith("no circles among")


def test_a_circle_is_named_with_the_lines_that_make_it(tmp_path: Path) -> None:
    (tmp_path / "lib.rs").write_text("pub mod a;\npub mod b;\npub mod c;\n")
    (tmp_path / "a.rs").write_text("use crate::b::Thing;\n")
    (tmp_path / "b").mkdir()
    (tmp_path / "b.rs").write_text("mod inner;\npub struct Thing;\n")
    (tmp_path / "b" / "inner.rs").write_text("fn f() { crate::c::g(); super::Thing; }\n")
    (tmp_path / "c.rs").write_text("pub fn g() {}\nuse crate::{a as _, b};\n")
    out = run("--src", str(tmp_path))
    assert out.returncode == 1
    assert "circle: a <-> b <-> c" in out.stdout
    assert "b -> c: b/inner.rs:1" in out.stdout.replace(str(tmp_path.name) + "/", "")
    assert "c -> a: c.rs:2" in out.stdout.replace(str(tmp_path.name) + "/", "")


def test_the_readme_layout_lists_src_top_down_as_the_imports_point() -> None:
    readme = (SCRIPT.parent.parent / "README.md").read_text()
    block = readme.split("## Layout", 1)[1].split("```", 2)[1]
    rows = [m.group(1) for line in block.splitlines() if (m := re.match(r"src/(\w+)", line))]
    order = {name: i for i, name in reversed(list(enumerate(rows)))}
    arrows = [line.split()[:3] for line in run("--graph").stdout.splitlines() if " -> " in line]
    top = {(a, b) for a, _, b in arrows if "::" not in a + b}
    assert {m for pair in top for m in pair} <= order.keys(), "a module of src/ is missing from the layout"
    upward = sorted(f"{a} -> {b}" for a, b in top if order[b] < order[a])
    assert not upward, f"README's layout lists these imports' targets above their importers: {upward}"
