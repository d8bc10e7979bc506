# Type stubs for the native module. `make test` checks them against the built module (stubtest),
# and tests_py/test_stub.py that every public class, method, function and option has a docstring:
# editors show these on hover.
import os
import pathlib
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any, Generic, Literal, TypeVar, final, overload

from typing_extensions import Required, Self, TypedDict, Unpack

from llmrail._options import BatchRequest, ChatOptions, _ExtractCommon, _Mode, _PromptCache
from llmrail.errors import LLMError

__version__: str
__all__ = [
    "BatchJob",
    "BatchStore",
    "Batcher",
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
    "ClientStats",
    "ExtractStream",
    "Gateway",
    "Extraction",
    "GeneratedImage",
    "HttpBody",
    "HttpForwarder",
    "HttpMeter",
    "HttpReply",
    "HttpUsage",
    "Images",
    "ImagesResponse",
    "ImagesSync",
    "JsonSchema",
    "MockProvider",
    "MockServer",
    "Prompt",
    "Prompts",
    "Queue",
    "QueueItem",
    "QueueWorker",
    "Queued",
    "StreamEvent",
    "ToolCall",
    "Usage",
    "__version__",
    "bench_noop_future_into_py",
    "bench_noop_native",
    "bench_telemetry_overhead",
    "check_prompts",
    "metrics_text",
    "plan_prompt_cache",
    "quiesce",
    "register_provider",
    "reset_log_levels",
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
class GeneratedImage:
    """One generated image."""
    @property
    def data(self) -> bytes | None:
        """The image's bytes, decoded from ``b64_json``; ``None`` for an image given only as a URL."""
    @property
    def b64_json(self) -> str | None:
        """The image as base64 (gpt-image models and Gemini always; dall-e with ``response_format="b64_json"``)."""
    @property
    def url(self) -> str | None:
        """Where to download the image (dall-e's default). Such a URL expires 60 minutes after
        the image was made: download it, or ask for ``response_format="b64_json"``."""
    @property
    def revised_prompt(self) -> str | None:
        """The prompt the model really used (dall-e-3 rewrites prompts)."""
    @property
    def mime_type(self) -> str | None:
        """``image/png``, ``image/jpeg`` or ``image/webp`` for base64 images."""

@final
class ImagesResponse:
    """The images of one call, what they used and cost, and how the call went."""
    @property
    def images(self) -> list[GeneratedImage]:
        """The images, in order."""
    @property
    def usage(self) -> Usage:
        """Tokens, where the provider reports them (gpt-image models, Gemini); zero otherwise."""
    @property
    def cost_usd(self) -> float | None:
        """USD at the catalogue's price per image for the quality and size made; ``None`` for a
        model (or a quality and size) without a price."""
    @property
    def model(self) -> str:
        """The model that answered."""
    @property
    def provider(self) -> str:
        """The provider that answered ("openai", "gemini")."""
    @property
    def created(self) -> int | None:
        """Unix seconds, as OpenAI stamps its answer."""
    @property
    def size(self) -> str | None:
        """The size the images were made at, when the answer says (gpt-image models)."""
    @property
    def quality(self) -> str | None:
        """The quality the images were made at, when the answer says (gpt-image models)."""
    @property
    def text(self) -> str | None:
        """Words the model wrote beside its images (Gemini)."""
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
    def fallback_used(self) -> bool:
        """Whether a fallback model answered (then ``provider`` and ``model`` name it)."""
    def __len__(self) -> int:
        """How many images came back."""

@final
class Images:
    """``client.images``: image generation, awaited."""
    async def generate(
        self,
        prompt: str,
        *,
        model: str | None = None,
        n: int | None = None,
        size: str | None = None,
        quality: str | None = None,
        background: str | None = None,
        output_format: str | None = None,
        output_compression: int | None = None,
        style: str | None = None,
        response_format: Literal["url", "b64_json"] | None = None,
        moderation: str | None = None,
        aspect_ratio: str | None = None,
        user: str | None = None,
        retry: Retry | None = None,
        deadline: float | None = None,
    ) -> ImagesResponse:
        """Generate images with ``model`` ("provider/model"; default: the client's, with its
        fallbacks). A model of another provider than the client's reads its key from the
        environment. Only the options given are sent, and each is checked against the model
        before sending (``ConfigurationError`` names the option, the model and what it allows):
        gpt-image models take ``size``, ``quality``, ``background``, ``output_format``,
        ``output_compression``, ``moderation`` and up to 10 images, never ``response_format``;
        dall-e-3 takes ``size``, ``quality``, ``style``, ``response_format`` and ``n=1`` only;
        Gemini image models take ``aspect_ratio`` (and ``size`` "1K"/"2K"/"4K" for Gemini 3 Pro
        Image). dall-e answers with URLs unless ``response_format="b64_json"``: such a URL
        expires 60 minutes after the image was made. Retries, rate limits, the circuit breaker,
        fallbacks, cassettes and telemetry apply as for ``chat``; a content-policy refusal
        raises ``ContentPolicyError`` and is never retried. ``retry`` and ``deadline`` (seconds
        for the whole call, retries and waits included) replace the client's for this call."""

@final
class ImagesSync:
    """``client.images_sync``: image generation, blocking the thread (the GIL released)."""
    def generate(
        self,
        prompt: str,
        *,
        model: str | None = None,
        n: int | None = None,
        size: str | None = None,
        quality: str | None = None,
        background: str | None = None,
        output_format: str | None = None,
        output_compression: int | None = None,
        style: str | None = None,
        response_format: Literal["url", "b64_json"] | None = None,
        moderation: str | None = None,
        aspect_ratio: str | None = None,
        user: str | None = None,
        retry: Retry | None = None,
        deadline: float | None = None,
    ) -> ImagesResponse:
        """As ``Images.generate``, blocking this thread. dall-e URLs expire after 60 minutes."""

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
    def response_id(self) -> str | None:
        """On "done": the provider's id of the answer (``msg_...``, ``chatcmpl-...``), when it has one."""
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
class ClientStats:
    """A client's totals since it was built or last read with `stats(reset=True)`."""
    @property
    def requests(self) -> int:
        """Calls finished, successful or not (a cancelled call counts as a CancelledError)."""
    @property
    def errors(self) -> dict[str, int]:
        """Failed calls by the exception's class name, e.g. `{"RateLimitError": 2}`."""
    @property
    def input_tokens(self) -> int:
        """Input tokens over the successful calls, cached ones included."""
    @property
    def output_tokens(self) -> int:
        """Output tokens over the successful calls."""
    @property
    def cache_read_tokens(self) -> int:
        """Input tokens read from the prompt cache (a part of input_tokens)."""
    @property
    def cache_write_tokens(self) -> int:
        """Input tokens written to the prompt cache (a part of input_tokens)."""
    @property
    def cost_usd(self) -> float:
        """At the catalogue's prices; calls to models without a price add nothing."""
    @property
    def latency_p50(self) -> float | None:
        """Seconds, from a DDSketch (1 % relative error), over every call; None before any."""
    @property
    def latency_p95(self) -> float | None:
        """Seconds; the 95th percentile, as latency_p50."""
    @property
    def latency_p99(self) -> float | None:
        """Seconds; the 99th percentile, as latency_p50."""
    @property
    def since(self) -> float:
        """When counting began (Unix time): the client's creation or the last reset."""

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
    @staticmethod
    def of(model: str) -> Capabilities:
        """The capabilities of ``"provider/model"``, without building a client (no key needed)."""
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
        """Batch jobs for this model go through the provider's batch API (half price); ``False``:
        they run as concurrent calls."""

class _BatchCounts(TypedDict):
    """How many items of a batch job are in each state."""

    pending: int
    """Not yet answered (waiting, running, or to be sent again)."""
    succeeded: int
    """Answered."""
    errored: int
    """Failed for good, with the typed error in ``results()``."""
    cancelled: int
    """Stopped by ``cancel()`` before they ran."""
    expired: int
    """Not processed within the provider's window (24 hours), and out of attempts."""

_BatchStatus = Literal[
    "submitted", "running", "finalizing", "ended", "failed", "cancelling", "cancelled", "expired"
]

class _BatchStats(TypedDict):
    """Batch jobs by status, their items by state, and their provider batches: the numbers a
    metrics exporter reads (``BatchJob.process_stats()``, ``BatchStore.stats()``)."""

    jobs: dict[_BatchStatus, int]
    """Every status, with how many jobs are in it (zeros included)."""
    items: _BatchCounts
    """The jobs' items, summed."""
    provider_batches: int
    """Provider batches made for them so far (retries included)."""

class _BatchJobSummary(TypedDict):
    """A job kept in a store, as ``BatchStore.jobs()`` lists it."""

    id: str
    """llmrail's id of the job: what ``BatchJob.resume`` takes."""
    provider: str
    """The provider the job runs on."""
    model: str
    """The model, without its provider."""
    status: _BatchStatus
    """Where the job stands, as ``BatchJob.status`` says."""
    mode: Literal["batch", "concurrent"]
    """"batch": the provider's batch API; "concurrent": real-time calls."""
    counts: _BatchCounts
    """How many items are in each state."""
    created_at: float
    """When the job was submitted, in Unix seconds."""
    expires_at: float | None
    """When the provider gives up on unprocessed items (Unix seconds)."""
    provider_batch_ids: list[str]
    """The ids of the provider batches made so far."""

@final
class BatchStore:
    """The batch jobs kept in one store file (what ``python -m llmrail batch`` reads)."""
    def __new__(cls, path: str | os.PathLike[str] | None = None) -> BatchStore:
        """Open the store at ``path`` (default: ``llmrail/batches.sqlite3`` in the user cache
        directory); a file that is not an llmrail batch store is refused."""
    @property
    def path(self) -> pathlib.Path:
        """The store file."""
    def jobs(self) -> list[_BatchJobSummary]:
        """Every job kept here, oldest first."""
    def stats(self) -> _BatchStats:
        """The jobs kept here by status, their items by state, and their provider batches."""

@final
class BatchJob:
    """A provider batch job (half price, answered within a day), or, for a provider without a
    batch API, the same requests as concurrent calls (``mode == "concurrent"``)."""
    @property
    def id(self) -> str:
        """llmrail's id of the job: what ``BatchJob.resume`` takes."""
    @property
    def provider(self) -> str:
        """The provider the job runs on ("anthropic", "openai", ...)."""
    @property
    def model(self) -> str:
        """The model, without its provider."""
    @property
    def status(self) -> _BatchStatus:
        """Where the job stands, in one vocabulary for every provider."""
    @property
    def mode(self) -> Literal["batch", "concurrent"]:
        """"batch": the provider's batch API; "concurrent": real-time calls through the client."""
    @property
    def counts(self) -> _BatchCounts:
        """How many items are pending, succeeded, errored, cancelled and expired."""
    @property
    def created_at(self) -> float:
        """When the job was submitted, in Unix seconds."""
    @property
    def expires_at(self) -> float | None:
        """When the provider gives up on unprocessed items (Unix seconds), as the provider says;
        Gemini's batch names no deadline, so there it is the creation time plus the 48 hours
        Google's batch guide gives. None in concurrent mode."""
    @property
    def provider_batch_ids(self) -> list[str]:
        """The ids of the provider batches made so far (retries make more)."""
    @property
    def custom_ids(self) -> list[str]:
        """The requests' custom ids, in input order (as ``results()`` is)."""
    @staticmethod
    def process_stats() -> _BatchStats:
        """The jobs this process holds (every ``BatchJob`` not yet dropped, a batcher's
        included) by status, their items by state, and their provider batches."""
    @property
    def usage(self) -> Usage:
        """Tokens summed over the items that succeeded; the job must have ended."""
    @property
    def cost_usd(self) -> float | None:
        """USD over the items that succeeded, at the provider's batch price (half, for
        Anthropic, OpenAI and Gemini); None when the model has no price."""
    async def wait(
        self,
        *,
        poll_interval: float | None = None,
        timeout: float | None = None,
        on_progress: Callable[[_BatchCounts], object] | None = None,
        progress: bool = False,
    ) -> None:
        """Wait until every item has its result, polling every ``poll_interval`` seconds (30).

        ``on_progress(counts)`` is called after each poll (each call, in concurrent mode); an
        exception it raises comes out of ``wait``. ``progress=True`` shows the progress on
        stderr: a tqdm bar when tqdm is installed, else one line rewritten in place. After
        ``timeout`` seconds, ``TimeoutError``: the job goes on, and can be waited for again or
        resumed.
        """
    def wait_sync(
        self,
        *,
        poll_interval: float | None = None,
        timeout: float | None = None,
        on_progress: Callable[[_BatchCounts], object] | None = None,
        progress: bool = False,
    ) -> None:
        """The same wait, blocking this thread (the GIL is released while waiting)."""
    async def cancel(self) -> None:
        """Ask the provider to stop; ``wait()`` then collects what finished before."""
    def results(self) -> list[ChatResponse | LLMError]:
        """One entry per request in input order: its answer, or the typed error for it.

        ``attempts`` on each says how many provider batches it took (retryable failures go
        again, up to 3 in all). Raises ``ConfigurationError`` while the job has not ended.
        """
    @staticmethod
    async def resume(
        job_id: str,
        *,
        store: str | os.PathLike[str] | None = None,
        api_key: str | None = None,
        base_url: str | None = None,
    ) -> BatchJob:
        """Continue a job kept in ``store`` (the default store when not given), by another
        process say: nothing is submitted twice, and results collected already are kept."""

@final
class Batcher:
    """Requests from many coroutines, sent together in provider batches (``client.batcher()``)."""
    async def chat(self, messages: _Messages, **options: Unpack[ChatOptions]) -> ChatResponse:
        """One request; its answer comes when the provider batch that carried it ends.

        A failed item raises its typed error, as ``chat`` would; ``attempts`` says how many
        provider batches it took.
        """
    async def aclose(self) -> None:
        """Send what is queued and wait until every batch has ended; later ``chat`` calls fail."""
    async def __aenter__(self) -> Self: ...
    async def __aexit__(self, exc_type: object, exc: object, tb: object) -> None: ...

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
        on_request: Callable[[dict[str, Any]], object] | None = None,
        on_response: Callable[[dict[str, Any], Any], object] | None = None,
        on_error: Callable[[dict[str, Any], LLMError], object] | None = None,
    ) -> Client:
        """Byte caps: max_response_bytes per decompressed answer (64 MiB), max_event_bytes per event (16 MiB).

        Hooks (sync or async callables) of ``chat``, ``stream`` and ``extract`` (sync too):
        ``on_request(options)`` as the call starts, then ``on_response(options, response)`` or
        ``on_error(options, error)``; ``options`` is a dict of ``model``, ``messages`` and the
        call's keyword arguments; ``response`` is the ``ChatResponse``, a stream's ``done``
        ``StreamEvent``, or an extraction's ``Extraction``. They run on a thread of llmrail's
        own, so a slow hook never delays a call, and one that raises is logged on the
        ``llmrail`` logger without affecting the call.

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
    def images(self) -> Images:
        """Image generation: ``await client.images.generate(prompt, ...)``."""
    @property
    def images_sync(self) -> ImagesSync:
        """Image generation, blocking: ``client.images_sync.generate(prompt, ...)``."""
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
    def stats(self, *, reset: bool = False) -> ClientStats:
        """This client's totals (calls, errors by kind, tokens, cost, latency p50/p95/p99) since
        it was built or last reset; `reset=True` starts counting again in the same moment."""
    @overload
    async def chat(
        self,
        messages: _Messages,
        *,
        prompt: None = None,
        variables: None = None,
        queue: None = None,
        processing: Literal["direct"] = "direct",
        **options: Unpack[ChatOptions],
    ) -> ChatResponse:
        """One answer; ``messages`` is a string or OpenAI-shaped message dicts.

        ``extra_body`` adds request body fields llmrail does not model; it cannot set one an
        argument writes (``model``, ``messages``, ``system``, ``max_tokens``,
        ``max_completion_tokens``, ``tools``, ``tool_choice``, ``stream``), nor ``temperature``,
        ``top_p``, ``stop`` or ``stop_sequences`` beside that argument. Every argument must be JSON as
        ``json.dumps(..., allow_nan=False)`` sees it, nested at most 100 deep, with no lone
        surrogates; anything else raises ``ConfigurationError`` naming the argument and path.
        """
    @overload
    async def chat(
        self,
        messages: _Messages,
        *,
        prompt: None = None,
        variables: None = None,
        queue: Queue,
        processing: Literal["direct", "queue", "auto"] = "direct",
        **options: Unpack[ChatOptions],
    ) -> ChatResponse | Queued[ChatResponse]:
        """With ``queue=``: ``processing="queue"`` stores the request and returns ``Queued`` at once;
        ``"auto"`` answers directly while the provider is healthy and returns ``Queued`` when its
        breaker is open or the call ends in an outage (overloaded, server error, timeout,
        connection); ``"direct"`` (the default) never queues."""
    @overload
    async def chat(
        self,
        messages: None = None,
        *,
        prompt: Prompt,
        variables: Mapping[str, Any] | None = None,
        queue: Queue | None = None,
        processing: Literal["direct", "queue", "auto"] = "direct",
        **options: Unpack[ChatOptions],
    ) -> ChatResponse:
        """``prompt`` (from ``Prompts``) rendered with ``variables`` for this client's provider
        and model: its variant, its environment; an option passed here wins over the prompt's."""
    @overload
    def chat_sync(
        self,
        messages: _Messages,
        *,
        prompt: None = None,
        variables: None = None,
        queue: None = None,
        processing: Literal["direct"] = "direct",
        **options: Unpack[ChatOptions],
    ) -> ChatResponse:
        """The same call, blocking this thread (the GIL is released while waiting)."""
    @overload
    def chat_sync(
        self,
        messages: _Messages,
        *,
        prompt: None = None,
        variables: None = None,
        queue: Queue,
        processing: Literal["direct", "queue", "auto"] = "direct",
        **options: Unpack[ChatOptions],
    ) -> ChatResponse | Queued[ChatResponse]:
        """The same call with a queue, blocking this thread: a response, or ``Queued``."""
    @overload
    def chat_sync(
        self,
        messages: None = None,
        *,
        prompt: Prompt,
        variables: Mapping[str, Any] | None = None,
        queue: Queue | None = None,
        processing: Literal["direct", "queue", "auto"] = "direct",
        **options: Unpack[ChatOptions],
    ) -> ChatResponse:
        """The same call with a prompt template, blocking this thread."""
    async def submit_batch(
        self,
        requests: Sequence[BatchRequest],
        *,
        store: str | os.PathLike[str] | None = None,
        concurrency: int | None = None,
    ) -> BatchJob:
        """Submit the requests as one job; await it for the ``BatchJob``.

        Anthropic, OpenAI and Gemini models go through the provider's batch API (split into several
        provider batches past its limits); other providers run the requests as concurrent calls
        (``concurrency`` at once, 32 by default) in ``wait()``. The job's state is kept in
        ``store`` (a SQLite file; by default under the user cache directory) so that
        ``BatchJob.resume`` can continue it. A duplicate ``custom_id`` or a streaming request
        raises ``ConfigurationError`` before anything is sent.
        """
    async def batch(
        self,
        requests: Sequence[BatchRequest],
        *,
        poll_interval: float | None = None,
        timeout: float | None = None,
        store: str | os.PathLike[str] | None = None,
        concurrency: int | None = None,
    ) -> list[ChatResponse | LLMError]:
        """``submit_batch``, ``wait`` and ``results`` in one call."""
    def batcher(
        self,
        max_items: int = 100,
        max_wait: float = 30.0,
        *,
        poll_interval: float | None = None,
        store: str | os.PathLike[str] | None = None,
    ) -> Batcher:
        """Group ``await batcher.chat(...)`` calls into provider batches: one is sent when it
        holds ``max_items`` requests or its oldest has waited ``max_wait`` seconds."""
    def stream(
        self,
        messages: _Messages | None = None,
        *,
        prompt: Prompt | None = None,
        variables: Mapping[str, Any] | None = None,
        **options: Unpack[ChatOptions],
    ) -> ChatStream:
        """A streamed call: ``async for event in client.stream(...)`` or, sync, ``for event in ...``.
        With ``prompt`` (from ``Prompts``) instead of messages, it is rendered with ``variables``
        for this client's provider and model (and again for a fallback's); an option passed here
        wins over the prompt's."""
    @overload
    async def extract(
        self,
        response_model: type[_M],
        messages: None = None,
        *,
        prompt: Prompt,
        variables: Mapping[str, Any] | None = None,
        queue: None = None,
        processing: Literal["direct"] = "direct",
        **options: Unpack[_ExtractValue],
    ) -> _M:
        """The messages from ``prompt`` rendered for this client's provider and model."""
    @overload
    async def extract(
        self,
        response_model: None = None,
        messages: None = None,
        *,
        prompt: Prompt,
        variables: Mapping[str, Any] | None = None,
        queue: Queue | None = None,
        processing: Literal["direct", "queue", "auto"] = "direct",
        **options: Unpack[_ExtractAny],
    ) -> Any:
        """A dict valid against the prompt's ``response_schema``."""
    @overload
    async def extract(
        self,
        response_model: type[_M],
        messages: _Messages,
        *,
        prompt: None = None,
        variables: None = None,
        queue: None = None,
        processing: Literal["direct"] = "direct",
        **options: Unpack[_ExtractValue],
    ) -> _M:
        """An instance of the pydantic model ``response_model``, validated; await it."""
    @overload
    async def extract(
        self,
        response_model: type[_M],
        messages: _Messages,
        *,
        prompt: None = None,
        variables: None = None,
        queue: None = None,
        processing: Literal["direct"] = "direct",
        **options: Unpack[_ExtractRaw],
    ) -> Extraction[_M]:
        """The validated instance in an ``Extraction`` with its attempts, usage and cost."""
    @overload
    async def extract(
        self,
        response_model: Mapping[str, Any],
        messages: _Messages,
        *,
        prompt: None = None,
        variables: None = None,
        queue: None = None,
        processing: Literal["direct"] = "direct",
        **options: Unpack[_ExtractValue],
    ) -> dict[str, Any]:
        """A dict valid against the JSON Schema ``response_model``; await it."""
    @overload
    async def extract(
        self,
        response_model: Mapping[str, Any],
        messages: _Messages,
        *,
        prompt: None = None,
        variables: None = None,
        queue: None = None,
        processing: Literal["direct"] = "direct",
        **options: Unpack[_ExtractRaw],
    ) -> Extraction[dict[str, Any]]:
        """The valid dict in an ``Extraction`` with its attempts, usage and cost."""
    @overload
    async def extract(
        self,
        response_model: type[_M],
        messages: _Messages,
        *,
        prompt: None = None,
        variables: None = None,
        queue: Queue,
        processing: Literal["direct", "queue", "auto"] = "direct",
        **options: Unpack[_ExtractValue],
    ) -> _M | Queued[dict[str, Any]]:
        """With ``queue=``, as ``chat`` takes it: the instance, or ``Queued`` when the
        extraction went to the queue (its schema with it); ``Queued.result()`` is then the
        validated value as a dict, as ``Queue.extracted`` gives it."""
    @overload
    async def extract(
        self,
        response_model: Mapping[str, Any],
        messages: _Messages,
        *,
        prompt: None = None,
        variables: None = None,
        queue: Queue,
        processing: Literal["direct", "queue", "auto"] = "direct",
        **options: Unpack[_ExtractValue],
    ) -> dict[str, Any] | Queued[dict[str, Any]]:
        """With ``queue=``: the valid dict, or ``Queued`` when it went to the queue."""
    @overload
    async def extract(
        self,
        response_model: Any,
        messages: _Messages,
        *,
        prompt: None = None,
        variables: None = None,
        queue: Queue | None = None,
        processing: Literal["direct", "queue", "auto"] = "direct",
        **options: Unpack[_ExtractAny],
    ) -> Any:
        """A value valid against ``response_model`` (a pydantic model or a JSON Schema)."""
    @overload
    async def extract_batch(
        self,
        response_model: type[_M],
        list_of_messages: Sequence[_Messages],
        *,
        poll_interval: float | None = None,
        timeout: float | None = None,
        store: str | os.PathLike[str] | None = None,
        run_id: str | None = None,
        **options: Unpack[_ExtractValue],
    ) -> list[_M | BaseException]:
        """One entry per conversation, in order, through batch jobs: the validated instance, or
        the error for that item; failures are re-asked in a follow-up batch (``max_retries``).
        ``run_id``: the same extraction (same inputs, same ``store``) run again with the same
        ``run_id`` continues where it stopped, after a crash say, and submits nothing twice."""
    @overload
    async def extract_batch(
        self,
        response_model: Mapping[str, Any],
        list_of_messages: Sequence[_Messages],
        *,
        poll_interval: float | None = None,
        timeout: float | None = None,
        store: str | os.PathLike[str] | None = None,
        run_id: str | None = None,
        **options: Unpack[_ExtractValue],
    ) -> list[dict[str, Any] | BaseException]:
        """One entry per conversation, in order: the valid dict, or the error for that item."""
    @overload
    async def extract_batch(
        self,
        response_model: Any,
        list_of_messages: Sequence[_Messages],
        *,
        poll_interval: float | None = None,
        timeout: float | None = None,
        store: str | os.PathLike[str] | None = None,
        run_id: str | None = None,
        **options: Unpack[_ExtractAny],
    ) -> list[Any]:
        """One entry per conversation, in order: a valid value (or ``Extraction``) or the error."""
    @overload
    def extract_sync(
        self,
        response_model: type[_M],
        messages: None = None,
        *,
        prompt: Prompt,
        variables: Mapping[str, Any] | None = None,
        queue: None = None,
        processing: Literal["direct"] = "direct",
        **options: Unpack[_ExtractValue],
    ) -> _M:
        """The messages from ``prompt`` rendered, blocking this thread."""
    @overload
    def extract_sync(
        self,
        response_model: None = None,
        messages: None = None,
        *,
        prompt: Prompt,
        variables: Mapping[str, Any] | None = None,
        queue: Queue | None = None,
        processing: Literal["direct", "queue", "auto"] = "direct",
        **options: Unpack[_ExtractAny],
    ) -> Any:
        """A dict valid against the prompt's ``response_schema``."""
    @overload
    def extract_sync(
        self,
        response_model: type[_M],
        messages: _Messages,
        *,
        prompt: None = None,
        variables: None = None,
        queue: None = None,
        processing: Literal["direct"] = "direct",
        **options: Unpack[_ExtractValue],
    ) -> _M:
        """The same extraction, blocking this thread (the GIL is released while waiting)."""
    @overload
    def extract_sync(
        self,
        response_model: type[_M],
        messages: _Messages,
        *,
        prompt: None = None,
        variables: None = None,
        queue: None = None,
        processing: Literal["direct"] = "direct",
        **options: Unpack[_ExtractRaw],
    ) -> Extraction[_M]:
        """The same extraction in an ``Extraction``, blocking this thread."""
    @overload
    def extract_sync(
        self,
        response_model: Mapping[str, Any],
        messages: _Messages,
        *,
        prompt: None = None,
        variables: None = None,
        queue: None = None,
        processing: Literal["direct"] = "direct",
        **options: Unpack[_ExtractValue],
    ) -> dict[str, Any]:
        """A dict valid against the JSON Schema, blocking this thread."""
    @overload
    def extract_sync(
        self,
        response_model: Mapping[str, Any],
        messages: _Messages,
        *,
        prompt: None = None,
        variables: None = None,
        queue: None = None,
        processing: Literal["direct"] = "direct",
        **options: Unpack[_ExtractRaw],
    ) -> Extraction[dict[str, Any]]:
        """The valid dict in an ``Extraction``, blocking this thread."""
    @overload
    def extract_sync(
        self,
        response_model: type[_M],
        messages: _Messages,
        *,
        prompt: None = None,
        variables: None = None,
        queue: Queue,
        processing: Literal["direct", "queue", "auto"] = "direct",
        **options: Unpack[_ExtractValue],
    ) -> _M | Queued[dict[str, Any]]:
        """With ``queue=``, as ``chat`` takes it, blocking this thread: the instance, or
        ``Queued`` when the extraction went to the queue (its schema with it)."""
    @overload
    def extract_sync(
        self,
        response_model: Mapping[str, Any],
        messages: _Messages,
        *,
        prompt: None = None,
        variables: None = None,
        queue: Queue,
        processing: Literal["direct", "queue", "auto"] = "direct",
        **options: Unpack[_ExtractValue],
    ) -> dict[str, Any] | Queued[dict[str, Any]]:
        """With ``queue=``, blocking this thread: the valid dict, or ``Queued``."""
    @overload
    def extract_sync(
        self,
        response_model: Any,
        messages: _Messages,
        *,
        prompt: None = None,
        variables: None = None,
        queue: Queue | None = None,
        processing: Literal["direct", "queue", "auto"] = "direct",
        **options: Unpack[_ExtractAny],
    ) -> Any:
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

