"""The pydantic side of structured extraction (see ``src/extract/`` for the loop itself).

``prepare`` is called by the core once per ``client.extract(...)``: it turns the caller's target
into a JSON Schema (as JSON text, the core's cache key), a name for the tool / schema and a
validator the core calls once per attempt with the answer's JSON text.
pydantic is never imported here: a model class means the caller already imported it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

from .errors import ConfigurationError

Validate = Callable[[Any, int], tuple[bool, Any]]

_NAME = re.compile(r"[^A-Za-z0-9_-]+")


def prepare(target: object, context: Mapping[str, Any] | None) -> tuple[str, str, Validate | None]:
    """``(schema as JSON text, name, validate)`` for a pydantic model class or a JSON Schema dict."""
    if isinstance(target, Mapping):
        return (*_dict_schema(target), None)
    if isinstance(target, type) and callable(getattr(target, "model_json_schema", None)):
        schema, name = _model_schema(target)
        return schema, name, _validator(target, context)
    raise ConfigurationError(
        f"extract() needs a pydantic model class or a JSON Schema dict, got {type(target).__name__}"
    )


# id(schema dict) -> (a snapshot of it, its JSON text, its name). Callers usually pass the same
# dict every time; comparing it with the snapshot is several times cheaper than json.dumps, and
# a dict changed in place (or a new one at a reused id) differs from its snapshot.
_DICT_SCHEMAS: dict[int, tuple[Any, str, str]] = {}


def _dict_schema(target: Mapping[str, Any]) -> tuple[str, str]:
    try:
        hit = _DICT_SCHEMAS.get(id(target))
        if hit is not None and hit[0] == target:
            return hit[1], hit[2]
        # allow_nan=False: NaN and Infinity are not JSON, and the core's parser refuses them.
        text = json.dumps(target, allow_nan=False)
    except RecursionError:
        raise ConfigurationError(
            "the schema nests too deeply to convert (or contains itself); flatten it"
        ) from None
    except (TypeError, ValueError) as e:
        raise ConfigurationError(f"the schema is not JSON: {e}") from None
    name = _name(target.get("title"), "extract")
    if len(_DICT_SCHEMAS) >= 256:
        _DICT_SCHEMAS.clear()
    _DICT_SCHEMAS[id(target)] = (json.loads(text), text, name)
    return text, name


@lru_cache(maxsize=256)
def _model_schema(model: Any) -> tuple[str, str]:
    # Building a model's JSON Schema takes milliseconds; models are classes, defined once.
    return json.dumps(model.model_json_schema()), _name(getattr(model, "__name__", None), "extract")


def _validator(model: Any, context: Mapping[str, Any] | None) -> Validate:
    return _plain_validator(model) if context is None else _make_validator(model, context)


@lru_cache(maxsize=256)
def _plain_validator(model: Any) -> Validate:
    return _make_validator(model, None)


def _make_validator(model: Any, context: Mapping[str, Any] | None) -> Validate:
    from pydantic import ValidationError  # the caller's model class means pydantic is loaded

    def validate(text: str, attempt: int) -> tuple[bool, Any]:
        # Validators see the attempt number (1 for the first answer) in their context.
        ctx = {**(context or {}), "attempt": attempt}
        try:
            return True, model.model_validate_json(text, context=ctx)
        except ValidationError as e:
            return False, [_describe(err) for err in e.errors(include_url=False)]

    return validate


def _describe(err: Mapping[str, Any]) -> str:
    """``"confidence: Input should be less than or equal to 5 (got 7.5)"``, as the re-ask says it."""
    loc = ".".join(str(p) for p in err.get("loc", ())) or "(root)"
    got = repr(err.get("input"))
    got = got if len(got) <= 80 else got[:77] + "..."
    return f"{loc}: {err.get('msg', 'invalid')} (got {got})"


def _name(title: object, default: str) -> str:
    """A tool / schema name both providers accept (``^[A-Za-z0-9_-]{1,64}$``)."""
    name = _NAME.sub("_", str(title)).strip("_")[:64] if title else ""
    return name or default
