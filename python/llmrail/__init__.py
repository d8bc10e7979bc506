"""llmrail: the LLM call layer for Python services, with a Rust core.

    client = llmrail.Client("anthropic/claude-sonnet-4-5")
    r = await client.chat([{"role": "user", "content": "hi"}], max_tokens=200)
    print(r.text, r.usage.input_tokens, r.latency)
"""

import atexit
from typing import TYPE_CHECKING

from . import replay
from ._core import (
    Batcher,
    BatchJob,
    BatchStore,
    BreakerStatus,
    CacheStats,
    Capabilities,
    ChatResponse,
    ChatStream,
    CircuitBreaker,
    Client,
    ClientStats,
    Extraction,
    ExtractStream,
    Gateway,
    GeneratedImage,
    ImagesResponse,
    Prompt,
    Prompts,
    Queue,
    Queued,
    QueueItem,
    QueueWorker,
    RateLimit,
    Retry,
    StreamEvent,
    ToolCall,
    Usage,
    __version__,
    metrics_text,
    register_provider,
)
from ._core import quiesce as _quiesce
from ._options import BatchRequest, ChatOptions, ExtractOptions
from ._serve import serve
from .errors import (
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    CancelledError,
    CassetteMissError,
    CircuitOpenError,
    ConfigurationError,
    ConnectionError,
    ContentPolicyError,
    ExpiredError,
    ExtractionAttempt,
    ExtractionError,
    InternalError,
    InvalidResponseError,
    LLMError,
    NotFoundError,
    OverloadedError,
    PermissionDeniedError,
    QueueFullError,
    RateLimitError,
    ServerError,
    TimeoutError,
)

if TYPE_CHECKING:
    from . import bench


def __getattr__(name: str) -> object:
    # llmrail.bench is imported on first use: services that never benchmark do not pay for it.
    if name == "bench":
        import importlib

        return importlib.import_module(".bench", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# Daemon threads may be inside llmrail when the program ends: from here on, none of them takes
# the GIL back into the finalising interpreter (see src/py/exit.rs).
atexit.register(_quiesce)

__all__ = [
    "__version__",
    "Client",
    "register_provider",
    "ChatOptions",
    "ExtractOptions",
    "BatchRequest",
    "BatchJob",
    "BatchStore",
    "Batcher",
    "ChatResponse",
    "ChatStream",
    "StreamEvent",
    "ToolCall",
    "Usage",
    "CacheStats",
    "ClientStats",
    "metrics_text",
    "serve",
    "Gateway",
    "Capabilities",
    "Retry",
    "RateLimit",
    "CircuitBreaker",
    "BreakerStatus",
    "LLMError",
    "ConfigurationError",
    "APIStatusError",
    "AuthenticationError",
    "PermissionDeniedError",
    "NotFoundError",
    "BadRequestError",
    "RateLimitError",
    "ServerError",
    "OverloadedError",
    "TimeoutError",
    "ConnectionError",
    "InvalidResponseError",
    "CircuitOpenError",
    "CancelledError",
    "InternalError",
    "CassetteMissError",
    "Extraction",
    "ExtractStream",
    "ExtractionError",
    "ExtractionAttempt",
    "Prompts",
    "Prompt",
    "Queue",
    "Queued",
    "QueueItem",
    "QueueWorker",
    "QueueFullError",
    "ExpiredError",
    "ContentPolicyError",
    "ImagesResponse",
    "GeneratedImage",
    "bench",
    "replay",
]