_QueueState = Literal["QUEUED", "PROCESSING", "COMPLETED", "FAILED", "EXPIRED"]

class _QueuedRequest(ChatOptions, total=False):
    """A request to queue: its ``messages`` and the chat options (no ``retry`` or ``deadline``:
    the worker's client sets the policy)."""

    messages: Required[_Messages]
    """A string or OpenAI-shaped message dicts, as ``chat`` takes them."""
    mode: _Mode
    """With ``response_model``: how the answer is asked for, as ``extract`` takes it."""
    max_retries: int
    """With ``response_model``: re-asks of an answer that fails validation (3)."""
    token_budget: int | None
    """With ``response_model``: the most tokens all attempts together may use."""

class _QueueError(TypedDict):
    """One failed attempt's error as the queue keeps it."""

    kind: str
    """The exception class's name ("OverloadedError")."""
    message: str
    """The error's message."""
    status: int | None
    """The HTTP status, when the provider answered."""
    at: float
    """When it happened, in seconds since the Unix epoch."""

class _QueueEvent(TypedDict):
    """One state change, as ``Queue.on_event`` callbacks get it."""

    queue_id: str
    """The item's id."""
    state: _QueueState
    """The state it moved to."""
    target: str
    """The model string it goes to ("" for a retry from the command line)."""
    attempts: int
    """Processings started so far."""
    at: float
    """When, in seconds since the Unix epoch."""

