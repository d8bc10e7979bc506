"""What `llmrail.httpx` and `llmrail.httpx2` share: the same transport over the two packages (the
official SDKs moved from httpx to its successor httpx2; their classes are distinct, so each
module subclasses its own package's and both send through `_core.HttpForwarder`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .errors import ConnectionError, InvalidResponseError, LLMError, TimeoutError


def failure_name(e: LLMError) -> str | None:
    """The name of the httpx exception an SDK expects for a failure of the transport; ``None`` for
    llmrail's own errors (a cassette miss, a bad argument), raised as they are."""
    # The transport words a failure before the connection was up as "could not connect".
    connecting = "could not connect" in e.message
    if isinstance(e, TimeoutError):
        return "ConnectTimeout" if connecting else "ReadTimeout"
    if isinstance(e, ConnectionError):
        return "ConnectError" if connecting else "ReadError"
    if isinstance(e, InvalidResponseError):
        return "RemoteProtocolError"
    return None


def timeouts(extensions: Mapping[str, Any]) -> tuple[float | None, float | None]:
    """The connect and read timeouts of a request (httpx puts them in its extensions)."""
    timeout = extensions.get("timeout") or {}
    return timeout.get("connect"), timeout.get("read")
