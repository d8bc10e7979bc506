"""Fail when Rust modules under src/ import each other in a circle.

A module here is a file (`x.rs`) or a folder (`x/` with its `mod.rs` or `x.rs`). At every level
of the tree the siblings form a graph: an arrow A -> B when any code inside A names a path inside
B (`crate::…`, `super::…`, `self::…`, in `use` trees and inline). A parent and its own children
are not siblings, so a folder's `mod.rs` may re-export what its children define. Any circle among
siblings is printed with the lines that make it, and the exit status is 1.

Run by `make lint`; `python scripts/module_cycles.py --graph` prints every arrow, and
`--src DIR` checks another tree (tests_py/test_layout.py builds a small one with a circle).
"""

from __future__ import annotations

import re
import sys
from collections import defaultdict
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src"
if "--src" in sys.argv:
    SRC = Path(sys.argv[sys.argv.index("--src") + 1]).resolve()
PATH_RE = re.compile(r"\b(crate|super|self)((?:::(?:\{[^;]*?\}|[A-Za-z_][A-Za-z0-9_]*|\*))+)", re.S)
COMMENT_RE = re.compile(r"//[^\n]*")


def module_of(file: Path) -> tuple[str, ...]:
    """`src/a/b.rs` and `src/a/b/mod.rs` are both module `a::b`; lib.rs is the crate root."""
    parts = list(file.relative_to(SRC).with_suffix("").parts)
    if parts[-1] in ("mod", "lib"):
        parts.pop()
    return tuple(parts)


def expand(tree: str) -> list[list[str]]:
    """`::a::{b, c::d}` -> [[a, b], [a, c, d]] (enough of Rust's use trees for arrows)."""
    tree = tree.strip()
    if tree.startswith("::"):
        tree = tree[2:]
    if not tree:
        return [[]]
    if tree.startswith("{"):
        depth, start, out = 0, 1, []
        for i, ch in enumerate(tree):
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
                if depth == 0:
                    out.extend(expand("::" + tree[start:i].strip()) if tree[start:i].strip() else [[]])
                    break
            elif ch == "," and depth == 1:
                out.extend(expand("::" + tree[start:i].strip()))
                start = i + 1
        return out
    head, _, rest = tree.partition("::")
    head = head.split(" as ")[0].strip()
    return [[head, *tail] for tail in expand("::" + rest)] if rest else [[head]]


def resolve(here: tuple[str, ...], root: str, rest: list[str], modules: set[tuple[str, ...]]) -> tuple[str, ...]:
    if root == "crate":
        base: tuple[str, ...] = ()
    else:
        base = here
        if root == "super":
            base = here[:-1]
        while rest and rest[0] == "super":
            base, rest = base[:-1], rest[1:]
    target = base
    for seg in rest:
        if (*target, seg) in modules:
            target = (*target, seg)
        else:
            break
    return target


def arrows() -> dict[tuple[tuple[str, ...], tuple[str, ...]], list[str]]:
    files = sorted(SRC.rglob("*.rs"))
    owner: dict[Path, tuple[str, ...]] = {}
    for f in files:
        owner[f] = module_of(f)
    # `#[path = "x_tests.rs"] mod tests;` makes the file a child of the module that declares it.
    for f in files:
        for m in re.finditer(r'#\[path\s*=\s*"([^"]+)"\]\s*mod\s+(\w+)', f.read_text()):
            child = (f.parent / m.group(1)).resolve()
            if child in owner:
                owner[child] = (*module_of(f), m.group(2))
    modules = set(owner.values())
    for m in list(modules):
        for i in range(len(m)):
            modules.add(m[:i])
    edges: dict[tuple[tuple[str, ...], tuple[str, ...]], list[str]] = defaultdict(list)
    for f, here in owner.items():
        text = COMMENT_RE.sub("", f.read_text())
        for m in PATH_RE.finditer(text):
            for rest in expand(m.group(2)):
                rest = [s for s in rest if s not in ("*", "self")]
                target = resolve(here, m.group(1), rest, modules)
                # The arrow joins the two siblings under the deepest common ancestor.
                i = 0
                while i < min(len(here), len(target)) and here[i] == target[i]:
                    i += 1
                if i == len(here) or i == len(target):
                    continue  # parent and child, or the module itself
                a, b = here[: i + 1], target[: i + 1]
                line = text[: m.start()].count("\n") + 1
                edges[(a, b)].append(f"{f.relative_to(SRC.parent)}:{line}")
    return edges


def cycles(edges: dict[tuple[tuple[str, ...], tuple[str, ...]], list[str]]) -> list[list[tuple[str, ...]]]:
    graph: dict[tuple[str, ...], set[tuple[str, ...]]] = defaultdict(set)
    for a, b in edges:
        graph[a].add(b)
    index: dict[tuple[str, ...], int] = {}
    low: dict[tuple[str, ...], int] = {}
    stack: list[tuple[str, ...]] = []
    on: set[tuple[str, ...]] = set()
    found: list[list[tuple[str, ...]]] = []

    def visit(v: tuple[str, ...]) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in list(graph):
        if v not in index:
            visit(v)
    return found


def name(m: tuple[str, ...]) -> str:
    return "::".join(m) or "crate"


def main() -> int:
    edges = arrows()
    if "--graph" in sys.argv:
        for (a, b), where in sorted(edges.items()):
            print(f"{name(a)} -> {name(b)}  ({where[0]}{' …' if len(where) > 1 else ''})")
    found = cycles(edges)
    for comp in found:
        members = set(comp)
        print("circle: " + " <-> ".join(name(m) for m in comp))
        for (a, b), where in sorted(edges.items()):
            if a in members and b in members:
                print(f"  {name(a)} -> {name(b)}: {', '.join(where[:3])}")
    if not found:
        print(f"no circles among {len({m for e in edges for m in e})} Rust modules of src/")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
