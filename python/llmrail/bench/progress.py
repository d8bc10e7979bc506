"""The progress bar while a benchmark runs: tqdm's when it is installed, else one plain line."""

from __future__ import annotations

import sys
import time
from typing import Protocol, TextIO


class Progress(Protocol):
    def update(self, failed: bool) -> None: ...
    def close(self) -> None: ...


class Silent:
    def update(self, failed: bool) -> None:
        pass

    def close(self) -> None:
        pass


class PlainLine:
    """``model  37/200 requests, 2 failed``: on a terminal rewritten in place at most ten times a
    second; into a file or pipe (a CI log) a new line at each quarter, so the log stays short."""

    def __init__(self, label: str, total: int, out: TextIO) -> None:
        self._label, self._total, self._out = label, total, out
        self._done = self._failed = 0
        self._shown = 0.0
        self._tty = out.isatty()

    def update(self, failed: bool) -> None:
        self._done += 1
        self._failed += failed
        if self._tty:
            now = time.monotonic()
            if now - self._shown >= 0.1:
                self._shown = now
                self._draw("\r", "")
        elif self._done < self._total and self._done * 4 // self._total > (self._done - 1) * 4 // self._total:
            self._draw("", "\n")

    def _draw(self, start: str, end: str) -> None:
        self._out.write(f"{start}{self._label}  {self._done}/{self._total} requests, {self._failed} failed{end}")
        self._out.flush()

    def close(self) -> None:
        self._draw("\r" if self._tty else "", "\n")


class Tqdm:
    def __init__(self, label: str, total: int, out: TextIO) -> None:
        from tqdm import tqdm  # type: ignore[import-untyped,import-not-found,unused-ignore]

        self._failed = 0
        self._bar = tqdm(total=total, desc=label, unit="req", file=out, leave=True, dynamic_ncols=True)

    def update(self, failed: bool) -> None:
        if failed:
            self._failed += 1
            self._bar.set_postfix(failed=self._failed, refresh=False)
        self._bar.update(1)

    def close(self) -> None:
        self._bar.close()


def progress(label: str, total: int, *, enabled: bool, out: TextIO | None = None) -> Progress:
    """A bar on ``out`` (stderr by default), or nothing when not ``enabled``."""
    if not enabled:
        return Silent()
    out = out or sys.stderr
    try:
        import tqdm  # noqa: F401
    except ImportError:
        return PlainLine(label, total, out)
    return Tqdm(label, total, out)
