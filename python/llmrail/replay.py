"""Record LLM traffic once, replay it offline: cassettes at llmrail's own transport.

    with llmrail.replay.cassette("tests/cassettes/chat.yaml", mode="once"):
        r = client.chat_sync("hi")        # recorded the first time, replayed ever after

Every request any :class:`llmrail.Client` sends while a cassette is active (whichever thread or
event loop, however deep in the code the client was made) goes through it: answered from the
file, or sent and recorded. Also a decorator (``@llmrail.replay.cassette(...)``, sync or async),
and ``async with``. In pytest, use the ``llm_cassette`` marker (see ``llmrail.pytest_plugin``).

Record modes, as in vcrpy: ``none`` never touches the network (the default when ``CI=true``);
``once`` records when the file does not exist yet, then only replays (the default otherwise);
``new_episodes`` replays what matches and records the rest; ``all`` records everything,
replacing the recorded interactions the new ones match.

Matching: ``match_on`` names what must be equal, from ``method``, ``uri`` (``scheme``, ``host``,
``port``, ``path``, ``query``) and ``body``; the default is ``("method", "uri", "body")``. JSON
bodies compare as data (key order, whitespace and ``1`` vs ``1.0`` do not matter).
``ignore_fields`` drops volatile JSON fields before comparing (dotted paths, ``*`` for any key or
index: ``"metadata.run_id"``, ``"messages.*.id"``); ``ignore_query`` drops query parameters.
Identical requests replay in recorded order, so a 429 then a 200 replay as the same retry;
``allow_playback_repeats=True`` lets the last match answer again. A request with no recorded
answer in a mode that may not record raises :class:`llmrail.CassetteMissError`, naming the request,
the closest recorded one and what differs.

``extra_cassettes`` names more files to replay from, after the cassette's own interactions
(pytest-recording's extra cassettes): they are read only, what is recorded goes to ``path``, and
whether ``path`` exists is what mode ``once`` asks; a missing extra file is empty.

Streams are recorded chunk by chunk and replayed as the same chunks; ``pace=1.0`` replays at the
recorded pace (time to first token included), ``pace=0`` (the default) at once.

Secrets never reach the file: ``authorization``, ``x-api-key``, ``api-key``, ``x-goog-api-key``,
``x-amz-security-token``, cookies and any header a provider marks as a credential become
``REDACTED``, as do ``key=``, ``token=``, ``sig=`` (and AWS signature) query parameters, a
``user:password@`` in the URL and every other occurrence of those values; ``scrub_headers``,
``scrub_query`` and ``scrub_fields`` (JSON field names, at any depth) add more. Replaying needs
no API key.

The file is vcrpy's YAML layout (``interactions`` of ``request`` ``body``/``headers``/``method``/
``uri`` and ``response`` ``body.string``/``headers``/``status``, ``version: 1``), so vcrpy loads it.
JSON bodies are stored pretty-printed as YAML block text, to be read and reviewed. llmrail adds
two response keys that vcrpy ignores: ``latency_ms`` and, for streams, ``chunks``
(``bytes@ms`` per chunk, ms since the request was sent). It also reads cassettes written by
vcrpy/pytest-recording (gzip ``!!binary`` bodies) and by pydantic-ai (``parsed_body``). Files are
written atomically when the cassette is closed, and an interrupted stream is never recorded.
Processes recording into one cassette at once each add theirs: a save merges into the file as it
is then, under a lock (a file in the temp folder). A file of another ``version``, or with an
impossible ``latency_ms`` or chunk time, is a ``ConfigurationError``.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, TypeVar

from . import _core

__all__ = ["Cassette", "MatchOn", "RecordMode", "cassette", "DEFAULT_MATCH_ON"]

RecordMode = Literal["none", "once", "new_episodes", "all"]
MatchOn = Literal["method", "uri", "scheme", "host", "port", "path", "query", "body"]
DEFAULT_MATCH_ON: tuple[MatchOn, ...] = ("method", "uri", "body")

_F = TypeVar("_F", bound=Callable[..., Any])


class Cassette:
    """A cassette file, used as a context manager (sync or async) or as a decorator."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        mode: RecordMode | None = None,
        match_on: Sequence[MatchOn] = DEFAULT_MATCH_ON,
        ignore_fields: Sequence[str] = (),
        ignore_query: Sequence[str] = (),
        scrub_headers: Sequence[str] = (),
        scrub_query: Sequence[str] = (),
        scrub_fields: Sequence[str] = (),
        allow_playback_repeats: bool = False,
        pace: float = 0.0,
        extra_cassettes: Sequence[str | os.PathLike[str]] = (),
    ) -> None:
        self._path = Path(path)
        self._options: dict[str, Any] = {
            "mode": mode,
            "match_on": list(match_on),
            "ignore_fields": list(ignore_fields),
            "ignore_query": list(ignore_query),
            "scrub_headers": list(scrub_headers),
            "scrub_query": list(scrub_query),
            "scrub_fields": list(scrub_fields),
            "allow_playback_repeats": allow_playback_repeats,
            "pace": pace,
            "extra_cassettes": [os.fspath(p) for p in extra_cassettes],
        }
        self._core: _core.Cassette | None = None

    def _open(self) -> _core.Cassette:
        if self._core is not None:
            raise RuntimeError(f"cassette {self._path} is already in use; make a new one to reuse the file")
        self._core = _core.Cassette(os.fspath(self._path), **self._options)
        self._core.activate()
        return self._core

    def _close(self) -> None:
        if self._core is not None:
            self._core.deactivate()

    def __enter__(self) -> Cassette:
        self._open()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._close()

    async def __aenter__(self) -> Cassette:
        return self.__enter__()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._close()

    def __call__(self, func: _F) -> _F:
        """Use a fresh cassette with these settings around every call of ``func``."""

        def fresh() -> Cassette:
            return Cassette(self._path, **self._options)

        import inspect  # here, not at the top: it is slow to import and only decorators need it

        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def run_async(*args: Any, **kwargs: Any) -> Any:
                async with fresh():
                    return await func(*args, **kwargs)

            return run_async  # type: ignore[return-value]

        @functools.wraps(func)
        def run(*args: Any, **kwargs: Any) -> Any:
            with fresh():
                return func(*args, **kwargs)

        return run  # type: ignore[return-value]

    def _state(self) -> _core.Cassette:
        if self._core is None:
            raise RuntimeError(f"cassette {self._path} has not been used yet (enter it with `with`)")
        return self._core

    @property
    def path(self) -> Path:
        return self._path

    @property
    def mode(self) -> RecordMode:
        """The record mode in force (the default resolved: ``none`` under ``CI=true``, else ``once``)."""
        mode: RecordMode = self._state().mode  # type: ignore[assignment]
        return mode

    @property
    def play_count(self) -> int:
        """How many recorded interactions have been replayed."""
        return self._state().play_count

    @property
    def record_count(self) -> int:
        """How many interactions were recorded while the cassette was in use."""
        return self._state().record_count

    @property
    def all_played(self) -> bool:
        """Whether every recorded interaction has been replayed."""
        state = self._state()
        return state.play_count == len(state)

    def __len__(self) -> int:
        """The number of interactions loaded from the file."""
        return len(self._state())

    def __repr__(self) -> str:
        return repr(self._core) if self._core is not None else f"Cassette({os.fspath(self._path)!r}, unused)"


def cassette(
    path: str | os.PathLike[str],
    *,
    mode: RecordMode | None = None,
    match_on: Sequence[MatchOn] = DEFAULT_MATCH_ON,
    ignore_fields: Sequence[str] = (),
    ignore_query: Sequence[str] = (),
    scrub_headers: Sequence[str] = (),
    scrub_query: Sequence[str] = (),
    scrub_fields: Sequence[str] = (),
    allow_playback_repeats: bool = False,
    pace: float = 0.0,
    extra_cassettes: Sequence[str | os.PathLike[str]] = (),
) -> Cassette:
    """``with llmrail.replay.cassette("path.yaml", mode="once"): ...`` (see the module docs)."""
    return Cassette(
        path,
        mode=mode,
        match_on=match_on,
        ignore_fields=ignore_fields,
        ignore_query=ignore_query,
        scrub_headers=scrub_headers,
        scrub_query=scrub_query,
        scrub_fields=scrub_fields,
        allow_playback_repeats=allow_playback_repeats,
        pace=pace,
        extra_cassettes=extra_cassettes,
    )
