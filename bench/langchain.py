"""``make bench`` (LangChain part): per-call time of sequential ``ainvoke`` on the same mock server.

    .venv/bin/python bench/langchain.py [--n 1000] [--rounds 3] [--out bench-results]

ChatLlmrail (OpenAI and Anthropic protocols) against ChatOpenAI and ChatAnthropic, each awaiting
one call at a time against the mock server in its own process (a ~2 KB answer, no latency), so
the figures are the client stack's own cost per call. Rounds alternate between the models; the
median round counts. Prints a table, writes langchain.json (and langchain.md) under --out.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from langchain_anthropic import ChatAnthropic
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage, SystemMessage
from langchain_openai import ChatOpenAI
from llmrail.langchain import ChatLlmrail
from server import MockServerProcess

KEY = "sk-bench"
MESSAGES = [SystemMessage("You are a careful assistant."), HumanMessage("Explain connection pooling.")]


def models(srv: MockServerProcess) -> dict[str, Callable[[], BaseChatModel]]:
    return {
        "ChatLlmrail (openai/)": lambda: ChatLlmrail(model="openai/gpt-4.1-mini", base_url=srv.base_url, api_key=KEY),
        "ChatLlmrail (anthropic/)": lambda: ChatLlmrail(
            model="anthropic/claude-sonnet-4-6", base_url=srv.url, api_key=KEY, max_tokens=1024
        ),
        "ChatOpenAI": lambda: ChatOpenAI(model="gpt-4.1-mini", base_url=srv.base_url, api_key=KEY),  # type: ignore[arg-type]
        "ChatAnthropic": lambda: ChatAnthropic(model="claude-sonnet-4-6", base_url=srv.url, api_key=KEY),  # type: ignore[call-arg]
    }


async def per_call_ms(model: BaseChatModel, n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        await model.ainvoke(MESSAGES)
    return (time.perf_counter() - start) / n * 1e3


async def run(n: int, rounds: int) -> dict[str, Any]:
    with MockServerProcess() as srv:
        built = {name: make() for name, make in models(srv).items()}
        for model in built.values():  # warm-up: imports, pools, first-call caches
            await per_call_ms(model, max(20, n // 10))
        samples: dict[str, list[float]] = {name: [] for name in built}
        for _ in range(rounds):
            for name, model in built.items():
                samples[name].append(await per_call_ms(model, n))
    results = {name: {"per_call_ms": statistics.median(s), "rounds_ms": s, "calls": n} for name, s in samples.items()}
    openai_ms = results["ChatOpenAI"]["per_call_ms"]
    for r in results.values():
        r["vs_ChatOpenAI"] = r["per_call_ms"] / openai_ms
    return results


def table(results: dict[str, Any]) -> str:
    lines = [
        "| model (sequential ainvoke) | ms per call | vs ChatOpenAI |",
        "| --- | ---: | ---: |",
    ]
    for name, r in results.items():
        lines.append(f"| {name} | {r['per_call_ms']:.3f} | {r['vs_ChatOpenAI']:.2f}x |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="calls per model per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", default="bench-results")
    args = parser.parse_args()
    results = asyncio.run(run(args.n, args.rounds))
    text = table(results)
    print("\nLangChain chat models, sequential ainvoke against the mock server (its own process)\n")
    print(text)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "langchain.json").write_text(json.dumps(results, indent=2))
    (out / "langchain.md").write_text(text + "\n")


if __name__ == "__main__":
    main()
