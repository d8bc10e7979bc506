# Type stubs for the native module. `make test` checks them against the built module (stubtest).
from collections.abc import Awaitable, Iterable, Mapping, Sequence
from typing import Any, Generic, Literal, TypeVar, final, overload

from typing_extensions import Required, Self, TypedDict

__version__: str
__all__ = [
    "BreakerStatus",
    "CircuitBreaker",
    "RateLimit",
    "Retry",
    "CacheStats",
    "Cassette",
    "ChatResponse",
    "ChatStream",
    "Client",
    "ExtractStream",
    "Extraction",
    "JsonSchema",
    "MockServer",
    "StreamEvent",
    "ToolCall",
    "Usage",
    "__version__",
    "bench_noop_future_into_py",
    "bench_noop_native",
    "plan_prompt_cache",
    "quiesce",
    "reset_log_levels",
]

_Message = Mapping[str, Any]
_Messages = str | Iterable[_Message]
_PromptCache = Literal["5m", "1h", "auto"]
_Mode = Literal["auto", "tool", "json_schema", "json", "prompt"]
_T = TypeVar("_T")
_M = TypeVar("_M")

@final
class Usage:
    @property
    def input_tokens(self) -> int: ...
    @property
    def output_tokens(self) -> int: ...
    @property
    def cache_read_tokens(self) -> int: ...
    @property
    def cache_write_tokens(self) -> int: ...
    @property
    def total_tokens(self) -> int: ...
    def __eq__(self, value: object, /) -> bool: ...

@final
class ToolCall:
    """A tool call the model asked for."""
    @property
    def id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def arguments(self) -> dict[str, Any] | None:
        """The arguments parsed, or ``None`` when the model's text is not a JSON object (invalid,
        or cut off at ``max_tokens``); ``raw_arguments`` still has it."""
    @property
    def raw_arguments(self) -> str:
        """The arguments exactly as the model sent them."""

@final
class ChatResponse:
    @property
    def text(self) -> str: ...
    @property
    def tool_calls(self) -> list[ToolCall]: ...
    @property
    def content(self) -> list[dict[str, Any]]: ...
    @property
    def finish_reason(self) -> Literal["stop", "length", "tool_calls", "content_filter"] | None: ...
    @property
    def usage(self) -> Usage: ...
    @property
    def model(self) -> str: ...
    @property
    def provider(self) -> str: ...
    @property
    def request_id(self) -> str | None: ...
    @property
    def latency(self) -> float: ...
    @property
    def attempts(self) -> int: ...
    @property
    def retry_wait(self) -> float: ...
    @property
    def rate_limit_wait(self) -> float: ...
    @property
    def fallback_used(self) -> bool: ...
    @property
    def cost_usd(self) -> float | None: ...
    def raw(self) -> dict[str, Any]: ...

@final
class StreamEvent:
    @property
    def type(self) -> Literal["text", "thinking", "tool_call_delta", "done"]: ...
    @property
    def text(self) -> str: ...
    @property
    def index(self) -> int | None: ...
    @property
    def id(self) -> str | None: ...
    @property
    def name(self) -> str | None: ...
    @property
    def arguments(self) -> str | None: ...
    @property
    def finish_reason(self) -> Literal["stop", "length", "tool_calls", "content_filter"] | None: ...
    @property
    def usage(self) -> Usage | None: ...
    @property
    def model(self) -> str | None: ...
    @property
    def request_id(self) -> str | None: ...
    @property
    def cost_usd(self) -> float | None: ...
    @property
    def attempts(self) -> int | None: ...
    @property
    def retry_wait(self) -> float | None: ...
    @property
    def rate_limit_wait(self) -> float | None: ...
    @property
    def fallback_used(self) -> bool | None: ...

@final
class CacheStats:
    @property
    def requests(self) -> int: ...
    @property
    def input_tokens(self) -> int: ...
    @property
    def cache_read_tokens(self) -> int: ...
    @property
    def cache_write_tokens(self) -> int: ...
    @property
    def cache_breaks(self) -> int: ...
    @property
    def hit_rate(self) -> float: ...

