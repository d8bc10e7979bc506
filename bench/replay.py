"""``make bench`` (record/replay part): 1,000 recorded calls replayed with body matching.

    .venv/bin/python bench/replay.py [--n 1000] [--vcrpy-n 200] [--out bench-results]

Records N distinct chat calls (a ~1 KB JSON request, a ~2 KB answer) against the mock server
into one cassette of N interactions, then replays every one of them offline, matching on
method, URL and the JSON body: through ``llmrail.Client`` sync (``chat_sync``) and async
(``await chat``, one at a time). For comparison, vcrpy replaying the same N calls made with
httpx (``match_on`` method, uri, body), when vcrpy is installed. Prints a table, writes
replay.json (and replay.md) under --out.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import llmrail
from llmrail.replay import cassette
from llmrail.testing import MockServer

SYSTEM = "You are a careful assistant for a logistics company. " * 12  # ~650 characters
ANSWER = ("Connection pooling keeps sockets open between requests, so a service skips handshakes. " * 24)[:2000]
MODEL = "gpt-4.1-mini"


def prompt(i: int) -> str:
    return f"Question {i}: where is parcel {i * 7919 % 100_003} now, and when will it arrive?"


def timed(n: int, one: Callable[[int], object]) -> list[float]:
    out = []
    for i in range(n):
        t = time.perf_counter()
        one(i)
        out.append(time.perf_counter() - t)
    return out


def summary(samples: list[float]) -> dict[str, float]:
    us = sorted(s * 1e6 for s in samples)
    return {
        "mean_us": statistics.fmean(us),
        "p50_us": us[len(us) // 2],
        "p99_us": us[min(len(us) - 1, int(len(us) * 0.99))],
        "calls": len(us),
    }


def llmrail_runs(folder: Path, n: int) -> dict[str, Any]:
    path = folder / "llmrail.yaml"
    with MockServer() as srv:
        srv.default(ANSWER, latency=0)
        client = llmrail.Client(f"openai/{MODEL}", base_url=srv.openai_base_url, api_key="sk-bench")

        def call(i: int) -> str:
            return client.chat_sync(prompt(i), system=SYSTEM, max_tokens=300).text

        with cassette(path, mode="all"):
            live = timed(n, call)
    out: dict[str, Any] = {"llmrail over loopback HTTP, recording (for scale)": summary(live)}
    size = path.stat().st_size

    start = time.perf_counter()
    with cassette(path, mode="none") as c:
        load_ms = (time.perf_counter() - start) * 1e3
        for i in range(min(50, n)):  # warm-up: first touches of the runtime and the pool
            call(i)
    with cassette(path, mode="none") as c:
        out["llmrail replay, sync (chat_sync)"] = summary(timed(n, call))
        assert c.all_played, "every recorded call was replayed"

    async def replay_async() -> list[float]:
        samples = []
        with cassette(path, mode="none") as c:
            for i in range(n):
                t = time.perf_counter()
                r = await client.chat(prompt(i), system=SYSTEM, max_tokens=300)
                samples.append(time.perf_counter() - t)
                assert r.text == ANSWER
            assert c.all_played
        return samples

    out["llmrail replay, async (await chat)"] = summary(asyncio.run(replay_async()))
    out["_meta"] = {"cassette_bytes": size, "cassette_load_ms": load_ms, "interactions": n}
    return out


def vcrpy_runs(folder: Path, n: int) -> dict[str, Any] | None:
    try:
        import httpx
        import vcr
    except ImportError:
        return None
    path = str(folder / "vcrpy.yaml")
    with MockServer() as srv:
        srv.default(ANSWER, latency=0)
        url = srv.openai_base_url + "/chat/completions"
        http = httpx.Client(headers={"authorization": "Bearer sk-bench"})

        def call(i: int) -> str:
            body = {"model": MODEL, "max_tokens": 300, "messages": [
                {"role": "system", "content": SYSTEM}, {"role": "user", "content": prompt(i)}]}
            text: str = http.post(url, json=body).json()["choices"][0]["message"]["content"]
            return text

        opts: dict[str, Any] = {"match_on": ["method", "uri", "body"]}
        with vcr.use_cassette(path, record_mode="all", **opts):
            timed(n, call)
        with vcr.use_cassette(path, record_mode="none", **opts) as c:
            samples = timed(n, call)
            assert c.all_played
    return {f"vcrpy {vcr.__version__} + httpx replay (match_on body)": summary(samples)}


def markdown(results: dict[str, Any]) -> str:
    meta = results["_meta"]
    lines = [
        f"## Replay: {meta['interactions']} recorded calls, matched on method, URL and JSON body",
        "",
        f"Cassette: {meta['cassette_bytes'] / 1e6:.1f} MB of YAML, loaded in {meta['cassette_load_ms']:.0f} ms.",
        "",
        "| | mean µs/call | p50 µs | p99 µs | calls |",
        "|---|---:|---:|---:|---:|",
    ]
    notes = []
    for name, r in results.items():
        if name.startswith("vcrpy") and r["calls"] != meta["interactions"]:
            notes.append(f"\nvcrpy replayed a cassette of {r['calls']} calls: it compares each request with every "
                         "recorded one, so its time per call grows with the cassette; llmrail's does not.")
        if not name.startswith("_"):
            lines.append(f"| {name} | {r['mean_us']:,.0f} | {r['p50_us']:,.0f} | {r['p99_us']:,.0f} | {r['calls']} |")
    return "\n".join(lines + notes) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1000, help="recorded calls to replay (default 1000)")
    parser.add_argument(
        "--vcrpy-n", type=int, default=200,
        help="calls (and cassette size) for the vcrpy comparison; 0 skips it. vcrpy compares each request with "
        "every recorded one, so 1000 takes minutes",
    )
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "bench-results")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="llmrail-replay-bench-") as d:
        print(f"recording and replaying {args.n} calls ...", file=sys.stderr, flush=True)
        results = llmrail_runs(Path(d), args.n)
        if args.vcrpy_n:
            print(f"vcrpy: {args.vcrpy_n} calls ...", file=sys.stderr, flush=True)
            results.update(vcrpy_runs(Path(d), args.vcrpy_n) or {})
    md = markdown(results)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "replay.md").write_text(md)
    (args.out / "replay.json").write_text(json.dumps(results, indent=2) + "\n")
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
