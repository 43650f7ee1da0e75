"""Named pydantic models that a `kind: json` secret's value must satisfy.

A secret declares `schema: postgres`; its every version is parsed as JSON and
validated against the model registered under that name before any resource is
registered.

Register your own model (in your fork, or in code imported before the program runs):

    from pydantic import BaseModel
    from secrets_store.schemas import register_schema

    @register_schema("redis")
    class RedisConfig(BaseModel):
        url: str
        tls: bool = True

Errors name the field and the rule, never the value.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from pydantic import BaseModel, ConfigDict, Field, ValidationError

SCHEMAS: dict[str, type[BaseModel]] = {}


def register_schema(name: str) -> Callable[[type[BaseModel]], type[BaseModel]]:
    """Class decorator: make `model` available as `schema: <name>` in stack config."""

    def register(model: type[BaseModel]) -> type[BaseModel]:
        if name in SCHEMAS and SCHEMAS[name] is not model:
            raise ValueError(f"schema {name!r} is already registered to {SCHEMAS[name].__name__}")
        SCHEMAS[name] = model
        return model

    return register


@register_schema("postgres")
class PostgresConfig(BaseModel):
    """The seed's DbConfig: what a worker needs to build a postgres:// URL."""

    model_config = ConfigDict(extra="forbid")

    host: str = Field(min_length=1)
    port: int = Field(ge=1, le=65535)
    username: str = Field(min_length=1)
    password: str = Field(min_length=1)


def json_problems(value: str) -> list[str]:
    """Why `value` is not JSON, as one line naming the position (never the text)."""
    try:
        json.loads(value)
    except json.JSONDecodeError as exc:
        return [f"is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"]
    return []


def schema_problems(schema: str, value: str) -> list[str]:
    """Why `value` fails `schema`, one line per problem; empty when it passes.

    Lines carry field paths and rules only: pydantic's `input` (which is the
    secret, or part of it) is deliberately never read.
    """
    problems = json_problems(value)
    if problems:
        return problems
    try:
        SCHEMAS[schema].model_validate_json(value)
    except ValidationError as exc:
        lines = []
        for err in exc.errors(include_input=False, include_url=False):
            field = ".".join(str(p) for p in err["loc"]) or "(value)"
            lines.append(f"does not satisfy schema {schema!r}: {field}: {err['msg']}")
        return lines
    return []
