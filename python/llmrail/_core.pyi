# Type stubs for the native module. `make test` checks them against the built module (stubtest),
# and tests_py/test_stub.py that every public class, method, function and option has a docstring:
# editors show these on hover.
import os
from collections.abc import Awaitable, Iterable, Mapping, Sequence
from typing import Any, Generic, Literal, TypeVar, final, overload

from typing_extensions import Required, Self, TypedDict, Unpack

from llmrail._options import ChatOptions, _ExtractCommon, _Mode, _PromptCache

__version__: str
__all__ = [
    "BreakerStatus",
    "CircuitBreaker",
    "RateLimit",
    "Retry",
    "CacheStats",
    "Capabilities",
    "Cassette",
    "ChatResponse",
    "ChatStream",
    "Client",
    "ExtractStream",
    "Extraction",
    "HttpBody",
    "HttpReply",
    "JsonSchema",
    "MockProvider",
    "MockServer",
    "StreamEvent",
    "ToolCall",
    "Usage",
    "__version__",
    "bench_noop_future_into_py",
    "bench_noop_native",
    "plan_prompt_cache",
    "quiesce",
    "register_provider",
    "reset_log_levels",
    "send_http",
    "send_http_sync",
]

_Message = Mapping[str, Any]
_Messages = str | Iterable[_Message]
_T = TypeVar("_T")
_M = TypeVar("_M")

@final
class Usage:
    """Tokens one call (or one extraction, over all its attempts) used."""
    @property
    def input_tokens(self) -> int:
        """Every input token, cached ones included."""
    @property
    def output_tokens(self) -> int:
        """Tokens of the answer, thinking included."""
    @property
    def cache_read_tokens(self) -> int:
        """Input tokens read from the provider's prompt cache."""
    @property
    def cache_write_tokens(self) -> int:
        """Input tokens written to the provider's prompt cache."""
    @property
    def total_tokens(self) -> int:
        """Input and output tokens together."""
    def __eq__(self, value: object, /) -> bool: ...

@final
class ToolCall:
    """A tool call the model asked for."""
    @property
    def id(self) -> str:
        """The provider's id of this call, to answer it with a ``tool`` message. For Gemini it
        ends with the call's thought signature (after ``__thought__``), which goes back with the
        call on the next turn: send the id back as it is."""
    @property
    def name(self) -> str:
        """The tool's name."""
    @property
    def arguments(self) -> dict[str, Any] | None:
        """The arguments parsed, or ``None`` when the model's text is not a JSON object (invalid,
        or cut off at ``max_tokens``); ``raw_arguments`` still has it."""
    @property
    def raw_arguments(self) -> str:
        """The arguments exactly as the model sent them."""

@final
class ChatResponse:
    """One answer, with what it cost and how the call went."""
    @property
    def text(self) -> str:
        """All text blocks joined."""
    @property
    def tool_calls(self) -> list[ToolCall]:
        """The tool calls the model asked for, in order."""
    @property
    def content(self) -> list[dict[str, Any]]:
        """The answer as blocks: ``{"type": "text" | "tool_call" | "thinking", ...}``."""
    @property
    def finish_reason(self) -> Literal["stop", "length", "tool_calls", "content_filter"] | None:
        """Why the answer ended, the same four words for every provider."""
    @property
    def usage(self) -> Usage:
        """Tokens used."""
    @property
    def model(self) -> str:
        """The model that answered, as the provider named it."""
    @property
    def provider(self) -> str:
        """The provider that answered ("openai", "anthropic", ...)."""
    @property
    def request_id(self) -> str | None:
        """The provider's request id, for its support."""
    @property
    def latency(self) -> float:
        """Seconds from sending the request to having the whole answer."""
    @property
    def attempts(self) -> int:
        """Requests sent for this answer, retries and fallbacks included."""
    @property
    def retry_wait(self) -> float:
        """Seconds slept between attempts (backoff and the server's Retry-After)."""
    @property
    def rate_limit_wait(self) -> float:
        """Seconds spent waiting for client-side rate-limit capacity."""
    @property
    def fallback_used(self) -> bool:
        """Whether a fallback model answered (then ``provider`` and ``model`` name it)."""
    @property
    def cost_usd(self) -> float | None:
        """USD, cache writes and reads at their own prices; ``None`` for a model without a price."""
    def raw(self) -> dict[str, Any]:
        """The provider's JSON body, parsed on demand."""