@final
class Retry:
    """Backoff with jitter between attempts; a server's wait (Retry-After) up to `max_delay` is
    honoured, a longer one ends the call at once with the error and its `retry_after`. Durations
    are seconds from 0 to 1e9; a bad argument is a `ConfigurationError` naming it."""

    def __new__(
        cls,
        max_attempts: int = 4,
        *,
        initial_delay: float = 0.5,
        max_delay: float = 30.0,
        multiplier: float = 2.0,
        jitter: Literal["full", "equal", "none"] = "full",
    ) -> Retry: ...
    @property
    def max_attempts(self) -> int: ...
    @property
    def initial_delay(self) -> float: ...
    @property
    def max_delay(self) -> float: ...
    @property
    def multiplier(self) -> float: ...
    @property
    def jitter(self) -> Literal["full", "equal", "none"]: ...
    def __eq__(self, value: object, /) -> bool: ...

@final
class RateLimit:
    def __new__(
        cls, rpm: int | None = None, tpm: int | None = None, *, key: str | None = None, wait: bool = True
    ) -> RateLimit: ...
    @property
    def rpm(self) -> int | None: ...
    @property
    def tpm(self) -> int | None: ...
    @property
    def key(self) -> str | None: ...
    @property
    def wait(self) -> bool: ...
    def __eq__(self, value: object, /) -> bool: ...

@final
class CircuitBreaker:
    def __new__(
        cls,
        failure_threshold: int = 5,
        *,
        failure_rate: float = 0.5,
        min_calls: int = 20,
        window: float = 60.0,
        cooldown: float = 30.0,
    ) -> CircuitBreaker: ...
    @property
    def failure_threshold(self) -> int: ...
    @property
    def failure_rate(self) -> float: ...
    @property
    def min_calls(self) -> int: ...
    @property
    def window(self) -> float: ...
    @property
    def cooldown(self) -> float: ...
    def __eq__(self, value: object, /) -> bool: ...

@final
class BreakerStatus:
    @property
    def name(self) -> str: ...
    @property
    def state(self) -> Literal["closed", "open", "half_open"]: ...
    @property
    def consecutive_failures(self) -> int: ...
    @property
    def calls(self) -> float: ...
    @property
    def failures(self) -> float: ...
    @property
    def retry_in(self) -> float | None: ...
    @property
    def shared(self) -> bool: ...

class _Fallback(TypedDict, total=False):
    model: Required[str]
    api_key: str
    base_url: str

@final
class ChatStream:
    def __aiter__(self) -> Self: ...
    def __anext__(self) -> Awaitable[StreamEvent]: ...
    def __iter__(self) -> Self: ...
    def __next__(self) -> StreamEvent: ...
    def close(self) -> None: ...

