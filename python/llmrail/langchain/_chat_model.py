"""``ChatLlmrail``: a LangChain chat model whose calls go through llmrail's Rust core."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from typing import Any, Literal

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LangSmithParams, LanguageModelInput
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import ConfigDict, Field, PrivateAttr, SecretStr

from .._core import CircuitBreaker, Client, Extraction, RateLimit, Retry
from ..errors import ExtractionError
from . import _convert, _structured
from ._structured import ExtractSpec

_KEY_ENV = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY", "openrouter": "OPENROUTER_API_KEY"}
# Per-call keyword arguments with a place in llmrail's chat(); any other goes into the body.
_CALL_ARGS = ("max_tokens", "temperature", "top_p", "tools", "tool_choice", "prompt_cache", "deadline", "retry")

ToolLike = Mapping[str, Any] | type | Callable[..., Any] | BaseTool


class ChatLlmrail(BaseChatModel):
    """A LangChain chat model on llmrail: ``ChatLlmrail(model="anthropic/claude-sonnet-4-5")``.

    Takes llmrail's client options (``retry``, ``rate_limit``, ``fallbacks``, ``circuit_breaker``,
    ``prompt_cache``, ...) next to LangChain's standard ones (``temperature``, ``max_tokens``,
    ``stop``, ``timeout``, ``max_retries``). Keys default from the provider's usual variable.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    model: str
    """``"provider/model"``: ``anthropic/...``, ``openai/...``, ``openrouter/...``."""
    api_key: SecretStr | None = None
    base_url: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    top_p: float | None = None
    stop: list[str] | None = None
    timeout: float | None = None
    """Seconds for each attempt."""
    max_retries: int | None = None
    """LangChain's spelling of ``retry=Retry(max_attempts=max_retries + 1)``."""
    streaming: bool = False
    default_headers: dict[str, str] | None = None
    model_kwargs: dict[str, Any] = Field(default_factory=dict)
    """Extra fields merged into every request body (``extra_body``)."""
    retry: Retry | None = None
    rate_limit: RateLimit | None = None
    circuit_breaker: CircuitBreaker | Literal[False] | None = None
    fallbacks: list[str | dict[str, str]] | None = None
    prompt_cache: Literal["5m", "1h", "auto"] | None = None
    deadline: float | None = None
    connect_timeout: float | None = None
    redis_url: str | None = None

    _clients: dict[str, Client] = PrivateAttr(default_factory=dict)

    @property
    def _llm_type(self) -> str:
        return "llmrail-chat"

    @property
    def provider(self) -> str:
        return self.model.split("/", 1)[0]

    @classmethod
    def is_lc_serializable(cls) -> bool:
        return True

    @classmethod
    def get_lc_namespace(cls) -> list[str]:
        return ["llmrail", "langchain"]

    @property
    def lc_secrets(self) -> dict[str, str]:
        return {"api_key": _KEY_ENV.get(self.provider, "LLMRAIL_API_KEY")}

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "base_url": self.base_url,
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "prompt_cache": self.prompt_cache,
        }

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        model = kwargs.get("model") or self.model
        provider, _, name = model.rpartition("/")
        params = LangSmithParams(
            ls_provider=provider or self.provider, ls_model_name=name, ls_model_type="chat"
        )
        temperature = kwargs.get("temperature", self.temperature)
        if temperature is not None:
            params["ls_temperature"] = temperature
        max_tokens = kwargs.get("max_tokens", self.max_tokens)
        if max_tokens is not None:
            params["ls_max_tokens"] = max_tokens
        if stop := stop or self.stop:
            params["ls_stop"] = stop
        return params

    def client(self, model: str | None = None) -> Client:
        """The llmrail client for ``model`` (default: this model's), built once."""
        name = model or self.model
        if "/" not in name:
            name = f"{self.provider}/{name}"
        found = self._clients.get(name)
        if found is None:
            retry = self.retry
            if retry is None and self.max_retries is not None:
                retry = Retry(max_attempts=self.max_retries + 1)
            found = Client(
                name,
                api_key=self.api_key.get_secret_value() if self.api_key is not None else None,
                base_url=self.base_url,
                timeout=self.timeout,
                headers=list(self.default_headers.items()) if self.default_headers else None,
                retry=retry,
                deadline=self.deadline,
                connect_timeout=self.connect_timeout,
                rate_limit=self.rate_limit,
                circuit_breaker=self.circuit_breaker,
                fallbacks=self.fallbacks,  # type: ignore[arg-type]
                redis_url=self.redis_url,
                prompt_cache=self.prompt_cache,
            )
            self._clients[name] = found
        return found

    def _call(
        self, messages: list[BaseMessage], stop: list[str] | None, kwargs: dict[str, Any]
    ) -> tuple[Client, list[dict[str, Any]], dict[str, Any]]:
        """The client, the messages and the keyword arguments of one llmrail call."""
        kwargs.pop("stream", None)
        client = self.client(kwargs.pop("model", None))
        args: dict[str, Any] = {"max_tokens": self.max_tokens, "temperature": self.temperature}
        if self.top_p is not None:
            args["top_p"] = self.top_p
        stop = stop if stop is not None else self.stop
        if stop:
            args["stop"] = stop
        for name in _CALL_ARGS:
            if name in kwargs:
                args[name] = kwargs.pop(name)
        extra = {**self.model_kwargs, **kwargs} if self.model_kwargs or kwargs else None
        if extra:
            args["extra_body"] = extra
        return client, _convert.to_openai(messages), args

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        spec: ExtractSpec | None = kwargs.pop("llmrail_extract", None)
        client, msgs, args = self._call(messages, stop, kwargs)
        if spec is not None:
            return _structured.result(spec, self._extract_sync(client, spec, msgs, args))
        return _convert.chat_result(client.chat_sync(msgs, **args))

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        spec: ExtractSpec | None = kwargs.pop("llmrail_extract", None)
        client, msgs, args = self._call(messages, stop, kwargs)
        if spec is not None:
            return _structured.result(spec, await self._extract(client, spec, msgs, args))
        return _convert.chat_result(await client.chat(msgs, **args))

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        spec: ExtractSpec | None = kwargs.pop("llmrail_extract", None)
        client, msgs, args = self._call(messages, stop, kwargs)
        if spec is not None:
            yield _structured.chunk(spec, self._extract_sync(client, spec, msgs, args))
            return
        stream = client.stream(msgs, **args)
        try:
            for event in stream:
                chunk = _convert.chunk(event)
                if chunk is not None:
                    if run_manager is not None:
                        run_manager.on_llm_new_token(chunk.text, chunk=chunk)
                    yield chunk
        finally:
            stream.close()

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        spec: ExtractSpec | None = kwargs.pop("llmrail_extract", None)
        client, msgs, args = self._call(messages, stop, kwargs)
        if spec is not None:
            yield _structured.chunk(spec, await self._extract(client, spec, msgs, args))
            return
        stream = client.stream(msgs, **args)
        try:
            async for event in stream:
                chunk = _convert.chunk(event)
                if chunk is not None:
                    if run_manager is not None:
                        await run_manager.on_llm_new_token(chunk.text, chunk=chunk)
                    yield chunk
        finally:
            stream.close()

    @staticmethod
    def _extract_sync(
        client: Client, spec: ExtractSpec, msgs: list[dict[str, Any]], args: dict[str, Any]
    ) -> Extraction[Any] | ExtractionError:
        args = {k: v for k, v in args.items() if k not in ("tools", "tool_choice")}
        try:
            x: Extraction[Any] = client.extract_sync(
                spec.target, msgs, mode=spec.mode, max_retries=spec.max_retries, include_raw=True, **args
            )
            return x
        except ExtractionError as e:
            if spec.include_raw:
                return e
            raise

    @staticmethod
    async def _extract(
        client: Client, spec: ExtractSpec, msgs: list[dict[str, Any]], args: dict[str, Any]
    ) -> Extraction[Any] | ExtractionError:
        args = {k: v for k, v in args.items() if k not in ("tools", "tool_choice")}
        try:
            x: Extraction[Any] = await client.extract(
                spec.target, msgs, mode=spec.mode, max_retries=spec.max_retries, include_raw=True, **args
            )
            return x
        except ExtractionError as e:
            if spec.include_raw:
                return e
            raise

    def bind_tools(
        self,
        tools: Sequence[ToolLike],
        *,
        tool_choice: str | bool | dict[str, Any] | None = None,
        strict: bool | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Bind LangChain tools, pydantic models, functions or tool dicts (any provider's shape).

        ``tool_choice``: ``"auto"``, ``"none"``, ``"any"``/``"required"``/``True`` (some tool),
        or a tool's name."""
        formatted = [convert_to_openai_tool(t, strict=strict) for t in tools]
        if tool_choice is not None and tool_choice is not False:
            kwargs["tool_choice"] = _tool_choice(tool_choice)
        return super().bind(tools=formatted, **kwargs)

    def with_structured_output(
        self,
        schema: Mapping[str, Any] | type,
        *,
        method: Literal["function_calling", "json_schema", "json_mode"] = "function_calling",
        include_raw: bool = False,
        strict: bool | None = None,
        max_retries: int = 3,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, Any]:
        """Answers as ``schema`` (a pydantic model, a TypedDict or a JSON schema), through
        llmrail's extraction: validated, and re-asked with the errors up to ``max_retries`` times.

        ``method``: ``"function_calling"`` (a forced tool call), ``"json_schema"`` (the provider's
        native structured output) or ``"json_mode"`` (JSON text). ``strict`` is accepted for
        compatibility: llmrail validates every answer against the schema anyway."""
        if kwargs:
            raise ValueError(f"unexpected arguments: {sorted(kwargs)}")
        return _structured.structured_output(
            self, schema, method=method, include_raw=include_raw, max_retries=max_retries
        )


def _tool_choice(choice: str | bool | dict[str, Any]) -> str | dict[str, Any]:
    if choice is True or choice == "any":
        return "required"
    if isinstance(choice, str) and choice not in ("auto", "none", "required"):
        return {"type": "function", "function": {"name": choice}}
    assert not isinstance(choice, bool)
    return choice

