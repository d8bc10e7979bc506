"""The prompts a benchmark sends: a documented file format, and a built-in default set.

A prompts file is JSON Lines, one request per line, in any of three shapes:

    "Name three prime numbers."
    {"prompt": "Summarise the plot of Hamlet in two sentences.", "max_tokens": 120}
    {"messages": [{"role": "system", "content": "Be terse."}, {"role": "user", "content": "Hi"}]}

``max_tokens`` is optional on the object forms (else the run's ``max_tokens``). Blank lines are
skipped. A file ending in ``.txt`` is plain text instead: each non-empty line is one prompt.
Requests take the prompts in turn, starting again from the first when there are fewer prompts
than requests.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeGuard


@dataclass(frozen=True)
class Prompt:
    """One request's conversation (OpenAI-shaped messages) and its own ``max_tokens``, if any."""

    messages: tuple[Mapping[str, Any], ...]
    max_tokens: int | None = None

    @classmethod
    def text(cls, prompt: str, max_tokens: int | None = None) -> Prompt:
        return cls(({"role": "user", "content": prompt},), max_tokens)


# Mixed on purpose: one-line answers, paragraphs, code and a list, so output lengths (and with
# them latency and cost) spread the way a service's traffic does.
DEFAULT_PROMPTS: tuple[Prompt, ...] = tuple(
    Prompt.text(p)
    for p in (
        "What is the capital of Australia? Answer in one word.",
        "Explain in two sentences why the sky is blue.",
        "Write a Python function that returns the n-th Fibonacci number iteratively.",
        "List five practical tips for writing clear commit messages.",
        "Summarise the causes of the French Revolution in one paragraph.",
        "Translate 'The train leaves at seven tomorrow morning' into French and German.",
        "What is the difference between a process and a thread? Be brief.",
        "Give three names for a bakery that specialises in sourdough.",
        "A shop sells pens at 3 for $2. How much do 12 pens cost? Show the steps.",
        "Write a haiku about a server that never goes down.",
        "Describe what an HTTP 429 status code means and how a client should react.",
        "Suggest a SQL query that finds the ten customers with the most orders.",
    )
)


def load_prompts(path: str | os.PathLike[str]) -> tuple[Prompt, ...]:
    """Read a prompts file (see the module doc); ``ValueError`` names the line that is wrong."""
    path = Path(path)
    lines = path.read_text(encoding="utf-8").splitlines()
    if path.suffix == ".txt":
        prompts = tuple(Prompt.text(line.strip()) for line in lines if line.strip())
    else:
        prompts = tuple(_parse(line, f"{path}:{n}") for n, line in enumerate(lines, 1) if line.strip())
    if not prompts:
        raise ValueError(f"{path}: no prompts")
    return prompts


def _parse(line: str, where: str) -> Prompt:
    try:
        item = json.loads(line)
    except json.JSONDecodeError as e:
        raise ValueError(f"{where}: not JSON ({e.msg}); a plain prompt is a JSON string") from None
    if isinstance(item, str):
        return Prompt.text(item)
    if not isinstance(item, dict):
        raise ValueError(f'{where}: expected a string, {{"prompt": ...}} or {{"messages": [...]}}')
    max_tokens = item.get("max_tokens")
    if max_tokens is not None and (not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1):
        raise ValueError(f"{where}: max_tokens must be a positive integer")
    if isinstance(item.get("prompt"), str):
        return Prompt.text(item["prompt"], max_tokens)
    messages = item.get("messages")
    if _messages_ok(messages):
        return Prompt(tuple(messages), max_tokens)
    raise ValueError(f'{where}: "messages" must be a non-empty list of {{"role": ..., "content": ...}} objects')


def _messages_ok(messages: Any) -> TypeGuard[list[dict[str, Any]]]:
    return (
        isinstance(messages, list)
        and bool(messages)
        and all(isinstance(m, dict) and isinstance(m.get("role"), str) for m in messages)
    )


def as_prompts(prompts: Sequence[Prompt | str] | str | os.PathLike[str] | None) -> tuple[Prompt, ...]:
    """``None``: the default set; a path: that file; else the given prompts (strings are user prompts)."""
    if prompts is None:
        return DEFAULT_PROMPTS
    if isinstance(prompts, (str, os.PathLike)):
        return load_prompts(prompts)
    out = tuple(Prompt.text(p) if isinstance(p, str) else p for p in prompts)
    if not out:
        raise ValueError("no prompts")
    return out
