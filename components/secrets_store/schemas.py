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

Or, without touching the package, point `schema:` at a JSON Schema file of your project
(`schema: schemas/redis.schema.json`, a path relative to the project root that stays inside
it): every version is validated with the `jsonschema` library (the dialect its `$schema`
names, Draft 2020-12 by default).

Errors name the field and the rule, never the value: not a key of it either, unless the
schema declares that key.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError

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


def is_schema_file(schema: str) -> bool:
    """`schema:` names a JSON Schema file (a path) rather than a registered model."""
    return "/" in schema or schema.endswith(".json")


def json_schema_problems(
    label: str,
    schema: Mapping[str, Any],
    value: str,
    resources: Mapping[str, Any] | None = None,
) -> list[str]:
    """Why `value` fails the JSON Schema `schema` (from the file `label`), one line per
    problem; empty when it passes. Lines carry the keys the schema declares and the rule
    (the schema's own words), never jsonschema's message, which quotes the value.
    `resources`: the sibling schema files its references name (`secrets_store.schema_files`:
    nothing else is ever fetched; patterns are matched under a time bound)."""
    from jsonschema import exceptions
    from referencing.exceptions import Unresolvable

    from secrets_store.schema_files import (
        MATCH_TIMEOUT_S,
        PatternTimeout,
        bounded_validator,
        reset_budget,
        within_budget,
    )

    problems = json_problems(value)
    if problems:
        return problems
    instance = json.loads(value)
    names = _declared_keys(schema)
    lines = []
    budget = within_budget()
    try:
        errors = sorted(
            bounded_validator(schema, resources or {}).iter_errors(instance),
            key=lambda e: list(map(str, e.absolute_path)),
        )
    except (exceptions.SchemaError, Unresolvable, RecursionError):  # a `$ref` it cannot follow
        return [f"cannot be checked against {label!r}: the schema cannot be applied"]
    except PatternTimeout as slow:
        return [
            f"cannot be checked against {label!r}: its pattern {json.dumps(slow.pattern)[:80]} "
            f"took over {MATCH_TIMEOUT_S} s on this value (it backtracks: simplify the pattern)"
        ]
    finally:
        reset_budget(budget)
    for error in errors:
        field = ".".join(
            str(p) if isinstance(p, int) or p in names else "(undeclared key)"
            for p in error.absolute_path
        )
        lines.append(f"does not satisfy schema {label!r}: {field or '(value)'}: {_keyword(error)}")
    return list(dict.fromkeys(lines))


def _keyword(error: Any) -> str:
    """The rule an error breaks in the schema's words (its keyword and its setting)."""
    keyword, setting = str(error.validator), error.validator_value
    if keyword == "required" and isinstance(error.instance, dict):
        missing = [str(p) for p in setting if p not in error.instance]
        return f"is missing required {', '.join(missing)}"
    if keyword in ("additionalProperties", "unevaluatedProperties", "propertyNames"):
        return "has a key the schema does not allow"
    if isinstance(setting, str | int | float | bool) or setting is None:
        return f"fails {keyword}: {json.dumps(setting)[:80]}"
    return f"fails {keyword}"


def _declared_keys(schema: Any) -> set[str]:
    """Every property name the schema declares, at any depth."""
    names: set[str] = set()
    pending = [schema]
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            if isinstance(node.get("properties"), dict):
                names |= {str(k) for k in node["properties"]}
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)
    return names


# workers/lib/subject.js holds the same grammar (tests/test_login_clients.py checks they agree).
SUBJECT_PATTERN = r"[a-z0-9][a-z0-9._-]{0,63}"
_SUBJECT = re.compile(SUBJECT_PATTERN, re.ASCII)
_DIGEST = re.compile(r"[0-9a-f]{64}", re.ASCII)


class LoginClient(BaseModel):
    """One client allowed to log in at gateway.js: its id, its secret's SHA-256, its subject."""

    model_config = ConfigDict(extra="forbid")

    client_id: str
    """The user name of HTTP Basic; the subject grammar."""
    secret_sha256: str
    """Lowercase hex SHA-256 of the client secret (a random token, never stored itself)."""
    subject: str
    """The `sub` of every token this client gets; the subject grammar."""

    @field_validator("client_id", "subject")
    @classmethod
    def _grammar(cls, value: str) -> str:
        # fullmatch: `$` would let a trailing newline through.
        if not _SUBJECT.fullmatch(value):
            raise PydanticCustomError("subject_grammar", f"must match ^{SUBJECT_PATTERN}$")
        return value

    @field_validator("secret_sha256")
    @classmethod
    def _digest(cls, value: str) -> str:
        if not _DIGEST.fullmatch(value):
            raise PydanticCustomError(
                "sha256_hex", "must be 64 lowercase hex digits (sha256 of the client secret)"
            )
        return value


@register_schema("login_clients")
class LoginClients(BaseModel):
    """gateway.js's LOGIN_CLIENTS: who may obtain a token, and as which subject.

    Example: `{"clients": [{"client_id": "billing", "secret_sha256": "<64 hex>",
    "subject": "billing"}]}`. The secret is `openssl rand -hex 32`; its digest is
    `printf %s "$secret" | sha256sum`.
    """

    model_config = ConfigDict(extra="forbid")

    clients: list[LoginClient] = Field(min_length=1)

    @model_validator(mode="after")
    def _each_client_once(self) -> LoginClients:
        ids = [c.client_id for c in self.clients]
        if len(set(ids)) != len(ids):
            raise PydanticCustomError(
                "duplicate_client", "a client_id is listed twice (list each once)"
            )
        return self


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
    model = SCHEMAS[schema]
    try:
        model.model_validate_json(value)
    except ValidationError as exc:
        names = field_names(model)
        lines = []
        for err in exc.errors(include_input=False, include_url=False, include_context=False):
            # A location part is shown only when the schema declares it: any other key
            # (an extra one, a dict key) was written by whoever wrote the secret.
            field = ".".join(
                str(p) if isinstance(p, int) or p in names else "(undeclared key)"
                for p in err["loc"]
            )
            lines.append(f"does not satisfy schema {schema!r}: {field or '(value)'}: {_rule(err)}")
        return list(dict.fromkeys(lines))
    return []


# Error types whose message quotes part of the input, or a model's own words (which may).
_QUOTING = {
    "value_error": "fails a check of the schema",
    "assertion_error": "fails a check of the schema",
    "union_tag_invalid": "has a tag the schema does not know",
    "get_attribute_error": "fails a check of the schema",
    "json_invalid": "is not valid JSON",
}


def _rule(err: Any) -> str:
    """The rule an error breaks, in pydantic's words unless those could quote the value."""
    return _QUOTING.get(str(err["type"]), str(err["msg"]))


def field_names(model: type[BaseModel]) -> set[str]:
    """Every field name and alias of `model` and of the models its fields hold."""
    names: set[str] = set()
    pending: list[Any] = [model]
    seen: set[int] = set()
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, type) and issubclass(current, BaseModel):
            for name, info in current.model_fields.items():
                names |= {
                    name,
                    *(a for a in (info.alias, info.validation_alias) if isinstance(a, str)),
                }
                pending.append(info.annotation)
        pending.extend(get_args(current))
    return names