@final
class StreamEvent:
    """One streamed event; the last ("done") carries the call's accounting."""
    @property
    def type(self) -> Literal["text", "thinking", "tool_call_delta", "done"]:
        """What this event carries."""
    @property
    def text(self) -> str:
        """The text delta ("" for events of other types)."""
    @property
    def index(self) -> int | None:
        """A tool-call delta's tool call, counted from 0."""
    @property
    def id(self) -> str | None:
        """A tool-call delta's call id (on its first delta)."""
    @property
    def name(self) -> str | None:
        """A tool-call delta's tool name (on its first delta)."""
    @property
    def arguments(self) -> str | None:
        """A tool-call delta's fragment of JSON arguments."""
    @property
    def finish_reason(self) -> Literal["stop", "length", "tool_calls", "content_filter"] | None:
        """On "done": why the answer ended."""
    @property
    def usage(self) -> Usage | None:
        """On "done": tokens used."""
    @property
    def model(self) -> str | None:
        """On "done": the model that answered."""
    @property
    def request_id(self) -> str | None:
        """On "done": the provider's request id."""
    @property
    def cost_usd(self) -> float | None:
        """On "done": USD, or ``None`` for a model without a price."""
    @property
    def attempts(self) -> int | None:
        """On "done": requests sent, retries and fallbacks included."""
    @property
    def retry_wait(self) -> float | None:
        """On "done": seconds slept between attempts."""
    @property
    def rate_limit_wait(self) -> float | None:
        """On "done": seconds spent waiting for client-side rate-limit capacity."""
    @property
    def fallback_used(self) -> bool | None:
        """On "done": whether a fallback model answered."""

@final
class CacheStats:
    """A client's prompt-cache totals since it was built: every successful call counts."""
    @property
    def requests(self) -> int:
        """Successful calls counted."""
    @property
    def input_tokens(self) -> int:
        """Input tokens over those calls, cached ones included."""
    @property
    def cache_read_tokens(self) -> int:
        """Input tokens read from the cache."""
    @property
    def cache_write_tokens(self) -> int:
        """Input tokens written to the cache."""
    @property
    def cache_breaks(self) -> int:
        """Calls whose cached prefix changed since the previous call (each logged a warning)."""
    @property
    def hit_rate(self) -> float:
        """Share of all input tokens read from the cache (0.0 before any call)."""

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
    ) -> Retry:
        """A retry policy; ``max_attempts`` counts the first attempt."""
    @property
    def max_attempts(self) -> int:
        """Attempts in all, the first included."""
    @property
    def initial_delay(self) -> float:
        """Seconds before the second attempt."""
    @property
    def max_delay(self) -> float:
        """The longest wait between attempts, and the longest Retry-After honoured."""
    @property
    def multiplier(self) -> float:
        """How much each wait grows over the previous one."""
    @property
    def jitter(self) -> Literal["full", "equal", "none"]:
        """How much of each wait is random."""
    def __eq__(self, value: object, /) -> bool: ...

@final
class RateLimit:
    """At most ``rpm`` requests and ``tpm`` tokens in any 60 s, shared by every call with the same
    ``key`` (through Redis with the client's ``redis_url``)."""
    def __new__(
        cls, rpm: int | None = None, tpm: int | None = None, *, key: str | None = None, wait: bool = True
    ) -> RateLimit:
        """A limit; ``wait=False`` raises ``RateLimitError`` at once instead of waiting for capacity."""
    @property
    def rpm(self) -> int | None:
        """Requests per minute, or ``None`` for no request limit."""
    @property
    def tpm(self) -> int | None:
        """Tokens per minute, or ``None`` for no token limit."""
    @property
    def key(self) -> str | None:
        """The name calls share the limit under (the model's by default)."""
    @property
    def wait(self) -> bool:
        """Whether a call waits for capacity rather than failing at once."""
    def __eq__(self, value: object, /) -> bool: ...

