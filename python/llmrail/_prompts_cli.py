"""``python -m llmrail prompts check DIR``: every problem of every prompt file in DIR, one line
each (``file:line: error|warning: message``); the exit status is 1 when any is an error, for CI.
The checks are the core's (the same ones ``Prompts(DIR)`` runs at load); this only prints."""

from __future__ import annotations

import sys
from typing import Any

from ._core import check_prompts
from .errors import LLMError


def add_parser(sub: Any) -> None:
    p = sub.add_parser("prompts", help="check prompt template files: prompts check DIR")
    p.add_argument("action", choices=["check"])
    p.add_argument("dir", help="the folder of *.yaml prompt files")


def run(args: Any) -> int:
    try:
        problems = check_prompts(args.dir)
    except LLMError as e:
        print(f"llmrail prompts: {e}", file=sys.stderr)
        return 2
    errors = 0
    for file, line, level, message in problems:
        print(f"{file}:{line}: {level}: {message}")
        errors += level == "error"
    warnings = len(problems) - errors
    print(f"{errors} error(s), {warnings} warning(s)", file=sys.stderr)
    return 1 if errors else 0
