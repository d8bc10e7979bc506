"""Where a sequential async call's client CPU goes, by stage, from a ``perf record`` profile.

    .venv/bin/python bench/profile_stages.py [--calls 20000] [--sync]     # needs perf (linux-perf)

Runs N sequential ``await client.chat(...)`` calls (``client.chat_sync(...)`` with ``--sync``)
to bench/server.py's mock server under ``perf record -g``, keeps the samples of the client
process (all its threads, the server's are left out), and gives each sample to the first stage
(in the order below) that any frame of its call chain matches. Frame-pointer chains through
Rust frames built without frame pointers are cut short, so a stage is a lower bound and
"transport" takes the kernel's socket work too.
"""

from __future__ import annotations

import argparse
import collections
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

STAGES = [  # fmt: skip
    ("argument conversion (Python to Rust)",
     r"llmrail::py::(convert|arg|options)|pythonize|FromPyObject|extract_bound"),
    ("building the Python result", r"llmrail::py::types|into_pyobject|IntoPyObject|PyUnicode_New|PyUnicode_From"),
    ("await bridge (wake-ups, loop wake, futex)",
     r"llmrail::py::bridge|loop_wake|eventfd|futex|Waker::wake|unpark|park"),
    ("response decoding", r"serde_json::de|deserialize|parse_chat|parse_response|decode"),
    ("request encoding", r"serde_json::ser|Serialize|build_chat|llmrail::providers::.*(build|encode|body)"),
    ("pipeline (retry, breaker, telemetry, cache, catalogue)",
     r"llmrail::(client|resilience|telemetry|cache|catalog|model)"),
    ("allocator (mimalloc, page faults)", r"\b_?mi_|clear_page"),
    ("transport (reqwest, hyper, tokio, kernel TCP)",
     r"hyper|reqwest|mio::|tokio::|http::|url::|idna|tcp_|sock_|epoll|ip_|transport"),
    ("Python interpreter (asyncio loop, the loop timing the calls)", r"libpython|_PyEval|PyObject_|python3"),
]
CHILD = """
import asyncio, sys
sys.path.insert(0, {bench!r})
import llmrail
from server import MockServerProcess
MSG = [{{"role": "user", "content": "Explain, in about three hundred words, why connection pooling matters."}}]
async def main(url, n):
    c = llmrail.Client("openai/gpt-4.1-mini", base_url=url, api_key="sk-bench", timeout=60)
    for _ in range(500):
        await c.chat(MSG, max_tokens=600)
    for _ in range(n):
        (await c.chat(MSG, max_tokens=600)).text
def main_sync(url, n):
    c = llmrail.Client("openai/gpt-4.1-mini", base_url=url, api_key="sk-bench", timeout=60)
    for _ in range(500):
        c.chat_sync(MSG, max_tokens=600)
    for _ in range(n):
        c.chat_sync(MSG, max_tokens=600).text
with MockServerProcess() as srv:
    if {sync}:
        main_sync(srv.base_url, {calls})
    else:
        asyncio.run(main(srv.base_url, {calls}))
"""


def stages(script: str, pid: str) -> collections.Counter[str]:
    rules = [(name, re.compile(p)) for name, p in STAGES]
    count: collections.Counter[str] = collections.Counter()
    chain: list[str] = []
    owner = None

    def flush() -> None:
        if owner == pid:
            count[next((n for n, rx in rules if any(rx.search(f) for f in chain)), "other (scheduler, libc)")] += 1

    for line in script.splitlines():
        if line.strip() and not line[0].isspace():
            flush()
            owner, chain = line.split("/")[0].strip(), []
        elif line.strip():
            chain.append(line.strip())
    flush()
    return count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--sync", action="store_true", help="profile chat_sync instead of await chat")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="llmrail-profile-") as d:
        data = Path(d) / "perf.data"
        child = CHILD.format(bench=str(Path(__file__).resolve().parent), calls=args.calls, sync=args.sync)
        t0 = time.perf_counter()
        proc = subprocess.Popen(["perf", "record", "-q", "-F", "1999", "-g", "-o", str(data), "--",
                                 sys.executable, "-c", child])  # fmt: skip
        if proc.wait() != 0:
            raise SystemExit("perf record failed (is perf installed, and perf_event_paranoid <= 2?)")
        wall = time.perf_counter() - t0
        out = subprocess.run(["perf", "script", "-i", str(data), "-F", "pid,tid,ip,sym,dso"],
                             capture_output=True, text=True, check=True).stdout  # fmt: skip
    first = next(line for line in out.splitlines() if line.strip() and not line[0].isspace())
    count = stages(out, first.split("/")[0].strip())  # the first sample is the client's start-up
    total = sum(count.values())
    print(f"{total} client samples over {args.calls} calls (+500 warm-up), {wall:.0f} s under perf\n")
    print("| stage | share of client CPU |\n|---|---:|")
    for name, n in count.most_common():
        print(f"| {name} | {n / total:.1%} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
