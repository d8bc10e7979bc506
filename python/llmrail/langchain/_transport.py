"""``optimize()``'s wrapped model over llmrail's transport (``llmrail.httpx``/``llmrail.httpx2``),
so its calls are recorded and replayed by llmrail's cassettes and carry usage and cost.

A model qualifies when it reaches the network through an official SDK client that it built for
itself: ``ChatOpenAI`` (``root_client``/``root_async_client``, which it builds from its
``http_client``/``http_async_client`` fields) and ``ChatAnthropic`` (its ``_client`` and
``_async_client``). The copy's SDK clients are the model's own, given llmrail's httpx client
(``with_options(http_client=...)``), so they send what they sent before: same headers, same body.
A model given an HTTP client of the caller's is left alone: that client is the caller's choice.
Both transports of one model share one forwarder, so its usage is one sum.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

from langchain_core.language_models import BaseChatModel

from .._core import HttpForwarder, HttpUsage

log = logging.getLogger("llmrail.langchain")


def _clients(sdk: Any, forwarder: HttpForwarder | None) -> tuple[Any, Any, HttpForwarder] | None:
    """llmrail's sync and async httpx clients of the package ``sdk``'s current client is of."""
    # The package whose client class the SDK's own client is built on (langchain's and the SDK's
    # subclasses come first in its MRO).
    roots = [c.__module__.split(".")[0] for c in type(sdk._client).__mro__]
    module = next((m for m in roots if m in ("httpx", "httpx2")), None)
    if module == "httpx2":
        from .. import httpx2 as http
    elif module == "httpx":
        from .. import httpx as http  # type: ignore[no-redef]
    else:
        return None
    sync_t, async_t = http.Transport(), http.AsyncTransport()
    shared = forwarder or sync_t._forwarder
    sync_t._forwarder = async_t._forwarder = shared
    follow = bool(getattr(sdk._client, "follow_redirects", True))
    return (http.Client(transport=sync_t, follow_redirects=follow),
            http.AsyncClient(transport=async_t, follow_redirects=follow), shared)


def _openai(model: Any) -> tuple[BaseChatModel, HttpForwarder] | None:
    if model.http_client is not None or model.http_async_client is not None:
        return None
    root, aroot = model.root_client, model.root_async_client
    if root is None or aroot is None:
        return None
    made = _clients(root, None)
    if made is None:
        return None
    sync_http, async_http, forwarder = made
    copy = model.model_copy()
    copy.root_client = root.with_options(http_client=sync_http)
    copy.root_async_client = aroot.with_options(http_client=async_http)
    copy.client = copy.root_client.chat.completions
    copy.async_client = copy.root_async_client.chat.completions
    copy.http_client, copy.http_async_client = sync_http, async_http
    return copy, forwarder


def _anthropic(model: Any) -> tuple[BaseChatModel, HttpForwarder] | None:
    cls = type(model)
    if not all(isinstance(getattr(cls, n, None), functools.cached_property) for n in ("_client", "_async_client")):
        return None
    sdk, asdk = model._client, model._async_client
    made = _clients(sdk, None)
    if made is None:
        return None
    sync_http, async_http, forwarder = made
    copy = model.model_copy()
    # The copy's cached SDK clients: the model's own, over llmrail's transport.
    copy.__dict__["_client"] = sdk.with_options(http_client=sync_http)
    copy.__dict__["_async_client"] = asdk.with_options(http_client=async_http)
    return copy, forwarder


def over_llmrail(model: BaseChatModel) -> tuple[BaseChatModel, HttpForwarder | None]:
    """A copy of ``model`` whose SDK clients send through llmrail's transport, and the forwarder
    that carries them; ``model`` itself and ``None`` when it has no SDK client to give one to."""
    name = type(model).__name__
    try:
        if name == "ChatOpenAI" or hasattr(model, "root_async_client"):
            found = _openai(model)
        elif name == "ChatAnthropic":
            found = _anthropic(model)
        else:
            found = None
    except Exception as e:
        log.warning("the model's SDK clients could not be given llmrail's transport: %r", e)
        found = None
    if found is None:
        return model, None
    return found


def usage(forwarder: HttpForwarder | None) -> HttpUsage | None:
    """What the calls through ``forwarder`` used and cost; ``None`` without one."""
    return None if forwarder is None else forwarder.usage
