"""The Rust modules of src/ import each other in one direction only (scripts/module_cycles.py)."""

from __future__ import annotations

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