@final
class Client:
    def __new__(
        cls,
        model: str,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: float | None = None,
        headers: Sequence[tuple[str, str]] | None = None,
        retry: Retry | None = None,
        deadline: float | None = None,
        connect_timeout: float | None = None,
        rate_limit: RateLimit | None = None,
        circuit_breaker: CircuitBreaker | Literal[False] | None = None,
        fallbacks: Sequence[str | _Fallback] | None = None,
        redis_url: str | None = None,
        prompt_cache: _PromptCache | None = None,
        max_response_bytes: int | None = None,
        max_event_bytes: int | None = None,
    ) -> Client:
        """Byte caps: max_response_bytes per decompressed answer (64 MiB), max_event_bytes per event (16 MiB)."""
    @property
    def provider(self) -> str: ...
    @property
    def model(self) -> str: ...
    @property
    def base_url(self) -> str:
        """Where calls go; a `user:password@` and secret query values shown as REDACTED."""
    def health(self) -> list[BreakerStatus]: ...
    def cache_stats(self) -> CacheStats: ...
    async def chat(
        self,
        messages: _Messages,
        *,
        system: str | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        stop: str | Sequence[str] | None = None,
        tools: Sequence[Mapping[str, Any]] | None = None,
        tool_choice: str | Mapping[str, Any] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        retry: Retry | None = None,
        deadline: float | None = None,
        prompt_cache: _PromptCache | Literal["off"] | None = None,
    ) -> ChatResponse:
        """One answer. ``messages`` is a string or OpenAI-shaped message dicts.

        ``extra_body`` adds request body fields llmrail does not model; it cannot set one an
        argument writes (``model``, ``messages``, ``system``, ``max_tokens``,
        ``max_completion_tokens``, ``tools``, ``tool_choice``, ``stream``), nor ``temperature``,
        ``top_p``, ``stop`` or ``stop_sequences`` beside that argument. Every argument must be JSON as
        ``json.dumps(..., allow_nan=False)`` sees it, nested at most 100 deep, with no lone
        surrogates; anything else raises ``ConfigurationError`` naming the argument and path.
        """
    def chat_sync(
        self,
        messages: _Messages,
        *,
        system: str | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        stop: str | Sequence[str] | None = None,
        tools: Sequence[Mapping[str, Any]] | None = None,
        tool_choice: str | Mapping[str, Any] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        retry: Retry | None = None,
        deadline: float | None = None,
        prompt_cache: _PromptCache | Literal["off"] | None = None,
    ) -> ChatResponse: ...
    def stream(
        self,
        messages: _Messages,
        *,
        system: str | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        stop: str | Sequence[str] | None = None,
        tools: Sequence[Mapping[str, Any]] | None = None,
        tool_choice: str | Mapping[str, Any] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        retry: Retry | None = None,
        deadline: float | None = None,
        prompt_cache: _PromptCache | Literal["off"] | None = None,
    ) -> ChatStream: ...
    @overload
    async def extract(
        self,
        response_model: type[_M],
        messages: _Messages,
        *,
        mode: _Mode = "auto",
        max_retries: int = 3,
        token_budget: int | None = None,
        validation_context: Mapping[str, Any] | None = None,
        include_raw: Literal[False] = False,
        system: str | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        stop: str | Sequence[str] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        retry: Retry | None = None,
        deadline: float | None = None,
        prompt_cache: _PromptCache | Literal["off"] | None = None,
    ) -> _M: ...
    @overload
    async def extract(
        self,
        response_model: type[_M],
        messages: _Messages,
        *,
        mode: _Mode = "auto",
        max_retries: int = 3,
        token_budget: int | None = None,
        validation_context: Mapping[str, Any] | None = None,
        include_raw: Literal[True],
        system: str | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        stop: str | Sequence[str] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        retry: Retry | None = None,
        deadline: float | None = None,
        prompt_cache: _PromptCache | Literal["off"] | None = None,
    ) -> Extraction[_M]: ...
    @overload
    async def extract(
        self,
        response_model: Mapping[str, Any],
        messages: _Messages,
        *,
        mode: _Mode = "auto",
        max_retries: int = 3,
        token_budget: int | None = None,
        validation_context: Mapping[str, Any] | None = None,
        include_raw: Literal[False] = False,
        system: str | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        stop: str | Sequence[str] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        retry: Retry | None = None,
        deadline: float | None = None,
        prompt_cache: _PromptCache | Literal["off"] | None = None,
    ) -> dict[str, Any]: ...
    @overload
    async def extract(
        self,
        response_model: Mapping[str, Any],
        messages: _Messages,
        *,
        mode: _Mode = "auto",
        max_retries: int = 3,
        token_budget: int | None = None,
        validation_context: Mapping[str, Any] | None = None,
        include_raw: Literal[True],
        system: str | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        stop: str | Sequence[str] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        retry: Retry | None = None,
        deadline: float | None = None,
        prompt_cache: _PromptCache | Literal["off"] | None = None,
    ) -> Extraction[dict[str, Any]]: ...
    @overload
    async def extract(
        self,
        response_model: Any,
        messages: _Messages,
        *,
        mode: str = "auto",
        max_retries: int = 3,
        token_budget: int | None = None,
        validation_context: Mapping[str, Any] | None = None,
        include_raw: bool = False,
        system: str | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        stop: str | Sequence[str] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        retry: Retry | None = None,
        deadline: float | None = None,
        prompt_cache: _PromptCache | Literal["off"] | None = None,
    ) -> Any: ...
    @overload
    def extract_sync(
        self,
        response_model: type[_M],
        messages: _Messages,
        *,
        mode: _Mode = "auto",
        max_retries: int = 3,
        token_budget: int | None = None,
        validation_context: Mapping[str, Any] | None = None,
        include_raw: Literal[False] = False,
        system: str | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        stop: str | Sequence[str] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        retry: Retry | None = None,
        deadline: float | None = None,
        prompt_cache: _PromptCache | Literal["off"] | None = None,
    ) -> _M: ...
    @overload
    def extract_sync(
        self,
        response_model: type[_M],
        messages: _Messages,
        *,
        mode: _Mode = "auto",
        max_retries: int = 3,
        token_budget: int | None = None,
        validation_context: Mapping[str, Any] | None = None,
        include_raw: Literal[True],
        system: str | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        stop: str | Sequence[str] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        retry: Retry | None = None,
        deadline: float | None = None,
        prompt_cache: _PromptCache | Literal["off"] | None = None,
    ) -> Extraction[_M]: ...
    @overload
    def extract_sync(
        self,
        response_model: Mapping[str, Any],
        messages: _Messages,
        *,
        mode: _Mode = "auto",
        max_retries: int = 3,
        token_budget: int | None = None,
        validation_context: Mapping[str, Any] | None = None,
        include_raw: Literal[False] = False,
        system: str | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        stop: str | Sequence[str] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        retry: Retry | None = None,
        deadline: float | None = None,
        prompt_cache: _PromptCache | Literal["off"] | None = None,
    ) -> dict[str, Any]: ...
    @overload
    def extract_sync(
        self,
        response_model: Mapping[str, Any],
        messages: _Messages,
        *,
        mode: _Mode = "auto",
        max_retries: int = 3,
        token_budget: int | None = None,
        validation_context: Mapping[str, Any] | None = None,
        include_raw: Literal[True],
        system: str | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        stop: str | Sequence[str] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        retry: Retry | None = None,
        deadline: float | None = None,
        prompt_cache: _PromptCache | Literal["off"] | None = None,
    ) -> Extraction[dict[str, Any]]: ...
    @overload
    def extract_sync(
        self,
        response_model: Any,
        messages: _Messages,
        *,
        mode: str = "auto",
        max_retries: int = 3,
        token_budget: int | None = None,
        validation_context: Mapping[str, Any] | None = None,
        include_raw: bool = False,
        system: str | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        stop: str | Sequence[str] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        retry: Retry | None = None,
        deadline: float | None = None,
        prompt_cache: _PromptCache | Literal["off"] | None = None,
    ) -> Any: ...
    @overload
    def extract_stream(
        self,
        response_model: type[_M],
        messages: _Messages,
        *,
        mode: _Mode = "auto",
        max_retries: int = 3,
        token_budget: int | None = None,
        validation_context: Mapping[str, Any] | None = None,
        include_raw: Literal[False] = False,
        system: str | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        stop: str | Sequence[str] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        retry: Retry | None = None,
        deadline: float | None = None,
        prompt_cache: _PromptCache | Literal["off"] | None = None,
    ) -> ExtractStream[_M]: ...
    @overload
    def extract_stream(
        self,
        response_model: type[_M],
        messages: _Messages,
        *,
        mode: _Mode = "auto",
        max_retries: int = 3,
        token_budget: int | None = None,
        validation_context: Mapping[str, Any] | None = None,
        include_raw: Literal[True],
        system: str | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        stop: str | Sequence[str] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        retry: Retry | None = None,
        deadline: float | None = None,
        prompt_cache: _PromptCache | Literal["off"] | None = None,
    ) -> ExtractStream[Extraction[_M]]: ...
    @overload
    def extract_stream(
        self,
        response_model: Mapping[str, Any],
        messages: _Messages,
        *,
        mode: _Mode = "auto",
        max_retries: int = 3,
        token_budget: int | None = None,
        validation_context: Mapping[str, Any] | None = None,
        include_raw: Literal[False] = False,
        system: str | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        stop: str | Sequence[str] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        retry: Retry | None = None,
        deadline: float | None = None,
        prompt_cache: _PromptCache | Literal["off"] | None = None,
    ) -> ExtractStream[dict[str, Any]]: ...
    @overload
    def extract_stream(
        self,
        response_model: Mapping[str, Any],
        messages: _Messages,
        *,
        mode: _Mode = "auto",
        max_retries: int = 3,
        token_budget: int | None = None,
        validation_context: Mapping[str, Any] | None = None,
        include_raw: Literal[True],
        system: str | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        stop: str | Sequence[str] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        retry: Retry | None = None,
        deadline: float | None = None,
        prompt_cache: _PromptCache | Literal["off"] | None = None,
    ) -> ExtractStream[Extraction[dict[str, Any]]]: ...
    @overload
    def extract_stream(
        self,
        response_model: Any,
        messages: _Messages,
        *,
        mode: str = "auto",
        max_retries: int = 3,
        token_budget: int | None = None,
        validation_context: Mapping[str, Any] | None = None,
        include_raw: bool = False,
        system: str | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        stop: str | Sequence[str] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        retry: Retry | None = None,
        deadline: float | None = None,
        prompt_cache: _PromptCache | Literal["off"] | None = None,
    ) -> ExtractStream[Any]: ...