@final
class CircuitBreaker:
    """When a target's breaker opens (a streak of failures, or a failure rate over a
    window), and how long it stays open before one probe call is let through."""
    def __new__(
        cls,
        failure_threshold: int = 5,
        *,
        failure_rate: float = 0.5,
        min_calls: int = 20,
        window: float = 60.0,
        cooldown: float = 30.0,
    ) -> CircuitBreaker:
        """A breaker setting for ``Client(circuit_breaker=...)``."""
    @property
    def failure_threshold(self) -> int:
        """Failures in a row that open the breaker."""
    @property
    def failure_rate(self) -> float:
        """Share of failed calls over ``window`` that opens the breaker."""
    @property
    def min_calls(self) -> int:
        """Calls in the window before ``failure_rate`` is judged."""
    @property
    def window(self) -> float:
        """Seconds the failure rate is measured over."""
    @property
    def cooldown(self) -> float:
        """Seconds the breaker stays open before a probe call."""
    def __eq__(self, value: object, /) -> bool: ...

@final
class BreakerStatus:
    """One breaker's state, from ``client.health()``."""
    @property
    def name(self) -> str:
        """The breaker's "provider/model"."""
    @property
    def state(self) -> Literal["closed", "open", "half_open"]:
        """Closed (calls pass), open (calls fail at once) or half open (one probe)."""
    @property
    def consecutive_failures(self) -> int:
        """Failures in a row so far."""
    @property
    def calls(self) -> float:
        """Calls over the last window (weighted toward the present)."""
    @property
    def failures(self) -> float:
        """Failures over the last window (weighted toward the present)."""
    @property
    def retry_in(self) -> float | None:
        """Seconds until a probe is let through, while open."""
    @property
    def shared(self) -> bool:
        """Whether this state is the one shared through Redis."""

class _Fallback(TypedDict, total=False):
    """A fallback model with its own key or base URL."""

    model: Required[str]
    """The fallback's "provider/model"."""
    api_key: str
    """Its API key (the provider's environment variable when not given)."""
    base_url: str
    """Its base URL (the provider's when not given)."""

@final
class ChatStream:
    """A streamed answer's events, for ``async for`` and ``for``."""
    def __aiter__(self) -> Self: ...
    def __anext__(self) -> Awaitable[StreamEvent]: ...
    def __iter__(self) -> Self: ...
    def __next__(self) -> StreamEvent: ...
    def close(self) -> None:
        """Stop receiving and drop the connection."""

class _ExtractValue(_ExtractCommon, total=False):
    """Extraction options that return the value alone."""

    mode: _Mode
    """How the answer is asked for ("auto": the provider's best)."""
    include_raw: Literal[False]
    """False (the default): the value alone."""

class _ExtractRaw(_ExtractCommon, total=False):
    """Extraction options that return an ``Extraction``."""

    mode: _Mode
    """How the answer is asked for ("auto": the provider's best)."""
    include_raw: Required[Literal[True]]
    """True: an ``Extraction`` around the value."""

class _ExtractAny(_ExtractCommon, total=False):
    """Extraction options for a target mypy cannot see."""

    mode: str
    """How the answer is asked for ("auto": the provider's best)."""
    include_raw: bool
    """Whether an ``Extraction`` comes back around the value."""

@final
class Capabilities:
    """What a client's model can do; ``None`` where the model catalogue does not know."""
    @property
    def streaming(self) -> bool:
        """Streamed answers (every provider llmrail speaks)."""
    @property
    def tools(self) -> bool:
        """Tool calls, and tool results sent back (every provider llmrail speaks)."""
    @property
    def structured_output(self) -> bool | None:
        """Output constrained to a JSON schema by the API (``extract``'s auto mode uses it)."""
    @property
    def vision(self) -> bool | None:
        """Images in messages."""
    @property
    def prompt_caching(self) -> bool | None:
        """Prompt-prefix caching."""
    @property
    def batch_api(self) -> bool | None:
        """A batch API."""

