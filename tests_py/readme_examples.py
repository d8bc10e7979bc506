"""The README's Python examples, extracted so they can be run (test_readme.py) and type-checked.

`python tests_py/readme_examples.py --check-types` writes every example into one module (each
inside an `async def`, so top-level `await` is legal) and runs `mypy --strict` on it.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCK = re.compile(r"```python\n(.*?)```", re.S)


def snippets() -> list[str]:
    return [m.group(1) for m in BLOCK.finditer(README.read_text())]


def as_module(blocks: list[str]) -> str:
    """Each block becomes an async function; later blocks may use names the earlier ones defined
    (`client`, `weather`), so those are parameters of every function."""
    out = ["import asyncio", "from typing import Any", "import llmrail", ""]
    for i, block in enumerate(blocks):
        body = textwrap.indent(block, "    ")
        out.append(f"async def example_{i}(client: llmrail.Client) -> None:\n{body}\n    del client\n")
    return "\n".join(out)


def check_types() -> int:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "readme_examples_module.py"
        path.write_text(as_module(snippets()))
        return subprocess.call([sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(path)])


if __name__ == "__main__":
    if "--check-types" in sys.argv:
        sys.exit(check_types())
    print(as_module(snippets()))
