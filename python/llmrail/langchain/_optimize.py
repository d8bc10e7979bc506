"""``optimize(model, ...)``: llmrail's optimisations around an existing LangChain chat model.

Off by default: wrapped with no option on, every call is the wrapped model's own call. Each
option that is on runs inside a guard: if it fails, the wrapped model's plain call answers and
the ``llmrail.langchain`` logger says why.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LangSmithParams, LanguageModelInput
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable, RunnableBinding, RunnableConfig, RunnableSequence
from langchain_core.runnables.config import get_config_list
from pydantic import ConfigDict, Field, PrivateAttr, SecretStr

from .._core import Capabilities as CoreCapabilities
from .._core import HttpForwarder, HttpUsage, RateLimit, Retry
from . import _batch_api, _transport
from ._batch_api import BatchOptions
from ._cache import inject
from ._chat_model import ChatLlmrail

log = logging.getLogger("llmrail.langchain")

PromptCache = Literal["5m", "1h", "auto"]


@dataclass(frozen=True)
class Capabilities:
    """What llmrail found out about a wrapped model."""

    provider: str | None
    """``"anthropic"``, ``"openai"``, ... (LangSmith's ``ls_provider``)."""
    model: str | None
    api_key: SecretStr | None = field(default=None, repr=False)
    base_url: str | None = None
    prompt_cache: bool = False
    """llmrail can plan this provider's prompt cache (Anthropic markers, OpenAI cache key)."""
    llmrail: bool = False
    """llmrail speaks this provider's protocol, so calls can go through its core."""
    batch_api: bool = False
    """``optimize(batch=True)`` sends ``abatch`` through the provider's batch API (the core says
    which providers have one: ``llmrail.Capabilities.of(...).batch_api``)."""


def detect(model: BaseChatModel) -> Capabilities:
    """Provider, model, credentials, base URL and supported features of a LangChain model."""
    ls = model._get_ls_params()
    provider = ls.get("ls_provider")
    name = ls.get("ls_model_name")
    key = _first(model, "anthropic_api_key", "openai_api_key", "api_key")
    base = _first(model, "anthropic_api_url", "openai_api_base", "base_url")
    if provider == "openai" and base is not None and "openrouter.ai" in str(base):
        provider = "openrouter"
    known = provider in ("anthropic", "openai", "openrouter")
    return Capabilities(
        provider=provider,
        model=name,
        api_key=key if isinstance(key, SecretStr) else (SecretStr(key) if isinstance(key, str) else None),
        base_url=str(base) if base else None,
        prompt_cache=provider in ("anthropic", "openai"),
        llmrail=known and name is not None,
        batch_api=known and name is not None and _core_batch_api(f"{provider}/{name}"),
    )


def _core_batch_api(model: str) -> bool:
    try:
        return CoreCapabilities.of(model).batch_api is True
    except Exception:
        return False


def _first(model: BaseChatModel, *names: str) -> Any:
    for name in names:
        value = getattr(model, name, None)
        if value:
            return value
    return None


class OptimizedChatModel(BaseChatModel):
    """A drop-in chat model around ``wrapped``; build it with :func:`optimize`."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    wrapped: BaseChatModel
    prompt_cache: PromptCache | None = None
    batching: bool = False
    """``optimize(batch=True)``: ``abatch`` through llmrail."""
    batch_options: dict[str, Any] = Field(default_factory=dict)
    """``optimize(batch={...})``: how inputs are grouped into provider batches (``BatchOptions``)."""
    retry: Retry | None = None
    rate_limit: RateLimit | None = None

    _forwarder: HttpForwarder | None = PrivateAttr(default=None)
    _caps: Capabilities | None = PrivateAttr(default=None)
    _route: ChatLlmrail | None = PrivateAttr(default=None)
    _batch_route: _batch_api.BatchRoute | None = PrivateAttr(default=None)

    @property
    def _llm_type(self) -> str:
        return f"llmrail-optimized-{self.wrapped._llm_type}"

    @property
    def usage(self) -> HttpUsage | None:
        """What the wrapped model's calls over llmrail's transport used and cost so far (tokens,
        ``cost_usd``); ``None`` when the wrapped model is not over it (see :func:`optimize`)."""
        return _transport.usage(self._forwarder)

    @property
    def capabilities(self) -> Capabilities:
        if self._caps is None:
            self._caps = detect(self.wrapped)
        return self._caps

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return dict(self.wrapped._identifying_params)

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        return self.wrapped._get_ls_params(stop=stop, **kwargs)

    def _caching(self) -> bool:
        return self.prompt_cache is not None and self.capabilities.prompt_cache

    def _optimised(
        self, messages: list[BaseMessage], kwargs: dict[str, Any]
    ) -> tuple[list[BaseMessage], dict[str, Any]] | None:
        """The messages and arguments with cache markers, or ``None`` if planning failed."""
        caps = self.capabilities
        assert self.prompt_cache is not None and caps.provider is not None and caps.model is not None
        try:
            return inject(caps.provider, caps.model, self.prompt_cache, messages, kwargs)
        except Exception as e:
            log.warning("prompt-cache planning failed, sending the request unchanged: %r", e)
            return None

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        if self._caching() and (planned := self._optimised(messages, kwargs)) is not None:
            try:
                return self.wrapped._generate(planned[0], stop=stop, run_manager=run_manager, **planned[1])
            except Exception as e:
                log.warning("the call with cache markers failed, retrying without them: %r", e)
        return self.wrapped._generate(messages, stop=stop, run_manager=run_manager, **kwargs)

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        if self._caching() and (planned := self._optimised(messages, kwargs)) is not None:
            try:
                return await self.wrapped._agenerate(planned[0], stop=stop, run_manager=run_manager, **planned[1])
            except Exception as e:
                log.warning("the call with cache markers failed, retrying without them: %r", e)
        return await self.wrapped._agenerate(messages, stop=stop, run_manager=run_manager, **kwargs)

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        if self._caching() and (planned := self._optimised(messages, kwargs)) is not None:
            messages, kwargs = planned
        yield from self.wrapped._stream(messages, stop=stop, run_manager=run_manager, **kwargs)

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        if self._caching() and (planned := self._optimised(messages, kwargs)) is not None:
            messages, kwargs = planned
        async for chunk in self.wrapped._astream(messages, stop=stop, run_manager=run_manager, **kwargs):
            yield chunk

    def _route_model(self) -> ChatLlmrail:
        """The wrapped model's provider, model, key and settings, as a ChatLlmrail."""
        if self._route is None:
            caps = self.capabilities
            if not caps.llmrail:
                raise ValueError(f"llmrail does not speak {caps.provider!r}'s protocol")
            self._route = ChatLlmrail(
                model=f"{caps.provider}/{caps.model}",
                api_key=caps.api_key,
                base_url=caps.base_url,
                temperature=getattr(self.wrapped, "temperature", None),
                max_tokens=getattr(self.wrapped, "max_tokens", None),
                stop=getattr(self.wrapped, "stop", None) or None,
                retry=self.retry,
                rate_limit=self.rate_limit,
                prompt_cache=self.prompt_cache,
            )
        return self._route

    async def abatch(
        self,
        inputs: list[LanguageModelInput],
        config: RunnableConfig | list[RunnableConfig] | None = None,
        *,
        return_exceptions: bool = False,
        **kwargs: Any,
    ) -> list[AIMessage]:
        if self.batching and inputs and self.capabilities.batch_api:
            return await self._abatch_provider(inputs, config, return_exceptions, kwargs)
        return await self._abatch_concurrent(inputs, config, return_exceptions, kwargs)

    async def _abatch_provider(
        self,
        inputs: list[LanguageModelInput],
        config: RunnableConfig | list[RunnableConfig] | None,
        return_exceptions: bool,
        kwargs: dict[str, Any],
    ) -> list[AIMessage]:
        """Through the provider's batch API; what it could not answer, the concurrent way."""

        async def fallback(rest: list[LanguageModelInput], configs: list[RunnableConfig]) -> list[AIMessage]:
            return await self._abatch_concurrent(rest, configs, return_exceptions, kwargs)

        try:
            if set(kwargs) - {"tools", "tool_choice", "stop"}:
                raise ValueError(f"arguments llmrail does not translate: {sorted(kwargs)}")
            if self._batch_route is None:
                self._batch_route = _batch_api.route(self._route_model(), self.batch_options)
            batch_route = self._batch_route
        except Exception as e:
            log.warning("the provider's batch API is out of reach, sending calls: %r", e)
            return await fallback(inputs, get_config_list(config, len(inputs)))
        return await _batch_api.abatch(batch_route, inputs, config, return_exceptions, _tools(kwargs), fallback)

    async def _abatch_concurrent(
        self,
        inputs: list[LanguageModelInput],
        config: RunnableConfig | list[RunnableConfig] | None,
        return_exceptions: bool,
        kwargs: dict[str, Any],
    ) -> list[AIMessage]:
        if self.batching and inputs:
            try:
                if set(kwargs) - {"tools", "tool_choice", "stop"}:
                    raise ValueError(f"arguments llmrail does not translate: {sorted(kwargs)}")
                route = self._route_model()
                return await route.abatch(inputs, config, return_exceptions=return_exceptions, **_tools(kwargs))
            except Exception as e:
                log.warning("batching through llmrail failed, using the wrapped model: %r", e)
        results: list[AIMessage] = await super().abatch(
            inputs, config, return_exceptions=return_exceptions, **kwargs
        )
        return results

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> Runnable[LanguageModelInput, AIMessage]:
        """The wrapped model's tool binding (its own tool format), applied to this model."""
        bound = self.wrapped.bind_tools(tools, **kwargs)
        if isinstance(bound, RunnableBinding) and bound.bound is self.wrapped:
            return self.bind(**bound.kwargs)
        return bound

    def with_structured_output(self, schema: Any, **kwargs: Any) -> Runnable[LanguageModelInput, Any]:
        """The wrapped model's structured output, with its calls made through this model."""
        chain = self.wrapped.with_structured_output(schema, **kwargs)
        if isinstance(chain, RunnableSequence):
            first = chain.first
            if isinstance(first, RunnableBinding) and first.bound is self.wrapped:
                return RunnableSequence(self.bind(**first.kwargs), *chain.middle, chain.last)
        return chain


def _tools(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Provider-shaped tools and tool_choice (Anthropic's or OpenAI's) in llmrail's shape."""
    from langchain_core.utils.function_calling import convert_to_openai_tool

    out = dict(kwargs)
    if "tools" in out:
        out["tools"] = [convert_to_openai_tool(t) for t in out["tools"]]
    choice = out.get("tool_choice")
    if isinstance(choice, dict) and choice.get("type") in ("tool", "any", "auto", "none"):
        kind = choice["type"]
        out["tool_choice"] = choice["name"] if kind == "tool" else "required" if kind == "any" else kind
    return out


def optimize(
    model: BaseChatModel,
    *,
    prompt_cache: PromptCache | None = None,
    batch: bool | BatchOptions = False,
    retry: Retry | None = None,
    rate_limit: RateLimit | None = None,
    transport: bool = True,
) -> OptimizedChatModel:
    """Wrap a LangChain chat model (``ChatAnthropic``, ``ChatOpenAI``, any other) with llmrail.

    Nothing changes until an option is on:

    - ``prompt_cache="5m" | "1h" | "auto"``: llmrail's planner places the cache breakpoints
      (tools, system prompt, stable conversation) in what the wrapped model sends.
    - ``batch=True``: ``abatch`` goes through llmrail's core: the provider's batch API (half
      the price; concurrent ``abatch`` callers share provider batches) where it has one
      (``capabilities.batch_api``), else concurrent calls with ``retry`` and ``rate_limit``
      applied there; an input the batch API could not answer is sent as a call.
      ``batch={"max_items": ..., "max_wait": ..., "poll_interval": ..., "store": ...}``
      (``BatchOptions``) sets how inputs are grouped.

    With ``transport=True`` (the default), a model that talks through an official SDK client it
    built itself (``ChatOpenAI``, ``ChatAnthropic``) is wrapped as a copy whose SDK clients send
    through llmrail's transport (``llmrail.httpx``): the same bytes, now recorded and replayed by
    llmrail's cassettes, and priced (``usage``). A model given an ``http_client`` of the caller's
    keeps it.

    A failure in an optimisation falls back to the wrapped model's own call, with a warning on
    the ``llmrail.langchain`` logger."""
    forwarder = None
    if transport:
        model, forwarder = _transport.over_llmrail(model)
    optimized = OptimizedChatModel(
        wrapped=model,
        prompt_cache=prompt_cache,
        batching=bool(batch),
        batch_options=dict(batch) if isinstance(batch, dict) else {},
        retry=retry,
        rate_limit=rate_limit,
    )
    optimized._forwarder = forwarder
    return optimized