class _QueueStats(TypedDict):
    """Counts by state, the oldest waiting item's age, the processing rate and whether
    submissions are refused: one store step, read by every process alike (with Redis, across
    machines). Every field is a gauge, what the store holds now: a metrics exporter reports
    each as it reads it (``purge`` lowers the finished states' counts)."""

    queued: int
    """Items waiting for a worker (QUEUED)."""
    processing: int
    """Items a worker holds under a lease (PROCESSING); with ``queued``, the depth the
    watermarks compare with the capacity."""
    completed: int
    """Items with a stored response (COMPLETED), until purged."""
    failed: int
    """Items that used their attempts, or met an error a retry cannot fix (FAILED), until purged."""
    expired: int
    """The expirations: items that outlived the TTL before a worker took them (EXPIRED), until
    purged."""
    oldest_queued_age: float | None
    """Seconds since the oldest waiting item was submitted (whatever its priority); None when
    nothing waits."""
    finished_last_minute: int
    """Items completed or failed over the last 60 seconds: the processing rate (per minute)."""
    refusing: bool
    """Whether ``submit`` raises ``QueueFullError`` until the depth falls below the low watermark."""
    webhooks_pending: int
    """Webhooks of finished items not delivered yet (their retries included)."""
    webhooks_failed: int
    """Webhooks given up after ``webhook_attempts`` POSTs or ``webhook_max_age``, until purged."""