@final
class Client:
    """A model to call ("provider/model"), with its retries, limits, breaker and fallbacks."""
    def __new__(
        cls,
        model: str | None = None,
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
        api_version: str | None = None,
    ) -> Client:
        """Byte caps: max_response_bytes per decompressed answer (64 MiB), max_event_bytes per event (16 MiB).

        Without ``model``, ``LLMRAIL_MODEL`` names it and, unless ``fallbacks`` are given (a
        non-empty list), ``LLMRAIL_FALLBACKS`` lists fallbacks, comma-separated; with neither,
        ``ConfigurationError``.

        ``api_version`` is Azure OpenAI's ``api-version`` (default: ``OPENAI_API_VERSION``); it is
        refused for a client with no ``azure/<deployment>`` model.
        """
    @property
    def provider(self) -> str:
        """The provider the model string named ("openai", "anthropic", ...)."""
    @property
    def model(self) -> str:
        """The model, without its provider."""
    @property
    def base_url(self) -> str:
        """Where calls go; a `user:password@` and secret query values shown as REDACTED."""
    @property
    def capabilities(self) -> Capabilities:
        """What the model can do, from the provider and the model catalogue."""
    async def check(self) -> float:
        """One cheap authenticated request (listing the models): its latency in seconds.

        A refused key raises the typed error (``AuthenticationError``), as a call would.
        """
    def check_sync(self) -> float:
        """The same check, blocking this thread (the GIL is released while waiting)."""
    def health(self) -> list[BreakerStatus]:
        """Each circuit breaker's state (primary first, then fallbacks)."""
    def cache_stats(self) -> CacheStats:
        """Cache totals over this client's calls so far, and its cache hit rate."""
    async def chat(self, messages: _Messages, **options: Unpack[ChatOptions]) -> ChatResponse:
        """One answer; ``messages`` is a string or OpenAI-shaped message dicts.

        ``extra_body`` adds request body fields llmrail does not model; it cannot set one an
        argument writes (``model``, ``messages``, ``system``, ``max_tokens``,
        ``max_completion_tokens``, ``tools``, ``tool_choice``, ``stream``), nor ``temperature``,
        ``top_p``, ``stop`` or ``stop_sequences`` beside that argument. Every argument must be JSON as
        ``json.dumps(..., allow_nan=False)`` sees it, nested at most 100 deep, with no lone
        surrogates; anything else raises ``ConfigurationError`` naming the argument and path.
        """
    def chat_sync(self, messages: _Messages, **options: Unpack[ChatOptions]) -> ChatResponse:
        """The same call, blocking this thread (the GIL is released while waiting)."""
    def stream(self, messages: _Messages, **options: Unpack[ChatOptions]) -> ChatStream:
        """A streamed call: ``async for event in client.stream(...)`` or, sync, ``for event in ...``."""
    @overload
    async def extract(
        self, response_model: type[_M], messages: _Messages, **options: Unpack[_ExtractValue]
    ) -> _M:
        """An instance of the pydantic model ``response_model``, validated; await it."""
    @overload
    async def extract(
        self, response_model: type[_M], messages: _Messages, **options: Unpack[_ExtractRaw]
    ) -> Extraction[_M]:
        """The validated instance in an ``Extraction`` with its attempts, usage and cost."""
    @overload
    async def extract(
        self, response_model: Mapping[str, Any], messages: _Messages, **options: Unpack[_ExtractValue]
    ) -> dict[str, Any]:
        """A dict valid against the JSON Schema ``response_model``; await it."""
    @overload
    async def extract(
        self, response_model: Mapping[str, Any], messages: _Messages, **options: Unpack[_ExtractRaw]
    ) -> Extraction[dict[str, Any]]:
        """The valid dict in an ``Extraction`` with its attempts, usage and cost."""
    @overload
    async def extract(self, response_model: Any, messages: _Messages, **options: Unpack[_ExtractAny]) -> Any:
        """A value valid against ``response_model`` (a pydantic model or a JSON Schema)."""
    @overload
    def extract_sync(
        self, response_model: type[_M], messages: _Messages, **options: Unpack[_ExtractValue]
    ) -> _M:
        """The same extraction, blocking this thread (the GIL is released while waiting)."""
    @overload
    def extract_sync(
        self, response_model: type[_M], messages: _Messages, **options: Unpack[_ExtractRaw]
    ) -> Extraction[_M]:
        """The same extraction in an ``Extraction``, blocking this thread."""
    @overload
    def extract_sync(
        self, response_model: Mapping[str, Any], messages: _Messages, **options: Unpack[_ExtractValue]
    ) -> dict[str, Any]:
        """A dict valid against the JSON Schema, blocking this thread."""
    @overload
    def extract_sync(
        self, response_model: Mapping[str, Any], messages: _Messages, **options: Unpack[_ExtractRaw]
    ) -> Extraction[dict[str, Any]]:
        """The valid dict in an ``Extraction``, blocking this thread."""
    @overload
    def extract_sync(self, response_model: Any, messages: _Messages, **options: Unpack[_ExtractAny]) -> Any:
        """A value valid against ``response_model``, blocking this thread."""
    @overload
    def extract_stream(
        self, response_model: type[_M], messages: _Messages, **options: Unpack[_ExtractValue]
    ) -> ExtractStream[_M]:
        """Partial dicts while the answer streams, then the validated instance."""
    @overload
    def extract_stream(
        self, response_model: type[_M], messages: _Messages, **options: Unpack[_ExtractRaw]
    ) -> ExtractStream[Extraction[_M]]:
        """Partial dicts while the answer streams, then the ``Extraction``."""
    @overload
    def extract_stream(
        self, response_model: Mapping[str, Any], messages: _Messages, **options: Unpack[_ExtractValue]
    ) -> ExtractStream[dict[str, Any]]:
        """Partial dicts while the answer streams, then the valid dict."""
    @overload
    def extract_stream(
        self, response_model: Mapping[str, Any], messages: _Messages, **options: Unpack[_ExtractRaw]
    ) -> ExtractStream[Extraction[dict[str, Any]]]:
        """Partial dicts while the answer streams, then the ``Extraction``."""
    @overload
    def extract_stream(
        self, response_model: Any, messages: _Messages, **options: Unpack[_ExtractAny]
    ) -> ExtractStream[Any]:
        """Partial dicts while the answer streams, then the validated value."""

