"""LangChain integration: ``ChatLlmrail`` and ``optimize()``.

    from llmrail.langchain import ChatLlmrail, optimize

    model = ChatLlmrail(model="anthropic/claude-sonnet-4-5")    # instead of ChatAnthropic(...)
    model = optimize(ChatAnthropic(model="claude-sonnet-4-5"), prompt_cache="5m")

Importing this module needs ``langchain-core``; ``import llmrail`` alone never imports it.
"""

from ._batch_api import BatchOptions
from ._chat_model import ChatLlmrail
from ._optimize import Capabilities, OptimizedChatModel, detect, optimize

__all__ = ["BatchOptions", "ChatLlmrail", "Capabilities", "OptimizedChatModel", "detect", "optimize"]
