"""What ``job.wait(progress=True)`` shows: a tqdm bar when tqdm is installed, else one line on
stderr rewritten in place. Display only: the core polls and counts, and calls ``update`` after
each poll and ``close`` once the wait is over (answered, failed, timed out or cancelled).
"""

from __future__ import annotations

import sys
import time
from typing import Any


class Progress:
    """The display of one wait on job ``job_id`` of ``total`` items."""

    def __init__(self, job_id: str, total: int) -> None:
        self.job_id = job_id
        self.total = total
        self.started = time.monotonic()
        self.bar: Any = None
        self.width = 0
        try:
            from tqdm import tqdm  # type: ignore[import-untyped, import-not-found, unused-ignore]
        except ImportError:
            return
        self.bar = tqdm(total=total, desc=job_id, unit="item", file=sys.stderr, dynamic_ncols=True)

    def update(self, status: str, counts: dict[str, int]) -> None:
        done = self.total - counts["pending"]
        failed = counts["errored"] + counts["cancelled"] + counts["expired"]
        if self.bar is not None:
            self.bar.set_postfix_str(f"{status}, {failed} failed", refresh=False)
            self.bar.update(done - self.bar.n)
            self.bar.refresh()
            return
        elapsed = time.monotonic() - self.started
        line = (
            f"{self.job_id} {status}: {done}/{self.total} items ({self._percent(done)}), "
            f"{counts['succeeded']} succeeded, {failed} failed, {elapsed:.0f} s"
        )
        # Padded to the last line's width, so a shorter line leaves nothing of the longer one.
        sys.stderr.write("\r" + line.ljust(self.width))
        sys.stderr.flush()
        self.width = len(line)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        elif self.width:
            sys.stderr.write("\n")
            sys.stderr.flush()

    def _percent(self, done: int) -> str:
        return f"{100 * done // self.total if self.total else 100} %"