@final
class Extraction(Generic[_T]):
    @property
    def value(self) -> _T: ...
    @property
    def attempts(self) -> int: ...
    @property
    def usage(self) -> Usage: ...
    @property
    def cost_usd(self) -> float | None: ...
    @property
    def raw(self) -> list[str]: ...
    @property
    def errors(self) -> list[list[str]]: ...
    @property
    def mode(self) -> Literal["tool", "json_schema", "json", "prompt"]: ...
    @property
    def provider(self) -> str: ...
    @property
    def model(self) -> str: ...

@final
class ExtractStream(Generic[_T]):
    """Yields partial dicts while the answer streams, then the final value (``_T``)."""
    def __aiter__(self) -> Self: ...
    def __anext__(self) -> Awaitable[dict[str, Any] | _T]: ...
    def __iter__(self) -> Self: ...
    def __next__(self) -> dict[str, Any] | _T: ...
    def close(self) -> None: ...

@final
class JsonSchema:
    def __new__(cls, schema: Mapping[str, Any]) -> JsonSchema: ...
    def validate_json(self, text: str) -> Any: ...
    def errors(self, value: Any) -> list[str]: ...

@final
class Cassette:
    def __new__(
        cls,
        path: str,
        *,
        mode: str | None = None,
        match_on: Sequence[str] | None = None,
        ignore_fields: Sequence[str] = ...,
        ignore_query: Sequence[str] = ...,
        scrub_headers: Sequence[str] = ...,
        scrub_query: Sequence[str] = ...,
        scrub_fields: Sequence[str] = ...,
        allow_playback_repeats: bool = False,
        pace: float = 0.0,
    ) -> Cassette: ...
    def activate(self) -> None: ...
    def deactivate(self) -> bool: ...
    @property
    def path(self) -> str: ...
    @property
    def mode(self) -> str: ...
    def __len__(self) -> int: ...
    @property
    def play_count(self) -> int: ...
    @property
    def record_count(self) -> int: ...

