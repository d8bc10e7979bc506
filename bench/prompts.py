"""``make bench`` (prompt templates part): one typical prompt rendered by llmrail and by Jinja2.

    .venv/bin/python bench/prompts.py [--renders 2000] [--rounds 15] [--out bench-results]

The prompt: a system template and 3 messages, 10 variables, a loop over a list and a
conditional, in a YAML file rendered with ``Prompts.render`` (variables checked, defaults
filled, the provider's variant picked, the templates run in the core). Jinja2 renders the same
four templates, compiled once beforehand, from the same variables, in the same run, into the same
dict. Each round times ``--renders`` renders of each; the table gives the median time per render
over the rounds and the spread (min to max of the rounds' medians). Goal: llmrail at least 5x
faster. Writes prompts.json and prompts.md under --out.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jinja2
import llmrail

SYSTEM = ("You are {{ persona }} working for {{ company }}. Answer in {{ language }}."
          "{% if strict %} Never guess.{% endif %}")
MESSAGES = [
    ("user", "Customer {{ customer }} (tier {{ tier }}) asks about these orders:\n"
             "{% for o in orders %}- {{ o.id }}: {{ o.status }}{% if o.late %} (late){% endif %}\n{% endfor %}"),
    ("assistant", "Understood. I will check {{ orders | length }} orders for {{ customer }}."),
    ("user", "{{ question }}\nKeep it under {{ max_words }} words.{% if notes %}\nNotes: {{ notes }}{% endif %}"),
]
PROMPT_YAML = f"""\
name: support
description: a typical support prompt
version: 1
variables:
  - {{name: persona, type: string, default: "a support agent"}}
  - {{name: company, type: string, required: true}}
  - {{name: language, type: string, default: English}}
  - {{name: strict, type: bool, default: true}}
  - {{name: customer, type: string, required: true}}
  - {{name: tier, type: string, default: gold}}
  - {{name: orders, type: list, required: true}}
  - {{name: question, type: string, required: true}}
  - {{name: max_words, type: int, default: 120}}
  - {{name: notes, type: string, default: ""}}
system: {json.dumps(SYSTEM)}
messages:
""" + "".join(f"  - role: {r}\n    content: {json.dumps(c)}\n" for r, c in MESSAGES) + """\
max_tokens: 400
variants:
  anthropic:
    max_tokens: 500
"""
VARIABLES: dict[str, Any] = {
    "persona": "a patient support agent",
    "company": "Parcelly",
    "language": "English",
    "strict": True,
    "customer": "Ada Lovelace",
    "tier": "platinum",
    "orders": [{"id": f"A-{i}", "status": "in transit", "late": i % 2 == 0} for i in range(5)],
    "question": "Where are my parcels, and which ones are late?",
    "max_words": 150,
    "notes": "prefers e-mail",
}
MODEL = "anthropic/claude-sonnet-4-5"


def jinja_renderer() -> Callable[[dict[str, Any]], dict[str, Any]]:
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=True)
    system = env.from_string(SYSTEM)
    messages = [(role, env.from_string(c)) for role, c in MESSAGES]
    defaults = {"persona": "a support agent", "language": "English", "strict": True, "tier": "gold",
                "max_words": 120, "notes": ""}

    def render(variables: dict[str, Any]) -> dict[str, Any]:
        ctx = {**defaults, **variables}
        return {
            "system": system.render(ctx),
            "messages": [{"role": role, "content": t.render(ctx)} for role, t in messages],
            "max_tokens": 500,
        }

    return render


def per_render_us(n: int, fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - start) / n * 1e6


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--renders", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--out", default="bench-results")
    args = ap.parse_args(argv)

    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "support.yaml").write_text(PROMPT_YAML)
        prompts = llmrail.Prompts(folder)
        jinja = jinja_renderer()
        ours = prompts.render("support", VARIABLES, model=MODEL)
        theirs = jinja(VARIABLES)
        assert ours == theirs, (ours, theirs)

        def one_llmrail() -> object:
            return prompts.render("support", VARIABLES, model=MODEL)

        def one_jinja() -> object:
            return jinja(VARIABLES)

        rounds: dict[str, list[float]] = {"llmrail (Prompts.render)": [], f"Jinja2 {jinja2.__version__}": []}
        for _ in range(args.rounds):  # interleaved, so drift in the machine's load hits both
            rounds["llmrail (Prompts.render)"].append(per_render_us(args.renders, one_llmrail))
            rounds[f"Jinja2 {jinja2.__version__}"].append(per_render_us(args.renders, one_jinja))

    results = {name: {"median_us": statistics.median(r), "min_us": min(r), "max_us": max(r), "rounds": len(r),
                      "renders_per_round": args.renders} for name, r in rounds.items()}
    names = list(results)
    speedup = results[names[1]]["median_us"] / results[names[0]]["median_us"]
    lines = [
        "## Prompt templates: one render (system + 3 messages, 10 variables, a loop, a conditional)",
        "",
        "| | median µs/render | spread over rounds (µs) | rounds x renders |",
        "|---|---:|---:|---:|",
    ]
    for name, r in results.items():
        lines.append(f"| {name} | {r['median_us']:.2f} | {r['min_us']:.2f} – {r['max_us']:.2f} | "
                     f"{r['rounds']} x {r['renders_per_round']} |")
    lines += ["", f"llmrail is {speedup:.1f}x faster per render than Jinja2 (goal: at least 5x)."]
    text = "\n".join(lines)
    print(text)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "prompts.json").write_text(json.dumps({"results": results, "speedup": speedup}, indent=2))
    (out / "prompts.md").write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