@final
class Extraction(Generic[_T]):
    """A validated value and what it took, summed over every attempt."""
    @property
    def value(self) -> _T:
        """The validated value."""
    @property
    def attempts(self) -> int:
        """Answers asked for, the re-asks included."""
    @property
    def usage(self) -> Usage:
        """Tokens over all attempts."""
    @property
    def cost_usd(self) -> float | None:
        """USD over all attempts; ``None`` for a model without a price."""
    @property
    def raw(self) -> list[str]:
        """Each attempt's answer as the model wrote it."""
    @property
    def errors(self) -> list[list[str]]:
        """Each attempt's validation errors ("field: problem"); the last is empty."""
    @property
    def mode(self) -> Literal["tool", "json_schema", "json", "prompt"]:
        """How the answer was asked for ("auto" resolved)."""
    @property
    def provider(self) -> str:
        """The provider that answered."""
    @property
    def model(self) -> str:
        """The model that answered."""

@final
class ExtractStream(Generic[_T]):
    """Yields partial dicts while the answer streams, then the final value (``_T``)."""
    def __aiter__(self) -> Self: ...
    def __anext__(self) -> Awaitable[dict[str, Any] | _T]: ...
    def __iter__(self) -> Self: ...
    def __next__(self) -> dict[str, Any] | _T: ...
    def close(self) -> None:
        """Stop receiving and drop the connection."""