@final
class MockServer:
    def __new__(cls) -> MockServer: ...
    @property
    def url(self) -> str: ...
    @property
    def port(self) -> int: ...
    def push(self, reply: Mapping[str, Any]) -> None: ...
    def set_default(self, reply: Mapping[str, Any] | None) -> None: ...
    @property
    def requests(self) -> list[Any]: ...
    def clear(self) -> None: ...
    @property
    def disconnects(self) -> int: ...
    @property
    def connections(self) -> int: ...
    @property
    def pending(self) -> int: ...
    def shutdown(self) -> None: ...
    def __enter__(self) -> Self: ...
    def __exit__(self, exc_type: object, exc: object, tb: object) -> bool: ...

class _CachePlan(TypedDict):
    tools: Literal["5m", "1h"] | None
    system: Literal["5m", "1h"] | None
    message: tuple[int, Literal["5m", "1h"]] | None
    automatic: Literal["5m", "1h"] | None
    prompt_cache_key: str | None

def plan_prompt_cache(
    provider: str,
    model: str,
    messages: _Messages,
    *,
    system: str | None = None,
    tools: Sequence[Mapping[str, Any]] | None = None,
    prompt_cache: _PromptCache = "5m",
) -> _CachePlan: ...
def reset_log_levels() -> None: ...
def quiesce() -> None: ...
async def bench_noop_native() -> int: ...
def bench_noop_future_into_py() -> Any: ...
