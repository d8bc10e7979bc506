"""Editors show the stub on hover, so the stub is where the API's one-line docs live: every public
class, method, function and option (a TypedDict's key) in it has a docstring."""

from __future__ import annotations

import ast
from pathlib import Path

import llmrail

PACKAGE = Path(llmrail.__file__).parent
# The stub, and the module its option TypedDicts (ChatOptions, ExtractOptions) come from.
FILES = ["_core.pyi", "_options.py"]
# Constructors show on hover too; other dunders (`__eq__`, `__aiter__`) mean what Python says.
DOCUMENTED_DUNDERS = {"__new__", "__init__", "__len__"}


def is_public(name: str) -> bool:
    return not name.startswith("_") or name in DOCUMENTED_DUNDERS


def base_names(cls: ast.ClassDef) -> set[str]:
    return {b.id if isinstance(b, ast.Name) else getattr(b, "attr", "") for b in cls.bases}


def typed_dicts(trees: list[ast.Module]) -> set[str]:
    """Classes that are TypedDicts, through any chain of bases in these files."""
    classes = [n for tree in trees for n in ast.walk(tree) if isinstance(n, ast.ClassDef)]
    found = {"TypedDict"}
    while grown := {c.name for c in classes if base_names(c) & found} - found:
        found |= grown
    return found


def undocumented(tree: ast.Module, options_classes: set[str]) -> list[str]:
    missing: list[str] = []

    def visit(body: list[ast.stmt], where: str, options: bool) -> None:
        for i, node in enumerate(body):
            if isinstance(node, ast.ClassDef):
                typed_dict = node.name in options_classes
                # Private TypedDicts count: their keys are the options mypy lists for `extract`.
                if (is_public(node.name) or typed_dict) and ast.get_docstring(node) is None:
                    missing.append(f"class {where}{node.name} (line {node.lineno})")
                visit(node.body, f"{where}{node.name}.", typed_dict)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                if is_public(node.name) and not (ast.get_docstring(node) or "").strip():
                    missing.append(f"def {where}{node.name} (line {node.lineno})")
            elif options and isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                following = body[i + 1] if i + 1 < len(body) else None
                documented = (
                    isinstance(following, ast.Expr)
                    and isinstance(following.value, ast.Constant)
                    and isinstance(following.value.value, str)
                    and following.value.value.strip()
                )
                if not documented:
                    missing.append(f"option {where}{node.target.id} (line {node.lineno})")

    visit(tree.body, "", False)
    return missing


def test_every_public_class_method_function_and_option_has_a_docstring() -> None:
    trees = {name: ast.parse((PACKAGE / name).read_text()) for name in FILES}
    options = typed_dicts(list(trees.values()))
    assert {"ChatOptions", "ExtractOptions", "_ExtractRaw"} <= options
    assert {name: undocumented(tree, options) for name, tree in trees.items()} == {name: [] for name in FILES}


def test_the_check_finds_what_is_missing() -> None:
    tree = ast.parse(
        "class A:\n"
        "    def f(self) -> int: ...\n"
        "    def __eq__(self, o: object) -> bool: ...\n"
        "class O(TypedDict, total=False):\n"
        '    """Options."""\n'
        "    x: int\n"
        '    """Documented."""\n'
        "    y: int\n"
        "def g() -> None: ...\n"
        "def _private() -> None: ...\n"
    )
    assert undocumented(tree, typed_dicts([tree])) == [
        "class A (line 1)",
        "def A.f (line 2)",
        "option O.y (line 8)",
        "def g (line 9)",
    ]
