"""The mock server every peer talks to, in its own process, and a look at its TCP connections."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from types import TracebackType

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
    """``python -m llmrail mock-server`` answering TEXT (or its 50 chunks when streaming)."""

    def __init__(self) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="llmrail-bench-")
        script = Path(self._dir.name) / "script.json"
        script.write_text(json.dumps({"default": {"text": TEXT, "chunks": split(TEXT, STREAM_CHUNKS)}}))
        cmd = [sys.executable, "-m", "llmrail", "mock-server", "--script", str(script)]
        self._proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        self.url = ""
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            if line.startswith("mock server listening on "):
                self.url = line.split()[-1]
                break
        if not self.url:
            self._proc.kill()
            raise RuntimeError("the mock server did not start")
        self.base_url = self.url + "/v1"
        self.requests_served = 0

    def close(self) -> None:
        if self._proc.poll() is None:
            # Ctrl-C makes it report its request count; a background job may have SIGINT ignored.
            self._proc.send_signal(signal.SIGINT)
            try:
                out, _ = self._proc.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                out, _ = self._proc.communicate()
            for word in out.split():
                if word.isdigit():
                    self.requests_served = int(word)
        self._dir.cleanup()

    def __enter__(self) -> MockServerProcess:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def tcp_active_opens() -> int:
    """Outgoing TCP connections opened so far in this network namespace (``/proc/net/snmp``).

    The difference across a run is the connections its client opened (port-set diffs would
    undercount: Linux reuses TIME_WAIT ports on loopback). Anything else connecting at the same
    time (another test run, say) is counted too.
    """
    with open("/proc/net/snmp", encoding="ascii") as f:
        header, values = (line.split() for line in f if line.startswith("Tcp:"))
    return int(values[header.index("ActiveOpens")])
