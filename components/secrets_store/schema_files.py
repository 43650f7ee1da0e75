"""A project's JSON Schema files as data, never a way out: references stay inside, patterns
cannot hang.

A `kind: json` secret may name a JSON Schema file (`schema: schemas/db.schema.json`). Such a
file comes from any contributor of the project, and the tools run it during `plan`, `check`
and `pulumi up`. So:
- References: a `$ref` (also `$dynamicRef`, `$recursiveRef`) is either a fragment of the
  same schema (`#/$defs/port`) or a schema file beside it inside the project
  (`common.schema.json#/$defs/host`). Anything else (an `http://` address, `file://`, an
  absolute path, `..` out of the project, a `urn:`) is refused when the file is read, in one
  line naming the file and the reference. Validation uses a registry holding only those
  files: nothing is ever fetched, whatever `$id` says.
- Patterns (`pattern`, `patternProperties`, and `additionalProperties` beside them) are
  matched with the `regex` package under a timeout, `MATCH_TIMEOUT_S` each, and all the
  matching of one value within `VALUE_BUDGET_S`: a pattern that backtracks catastrophically
  (`^(a+)+$`) stops with a problem line instead of hanging the run.
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import Iterator, Mapping
from typing import Any

import regex

REF_KEYS = ("$ref", "$dynamicRef", "$recursiveRef")
MATCH_TIMEOUT_S = 0.25
"""Longest one pattern may take on one string."""
VALUE_BUDGET_S = 2.0
"""Longest all the pattern matching of one value may take."""

_deadline: contextvars.ContextVar[float] = contextvars.ContextVar("schema_deadline")


class PatternTimeout(Exception):
    """A schema pattern that took too long on a value. Holds the pattern, never the value."""

    def __init__(self, pattern: str) -> None:
        super().__init__(pattern)
        self.pattern = pattern


def schema_refs(schema: Any) -> Iterator[str]:
    """Every reference a schema makes (the values of `$ref` and its kin), at any depth."""
    pending = [schema]
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            for key in REF_KEYS:
                if isinstance(node.get(key), str):
                    yield node[key]
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)


def ref_target(ref: str) -> str | None:
    """The sibling file a reference names ("" for a fragment of the same schema), or None
    when it names anything else: a scheme (`http:`, `file:`, `urn:`), an absolute path, a
    path out of the schema's folder, a backslash."""
    target = ref.split("#", 1)[0]
    if not target:
        return ""
    if ":" in target or target.startswith(("/", "~")) or "\\" in target:
        return None
    if any(part in ("", "..") for part in target.split("/")):
        return None
    return target


def _search(pattern: str, text: str) -> bool:
    remaining = _deadline.get(time.monotonic() + VALUE_BUDGET_S) - time.monotonic()
    if remaining <= 0:
        raise PatternTimeout(pattern)
    try:
        return regex.search(pattern, text, timeout=min(MATCH_TIMEOUT_S, remaining)) is not None
    except TimeoutError:
        raise PatternTimeout(pattern) from None


def _pattern(validator: Any, pattern: str, instance: Any, _schema: Any) -> Iterator[Any]:
    from jsonschema.exceptions import ValidationError

    if validator.is_type(instance, "string") and not _search(pattern, instance):
        yield ValidationError("does not match the pattern")


def _pattern_properties(
    validator: Any, patterns: Mapping[str, Any], instance: Any, _schema: Any
) -> Iterator[Any]:
    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in patterns.items():
        for key, value in instance.items():
            if _search(pattern, key):
                yield from validator.descend(value, subschema, path=key, schema_path=pattern)


def _additional_properties(
    validator: Any, additional: Any, instance: Any, schema: Mapping[str, Any]
) -> Iterator[Any]:
    from jsonschema.exceptions import ValidationError

    if not validator.is_type(instance, "object"):
        return
    declared = schema.get("properties", {})
    patterns = schema.get("patternProperties", {})
    extras = [
        key
        for key in instance
        if key not in declared and not any(_search(p, key) for p in patterns)
    ]
    if validator.is_type(additional, "object"):
        for key in extras:
            yield from validator.descend(instance[key], additional, path=key)
    elif additional is False and extras:
        yield ValidationError("has a key the schema does not allow")


def bounded_validator(schema: Mapping[str, Any], resources: Mapping[str, Any]) -> Any:
    """A validator of `schema` (its own dialect) whose references resolve only to `resources`
    (sibling file name -> its schema) and whose patterns are matched under a time bound."""
    from jsonschema import validators
    from referencing import Registry, Resource
    from referencing.exceptions import NoSuchResource
    from referencing.jsonschema import DRAFT202012

    def retrieve(uri: str) -> Resource[Any]:
        if uri in resources:
            return Resource.from_contents(resources[uri], default_specification=DRAFT202012)
        raise NoSuchResource(uri)  # no network, no file: only what was read and checked

    base = validators.validator_for(schema)
    bounded = validators.extend(
        base,
        {
            "pattern": _pattern,
            "patternProperties": _pattern_properties,
            "additionalProperties": _additional_properties,
        },
    )
    return bounded(schema, registry=Registry(retrieve=retrieve))  # type: ignore[call-arg]


def within_budget() -> contextvars.Token[float]:
    """Start one value's time budget (`VALUE_BUDGET_S`); reset it with the token."""
    return _deadline.set(time.monotonic() + VALUE_BUDGET_S)


def reset_budget(token: contextvars.Token[float]) -> None:
    _deadline.reset(token)