class _QueueWebhook(TypedDict):
    """Where a finished item's webhook stands (``QueueItem.webhook``)."""

    delivery_id: str
    """The same on every attempt (the ``x-llmrail-delivery`` header): a receiver drops repeats."""
    state: Literal["PENDING", "DELIVERED", "GAVE_UP"]
    """PENDING until a POST is answered 2xx (DELIVERED) or attempts / age run out (GAVE_UP)."""
    attempts: int
    """POSTs started so far."""
    created_at: float
    """When the item ended and the webhook was recorded, in seconds since the Unix epoch."""
    next_at: float | None
    """While PENDING: when it is next tried (or its sender's lease ends)."""
    settled_at: float | None
    """When it was delivered or given up."""
    last_error: str | None
    """Why the last failed POST failed."""

@final
class Queue:
    """A durable request queue: ``sqlite:///path/queue.db`` (WAL; shared by the processes of one
    machine), ``redis://host:port/db`` (shared by every process and machine using the server;
    ``?queue=NAME`` picks one of several) or ``memory://`` (volatile: lost with the process). A
    submitted request is stored before ``submit`` returns; workers run it through a ``Client``
    when its provider can take it.
    Delivery is at-least-once; each item's result is stored once."""
    def __new__(
        cls,
        url: str,
        *,
        capacity: int = 1000,
        high_watermark: float = 0.8,
        low_watermark: float = 0.6,
        ttl: float = 14400.0,
        max_attempts: int = 3,
        lease: float = 60.0,
        webhook_secret: str | None = None,
        webhook_attempts: int = 10,
        webhook_max_age: float = 86400.0,
    ) -> Queue:
        """Refuses submissions (``QueueFullError``) once ``high_watermark`` x ``capacity`` items
        wait or run, until fewer than ``low_watermark`` x ``capacity`` do. An item not taken
        within ``ttl`` seconds is EXPIRED; after ``max_attempts`` processings, FAILED. A worker
        holds an item ``lease`` seconds, renewed by its heartbeat. ``webhook_secret`` signs the
        POSTs to a submission's ``callback_url`` (HMAC-SHA256 of ``"{timestamp}.{body}"``); a
        webhook is stored with the item's final state and retried with backoff (by any process
        running workers, after a crash too) until ``webhook_attempts`` POSTs or
        ``webhook_max_age`` seconds."""
    @property
    def url(self) -> str:
        """The queue's URL (a password redacted)."""
    async def submit(
        self,
        request: str | _QueuedRequest,
        *,
        target: str | Client,
        response_model: type[Any] | Mapping[str, Any] | None = None,
        callback_url: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
        priority: int = 0,
    ) -> str:
        """Store ``request`` for ``target`` (a model string, or a ``Client`` this process's workers
        then use); its queue id once committed. The same ``idempotency_key`` returns the first
        id. Higher ``priority`` first. ``callback_url`` gets a signed POST when a worker
        finishes the item (COMPLETED or FAILED) or it is found EXPIRED, retried with backoff.
        With ``response_model`` (a pydantic model class or a JSON Schema dict) the item is a
        structured extraction: its schema travels with it, and ``extracted()`` reads the
        validated value back as a dict."""
    def submit_sync(
        self,
        request: str | _QueuedRequest,
        *,
        target: str | Client,
        response_model: type[Any] | Mapping[str, Any] | None = None,
        callback_url: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
        priority: int = 0,
    ) -> str:
        """The same submission, blocking this thread (the GIL is released while waiting)."""
    async def status(self, qid: str) -> QueueItem:
        """The item's state, attempts, times and errors (``NotFoundError`` for an unknown id)."""
    def status_sync(self, qid: str) -> QueueItem:
        """The same, blocking this thread (the GIL is released while waiting)."""
    async def result(self, qid: str, *, wait: float | None = None) -> ChatResponse:
        """The response once a worker stored it, waiting up to ``wait`` seconds (None: until it
        finishes; ``TimeoutError`` if it has not). A FAILED item raises its last error, typed as
        it was; an EXPIRED one ``ExpiredError``."""
    def result_sync(self, qid: str, *, wait: float | None = None) -> ChatResponse:
        """The same wait, blocking this thread (the GIL is released while waiting; Ctrl-C
        stops it), raising as ``result`` does."""
    async def extracted(self, qid: str, *, wait: float | None = None) -> dict[str, Any]:
        """An extraction item's value (validated against the schema; pass it to the model's
        ``model_validate`` for its own validators), waiting and raising as ``result`` does."""
    async def work(self, *, concurrency: int = 8, clients: Sequence[Client] | None = None) -> None:
        """Process items until cancelled, ``concurrency`` at a time. ``clients`` are used for their
        "provider/model"; other targets get a ``Client(target)`` configured from the environment.
        A target whose circuit breaker is open is not taken from the queue until it may probe."""
    def worker(self, *, concurrency: int = 8, clients: Sequence[Client] | None = None) -> QueueWorker:
        """``work`` in the background for the length of an ``async with`` (or ``with``) block."""
    async def stats(self) -> _QueueStats:
        """Counts by state (the expirations among them), the oldest waiting item's age, the
        items finished over the last minute, and whether submissions are refused."""
    async def list(self, *, state: _QueueState | None = None, limit: int = 100) -> list[QueueItem]:
        """Items in ``state`` (any when None), oldest first."""
    async def retry(self, qid: str) -> bool:
        """Queue a FAILED or EXPIRED item again, attempts and TTL anew; whether it was."""
    def on_event(self, callback: Callable[[_QueueEvent], object]) -> None:
        """Call ``callback`` on every state change this process makes (submitted, taken,
        completed, failed, queued again) and every expiry it finds (each expiry once, in the
        one process that reports it), from a runtime thread: keep it short, or hand the
        event on (to a Kafka producer, a websocket, a log). An exception it raises is logged."""
    async def purge(self, *, states: Sequence[_QueueState] | None = None) -> int:
        """Delete the items in ``states`` (every finished one when None); how many went."""

