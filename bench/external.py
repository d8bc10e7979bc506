"""What runs in other processes: the plain Rust reqwest client and fresh-interpreter imports."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RUST_BIN = Path(os.environ.get("CARGO_TARGET_DIR") or ROOT / "target", "release", "examples", "bench_reqwest")


def build_rust() -> str | None:
    """Build the example; the crate is built with it, so a broken tree keeps an older binary
    usable (returns a warning then)."""
    cmd = ["cargo", "build", "--release", "--example", "bench_reqwest", "--quiet"]
    if subprocess.run(cmd, cwd=ROOT).returncode == 0:
        return None
    if not RUST_BIN.exists():
        raise SystemExit("cargo build of examples/bench_reqwest.rs failed")
    return f"cargo build failed: using the existing {RUST_BIN}"


def _children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def rust(base_url: str, mode: str, n: int, concurrency: int, warmup: int) -> dict[str, Any]:
    """One run of examples/bench_reqwest.rs; CPU per call includes its warm-up and start-up."""
    cpu0 = _children_cpu()
    cmd = [str(RUST_BIN), base_url, mode, str(n), str(concurrency), str(warmup)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    result["cpu_us"] = (_children_cpu() - cpu0) / (n + warmup) * 1e6
    if out.stderr.strip():
        result["first_error"] = out.stderr.strip().splitlines()[0]
    return result


def rust_sequential(base_url: str, n: int, warmup: int) -> tuple[list[int], float]:
    """A sequential run's latencies (ns) and the CPU it cost, shared out over its calls and
    warm-up (start-up included), for pooling with other runs."""
    result = rust(base_url, "seq", n, 1, warmup)
    if result.get("first_error"):
        raise SystemExit(f"bench_reqwest: {result['first_error']}")
    lat: list[int] = result["lat_ns"]
    return lat, result["cpu_us"] * len(lat) / 1e6


def _wall(code: str) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True)
    return time.perf_counter() - t0


def import_times(repeat: int = 5) -> dict[str, float]:
    """Min wall time of a fresh interpreter importing each module (ms), and llmrail's own
    cumulative time from ``-X importtime``."""
    out = {
        name: min(_wall(code) for _ in range(repeat)) * 1e3
        for name, code in [("python_ms", "pass"), ("llmrail_ms", "import llmrail"), ("openai_ms", "import openai")]
    }
    cumulative = []
    for _ in range(repeat):
        err = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", "import llmrail"],
            check=True,
            capture_output=True,
            text=True,
        ).stderr
        for line in err.splitlines():
            cols = line.split("|")
            if len(cols) == 3 and cols[2].strip() == "llmrail":
                cumulative.append(int(cols[1]) / 1e3)
    out["llmrail_importtime_ms"] = min(cumulative) if cumulative else float("nan")
    return out
