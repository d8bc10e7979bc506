"""``with_structured_output`` for ChatLlmrail, on llmrail's extraction (``client.extract``).

The chat model is bound with an :class:`ExtractSpec`; its call then runs llmrail's extraction
loop (provider-native mode, lenient parsing, validation, re-asking with the errors) and returns
an ``AIMessage`` whose ``additional_kwargs["parsed"]`` is the validated answer, as ChatOpenAI does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from operator import itemgetter
from typing import TYPE_CHECKING, Any, Literal

from langchain_core.language_models import LanguageModelInput
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable, RunnableLambda, RunnableMap, RunnablePassthrough
from langchain_core.utils.function_calling import convert_to_json_schema

from .._core import Extraction
from ..errors import ExtractionError
from ._convert import usage_metadata

if TYPE_CHECKING:
    from ._chat_model import ChatLlmrail

Method = Literal["function_calling", "json_schema", "json_mode"]
# LangChain's method names -> llmrail's extraction modes.
Mode = Literal["tool", "json_schema", "json"]
MODES: dict[str, Mode] = {"function_calling": "tool", "json_schema": "json_schema", "json_mode": "json"}


@dataclass(frozen=True)
class ExtractSpec:
    target: Any
    """A pydantic (v2) model class or a JSON Schema dict: what ``client.extract`` takes."""
    mode: Mode
    max_retries: int
    include_raw: bool
    build: Any = None
    """A pydantic v1 model class, built from the validated dict."""


def structured_output(
    model: ChatLlmrail,
    schema: Mapping[str, Any] | type,
    *,
    method: Method,
    include_raw: bool,
    max_retries: int,
) -> Runnable[LanguageModelInput, Any]:
    if method not in MODES:
        raise ValueError(f"method must be 'function_calling', 'json_schema' or 'json_mode', got {method!r}")
    build = None
    target: Any
    if isinstance(schema, type) and callable(getattr(schema, "model_json_schema", None)):
        target = schema
    else:
        target = convert_to_json_schema(dict(schema) if isinstance(schema, Mapping) else schema)
        if isinstance(schema, type) and callable(getattr(schema, "parse_obj", None)):
            build = schema  # pydantic.v1
    spec = ExtractSpec(target, MODES[method], max_retries, include_raw, build)
    trace = {"kwargs": {"method": method}, "schema": schema}
    llm = model.bind(ls_structured_output_format=trace, llmrail_extract=spec)
    parser = RunnableLambda(_parsed, name="llmrail_parsed")
    if not include_raw:
        return llm | parser
    parsed = RunnablePassthrough.assign(parsed=itemgetter("raw") | parser, parsing_error=lambda _: None)
    failed = RunnablePassthrough.assign(parsed=lambda _: None)
    return RunnableMap(raw=llm) | parsed.with_fallbacks([failed], exception_key="parsing_error")


def _parsed(message: BaseMessage) -> Any:
    error = message.additional_kwargs.get("llmrail_error")
    if isinstance(error, Exception):
        raise error
    return message.additional_kwargs["parsed"]


def message(spec: ExtractSpec, x: Extraction[Any] | ExtractionError, *, chunk: bool = False) -> AIMessage:
    """The answer as an AIMessage (a last chunk when streaming); a failure only with include_raw."""
    if isinstance(x, ExtractionError):
        raw = x.failures[-1].raw if x.failures else ""
        cls = AIMessageChunk if chunk else AIMessage
        return cls(content=raw, additional_kwargs={"llmrail_error": x}, response_metadata={"attempts": x.attempts})
    value = spec.build.parse_obj(x.value) if spec.build is not None else x.value
    metadata = {
        "model_name": x.model,
        "provider": x.provider,
        "extract_mode": x.mode,
        "attempts": x.attempts,
        "errors": x.errors,
        "cost_usd": x.cost_usd,
    }
    fields: dict[str, Any] = {
        "content": x.raw[-1] if x.raw else "",
        "additional_kwargs": {"parsed": value},
        "usage_metadata": usage_metadata(x.usage),
        "response_metadata": metadata,
    }
    return AIMessageChunk(**fields, chunk_position="last") if chunk else AIMessage(**fields)


def result(spec: ExtractSpec, x: Extraction[Any] | ExtractionError) -> ChatResult:
    return ChatResult(generations=[ChatGeneration(message=message(spec, x))])


def chunk(spec: ExtractSpec, x: Extraction[Any] | ExtractionError) -> ChatGenerationChunk:
    m = message(spec, x, chunk=True)
    assert isinstance(m, AIMessageChunk)
    return ChatGenerationChunk(message=m)
