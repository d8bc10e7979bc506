"""The exception tree of llmrail, rooted at :class:`LLMError`.

Every error raised by a call carries who was called (``provider``, ``model``), what the server
said (``status``, ``request_id``, a short ``body`` excerpt), ``retry_after`` when the server asked
for a pause, how many ``attempts`` were made and how many seconds were spent waiting between
them (``retry_wait``). Classes inherit the standard library's
exception where the meaning matches, so ``except TimeoutError`` keeps working.
No API key ever appears in an error's message, attributes or repr.
"""

from __future__ import annotations

import builtins
from typing import NamedTuple

__all__ = [
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
    "ExtractionError",
    "ExtractionAttempt",
    "QueueFullError",
    "ExpiredError",
    "ContentPolicyError",
]


class LLMError(Exception):
    """Base class of every error llmrail raises."""

    def __init__(
        self,
        message: str,
        *,
        provider: str | None = None,
        model: str | None = None,
        status: int | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
        attempts: int = 1,
        body: str | None = None,
        retry_wait: float = 0.0,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.provider = provider
        self.model = model
        self.status = status
        self.request_id = request_id
        self.retry_after = retry_after
        self.attempts = attempts
        self.body = body
        self.retry_wait = retry_wait

    def __str__(self) -> str:
        where = [
            f"{k}={v}"
            for k, v in (
                ("provider", self.provider),
                ("model", self.model),
                ("status", self.status),
                ("request_id", self.request_id),
            )
            if v is not None
        ]
        return f"{self.message} ({', '.join(where)})" if where else self.message

    def __repr__(self) -> str:
        name = type(self).__name__
        return f"{name}({self.message!r}, provider={self.provider!r}, model={self.model!r}, status={self.status!r})"

    def __reduce__(self) -> tuple[object, ...]:
        kwargs = {
            "provider": self.provider,
            "model": self.model,
            "status": self.status,
            "request_id": self.request_id,
            "retry_after": self.retry_after,
            "attempts": self.attempts,
            "body": self.body,
            "retry_wait": self.retry_wait,
        }
        return (_rebuild, (type(self), self.message, kwargs))


def _rebuild(cls: type[LLMError], message: str, kwargs: dict[str, object]) -> LLMError:
    return cls(message, **kwargs)  # type: ignore[arg-type]


class ConfigurationError(LLMError, ValueError):
    """Something handed to llmrail is unusable: a bad model string, a missing key, a bad message."""


class APIStatusError(LLMError):
    """The provider answered with an HTTP error status."""


class BadRequestError(APIStatusError):
    """400 (and 409/413/422): the request was rejected as malformed; retrying will not help."""


class ContentPolicyError(BadRequestError):
    """The provider refused the prompt or its result under its content policy (OpenAI's
    ``content_policy_violation`` and ``moderation_blocked``, Gemini's safety blocks of an image).
    The same request is refused again, so it is never retried nor sent to a fallback. A subclass
    of ``BadRequestError``, which OpenAI's refusals were raised as before it existed."""


class AuthenticationError(APIStatusError):
    """401: the API key is missing, wrong or revoked."""


class PermissionDeniedError(APIStatusError):
    """403: the key may not use this model or resource."""


class NotFoundError(APIStatusError):
    """404: usually an unknown model name or a wrong base_url."""


class RateLimitError(APIStatusError):
    """429: slow down; ``retry_after`` says for how long when the provider told us."""


class ServerError(APIStatusError):
    """5xx: the provider failed; retrying later may work."""


class OverloadedError(ServerError):
    """529 / overloaded_error: the provider is overloaded (Anthropic)."""


class TimeoutError(LLMError, builtins.TimeoutError):
    """No answer in time (connect, request or between stream chunks)."""


class ConnectionError(LLMError, builtins.ConnectionError):
    """The connection failed or was cut, including a stream that ended early."""


class InvalidResponseError(LLMError):
    """The provider answered 2xx with something that is not what its API promises."""


class CircuitOpenError(LLMError):
    """The circuit breaker for this target (provider, base URL, model, key) is open after repeated
    failures, so the call was not sent; ``retry_after`` says when a probe call will be let through."""


class CassetteMissError(LLMError):
    """Replaying from a cassette, a request had no recorded answer and the record mode forbids
    recording it. The message names the request, the closest recorded one and what differs."""


class CancelledError(LLMError):
    """The call was cancelled inside the core (for example by closing the client)."""


class InternalError(LLMError):
    """A bug in llmrail; please report it with the message."""


class QueueFullError(LLMError):
    """The durable queue holds ``high_watermark`` x ``capacity`` items and takes no more until it
    drains below ``low_watermark`` x ``capacity``; ``retry_after`` says when to try again. The
    request was not stored: it is still the caller's."""


class ExpiredError(LLMError):
    """A queued request outlived the queue's ``ttl`` before a worker ran it, so it was never sent."""


class ExtractionAttempt(NamedTuple):
    """One failed attempt of a structured extraction: the model's answer as it wrote it, and every
    problem found with it, each as ``"field: problem"`` (``"(root): ..."`` for the whole answer).

    A NamedTuple rather than a dataclass: ``dataclasses`` imports ``inspect``, which alone took a
    third of ``import llmrail``."""

    raw: str
    errors: tuple[str, ...]


class ExtractionError(LLMError):
    """No valid answer within ``max_retries`` re-asks (or the ``token_budget``). ``failures`` has
    each attempt's raw answer and errors; ``input_tokens``, ``output_tokens`` and ``cost_usd`` are
    summed over every attempt; ``attempts`` is how many were made."""

    def __init__(
        self,
        message: str,
        *,
        failures: list[tuple[str, list[str]]] | list[ExtractionAttempt] | None = None,
        input_tokens: int = 0,
        output_tokens: int = 0,
        cost_usd: float | None = None,
        **kwargs: object,
    ) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.failures: list[ExtractionAttempt] = [
            f if isinstance(f, ExtractionAttempt) else ExtractionAttempt(f[0], tuple(f[1]))
            for f in failures or []
        ]
        self.input_tokens = input_tokens
        self.output_tokens = output_tokens
        self.cost_usd = cost_usd

    def __reduce__(self) -> tuple[object, ...]:
        kwargs: dict[str, object] = {
            "provider": self.provider,
            "model": self.model,
            "status": self.status,
            "request_id": self.request_id,
            "retry_after": self.retry_after,
            "attempts": self.attempts,
            "body": self.body,
            "retry_wait": self.retry_wait,
            "failures": self.failures,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cost_usd": self.cost_usd,
        }
        return (_rebuild, (type(self), self.message, kwargs))