@final
class QueueItem:
    """One queued item as ``Queue.status`` shows it."""
    @property
    def id(self) -> str:
        """The queue id."""
    @property
    def state(self) -> _QueueState:
        """Where it is in its life."""
    @property
    def target(self) -> str:
        """The model string a worker calls."""
    @property
    def attempts(self) -> int:
        """Processings started (a worker that died mid-way counts)."""
    @property
    def max_attempts(self) -> int:
        """Processings allowed before it is FAILED."""
    @property
    def priority(self) -> int:
        """Higher is taken first."""
    @property
    def idempotency_key(self) -> str | None:
        """The key it was submitted with."""
    @property
    def callback_url(self) -> str | None:
        """Where the final status is POSTed, signed."""
    @property
    def metadata(self) -> Any:
        """What was submitted with it."""
    @property
    def request(self) -> dict[str, Any]:
        """The request as stored: OpenAI-shaped messages and the chat options."""
    @property
    def created_at(self) -> float:
        """Submitted, in seconds since the Unix epoch."""
    @property
    def updated_at(self) -> float:
        """Last changed, in seconds since the Unix epoch."""
    @property
    def expires_at(self) -> float:
        """Not processed from then on, in seconds since the Unix epoch."""
    @property
    def finished_at(self) -> float | None:
        """When it became COMPLETED, FAILED or EXPIRED."""
    @property
    def errors(self) -> list[_QueueError]:
        """Every failed attempt's error, oldest first."""
    @property
    def last_error(self) -> str | None:
        """The last error as "Kind: message"."""
    @property
    def webhook(self) -> _QueueWebhook | None:
        """Its webhook's delivery, once a finished item with a ``callback_url`` has one."""

