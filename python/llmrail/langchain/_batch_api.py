"""``optimize(model, batch=True).abatch(...)`` through the provider's batch API (half the price).

Each input becomes one request of an llmrail batcher (``client.batcher()``), one per optimised
model, so the inputs of concurrent ``abatch`` callers travel together in provider batches; each
caller gets its own answers when the batch that carried them ends. The calls stay LangChain
calls (``ainvoke`` per input: callbacks, tracing, usage), only their transport is the batch.

Nothing is decided here that the core decides: whether the provider has a batch API is
``Capabilities.of(...).batch_api`` (the catalogue's one fact), and the batch job itself (splits,
per-item retries, the store) is the core's. What this module adds is the fallback: an input the
batch path could not answer goes through the concurrent path instead.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Awaitable, Callable
from typing import Any, TypedDict

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun
from langchain_core.language_models import LanguageModelInput
from langchain_core.messages import BaseMessage
from langchain_core.outputs import ChatResult
from langchain_core.runnables import RunnableConfig
from langchain_core.runnables.config import get_config_list
from pydantic import Field, PrivateAttr

from .._core import Batcher
from . import _convert
from ._chat_model import ChatLlmrail

log = logging.getLogger("llmrail.langchain")


class BatchOptions(TypedDict, total=False):
    """``optimize(model, batch={...})``: how inputs are grouped into provider batches."""

    max_items: int
    """A provider batch is sent once it holds this many requests (default 10,000; a job past the
    provider's own limits is split by the core)."""
    max_wait: float
    """... or once its oldest request has waited this many seconds (default 2.0): the window in
    which concurrent ``abatch`` callers share a batch."""
    poll_interval: float
    """Seconds between polls of a running batch (default 30)."""
    store: str | os.PathLike[str]
    """Where the jobs' state is kept (default: ``llmrail/batches.sqlite3`` in the cache dir)."""


DEFAULTS: BatchOptions = {"max_items": 10_000, "max_wait": 2.0}


class BatchRoute(ChatLlmrail):
    """A ``ChatLlmrail`` whose async calls are items of provider batches."""

    batch_options: dict[str, Any] = Field(default_factory=dict)

    _batcher: Batcher | None = PrivateAttr(default=None)

    def batcher(self) -> Batcher:
        """The one batcher of this route (built on first use)."""
        if self._batcher is None:
            opts = {**DEFAULTS, **self.batch_options}
            self._batcher = self.client().batcher(
                opts["max_items"],
                opts["max_wait"],
                poll_interval=opts.get("poll_interval"),
                store=opts.get("store"),
            )
        return self._batcher

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        if "model" in kwargs or "llmrail_extract" in kwargs:
            raise ValueError("a provider batch carries plain calls to the route's model only")
        _, msgs, args = self._call(messages, stop, kwargs)
        return _convert.chat_result(await self.batcher().chat(msgs, **args))


def route(base: ChatLlmrail, options: dict[str, Any]) -> BatchRoute:
    """``base``'s model, key and settings, its async calls sent as batch items."""
    fields = {name: getattr(base, name) for name in ChatLlmrail.model_fields}
    return BatchRoute(**fields, batch_options=dict(options))


Fallback = Callable[[list[LanguageModelInput], list[RunnableConfig]], Awaitable[list[Any]]]


async def abatch(
    batch_route: BatchRoute,
    inputs: list[LanguageModelInput],
    config: RunnableConfig | list[RunnableConfig] | None,
    return_exceptions: bool,
    kwargs: dict[str, Any],
    fallback: Fallback,
) -> list[Any]:
    """One answer per input, in order: through the batch API, and what it could not answer
    through ``fallback`` (the concurrent path, with the caller's ``return_exceptions``)."""
    configs = get_config_list(config, len(inputs))
    # Every input is queued at once: a provider batch is one request whatever its size, and a
    # concurrency limit would cut it into batches that each wait for the one before.
    unlimited: list[RunnableConfig] = [{**c, "max_concurrency": None} for c in configs]
    out: list[Any] = await batch_route.abatch(inputs, unlimited, return_exceptions=True, **kwargs)
    failed = [i for i, r in enumerate(out) if isinstance(r, Exception)]
    if failed:
        log.warning(
            "%d of %d inputs got no answer from the provider's batch API, sending them as calls: %r",
            len(failed),
            len(inputs),
            out[failed[0]],
        )
        again = await fallback([inputs[i] for i in failed], [configs[i] for i in failed])
        for i, r in zip(failed, again, strict=True):
            out[i] = r
    return out

