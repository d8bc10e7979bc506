"""Prompt-cache markers for a wrapped LangChain model, where llmrail's planner says.

The planning is the Rust core's (``llmrail._core.plan_prompt_cache``, the same rules as
``Client(prompt_cache=...)``); this file only translates LangChain messages for it and writes
the plan back as ``cache_control`` on the content blocks ChatAnthropic forwards, or as OpenAI's
``prompt_cache_key``.
"""

from __future__ import annotations

from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from langchain_core.utils.function_calling import convert_to_openai_tool

from .._core import plan_prompt_cache
from ._convert import to_openai


def inject(
    provider: str, model: str, policy: str, messages: list[BaseMessage], kwargs: dict[str, Any]
) -> tuple[list[BaseMessage], dict[str, Any]]:
    """Copies of ``messages`` and ``kwargs`` carrying the planned markers (inputs untouched)."""
    kwargs = dict(kwargs)
    if provider == "anthropic" and policy == "auto":
        # ChatAnthropic sends its `cache_control` argument as Anthropic's automatic caching.
        kwargs.setdefault("cache_control", {"type": "ephemeral"})
        return messages, kwargs
    tools = kwargs.get("tools")
    plan = plan_prompt_cache(
        provider,
        model,
        to_openai(messages),
        tools=[convert_to_openai_tool(t) for t in tools] if tools else None,
        prompt_cache=policy,  # type: ignore[arg-type]
    )
    if plan["prompt_cache_key"] is not None:
        kwargs.setdefault("prompt_cache_key", plan["prompt_cache_key"])
    messages = list(messages)
    if (ttl := plan["tools"]) is not None and tools:
        kwargs["tools"] = [*tools[:-1], {**_as_dict(tools[-1]), "cache_control": _control(ttl)}]
    if (ttl := plan["system"]) is not None:
        last = max(i for i, m in enumerate(messages) if m.type == "system")
        messages[last] = _marked(messages[last], _control(ttl))
    if plan["message"] is not None:
        k, ttl = plan["message"]
        m = messages[k]
        # ChatAnthropic writes an assistant turn's tool calls after its content, dropping any
        # marker on them: the tool results that answer them close the same prefix.
        if isinstance(m, AIMessage) and m.tool_calls and k + 1 < len(messages):
            if isinstance(messages[k + 1], ToolMessage):
                k += 1
        messages[k] = _marked(messages[k], _control(ttl))
    return messages, kwargs


def _control(ttl: str) -> dict[str, str]:
    return {"type": "ephemeral"} if ttl == "5m" else {"type": "ephemeral", "ttl": ttl}


def _as_dict(tool: Any) -> dict[str, Any]:
    if isinstance(tool, dict):
        return tool
    raise TypeError(f"cannot mark a {type(tool).__name__} tool for caching")


def _marked(message: BaseMessage, control: dict[str, str]) -> BaseMessage:
    """A copy of ``message`` whose last content block carries ``control``."""
    content = message.content
    if isinstance(content, str):
        blocks: list[Any] = [{"type": "text", "text": content}] if content else []
    else:
        blocks = list(content)
    if not blocks:
        raise ValueError(f"a {message.type} message without content cannot carry a cache marker")
    last = blocks[-1]
    blocks[-1] = {**({"type": "text", "text": last} if isinstance(last, str) else last), "cache_control": control}
    return message.model_copy(update={"content": blocks})