@final
class QueueWorker:
    """Queue workers running in the background while a ``with`` / ``async with`` block runs."""
    def start(self) -> None:
        """Start the workers (nothing if they run)."""
    def stop(self) -> None:
        """Stop them; items they held go to other workers when their leases run out."""
    @property
    def running(self) -> bool:
        """Whether the workers run."""
    def __enter__(self) -> Self: ...
    def __exit__(self, exc_type: object, exc: object, tb: object, /) -> bool: ...
    def __aenter__(self) -> Awaitable[Self]: ...
    def __aexit__(self, exc_type: object, exc: object, tb: object, /) -> Awaitable[bool]: ...

@final
class Queued(Generic[_T]):
    """What ``chat(..., queue=q, processing=...)`` or ``extract(..., queue=q, processing=...)``
    returns when the request went to the queue."""
    @property
    def queue_id(self) -> str:
        """The item's id in the queue."""
    async def result(self, *, wait: float | None = None) -> _T:
        """The response once a worker has it, as ``Queue.result`` gives it; for an extraction its
        validated value, as ``Queue.extracted`` gives it."""

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
        extra_cassettes: Sequence[str | os.PathLike[str]] = ...,
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
        """Interactions recorded since the cassette was opened (once streams still ending have ended)."""

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
        """The requests received, oldest first, as dicts: every one, up to the last 10,000."""
    def clear(self) -> None:
        """Forget recorded requests, queued replies, the default reply and the disconnect count."""
    def batch_settings(
        self,
        *,
        processing: float = 0.0,
        outcomes: Mapping[str, Sequence[str]] | None = None,
        available: bool = True,
        create_delay: float = 0.0,
    ) -> None:
        """How provider batches behave: seconds from create to ended, and per custom_id one
        outcome per submission ("succeeded", "expired", or an error type); ``available=False``:
        no batch API (every batch endpoint answers 404); ``create_delay``: seconds a create's
        answer is held back after its batch exists."""
    @property
    def disconnects(self) -> int:
        """Requests the client abandoned before the response was complete."""
    @property
    def connections(self) -> int:
        """TCP connections accepted so far (since start or ``clear``)."""
    @property
    def received(self) -> int:
        """Requests received since start (or ``clear``), those no longer kept in ``requests`` included."""
    @property
    def pending(self) -> int:
        """How many more requests the queued replies will answer."""
    def shutdown(self) -> None:
        """Stop serving and release the port."""
    def __enter__(self) -> Self: ...
    def __exit__(self, exc_type: object, exc: object, tb: object) -> bool: ...

