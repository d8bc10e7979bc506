"""What the engines' command lines (``queue``, ``batch``) share: how a time is printed, and how a
command runs its coroutine and turns an llmrail error into one line and exit status 1."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Coroutine
from typing import Any


def when(t: float | None) -> str:
    """A Unix time as UTC ``YYYY-MM-DD HH:MM:SS``; ``-`` for none."""
    return "-" if t is None else time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t))


def run_async(command: Coroutine[Any, Any, int]) -> int:
    from .errors import LLMError

    try:
        return asyncio.run(command)
    except LLMError as e:
        print(f"{type(e).__name__}: {e}", file=sys.stderr)
        return 1