@final
class JsonSchema:
    """A compiled JSON Schema with llmrail's lenient parser in front, as extraction uses it."""
    def __new__(cls, schema: Mapping[str, Any]) -> JsonSchema:
        """Compile ``schema`` (no remote ``$ref`` is fetched)."""
    def validate_json(self, text: str) -> Any:
        """Parse ``text`` leniently and validate it: the value, or a ``ValueError`` listing every problem."""
    def errors(self, value: Any) -> list[str]:
        """Every problem with an already parsed value, as "field: problem"."""

@final
class Cassette:
    """A loaded cassette; ``activate()`` routes every request of the process through it."""
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
    ) -> Cassette:
        """Load (or prepare to record) ``path``; ``llmrail.replay`` explains every argument."""
    def activate(self) -> None:
        """Route every request of this process through this cassette (innermost wins)."""
    def deactivate(self) -> bool:
        """Stop routing through it and write what was recorded; says whether the file was written."""
    @property
    def path(self) -> str:
        """The cassette's file."""
    @property
    def mode(self) -> str:
        """The record mode in force (the default resolved)."""
    def __len__(self) -> int:
        """Interactions loaded from the file."""
    @property
    def play_count(self) -> int:
        """Loaded interactions replayed so far."""
    @property
    def record_count(self) -> int:
        """Interactions recorded since the cassette was opened."""

@final
class MockServer:
    """A mock OpenAI / Anthropic server on 127.0.0.1; started on construction."""
    def __new__(cls, port: int = 0) -> MockServer:
        """Start a server on ``port`` of 127.0.0.1 (0: a free one)."""
    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``; OpenAI clients use ``url + "/v1"`` as base URL."""
    @property
    def port(self) -> int:
        """The port it listens on."""
    def push(self, reply: Mapping[str, Any]) -> None:
        """Queue a reply (a dict in the ``Reply`` shape)."""
    def set_default(self, reply: Mapping[str, Any] | None) -> None:
        """The reply used when the queue is empty; ``None`` goes back to echoing."""
    @property
    def requests(self) -> list[Any]:
        """Every request received, oldest first, as dicts."""
    def clear(self) -> None:
        """Forget recorded requests, queued replies, the default reply and the disconnect count."""
    @property
    def disconnects(self) -> int:
        """Requests the client abandoned before the response was complete."""
    @property
    def connections(self) -> int:
        """TCP connections accepted so far (since start or ``clear``)."""
    @property
    def pending(self) -> int:
        """How many more requests the queued replies will answer."""
    def shutdown(self) -> None:
        """Stop serving and release the port."""
    def __enter__(self) -> Self: ...
    def __exit__(self, exc_type: object, exc: object, tb: object) -> bool: ...

@final
class MockProvider:
    """The script of ``mock/<name>``: ``Client("mock/<name>")`` is answered from it in process.

    One script per name for the life of the process; the first use of a name loads the
    fixtures file named by ``LLMRAIL_MOCK_FIXTURES``, if set."""
    def __new__(cls, name: str) -> MockProvider:
        """The script of ``mock/<name>`` (the same one every time for the same name)."""
    @property
    def name(self) -> str:
        """The name after ``mock/``."""
    def push(self, reply: Mapping[str, Any]) -> None:
        """Queue a reply (a dict in the ``Reply`` shape); queued replies come before fixtures."""
    def set_default(self, reply: Mapping[str, Any] | None) -> None:
        """The reply when neither the queue nor a fixture rule answers; ``None``: echo."""
    def set_fixtures(self, source: str | os.PathLike[str] | Mapping[str, Any] | None) -> None:
        """Replace the fixture rules: a YAML or JSON file's path, its content as a dict, or ``None``."""
    @property
    def requests(self) -> list[Any]:
        """Every request answered, oldest first, as dicts."""
    @property
    def pending(self) -> int:
        """How many more requests the queued replies will answer."""
    def clear(self) -> None:
        """Forget requests, queued replies and the default reply (the fixtures stay)."""

