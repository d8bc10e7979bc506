"""The reference peer: the tuned plain-Rust client (and its own mock server) of
``../shared/bench-reference``, built outside the project tree and run as a subprocess.

The sources are copied into ``$XDG_CACHE_HOME/llmrail-bench/reference`` (``~/.cache`` by
default; ``LLMRAIL_BENCH_REFERENCE`` names another source folder) and built there with
``cargo build --release`` and a target dir of their own, so the project's cargo never sees them
and the build is kept between runs: it is redone only when the sources change.

The client runs against the same mock server as every other peer (bench/server.py): it appends
``/v1/chat/completions`` to the server's root URL, and decodes the answer into typed structs, so
a server that did not speak its API would show up as errors, which fail the run.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
# The workplace keeps it beside the project's checkout, or beside the folder of worktrees.
_BESIDE = [up / "shared" / "bench-reference" for up in (REPO.parent, REPO.parent.parent)]
SOURCE = Path(os.environ.get("LLMRAIL_BENCH_REFERENCE") or next((p for p in _BESIDE if p.is_dir()), _BESIDE[0]))
CRATES = ("rustclient", "mockserver")
NAME = "Rust reference (tuned)"
"""Its row name in every table."""


def cache_dir() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "llmrail-bench" / "reference"


def _digest(folder: Path) -> str:
    h = hashlib.sha256()
    for f in sorted(p for p in folder.rglob("*") if p.is_file() and "target" not in p.parts):
        h.update(str(f.relative_to(folder)).encode() + b"\0" + f.read_bytes())
    return h.hexdigest()


def binary(crate: str) -> Path:
    return cache_dir() / crate / "target" / "release" / crate


def build(source: Path = SOURCE) -> None:
    """Copy the sources (when they changed) and build both binaries; raises SystemExit with the
    reason when it cannot, since every goal row is a ratio against this client."""
    if not (source / "rustclient" / "Cargo.toml").exists():
        raise SystemExit(f"the reference client's sources are not at {source} (set LLMRAIL_BENCH_REFERENCE)")
    dest = cache_dir()
    for crate in CRATES:
        src, dst = source / crate, dest / crate
        stamp = dst / ".source-digest"
        digest = _digest(src)
        if not (stamp.exists() and stamp.read_text() == digest and binary(crate).exists()):
            if (dst / "src").exists():
                shutil.rmtree(dst / "src")  # the target dir stays: an incremental rebuild
            shutil.copytree(src, dst, dirs_exist_ok=True, ignore=shutil.ignore_patterns("target"))
            for p in dst.rglob("*"):  # the shared copy is read-only; cargo writes Cargo.lock
                p.chmod(p.stat().st_mode | 0o200)
            dst.chmod(dst.stat().st_mode | 0o200)
            print(f"building the reference {crate} in {dst} ...", file=sys.stderr, flush=True)
            env = {**os.environ, "CARGO_TARGET_DIR": str(dst / "target")}
            cmd = ["cargo", "build", "--release", "--quiet", "--manifest-path", str(dst / "Cargo.toml")]
            if subprocess.run(cmd, cwd=dst, env=env).returncode != 0:
                raise SystemExit(f"cargo build of the reference {crate} failed (in {dst})")
            stamp.write_text(digest)


def run(root_url: str, *args: str) -> dict[str, Any]:
    """One run of the reference client; its JSON line with ``cpu_us`` (per call, over the timed
    calls only: the client measures its own CPU around them) added. ``root_url`` is the server's
    URL without ``/v1``."""
    cmd = [str(binary("rustclient")), "--url", root_url, "--api", "openai", "--max-seconds", "60", *args]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    if result["errors"] or not result["calls"]:
        raise SystemExit(f"the reference client failed {result['errors']} of its calls against {root_url}: {result}")
    result["cpu_us"] = result["cpu_us_per_call"]
    return result


def sequential(root_url: str, n: int, warmup: int, stream: bool = False) -> dict[str, Any]:
    return run(
        root_url, *(["--stream"] if stream else []), "--mode", "seq", "--n", str(n), "--warmup", str(max(warmup, 1))
    )


def concurrent(root_url: str, total: int, level: int, warmup: int) -> dict[str, Any]:
    """``total`` calls, ``level`` in flight, on a current-thread runtime (``--threads 1``): the
    peer of one asyncio event loop."""
    args = ["--mode", "conc", "--concurrency", str(level), "--total", str(total), "--warmup", str(max(warmup, 1))]
    return run(root_url, *args, "--threads", "1")


class OwnServer:
    """The reference's own mock server (``--port 0``), for the cross-check of how much of a
    difference the server makes."""

    def __init__(self) -> None:
        cmd = [str(binary("mockserver")), "--port", "0", "--max-seconds", "600"]
        self._proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline().strip()
        port = next((w for w in reversed(line.replace(":", " ").split()) if w.isdigit()), None)
        if port is None:
            self._proc.kill()
            raise RuntimeError(f"the reference mock server did not say its port: {line!r}")
        self.url = f"http://127.0.0.1:{port}"

    def __enter__(self) -> OwnServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self._proc.terminate()
        self._proc.wait(timeout=10)
