"""Call hooks (``Client(on_request=..., on_response=..., on_error=...)``), run off the call path.

A call only hands each hook's arguments to one daemon thread of the process (a thread-safe
enqueue); that thread runs an event loop of its own: a sync hook runs there, an async one is a
task there, so a slow hook delays later hooks at most, never a call. A hook that raises is logged
on the ``llmrail`` logger with its traceback and the call goes on as if it had not been there.
Async hooks run on that loop, not on the caller's: they must not touch objects bound to the
caller's loop.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger("llmrail")

Hook = Callable[..., Any]


class _Runner:
    """The thread and loop the hooks run on, started on first use (again after a fork)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pid = 0
        self._tasks: set[asyncio.Task[Any]] = set()

    def _started(self) -> asyncio.AbstractEventLoop:
        loop = self._loop
        if loop is not None and self._pid == os.getpid():
            return loop
        with self._lock:
            if self._loop is None or self._pid != os.getpid():
                self._loop = asyncio.new_event_loop()
                self._pid = os.getpid()
                self._tasks = set()
                threading.Thread(target=self._loop.run_forever, name="llmrail-hooks", daemon=True).start()
            return self._loop

    def submit(self, name: str, hook: Hook, args: tuple[Any, ...]) -> None:
        self._started().call_soon_threadsafe(self._run, name, hook, args)

    def _run(self, name: str, hook: Hook, args: tuple[Any, ...]) -> None:
        try:
            result = hook(*args)
        except Exception:
            log.exception("llmrail %s hook %r raised; the call was not affected", name, hook)
            return
        if inspect.isawaitable(result):
            task = asyncio.ensure_future(self._await(name, hook, result))
            self._tasks.add(task)  # a running task must be referenced, or it may be collected
            task.add_done_callback(self._tasks.discard)

    async def _await(self, name: str, hook: Hook, result: Any) -> None:
        try:
            await result
        except Exception:
            log.exception("llmrail %s hook %r raised; the call was not affected", name, hook)


_RUNNER = _Runner()


class Hooks:
    """One client's hooks. Each gets the call's options (a dict: ``model``, ``messages`` and the
    keyword arguments of the call), then the outcome: the ``ChatResponse`` (``chat``), the
    "done" ``StreamEvent`` (``stream``), the ``Extraction`` (``extract``), or the exception."""

    def __init__(self, on_request: Hook | None, on_response: Hook | None, on_error: Hook | None) -> None:
        for name, hook in (("on_request", on_request), ("on_response", on_response), ("on_error", on_error)):
            if hook is not None and not callable(hook):
                raise TypeError(f"{name} must be a callable (sync or async), got {type(hook).__name__}")
        self.on_request = on_request
        self.on_response = on_response
        self.on_error = on_error

    def request(self, options: dict[str, Any]) -> None:
        if self.on_request is not None:
            _RUNNER.submit("on_request", self.on_request, (options,))

    def response(self, options: dict[str, Any], response: Any) -> None:
        if self.on_response is not None:
            _RUNNER.submit("on_response", self.on_response, (options, response))

    def error(self, options: dict[str, Any], error: BaseException) -> None:
        if self.on_error is not None:
            _RUNNER.submit("on_error", self.on_error, (options, error))
