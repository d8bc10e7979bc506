"""The keyword options of ``Client.chat`` and ``Client.extract`` (and of their sync and stream
forms), as TypedDicts.

The methods take them as ``**options``; the stub types that ``**options: Unpack[ChatOptions]``,
so mypy and editors check every name and value as if each were its own parameter. The native
extractor (``src/py/options.rs``) reads the same names at run time and refuses any other with a
``TypeError`` that suggests the closest one; ``tests_py/test_options.py`` keeps the two lists equal.
Name them to pass options on::

    def ask(client: llmrail.Client, question: str, **options: Unpack[llmrail.ChatOptions]) -> str:
        return client.chat_sync(question, **options).text
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, TypedDict

if TYPE_CHECKING:  # typing.Required is 3.11+; the annotations are never evaluated at run time
    from typing_extensions import Required

from ._core import Retry

_PromptCache = Literal["5m", "1h", "auto"]
_Mode = Literal["auto", "tool", "json_schema", "json", "prompt"]


class _RequestOptions(TypedDict, total=False):
    """The options chat and extraction share."""

    system: str | None
    """The system prompt, placed where the provider takes it."""
    max_tokens: int | None
    """The most tokens the answer may use (the provider's default when not given)."""
    temperature: float | None
    """Sampling temperature, a finite number."""
    top_p: float | None
    """Nucleus sampling's probability mass, a finite number."""
    stop: str | Sequence[str] | None
    """A text, or texts, that end the answer when the model writes one."""
    extra_body: Mapping[str, Any] | None
    """Request body fields llmrail does not model; not one an option sets."""
    retry: Retry | None
    """This call's retry policy instead of the client's."""
    deadline: float | None
    """Seconds for the whole call, retries and waits included, instead of the client's deadline."""
    prompt_cache: _PromptCache | Literal["off"] | None
    """This call's prompt caching ("5m", "1h", "auto" or "off"); the client's when not given."""


class ChatOptions(_RequestOptions, total=False):
    """The keyword options of ``chat``, ``chat_sync`` and ``stream``."""

    tools: Sequence[Mapping[str, Any]] | None
    """Tools the model may call, in OpenAI's or Anthropic's shape."""
    tool_choice: str | Mapping[str, Any] | None
    """Whether and which tool the model must call: "auto", "none", "required", a name, or a dict."""


class BatchRequest(ChatOptions, total=False):
    """One request of ``Client.submit_batch`` / ``Client.batch``: ``chat``'s options, its
    ``messages``, and the ``custom_id`` results are joined on (its index when not given).
    ``retry`` and ``deadline`` are per call: a job is bounded by ``wait(timeout=...)``."""

    messages: Required[str | Sequence[Mapping[str, Any]]]
    """The conversation, as ``chat`` takes it."""
    custom_id: str | None
    """Unique within the job, 1 to 64 characters."""


class _ExtractCommon(_RequestOptions, total=False):
    """The options of every extraction, whatever it returns."""

    max_retries: int
    """How many times an answer that fails validation is re-asked with the errors (3)."""
    token_budget: int | None
    """The most tokens all attempts together may use; past it, an ExtractionError."""
    validation_context: Mapping[str, Any] | None
    """Handed to the pydantic model's validators as ``info.context``."""


class ExtractOptions(_ExtractCommon, total=False):
    """The keyword options of ``extract``, ``extract_sync`` and ``extract_stream``."""

    mode: _Mode
    """How the answer is asked for: "auto" (the provider's best), "tool", "json_schema", "json", "prompt"."""
    include_raw: bool
    """Return an ``Extraction`` (value, attempts, usage, cost, raw answers) instead of the value alone."""
