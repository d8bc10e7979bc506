"""LangChain messages <-> llmrail's OpenAI-shaped dicts, responses, stream chunks and usage."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, cast

from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, InvalidToolCall, ToolCall
from langchain_core.messages.ai import UsageMetadata
from langchain_core.messages.tool import invalid_tool_call, tool_call_chunk
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult

from .._core import ChatResponse, StreamEvent, Usage

_ROLES = {"human": "user", "ai": "assistant", "system": "system", "tool": "tool", "function": "tool"}
# Blocks that only carry what another field already says (tool calls) or what the provider
# cannot take back (reasoning): left out of the request, as ChatOpenAI does.
_SKIPPED = frozenset({"tool_use", "tool_call", "thinking", "redacted_thinking", "reasoning", "server_tool_use"})


def to_openai(messages: Sequence[BaseMessage]) -> list[dict[str, Any]]:
    """One OpenAI-shaped dict per message, in order (system messages included)."""
    out: list[dict[str, Any]] = []
    for m in messages:
        kind = m.type
        role = _ROLES.get(kind) or (getattr(m, "role", None) if kind == "chat" else None)
        if role is None:
            raise ValueError(f"llmrail cannot send a {type(m).__name__} message")
        content = m.content
        d: dict[str, Any] = {
            "role": role,
            "content": content if isinstance(content, str) else _parts(content),
        }
        if isinstance(m, AIMessage) and (m.tool_calls or m.invalid_tool_calls):
            d["tool_calls"] = [
                {
                    "id": tc["id"],
                    "type": "function",
                    "function": {"name": tc["name"], "arguments": json.dumps(tc["args"], ensure_ascii=False)},
                }
                for tc in m.tool_calls
            ] + [
                # Sent back as the model wrote them, as ChatOpenAI does: the model sees its slip.
                {
                    "id": tc["id"],
                    "type": "function",
                    "function": {"name": tc["name"] or "", "arguments": tc["args"] or ""},
                }
                for tc in m.invalid_tool_calls
            ]
        elif role == "tool":
            d["tool_call_id"] = getattr(m, "tool_call_id", None) or m.name or ""
        if m.name and role in ("user", "assistant"):
            d["name"] = m.name
        out.append(d)
    return out


def _parts(content: list[str | dict[Any, Any]]) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    for block in content:
        if isinstance(block, str):
            parts.append({"type": "text", "text": block})
            continue
        kind = block.get("type")
        if kind == "text":
            part: dict[str, Any] = {"type": "text", "text": block.get("text", "")}
        elif kind == "image_url":
            part = {"type": "image_url", "image_url": block["image_url"]}
        elif kind == "image":
            part = {"type": "image_url", "image_url": {"url": _image_url(block)}}
        elif kind in _SKIPPED:
            continue
        else:
            raise ValueError(f"llmrail does not support {kind!r} content blocks (text and images only)")
        if "cache_control" in block:
            part["cache_control"] = block["cache_control"]
        parts.append(part)
    return parts


def _image_url(block: dict[Any, Any]) -> str:
    """LangChain's standard image block, or Anthropic's ``source`` form, as a URL."""
    source = block.get("source")
    if isinstance(source, dict):
        if source.get("type") == "url":
            return str(source["url"])
        return f"data:{source['media_type']};base64,{source['data']}"
    if block.get("url"):
        return str(block["url"])
    data = block.get("base64") or block.get("data")
    if data is None:
        raise ValueError("an image block needs a url or base64 data")
    return f"data:{block.get('mime_type', 'image/png')};base64,{data}"


def usage_metadata(u: Usage) -> UsageMetadata:
    # A plain dict and a cast, not UsageMetadata(...): langchain-core 1.8 needs Python 3.11 and
    # spells its optional keys with typing.NotRequired, which mypy checking for 3.10 (our floor)
    # cannot see, so it would call every optional key missing.
    usage = {
        "input_tokens": u.input_tokens,
        "output_tokens": u.output_tokens,
        "total_tokens": u.total_tokens,
        "input_token_details": {"cache_read": u.cache_read_tokens, "cache_creation": u.cache_write_tokens},
    }
    return cast(UsageMetadata, usage)


def chat_result(r: ChatResponse) -> ChatResult:
    metadata: dict[str, Any] = {
        "model_name": r.model,
        "finish_reason": r.finish_reason,
        "request_id": r.request_id,
        "provider": r.provider,
        "cost_usd": r.cost_usd,
        "attempts": r.attempts,
        "fallback_used": r.fallback_used,
    }
    # Arguments that are not a JSON object go to invalid_tool_calls with the model's text, as
    # ChatOpenAI does, so an agent can show the model its slip instead of failing.
    calls: list[ToolCall] = []
    invalid: list[InvalidToolCall] = []
    for c in r.tool_calls:
        args = c.arguments
        if args is None:
            error = f"the arguments of {c.name} are not a JSON object: {c.raw_arguments[:200]}"
            invalid.append(invalid_tool_call(name=c.name, args=c.raw_arguments, id=c.id, error=error))
        else:
            calls.append({"name": c.name, "args": args, "id": c.id, "type": "tool_call"})
    message = AIMessage(
        content=r.text,
        tool_calls=calls,
        invalid_tool_calls=invalid,
        usage_metadata=usage_metadata(r.usage),
        response_metadata=metadata,
        id=r.request_id,
    )
    return ChatResult(generations=[ChatGeneration(message=message)])


def chunk(ev: StreamEvent) -> ChatGenerationChunk | None:
    """The LangChain chunk for one stream event (``None`` for events it has no place for)."""
    kind = ev.type
    if kind == "text":
        return ChatGenerationChunk(message=AIMessageChunk(content=ev.text))
    if kind == "tool_call_delta":
        delta = tool_call_chunk(name=ev.name, args=ev.arguments, id=ev.id, index=ev.index)
        return ChatGenerationChunk(message=AIMessageChunk(content="", tool_call_chunks=[delta]))
    if kind == "done":
        metadata = {
            "model_name": ev.model,
            "finish_reason": ev.finish_reason,
            "request_id": ev.request_id,
            "cost_usd": ev.cost_usd,
            "attempts": ev.attempts,
            "fallback_used": ev.fallback_used,
        }
        message = AIMessageChunk(
            content="",
            usage_metadata=usage_metadata(ev.usage) if ev.usage is not None else None,
            response_metadata=metadata,
            chunk_position="last",
        )
        return ChatGenerationChunk(message=message, generation_info={"finish_reason": ev.finish_reason})
    return None
