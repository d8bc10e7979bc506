"""Where the sequential rows run: the client and the mock server pinned to CPUs, every peer alike.

One call at a time over loopback is a ping-pong between two processes, and its latency depends on
where the kernel puts them as much as on their work. On one CPU each hands the CPU to the other;
on two, each answer wakes an idle CPU, which on a VM is an exit to the hypervisor: 2-3x slower on
this 2-core machine for every peer (2026-12-07: the reference's p50 44 µs on one CPU, 90-150 on
two; llmrail's the same). Left to the kernel, the choice differs from process to process and from
one quiet run to the next: one saw the reference at 44 µs and llmrail at 95-101 µs (what each
measures on one CPU and on two), another the reference at 124 µs. So the rows are measured in each
placement, every peer pinned the same way; the goal rows read the one-CPU placement (the work,
without the hypervisor's wake-ups), and the report shows the others beside it.

Pinning covers every thread of this process (the in-process peers; new threads and subprocesses
such as the reference client inherit it) and of the server process.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

ONE_CPU, TWO_CPUS, FREE = "one CPU", "two CPUs", "where the kernel puts them"
PLACEMENTS = (ONE_CPU, TWO_CPUS, FREE)
"""In the order they run; the first one this machine allows is what the goal rows read."""


def _threads(pid: int) -> list[int]:
    try:
        return [int(t) for t in os.listdir(f"/proc/{pid}/task")]
    except OSError:
        return [pid]


def _pin(pid: int, cpus: set[int]) -> None:
    for tid in _threads(pid):
        try:
            os.sched_setaffinity(tid, cpus)
        except ProcessLookupError:
            pass  # a thread that ended meanwhile


def cpus_for(where: str) -> tuple[set[int], set[int]] | None:
    """(client CPUs, server CPUs) for a placement, or None where this machine cannot give it."""
    if not hasattr(os, "sched_setaffinity"):
        return None if where != FREE else (set(), set())
    allowed = sorted(os.sched_getaffinity(0))
    if where == FREE:
        return set(allowed), set(allowed)
    if where == ONE_CPU:
        return {allowed[0]}, {allowed[0]}
    return ({allowed[0]}, {allowed[1]}) if len(allowed) > 1 else None


@contextmanager
def placed(server_pid: int, where: str) -> Iterator[bool]:
    """Runs the block with this process and the server pinned for ``where``; yields False (and
    pins nothing) where the machine cannot give it. Puts every thread back as it found it."""
    cpus = cpus_for(where)
    if cpus is None:
        yield False
        return
    if not cpus[0]:  # no affinity calls on this platform: the kernel's placement only
        yield True
        return
    before = {pid: os.sched_getaffinity(pid) for pid in (os.getpid(), server_pid)}
    _pin(os.getpid(), cpus[0])
    _pin(server_pid, cpus[1])
    try:
        yield True
    finally:
        for pid, mask in before.items():
            _pin(pid, mask)
