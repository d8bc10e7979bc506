"""Where a sequential async call's client CPU goes, by stage, from a ``perf record`` profile.

    .venv/bin/python bench/profile_stages.py [--calls 20000] [--sync] [--stream]     # needs perf (linux-perf)

Runs N sequential ``await client.chat(...)`` calls (``client.chat_sync(...)`` with ``--sync``;
N 50-chunk streams read with ``async for`` with ``--stream``, with ``for`` with both)
to bench/server.py's mock server under ``perf record -g``, keeps the samples of the client
process (all its threads, the server's are left out), and gives each sample to the first stage
(in the order below) that any frame of its call chain matches. Frame-pointer chains through
Rust frames built without frame pointers are cut short, so a stage is a lower bound and
"transport" takes the kernel's socket work too.
"""

from __future__ import annotations

import argparse
import bisect
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
STREAM_STAGES = [  # fmt: skip
    ("SSE parsing (framing, event limit)", r"sse_stream|SseByteStream|EventLimit|llmrail::providers::sse"),
    ("per-chunk decoding into events", r"serde_json::de|deserialize|llmrail::providers::.*(decode|event|delta|chunk)"),
    ("usage and cost accounting at the end", r"llmrail::(model::cost|catalog|cache::)|cost_usd"),
    ("building the Python event objects",
     r"llmrail::py::(types|stream)|PyStreamEvent|into_pyobject|PyUnicode_New|PyUnicode_From|PyType_GenericAlloc"
     r"|StopIteration|err_state"),
    ("await bridge (channel, wake-ups, loop wake, futex)",
     r"llmrail::py::bridge|loop_wake|tokio::sync::mpsc|chat_stream|eventfd|futex|Waker::wake|unpark|park|yield_now"
     r"|unix_stream"),  # the loop's wake-up socket pair
    ("pipeline (retry, breaker, telemetry, pump)", r"llmrail::(client|resilience|telemetry)"),
    ("allocator (mimalloc, page faults)", r"\b_?mi_|clear_page"),
    ("transport (reqwest, hyper, tokio, kernel TCP)",
     r"hyper|reqwest|mio::|tokio::|http::|url::|tcp_|sock_|epoll|ip_|transport"),
    ("Python interpreter (asyncio loop, the loop timing the calls)", r"libpython|_PyEval|PyObject_|python3"),
]
HEADER = re.compile(r"^\s*\d+/\d+\s*$")
"""A sample's first line in ``perf script -F pid,tid,...``: ``pid/tid``, right-aligned (so a
small pid starts with spaces, as a frame line does)."""
GENERIC = ("allocator", "transport", "Python interpreter")
"""Stream stages matched after the others (a stream's samples go to the innermost frame a
specific stage names: the pump and the bridge are ancestors of most of the work)."""
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
async def streams(url, n):
    c = llmrail.Client("openai/gpt-4.1-mini", base_url=url, api_key="sk-bench", timeout=60)
    for i in range(100 + n):
        "".join([ev.text async for ev in c.stream(MSG, max_tokens=600)])
def streams_sync(url, n):
    c = llmrail.Client("openai/gpt-4.1-mini", base_url=url, api_key="sk-bench", timeout=60)
    for i in range(100 + n):
        "".join(ev.text for ev in c.stream(MSG, max_tokens=600))
with MockServerProcess() as srv:
    if {stream} and {sync}:
        streams_sync(srv.base_url, {calls})
    elif {stream}:
        asyncio.run(streams(srv.base_url, {calls}))
    elif {sync}:
        main_sync(srv.base_url, {calls})
    else:
        asyncio.run(main(srv.base_url, {calls}))
"""


def stages(script: str, pid: str, table: list[tuple[str, str]] = STAGES) -> collections.Counter[str]:
    rules = [(name, re.compile(p)) for name, p in table]
    count: collections.Counter[str] = collections.Counter()
    chain: list[str] = []
    owner = None

    def stage_of(frames: list[str]) -> str | None:
        for f in frames:  # leaf first: the innermost frame a rule names decides
            for n, rx in rules:
                if not n.startswith(GENERIC) and rx.search(f):
                    return n
        return None

    def flush() -> None:
        if owner == pid:
            named = stage_of(chain) if table is STREAM_STAGES else None
            first = next((n for n, rx in rules if any(rx.search(f) for f in chain)), "other (scheduler, libc)")
            count[named or first] += 1

    for line in script.splitlines():
        if HEADER.match(line):
            flush()
            owner, chain = line.split("/")[0].strip(), []
        elif line.strip():
            chain.append(line.strip())
    flush()
    return count


def symbolized(script: str) -> str:
    """``script`` with the extension module's frames named. Some perf builds leave them as
    ``[unknown]`` (the wheel's .so is found by path, yet its build id is "not found"); perf then
    prints the file offset, which the executable segment's vaddr - offset turns into an address
    that ``nm`` names."""
    so = next((m.group(1) for m in re.finditer(r"\((/\S+_core[^)]*\.so)\)", script)), None)
    if so is None:
        return script
    segs = subprocess.run(["readelf", "-lW", so], capture_output=True, text=True).stdout
    load = next((line.split() for line in segs.splitlines() if "LOAD" in line and " R E " in line), None)
    shift = int(load[2], 16) - int(load[1], 16) if load else 0
    table = []
    for line in subprocess.run(["nm", "-C", "--defined-only", so], capture_output=True, text=True).stdout.splitlines():
        parts = line.split(" ", 2)
        if len(parts) == 3 and parts[1] in "tTwW":
            table.append((int(parts[0], 16), parts[2]))
    table.sort()
    starts = [a for a, _ in table]

    def name(m: re.Match[str]) -> str:
        i = bisect.bisect_right(starts, int(m.group(1), 16) + shift) - 1
        return f"{m.group(1)} {table[i][1] if i >= 0 else '[unknown]'} ({so})"

    return re.sub(r"([0-9a-f]+) \[unknown\] \(" + re.escape(so) + r"\)", name, script)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--sync", action="store_true", help="profile chat_sync instead of await chat")
    parser.add_argument("--stream", action="store_true", help="50-chunk streams (--calls of them) instead of calls")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="llmrail-profile-") as d:
        data = Path(d) / "perf.data"
        bench = str(Path(__file__).resolve().parent)
        child = CHILD.format(bench=bench, calls=args.calls, sync=args.sync, stream=args.stream)
        t0 = time.perf_counter()
        proc = subprocess.Popen(["perf", "record", "-q", "-F", "1999", "-g", "-o", str(data), "--",
                                 sys.executable, "-c", child])  # fmt: skip
        if proc.wait() != 0:
            raise SystemExit("perf record failed (is perf installed, and perf_event_paranoid <= 2?)")
        wall = time.perf_counter() - t0
        out = subprocess.run(["perf", "script", "-i", str(data), "-F", "pid,tid,ip,sym,dso"],
                             capture_output=True, text=True, check=True).stdout  # fmt: skip
    out = symbolized(out)
    first = next(line for line in out.splitlines() if HEADER.match(line))
    # the first sample is the client's start-up
    count = stages(out, first.split("/")[0].strip(), STREAM_STAGES if args.stream else STAGES)
    total = sum(count.values())
    what = "streams (+100 warm-up)" if args.stream else "calls (+500 warm-up)"
    print(f"{total} client samples over {args.calls} {what}, {wall:.0f} s under perf\n")
    print("| stage | share of client CPU |\n|---|---:|")
    for name, n in count.most_common():
        print(f"| {name} | {n / total:.1%} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
