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
        self.port = int(self.url.rsplit(":", 1)[1])
        self.base_url = self.url + "/v1"
        self.requests_served = 0

    def close(self) -> None:
        if self._proc.poll() is None:
            self._proc.send_signal(signal.SIGINT)
            out, _ = self._proc.communicate(timeout=30)
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


def client_ports(server_port: int) -> set[int]:
    """Ephemeral ports of every TCP connection to ``server_port``, in any state (TIME_WAIT too).

    Diffing two snapshots tells how many connections a run opened, whichever side closed them.
    """
    ports: set[int] = set()
    with open("/proc/net/tcp", encoding="ascii") as f:
        next(f)
        for line in f:
            local, remote = line.split()[1:3]
            lport, rport = int(local.split(":")[1], 16), int(remote.split(":")[1], 16)
            if rport == server_port:
                ports.add(lport)
            elif lport == server_port and rport != 0:
                ports.add(rport)
    return ports
