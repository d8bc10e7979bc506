"""llmrail: the LLM call layer for Python services, with a Rust core.

    client = llmrail.Client("anthropic/claude-sonnet-4-5")
    r = await client.chat([{"role": "user", "content": "hi"}], max_tokens=200)
    print(r.text, r.usage.input_tokens, r.latency)
"""

from ._core import ChatResponse, ChatStream, Client, StreamEvent, ToolCall, Usage, __version__
from .errors import (
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    CancelledError,
    ConfigurationError,
    ConnectionError,
    InternalError,
    InvalidResponseError,
    LLMError,
    NotFoundError,
    OverloadedError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    TimeoutError,
)

__all__ = [
    "__version__",
    "Client",
    "ChatResponse",
    "ChatStream",
    "StreamEvent",
    "ToolCall",
    "Usage",
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
    "CancelledError",
    "InternalError",
]
