"""``llmrail serve``: the OpenAI- and Anthropic-compatible gateway, started from Python.

The server itself is the Rust core's (``llmrail._core.Gateway``): no Python runs per request.
This module adds the blocking form and its signals: SIGTERM and SIGINT stop accepting, let the
requests in flight finish (up to the config's ``server.shutdown_timeout``) and return.
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from typing import Any, Literal, overload

from ._core import Gateway

__all__ = ["Gateway", "serve"]


@overload
def serve(
    config: str | None = ..., *, host: str = ..., port: int = ..., config_text: str | None = ...,
    background: Literal[True],
) -> Gateway: ...
@overload
def serve(
    config: str | None = ..., *, host: str = ..., port: int = ..., config_text: str | None = ...,
    background: Literal[False] = ...,
) -> None: ...
def serve(
    config: str | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 4000,
    config_text: str | None = None,
    background: bool = False,
) -> Gateway | None:
    """Serve the gateway on ``host:port``.

    ``config`` is the YAML file (``config_text`` the same as a string; neither: every
    ``provider/model`` routes directly). It is checked before anything listens: a mistake raises
    ``ConfigurationError`` naming its line. With ``background=True`` this returns the running
    :class:`Gateway` (``.url``, ``.stop()``, a context manager) at once; otherwise it blocks until
    SIGTERM or SIGINT (Ctrl-C), then stops gracefully.
    """
    gateway = Gateway(config, host=host, port=port, config_text=config_text)
    if background:
        return gateway
    _block(gateway)
    return None


def _block(gateway: Gateway) -> None:
    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        del signum, frame
        stop.set()

    if threading.current_thread() is threading.main_thread():
        previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    else:  # signals reach the main thread only: the caller stops the process some other way
        previous = {}
    try:
        # Short waits, so the interpreter runs the signal handler promptly.
        while not stop.wait(0.2):
            pass
    finally:
        logging.getLogger("llmrail.gateway").info("llmrail serve: signal received, stopping")
        gateway.stop()
        for s, handler in previous.items():
            signal.signal(s, handler)


def add_parser(sub: Any) -> None:
    p = sub.add_parser("serve", help="the OpenAI/Anthropic-compatible HTTP gateway (llmrail serve)")
    p.add_argument("--config", help="the YAML file (virtual models, keys); none: provider/model routes directly")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=4000, help="port (default 4000; 0: a free one)")


def run(args: argparse.Namespace) -> int:
    # The access log: one line per request from the core's `llmrail::gateway::access` target, and
    # the gateway's own lines (listening, stopping). Not the library's per-call record (the
    # `llmrail` logger at INFO): it says again what the access line says, and it is written where
    # the call ends, on the runtime's worker, which then waits for the GIL: with it on, serve did
    # a third of the calls/s it does with the access log alone (bench/gateway.py's loadgen).
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("llmrail.gateway").setLevel(logging.INFO)
    gateway = Gateway(args.config, host=args.host, port=args.port)
    print(f"llmrail serve: listening on {gateway.url} (OpenAI base URL {gateway.url}/v1)", flush=True)
    _block(gateway)
    return 0
