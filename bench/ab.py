"""A/B of two builds of llmrail on one mock server: interleaved rounds, client CPU per call.

    .venv/bin/python bench/ab.py DIR_A DIR_B [--modes astream,sstream,achat,schat,asdk,ssdk,conc256]
                                 [--rounds 7] [--n 300] [--ref]

Each DIR holds an installed ``llmrail`` package (a copy of site-packages/llmrail); ``-`` is the
one installed in this interpreter. Every round runs each build in a fresh child process (A then
B, then B then A the next round), which times ``n`` calls or 50-chunk streams after a warm-up
and reports its own CPU time (time.process_time: all its threads) per call and the wall p50.
``asdk``/``ssdk``: chat calls of the openai SDK's async/sync client over llmrail.httpx2;
``asdkstream``/``ssdkstream``: its 50-chunk streams.
``concN`` (``conc256``): ``n`` chat calls with N in flight on one event loop (bench/peers.py's
loop, after 2N untimed ones); its ``p50_us`` row is then the throughput, calls per second, and
``--ref`` runs the reference client on one thread with N in flight.
``--ref`` adds the reference Rust client (bench/reference.py) to each round. Prints the median
and spread (lowest, highest round) of each figure and of the ratios B/A and X/ref, round by round.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

CHILD = r"""
import asyncio, json, sys, time
sys.path.insert(0, {bench!r})
import llmrail
MSG = [{{"role": "user", "content": "Explain, in about three hundred words, why connection pooling matters."}}]
mode, n, url = {mode!r}, {n}, {url!r}
c = llmrail.Client("openai/gpt-4.1-mini", base_url=url, api_key="sk-bench", timeout=60)
lat = []
def timed(one, count, keep):
    for _ in range(count):
        t = time.perf_counter_ns(); one(); d = time.perf_counter_ns() - t
        if keep: lat.append(d)
if mode in ("asdk", "asdkstream"):
    import openai, llmrail.httpx2
    sdk = openai.AsyncOpenAI(base_url=url, api_key="sk-bench", http_client=llmrail.httpx2.AsyncClient(timeout=60))
elif mode in ("ssdk", "ssdkstream"):
    import openai, llmrail.httpx2
    sdk = openai.OpenAI(base_url=url, api_key="sk-bench", http_client=llmrail.httpx2.Client(timeout=60))
if mode.startswith("conc"):
    import peers
    async def one():
        return (await c.chat(MSG, max_tokens=600)).text
    level = int(mode[4:])
    r = asyncio.run(peers.concurrent(one, n, level))
    assert not r["errors"], r["first_error"]
    print(json.dumps({{"cpu_us": r["cpu_us"], "p50_us": r["calls_per_s"]}}))
    sys.exit(0)
elif mode.startswith("a"):
    async def main():
        if mode == "asdk":
            async def one():
                r = await sdk.chat.completions.create(model="gpt-4.1-mini", messages=MSG, max_tokens=600)
                return r.choices[0].message.content
        elif mode == "asdkstream":
            async def one():
                s = await sdk.chat.completions.create(model="gpt-4.1-mini", messages=MSG, max_tokens=600, stream=True)
                return "".join([c.choices[0].delta.content or "" async for c in s if c.choices])
        elif mode == "astream":
            async def one():
                return "".join([ev.text async for ev in c.stream(MSG, max_tokens=600)])
        else:
            async def one():
                return (await c.chat(MSG, max_tokens=600)).text
        for _ in range(max(n // 5, 20)):
            await one()
        p0 = time.process_time()
        for _ in range(n):
            t = time.perf_counter_ns(); await one(); lat.append(time.perf_counter_ns() - t)
        return time.process_time() - p0
    cpu = asyncio.run(main())
else:
    if mode == "ssdk":
        one = lambda: sdk.chat.completions.create(model="gpt-4.1-mini", messages=MSG, max_tokens=600)
    elif mode == "ssdkstream":
        def one():
            s = sdk.chat.completions.create(model="gpt-4.1-mini", messages=MSG, max_tokens=600, stream=True)
            return "".join([c.choices[0].delta.content or "" for c in s if c.choices])
    elif mode == "sstream":
        one = lambda: "".join(ev.text for ev in c.stream(MSG, max_tokens=600))
    else:
        one = lambda: c.chat_sync(MSG, max_tokens=600).text
    timed(one, max(n // 5, 20), False)
    p0 = time.process_time()
    timed(one, n, True)
    cpu = time.process_time() - p0
lat.sort()
print(json.dumps({{"cpu_us": cpu / n * 1e6, "p50_us": lat[len(lat) // 2] / 1e3}}))
"""


def child(py_dir: str, mode: str, n: int, url: str) -> dict[str, float]:
    env = dict(os.environ)
    if py_dir != "-":
        env["PYTHONPATH"] = py_dir
    code = CHILD.format(bench=str(HERE), mode=mode, n=n, url=url)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(out.stderr)
    return json.loads(out.stdout.strip().splitlines()[-1])


def ref_run(root: str, mode: str, n: int) -> dict[str, float]:
    import reference

    if mode.startswith("conc"):
        level = int(mode[4:])
        r = reference.concurrent(root, n, level, 2 * level)
        return {"cpu_us": r["cpu_us"], "p50_us": r["calls_per_s"]}
    r = reference.sequential(root, n, max(n // 5, 20), stream="stream" in mode)
    return {"cpu_us": r["cpu_us"], "p50_us": r["p50_us"]}


def spread(xs: list[float], digits: int = 1) -> str:
    return f"{statistics.median(xs):8.{digits}f} ({min(xs):.{digits}f}-{max(xs):.{digits}f})"


def main() -> int:
    from server import MockServerProcess

    p = argparse.ArgumentParser()
    p.add_argument("a")
    p.add_argument("b")
    p.add_argument("--modes", default="astream,sstream")
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--n", type=int, default=300)
    p.add_argument("--ref", action="store_true")
    args = p.parse_args()
    with MockServerProcess() as srv:
        for mode in args.modes.split(","):
            got: dict[str, list[dict[str, float]]] = {"A": [], "B": [], "ref": []}
            t0 = time.perf_counter()
            for r in range(args.rounds):
                order = [("A", args.a), ("B", args.b)]
                if r % 2:
                    order.reverse()
                for name, d in order:
                    got[name].append(child(d, mode, args.n, srv.base_url))
                if args.ref:
                    got["ref"].append(ref_run(srv.url, mode, args.n))
            print(
                f"== {mode}: {args.rounds} rounds of {args.n} ({time.perf_counter() - t0:.0f} s), "
                f"load {os.getloadavg()[0]:.1f}"
            )
            for key in ("cpu_us", "p50_us"):
                for name in ("A", "B", "ref"):
                    if got[name]:
                        print(f"  {name:3} {key}: {spread([g[key] for g in got[name]])}")
                ratio = [b[key] / a[key] for a, b in zip(got["A"], got["B"], strict=True)]
                print(f"  B/A {key}: {spread(ratio, 2)}")
                if got["ref"]:
                    for name in ("A", "B"):
                        rr = [x[key] / y[key] for x, y in zip(got[name], got["ref"], strict=True)]
                        print(f"  {name}/ref {key}: {spread(rr, 2)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