@final
class Gateway:
    """``llmrail serve`` running in the background of this process: OpenAI's
    ``/v1/chat/completions`` and Anthropic's ``/v1/messages`` in front of the library's clients.
    Use ``llmrail.serve(..., background=True)``."""
    def __new__(
        cls,
        config: str | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 4000,
        config_text: str | None = None,
    ) -> Gateway:
        """Load and check the YAML file ``config`` (or ``config_text``; neither: every
        ``provider/model`` routes directly), build each virtual model's client and listen on
        ``host:port`` (0: a free port)."""
    @property
    def url(self) -> str:
        """``http://host:port``: Anthropic clients' base URL; OpenAI clients add ``/v1``."""
    @property
    def port(self) -> int:
        """The port it listens on."""
    def stop(self, timeout: float = 60.0) -> None:
        """Stop accepting, let requests in flight finish (up to ``server.shutdown_timeout``),
        waiting for that at most ``timeout`` seconds."""
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
    def sets_cookies(self) -> bool:
        """Whether a ``Set-Cookie`` (or ``Set-Cookie2``) header is among them."""
    @property
    def header_list(self) -> list[tuple[bytes, bytes, bytes]]:
        """``(name, lower-cased name, value)`` triples in the order received, as ``httpx.Headers``
        keeps them (``_list``); the names are lower case already."""
    @property
    def content(self) -> bytes | None:
        """The whole body, when it is not a stream of events; else ``None``."""
    @property
    def stream(self) -> HttpBody | None:
        """The body's chunks as they arrive, when it is a stream of events; else ``None``."""
    @property
    def meter(self) -> HttpMeter:
        """What this answer used and cost, read as it passes."""

