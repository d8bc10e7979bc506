"""The mock server every peer talks to, in its own process so it does not share the client's
interpreter. ``python bench/server.py`` serves: it prints its OpenAI base URL, then answers each
``stats`` line on stdin with a JSON line (connections accepted, requests, its CPU seconds) and
exits when stdin closes. ``python bench/server.py '{"latency": 30}'`` changes the default reply
(any keyword of ``MockServer.default``; ``"size": N`` answers N characters instead)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from types import TracebackType
from typing import Any

# A ~2 KB answer; streamed as 50 pieces of ~40 characters that join up to it.
_SENTENCES = (
    "Connection pooling keeps sockets open between requests, so a service skips the TCP and TLS "
    "handshakes that would otherwise precede every call. ",
    "Under load that saves round trips, file descriptors and CPU, and it smooths tail latency "
    "because requests never queue behind a slow connect. ",
    "A pool needs limits, though: too few connections serialise work, too many exhaust the "
    "server's accept queue or the provider's rate limits. ",
)
TEXT = "".join(_SENTENCES[i % 3] for i in range(15))[:2000].rstrip() + "."
STREAM_CHUNKS = 50


def split(text: str, pieces: int) -> list[str]:
    """``pieces`` consecutive slices of ``text`` that join up to it again."""
    size, extra = divmod(len(text), pieces)
    out, start = [], 0
    for i in range(pieces):
        end = start + size + (1 if i < extra else 0)
        out.append(text[start:end])
        start = end
    return out


class MockServerProcess:
    """A client's handle on ``python bench/server.py``."""

    def __init__(self, **default: Any) -> None:
        self._proc = subprocess.Popen(
            [sys.executable, __file__, json.dumps(default)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self._proc.stdout is not None
        self.base_url = self._proc.stdout.readline().strip()
        if not self.base_url.startswith("http"):
            self._proc.kill()
            raise RuntimeError("the mock server did not start")
        self.url = self.base_url.removesuffix("/v1")

    @property
    def pid(self) -> int:
        """The server process's id (bench/placement.py pins its threads)."""
        return self._proc.pid

    def _ask(self, command: str) -> Any:
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._proc.stdin.write(command + "\n")
        self._proc.stdin.flush()
        return json.loads(self._proc.stdout.readline())

    def stats(self) -> dict[str, float]:
        """``{"cpu_s": the server's CPU time so far, "connections": accepted so far}``."""
        stats: dict[str, float] = self._ask("stats")
        return stats

    def requests(self) -> int:
        """Requests answered so far."""
        return int(self._ask("requests"))

    def close(self) -> None:
        if self._proc.poll() is None:
            try:
                self._proc.communicate(timeout=10)  # closes stdin: the server exits
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.communicate()

    def __enter__(self) -> MockServerProcess:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def text_of(size: int) -> str:
    """``size`` characters of the answer's sentences."""
    return (TEXT * (size // len(TEXT) + 1))[:size]


def serve(default: dict[str, Any]) -> None:
    from llmrail.testing import MockServer

    text = text_of(default.pop("size")) if "size" in default else TEXT
    chunks = default.pop("chunks", STREAM_CHUNKS)
    with MockServer() as srv:
        srv.default(text, chunks=split(text, chunks), **default)
        print(srv.openai_base_url, flush=True)
        for line in sys.stdin:
            if line.strip() == "stats":
                print(json.dumps({"cpu_s": time.process_time(), "connections": srv.connections}), flush=True)
            elif line.strip() == "requests":
                print(srv.received, flush=True)


if __name__ == "__main__":
    serve(json.loads(sys.argv[1]) if len(sys.argv) > 1 else {})