@final
class HttpReply:
    """A response's status and headers, and its body: ``content`` when read whole, ``stream``
    when it is a stream of events (SSE, JSON lines) handed on as it arrives."""
    @property
    def status(self) -> int:
        """The HTTP status, an error one included (an answer, not an exception)."""
    @property
    def headers(self) -> list[tuple[bytes, bytes]]:
        """Raw ``(name, value)`` pairs in the order received."""
    @property
    def content(self) -> bytes | None:
        """The whole body, when it is not a stream of events; else ``None``."""
    @property
    def stream(self) -> HttpBody | None:
        """The body's chunks as they arrive, when it is a stream of events; else ``None``."""

@final
class HttpBody:
    """A streamed body's chunks, pulled one by one; ``close()`` closes the connection."""
    def __aiter__(self) -> Self: ...
    def __anext__(self) -> Awaitable[bytes]: ...
    def __iter__(self) -> Self: ...
    def __next__(self) -> bytes: ...
    def close(self) -> None:
        """Stop reading and close the connection (a stream not read to its end is not recorded)."""

async def send_http(
    method: str,
    url: str,
    headers: Sequence[tuple[bytes, bytes]],
    body: bytes,
    connect_timeout: float | None = None,
    read_timeout: float | None = None,
) -> HttpReply:
    """Send one request unchanged through llmrail's transport (pooled; recorded and replayed by
    the active cassette). The backend of ``llmrail.httpx``."""
def send_http_sync(
    method: str,
    url: str,
    headers: Sequence[tuple[bytes, bytes]],
    body: bytes,
    connect_timeout: float | None = None,
    read_timeout: float | None = None,
) -> HttpReply:
    """``send_http``, blocking this thread (the GIL is released while waiting)."""

class _CachePlan(TypedDict):
    """Where the prompt-cache breakpoints of a request go."""

    tools: Literal["5m", "1h"] | None
    """The TTL of a breakpoint after the tools, if one goes there."""
    system: Literal["5m", "1h"] | None
    """The TTL of a breakpoint after the system prompt, if one goes there."""
    message: tuple[int, Literal["5m", "1h"]] | None
    """The message a breakpoint goes after, and its TTL."""
    automatic: Literal["5m", "1h"] | None
    """The TTL of the API's own automatic caching (Anthropic's top-level cache_control), if used."""
    prompt_cache_key: str | None
    """The cache key to send, where the provider takes one."""

def plan_prompt_cache(
    provider: str,
    model: str,
    messages: _Messages,
    *,
    system: str | None = None,
    tools: Sequence[Mapping[str, Any]] | None = None,
    prompt_cache: _PromptCache = "5m",
) -> _CachePlan:
    """Where llmrail would put the prompt-cache breakpoints of a request, for callers that write the markers."""
def register_provider(
    name: str,
    *,
    base_url: str,
    api_key_env: str | None = None,
    wire: Literal["openai", "anthropic"] = "openai",
    headers: Sequence[tuple[str, str]] | None = None,
) -> None:
    """Make ``Client("name/<model>")`` call your own service, which speaks ``wire``.

    The key comes from ``api_key_env`` (without one the service takes none); ``headers`` go with
    every request, and a client's ``headers=`` replace any of them. The registry is process-wide;
    registering a name again replaces it for clients built afterwards. A built-in provider's name
    or any bad argument raises ``ConfigurationError`` naming the argument.
    """
def reset_log_levels() -> None:
    """Read Python's logging levels again (pyo3-log caches them); call after changing them."""
def quiesce() -> None:
    """Registered with ``atexit``: no thread re-enters Python once the program has begun to end."""
async def bench_noop_native() -> int:
    """Benchmark probe: one await of a trivial task through the bridge the methods use."""
def bench_noop_future_into_py() -> Any:
    """Benchmark probe: the same await through ``pyo3_async_runtimes.future_into_py``."""