@final
class HttpMeter:
    """One answer's usage, filled in once known: at once for a whole body, when a stream ends
    (or is closed). Known answers: OpenAI chat completions and responses, Anthropic messages."""
    @property
    def usage(self) -> HttpUsage | None:
        """``None`` until the answer's usage is known, or when it reports none."""

@final
class HttpUsage:
    """Tokens and USD over ``requests`` answers: one answer's, or an httpx client's total."""
    @property
    def requests(self) -> int:
        """Answers counted (those that reported usage)."""
    @property
    def input_tokens(self) -> int:
        """Every input token, cached ones included."""
    @property
    def output_tokens(self) -> int:
        """Tokens answered."""
    @property
    def cache_read_tokens(self) -> int:
        """Input tokens read from the provider's prompt cache."""
    @property
    def cache_write_tokens(self) -> int:
        """Input tokens written to the provider's prompt cache."""
    @property
    def cost_usd(self) -> float | None:
        """The priced answers' cost at the catalogue's prices; ``None`` while none had a price."""
    @property
    def unpriced(self) -> int:
        """Answers whose model has no price in the catalogue (their tokens still count)."""

@final
class HttpBody:
    """A streamed body's chunks, pulled one by one; ``close()`` closes the connection."""
    def __aiter__(self) -> Self: ...
    def __anext__(self) -> Awaitable[bytes]: ...
    def __iter__(self) -> Self: ...
    def __next__(self) -> bytes: ...
    def close(self) -> None:
        """Stop reading and close the connection (a stream not read to its end is not recorded)."""

@final
class HttpForwarder:
    """The transport of one ``llmrail.httpx`` client: requests go out unchanged through llmrail's
    transport (pooled; recorded and replayed by the active cassette), guarded by the breaker and
    rate limit of the provider and model each names, on the state a ``Client`` of that target
    shares; retried only with ``retry=``."""
    def __new__(
        cls,
        *,
        retry: Retry | None = None,
        rate_limit: RateLimit | None = None,
        circuit_breaker: CircuitBreaker | Literal[False] | None = None,
    ) -> HttpForwarder:
        """``circuit_breaker=None`` is the default breaker (as for a ``Client``); ``False`` is none."""
    @property
    def usage(self) -> HttpUsage:
        """What this client's answers used and cost so far."""
    async def send(
        self,
        method: str,
        url: str,
        headers: Sequence[tuple[bytes, bytes]],
        body: bytes,
        connect_timeout: float | None = None,
        read_timeout: float | None = None,
    ) -> HttpReply:
        """Send one request; an error status is a reply, not an exception."""
    def send_sync(
        self,
        method: str,
        url: str,
        headers: Sequence[tuple[bytes, bytes]],
        body: bytes,
        connect_timeout: float | None = None,
        read_timeout: float | None = None,
    ) -> HttpReply:
        """``send``, blocking this thread (the GIL is released while waiting)."""

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

@final
class Prompts:
    """The prompt templates of a folder: every ``*.yaml`` loaded, checked (file and line of each
    problem) and compiled once. ``env`` picks the ``environments`` overrides (else
    ``LLMRAIL_ENV``); ``reload=True`` recompiles a file when it changes on disk."""
    def __new__(cls, path: str | os.PathLike[str], *, env: str | None = None, reload: bool = False) -> Self:
        """Load and check every ``*.yaml`` of ``path``; any error raises ``ConfigurationError``
        listing every problem, ``file:line: error: message``."""
    def render(
        self, name: str, variables: Mapping[str, Any] | None = None, *, model: str | None = None
    ) -> dict[str, Any]:
        """``name`` rendered for ``model`` ("provider/model"): ``system``, ``messages`` and the
        options the prompt sets, ready for ``client.chat(**rendered)``."""
    def __getitem__(self, name: str, /) -> Prompt: ...
    def __contains__(self, name: str, /) -> bool: ...
    def __len__(self) -> int:
        """How many prompts the folder holds."""
    def names(self) -> list[str]:
        """The prompts' names, sorted."""
    @property
    def env(self) -> str | None:
        """The environment whose overrides apply."""
    @property
    def warnings(self) -> list[str]:
        """The load's warnings (a variable no template uses), ``file:line: warning: message``."""

@final
class Prompt:
    """One prompt of a ``Prompts``, for ``client.chat(prompt=..., variables=...)``."""
    @property
    def name(self) -> str:
        """The prompt's ``name``."""
    @property
    def description(self) -> str | None:
        """The prompt's ``description``."""
    @property
    def response_schema(self) -> dict[str, Any] | None:
        """The prompt's JSON Schema for ``extract``, if it has one."""
    def render(self, variables: Mapping[str, Any] | None = None, *, model: str | None = None) -> dict[str, Any]:
        """The same as ``Prompts.render(name, ...)``."""

def check_prompts(path: str | os.PathLike[str]) -> list[tuple[str, int, Literal["error", "warning"], str]]:
    """Every problem of every prompt file in ``path``: (file, line, level, message)."""

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
def metrics_text() -> str:
    """The process's counters in the Prometheus text format (0.0.4): requests, latency
    histogram, tokens, cost, retries, waits, in-flight calls, breaker states, queue depths."""
def reset_log_levels() -> None:
    """Read Python's logging levels again (pyo3-log caches them); call after changing them."""
def quiesce() -> None:
    """Registered with ``atexit``: no thread re-enters Python once the program has begun to end."""
async def bench_noop_native() -> int:
    """Benchmark probe: one await of a trivial task through the bridge the methods use."""
def bench_telemetry_overhead(n: int) -> tuple[int, int]:
    """For `make bench`: nanoseconds for `n` calls recorded by the telemetry, and for `n` not."""
def bench_noop_future_into_py() -> Any:
    """Benchmark probe: the same await through ``pyo3_async_runtimes.future_into_py``."""
