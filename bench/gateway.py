"""``make bench``, the gateway (``llmrail serve``): what it adds over a direct call to the mock
server, and LiteLLM's proxy in front of the same mock server in the same run.

    .venv/bin/python bench/gateway.py [--quick] [--rounds 3] [--seconds 8] [--out bench-results]

Four targets, all answering ``POST /v1/chat/completions`` for the model ``gpt-4o-mini``: the mock
server itself (bench/server.py, its own process); in front of it, ``python -m llmrail serve`` (its
own process, a config with that one virtual model and one key; its access log on, as the command
line has it), the same gateway started by ``llmrail.serve(...)`` in a process that configured no
Python logging (no access records: each is otherwise pushed to a thread of its own that hands
them to Python's ``logging`` a batch per hold of the GIL), and ``litellm --config`` (its own
process and its own venv, see below). Each round measures every target in turn, so a busy
machine slows them alike:

- saturation: ``--concurrency`` callers, each sending its next request when its answer is in
  (closed loop), for ``--seconds``: calls per second;
- 500 and 2,000 requests/s at a fixed arrival rate (open loop: a send never waits for an earlier
  answer) for ``--seconds``: p50 and p99 latency. A target whose saturation throughput in the
  same round is below 1.25x the rate is not driven at it (its queue would only grow) and shows
  as "over capacity".

Added latency is a target's percentile minus the direct call's, per round; the table shows the
median over rounds with the spread (lowest-highest round). The load comes from bench/loadgen, a
small Rust client (the reference client's reqwest, pooled keep-alive; built outside the project
tree like bench/reference.py builds the reference) at ~40 µs of CPU per call, so the Python that
starts the run is never the bottleneck; its own CPU per call is in the JSON.

LiteLLM's proxy lives in a venv of its own (``$XDG_CACHE_HOME/llmrail-bench/litellm-venv``, from
bench/requirements-litellm.txt, made on first use), not in .venv: its ``proxy`` extra pins
exact versions of a few dozen packages (and names one, ``litellm-proxy``, that the registry does
not have, so ``litellm[proxy]`` itself does not resolve), and the tests must not run against
whatever versions of openai, pydantic or httpx it would pull in. It runs with as many uvicorn
workers as the machine has cores (LiteLLM's own production advice), so it is not held to one.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import reference
from server import MockServerProcess

BENCH = Path(__file__).resolve().parent
LOADGEN_SOURCE = BENCH / "loadgen"
LITELLM_REQUIREMENTS = BENCH / "requirements-litellm.txt"
MODEL = "gpt-4o-mini"
# Both gateways check a caller's key (LiteLLM's proxy refuses to start without one); the mock
# server takes any.
KEY = "sk-bench-" + "5f" * 24
RATES = (500, 2000)
GOAL_P99_ADDED_US = 1000
GOAL_RATIO = 10.0
QUIET = "llmrail.serve(), no access log"


def cache() -> Path:
    return reference.cache_dir().parent


# ---- the load generator ------------------------------------------------------------------------


def loadgen_binary() -> Path:
    return cache() / "loadgen" / "target" / "release" / "loadgen"


def build_loadgen() -> None:
    """Copy bench/loadgen out of the project tree (so the project's cargo never sees a second
    package) and build it there; redone only when its sources change."""
    dest = cache() / "loadgen"
    stamp = dest / ".source-digest"
    digest = reference._digest(LOADGEN_SOURCE)
    if stamp.exists() and stamp.read_text() == digest and loadgen_binary().exists():
        return
    if (dest / "src").exists():
        shutil.rmtree(dest / "src")
    shutil.copytree(LOADGEN_SOURCE, dest, dirs_exist_ok=True, ignore=shutil.ignore_patterns("target"))
    print(f"building the load generator in {dest} ...", file=sys.stderr, flush=True)
    env = {**os.environ, "CARGO_TARGET_DIR": str(dest / "target")}
    cmd = ["cargo", "build", "--release", "--quiet", "--manifest-path", str(dest / "Cargo.toml")]
    if subprocess.run(cmd, cwd=dest, env=env).returncode != 0:
        raise SystemExit(f"cargo build of the load generator failed (in {dest})")
    stamp.write_text(digest)


def load(url: str, *args: str) -> dict[str, Any]:
    cmd = [str(loadgen_binary()), "--url", f"{url}/v1/chat/completions", "--model", MODEL, "--key", KEY, *args]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    if result["errors"] or not result["calls"]:
        raise SystemExit(f"{result['errors']} of the calls to {url} failed: {result.get('first_error')}")
    return result


# ---- the servers ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_until_up(url: str, proc: subprocess.Popen[Any], seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{url}: the server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"{url} did not come up within {seconds:.0f} s")


@contextmanager
def process(cmd: list[str], health: str, env: dict[str, str] | None = None) -> Iterator[None]:
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        wait_until_up(health, proc)
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def gateway(mock_base_url: str, tmp: Path, access_log: bool) -> Iterator[str]:
    """``python -m llmrail serve`` as a user starts it (its access log on: one record per request
    handed to Python's ``logging``, here to a discarded stderr), or ``llmrail.serve(...)`` in a
    process that configured no logging (the access records are not made)."""
    cfg = tmp / "llmrail.yaml"
    cfg.write_text(
        f"models:\n  {MODEL}:\n    model: openai/{MODEL}\n    base_url: {mock_base_url}\n    api_key: sk-mock\n"
        f"keys:\n  - name: bench\n    key: {KEY}\n"
    )
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "llmrail", "serve", "--config", str(cfg), "--port", str(port)]
    if not access_log:
        cmd = [sys.executable, "-c", f"import llmrail; llmrail.serve({str(cfg)!r}, port={port})"]
    with process(cmd, f"{url}/healthz"):
        yield url


def litellm_venv() -> Path:
    venv = cache() / "litellm-venv"
    stamp = venv / ".requirements"
    wanted = LITELLM_REQUIREMENTS.read_text()
    if not (stamp.exists() and stamp.read_text() == wanted):
        print(f"installing LiteLLM's proxy into {venv} ...", file=sys.stderr, flush=True)
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet"]
        subprocess.run([*pip, "-r", str(LITELLM_REQUIREMENTS)], check=True)
        stamp.write_text(wanted)
    return venv


@contextmanager
def litellm(mock_base_url: str, tmp: Path, workers: int) -> Iterator[str]:
    venv = litellm_venv()
    cfg = tmp / "litellm.yaml"
    cfg.write_text(
        "model_list:\n"
        f"  - model_name: {MODEL}\n"
        "    litellm_params:\n"
        f"      model: openai/{MODEL}\n"
        f"      api_base: {mock_base_url}\n"
        "      api_key: sk-mock\n"
        "general_settings:\n"
        f"  master_key: {KEY}\n"
        "litellm_settings:\n"
        "  telemetry: false\n"
    )
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    # Its cost map from the package, not the network; no usage telemetry.
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_LOG": "ERROR"}
    cmd = [str(venv / "bin" / "litellm"), "--config", str(cfg), "--host", "127.0.0.1", "--port", str(port),
           "--num_workers", str(workers)]
    with process(cmd, f"{url}/health/liveliness", env):
        yield url


# ---- the run ----------------------------------------------------------------------------------


def round_of(targets: dict[str, str], seconds: float, warmup: float, concurrency: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, url in targets.items():
        sat = load(url, "--mode", "closed", "--concurrency", str(concurrency), "--seconds", str(seconds),
                   "--warmup-seconds", str(warmup))
        row: dict[str, Any] = {"saturation": sat}
        for rate in RATES:
            if sat["calls_per_s"] < 1.25 * rate:
                row[str(rate)] = None
                continue
            row[str(rate)] = load(url, "--mode", "open", "--rate", str(rate), "--seconds", str(seconds),
                                  "--warmup-seconds", str(warmup))
        out[name] = row
        print(f"  {name}: {sat['calls_per_s']:.0f} calls/s at saturation; "
              + ", ".join(f"{r}/s p50 {row[str(r)]['p50_us']} p99 {row[str(r)]['p99_us']} µs"
                          for r in RATES if row[str(r)]), file=sys.stderr, flush=True)
    return out


def spread(xs: list[float], fmt: str) -> str:
    if not xs:
        return "over capacity"
    return f"{statistics.median(xs):{fmt}} ({min(xs):{fmt}}-{max(xs):{fmt}})"


def table(rounds: list[dict[str, Any]], args: argparse.Namespace, load_before: str) -> list[str]:
    names = list(rounds[0])
    lines = [
        f"gateway: POST /v1/chat/completions, non-streamed, zero-latency mock server; {len(rounds)} rounds of "
        f"{args.seconds:.0f} s per measurement (median, lowest-highest round); saturation at "
        f"{args.concurrency} in flight; {os.cpu_count()} cores, {platform.python_version()}; "
        f"load average before: {load_before}",
        "",
        "| target | calls/s at saturation | p50 at 500/s (µs) | p99 at 500/s (µs) | p50 at 2,000/s (µs) "
        "| p99 at 2,000/s (µs) | added p50 / p99 at 500/s (µs) | added p50 / p99 at 2,000/s (µs) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name in names:
        cells = [spread([r[name]["saturation"]["calls_per_s"] for r in rounds], ".0f")]
        for rate in RATES:
            runs = [r[name][str(rate)] for r in rounds if r[name][str(rate)]]
            cells += [spread([x["p50_us"] for x in runs], ".0f"), spread([x["p99_us"] for x in runs], ".0f")]
        for rate in RATES:
            pairs = [(r[name][str(rate)], r["direct"][str(rate)]) for r in rounds
                     if r[name][str(rate)] and r["direct"][str(rate)]]
            if name == "direct":
                cells.append("-")
            elif not pairs:
                cells.append("over capacity")
            else:
                p50 = statistics.median(t["p50_us"] - d["p50_us"] for t, d in pairs)
                p99 = [t["p99_us"] - d["p99_us"] for t, d in pairs]
                cells.append(f"{p50:.0f} / {spread(p99, '.0f')}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += [""]
    for gw in ("llmrail serve", QUIET):
        ratios = [r[gw]["saturation"]["calls_per_s"] / r["LiteLLM proxy"]["saturation"]["calls_per_s"]
                  for r in rounds if "LiteLLM proxy" in r]
        added = [r[gw]["500"]["p99_us"] - r["direct"]["500"]["p99_us"]
                 for r in rounds if r[gw]["500"] and r["direct"]["500"]]
        if added:
            ok = statistics.median(added) < GOAL_P99_ADDED_US
            lines.append(f"{gw}, p99 added latency at 500/s: {spread(added, '.0f')} µs "
                         f"(goal: under {GOAL_P99_ADDED_US} µs: {'met' if ok else 'MISSED'})")
        if ratios:
            ok = statistics.median(ratios) >= GOAL_RATIO
            lines.append(f"{gw} / LiteLLM proxy throughput, same round: {spread(ratios, '.1f')}x "
                         f"(goal: {GOAL_RATIO:.0f}x: {'met' if ok else 'MISSED'})")
    busy = float(load_before.split(",")[0])
    if busy > (os.cpu_count() or 1):
        lines.append(f"the machine was busy (load average {busy:.1f} on {os.cpu_count()} cores before the run): the "
                     "latency percentiles measure its scheduler more than the gateway, and a goal read off them "
                     "(either way) does not hold; rerun on a quiet machine")
    gen = [x["cpu_us_per_call"] for r in rounds for t in r.values() for x in [t["saturation"]]]
    lines.append(f"load generator CPU per call (bench/loadgen): {spread(gen, '.0f')} µs")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="1 round of 3 s, for a smoke run")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--warmup", type=float, default=1.0)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--litellm-workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--no-litellm", action="store_true", help="the gateway against the direct call only")
    ap.add_argument("--out", default="bench-results")
    args = ap.parse_args()
    if args.quick:
        args.rounds, args.seconds = 1, 3.0
    build_loadgen()
    uptime = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    load_before = re.sub(r".*load average: ", "", uptime)
    rounds: list[dict[str, Any]] = []
    with MockServerProcess() as srv, tempfile.TemporaryDirectory() as tmp:
        with gateway(srv.base_url, Path(tmp), access_log=True) as gw_url, gateway(
            srv.base_url, Path(tmp), access_log=False
        ) as quiet_url, contextmanager_or_none(
            not args.no_litellm, lambda: litellm(srv.base_url, Path(tmp), args.litellm_workers)
        ) as ll_url:
            targets = {"direct": srv.url, "llmrail serve": gw_url, QUIET: quiet_url}
            if ll_url:
                targets["LiteLLM proxy"] = ll_url
            for n in range(args.rounds):
                print(f"round {n + 1}/{args.rounds}", file=sys.stderr, flush=True)
                rounds.append(round_of(targets, args.seconds, args.warmup, args.concurrency))
    lines = table(rounds, args, load_before)
    print("\n".join(lines))
    out = Path(args.out)
    out.mkdir(exist_ok=True)
    (out / "gateway.md").write_text("\n".join(lines) + "\n")
    (out / "gateway.json").write_text(json.dumps({"load_before": load_before, "rounds": rounds}, indent=2))


@contextmanager
def contextmanager_or_none(enabled: bool, make: Any) -> Iterator[Any]:
    if not enabled:
        yield None
        return
    with make() as value:
        yield value


if __name__ == "__main__":
    main()
