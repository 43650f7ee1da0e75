"""A `json` secret validated against a JSON Schema file of the user's own project."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from secrets_store.config import load_schema_file
from secrets_store.errors import SpecError
from secrets_store.spec import ConfigValue, parse_stack
from secretsctl.offline.mockrun import run_program
from tests.conftest import ACCOUNT, CANARY, stack_config

REDIS_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "properties": {"url": {"type": "string", "pattern": "^rediss?://"}, "tls": {"type": "boolean"}},
    "required": ["url"],
    "additionalProperties": False,
}


def project(tmp_path: Path) -> Path:
    """A project of the user's own: its program reads the stack with the package's reader."""
    root = tmp_path / "project"
    (root / "schemas").mkdir(parents=True)
    (root / "schemas" / "redis.schema.json").write_text(json.dumps(REDIS_SCHEMA))
    (root / "__main__.py").write_text(
        "from pathlib import Path\n"
        "from secrets_store.config import read_stack_spec\n"
        "read_stack_spec(Path(__file__).resolve().parent)\n"
    )
    return root


def namespace(schema: str) -> dict[str, Any]:
    return {
        "accountId": ACCOUNT,
        "secrets": {"cache": {"kind": "json", "schema": schema}},
    }


def test_a_value_that_satisfies_the_users_schema_file_passes(tmp_path):
    root = project(tmp_path)
    value = json.dumps({"url": f"rediss://{CANARY}@cache:6379", "tls": True})
    config = stack_config(namespace("schemas/redis.schema.json"), {"cache_v1": value})
    run_program(config, program=root / "__main__.py")  # no SpecError


def test_a_value_that_fails_the_users_schema_is_refused_by_key_never_shown(tmp_path):
    root = project(tmp_path)
    value = json.dumps({"url": f"http://{CANARY}", "tls": "yes", f"{CANARY}-key": 1})
    config = stack_config(namespace("schemas/redis.schema.json"), {"cache_v1": value})
    with pytest.raises(SpecError) as refused:
        run_program(config, program=root / "__main__.py")
    message = str(refused.value)
    assert CANARY not in message
    assert refused.value.keys == ["secrets-store:cache_v1"] * 3
    label = "'schemas/redis.schema.json'"
    assert f"does not satisfy schema {label}: (value): has a key the schema does not allow" in (
        message
    )
    assert f'does not satisfy schema {label}: tls: fails type: "boolean"' in message
    assert f'does not satisfy schema {label}: url: fails pattern: "^rediss?://"' in message


def test_a_missing_required_key_is_named_from_the_schema(tmp_path):
    problems = _problems(project(tmp_path), {"tls": True})
    assert problems == [
        "secrets-store:cache_v1: does not satisfy schema 'schemas/redis.schema.json': (value): "
        "is missing required url (fix the value and run `pulumi config set --secret --stack "
        "dev cache_v1 <value>`)"
    ]


def _problems(root: Path, value: Any) -> list[str]:
    """parse_stack's problems for one value, the schema read as the program reads it."""
    from pydantic import SecretStr

    values = {"cache_v1": ConfigValue(value=SecretStr(json.dumps(value)), secure=True)}
    try:
        parse_stack(
            "dev",
            namespace("schemas/redis.schema.json"),
            values,
            load_schema=lambda path: load_schema_file(root, path),
        )
    except SpecError as exc:
        return [str(p) for p in exc.problems]
    return []


@pytest.mark.parametrize(
    "schema",
    ["../outside.schema.json", "/etc/outside.schema.json", "schemas/link.schema.json"],
)
def test_a_schema_path_outside_the_project_is_refused(tmp_path, schema):
    root = project(tmp_path)
    (tmp_path / "outside.schema.json").write_text(json.dumps({"type": "object"}))
    # A link inside the project that resolves outside it counts as outside.
    (root / "schemas" / "link.schema.json").symlink_to(tmp_path / "outside.schema.json")
    loaded = load_schema_file(root, schema)
    assert loaded.schema is None
    assert loaded.problem is not None
    assert "must stay inside the project" in loaded.problem or "file not found" in loaded.problem
    if schema != "/etc/outside.schema.json":  # (no such file there: not found is enough)
        assert "must stay inside the project" in loaded.problem
    config = stack_config(namespace(schema), {"cache_v1": json.dumps({"url": "redis://x"})})
    with pytest.raises(SpecError) as refused:
        run_program(config, program=root / "__main__.py")
    assert refused.value.keys == ["secrets-store:secrets.cache.schema"]


def test_a_schema_file_that_is_no_json_schema_is_refused_on_the_schema_key(tmp_path):
    root = project(tmp_path)
    (root / "schemas" / "bad.schema.json").write_text(json.dumps({"type": "no-such-type"}))
    (root / "schemas" / "broken.json").write_text("{")
    assert "is not a valid JSON Schema" in str(load_schema_file(root, "schemas/bad.schema.json"))
    assert "is not valid JSON, got an error at line 1" in str(
        load_schema_file(root, "schemas/broken.json").problem
    )


def test_an_unknown_schema_name_points_at_what_exists():
    with pytest.raises(SpecError) as refused:
        parse_stack("dev", namespace("redis"), {})
    (problem,) = [p for p in refused.value.problems if p.key.endswith(".schema")]
    assert problem.key == "secrets-store:secrets.cache.schema"
    assert "components/schemas.py" not in problem.message
    assert "postgres, a JSON Schema file of the project such as" in problem.message


# ---- a schema is data, never a way out (secrets_store.schema_files) -------------------------


def write_schema(root: Path, name: str, schema: dict[str, Any]) -> str:
    (root / "schemas" / name).write_text(json.dumps(schema))
    return f"schemas/{name}"


@pytest.mark.parametrize(
    "ref",
    [
        "http://127.0.0.1:9/evil.json",
        "https://example.com/schema.json#/$defs/x",
        "file:///etc/passwd",
        "/etc/passwd",
        "../../outside.schema.json",
        "urn:example:thing",
        "sub\\..\\x.json",
    ],
)
def test_a_ref_out_of_the_schema_is_refused_naming_the_file_and_the_ref(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ref: str
) -> None:
    import socket

    def no_network(*_: Any, **__: Any) -> None:
        raise AssertionError("a schema reference reached for the network")

    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(socket.socket, "connect", no_network)
    root = project(tmp_path)
    (tmp_path / "outside.schema.json").write_text(json.dumps({"const": f"{CANARY}-outside"}))
    name = write_schema(root, "refs.schema.json", {"properties": {"x": {"$ref": ref}}})
    loaded = load_schema_file(root, name)
    assert loaded.schema is None and loaded.problem is not None
    assert "reaches outside the schema" in loaded.problem
    assert "refs.schema.json" in loaded.problem and CANARY not in loaded.problem
    config = stack_config(namespace(name), {"cache_v1": json.dumps({"x": 1})})
    with pytest.raises(SpecError) as refused:
        run_program(config, program=root / "__main__.py")
    assert refused.value.keys == ["secrets-store:secrets.cache.schema"]


def test_a_sibling_schema_file_is_followed_and_checked_the_same_way(tmp_path: Path) -> None:
    root = project(tmp_path)
    write_schema(
        root, "common.schema.json", {"$defs": {"port": {"type": "integer", "maximum": 65535}}}
    )
    name = write_schema(
        root,
        "db.schema.json",
        {"properties": {"port": {"$ref": "common.schema.json#/$defs/port"}}},
    )
    loaded = load_schema_file(root, name)
    assert loaded.problem is None and set(loaded.resources) == {"common.schema.json"}
    ok = stack_config(namespace(name), {"cache_v1": json.dumps({"port": 5432})})
    run_program(ok, program=root / "__main__.py")
    bad = stack_config(namespace(name), {"cache_v1": json.dumps({"port": 99999})})
    with pytest.raises(SpecError) as refused:
        run_program(bad, program=root / "__main__.py")
    assert "port: fails maximum: 65535" in str(refused.value)
    # A sibling's own references are held to the same rule.
    write_schema(root, "common.schema.json", {"$defs": {"port": {"$ref": "http://x/y.json"}}})
    assert "reaches outside the schema" in str(load_schema_file(root, name).problem)


def test_an_id_elsewhere_fetches_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    def no_network(*_: Any, **__: Any) -> None:
        raise AssertionError("a schema reference reached for the network")

    monkeypatch.setattr(socket, "create_connection", no_network)
    root = project(tmp_path)
    write_schema(root, "common.schema.json", {"type": "integer"})
    # With this $id, "common.schema.json" resolves to http://127.0.0.1:9/common.schema.json.
    name = write_schema(
        root,
        "moved.schema.json",
        {
            "$id": "http://127.0.0.1:9/moved.json",
            "properties": {"n": {"$ref": "common.schema.json"}},
        },
    )
    config = stack_config(namespace(name), {"cache_v1": json.dumps({"n": 1})})
    with pytest.raises(SpecError) as refused:
        run_program(config, program=root / "__main__.py")
    assert "the schema cannot be applied" in str(refused.value)


SLOW = "^(a|aa)+$"
"""Exponential for Python's re and for the `regex` package alike, on "a" * 60 + "!"."""
SLOW_TEXT = "a" * 60 + "!"


@pytest.mark.parametrize(
    ("schema", "value"),
    [
        ({"properties": {"x": {"type": "string", "pattern": SLOW}}}, {"x": SLOW_TEXT}),
        ({"patternProperties": {SLOW: {"type": "integer"}}}, {SLOW_TEXT: 1}),
        ({"propertyNames": {"pattern": SLOW}}, {SLOW_TEXT: 1}),
        ({"patternProperties": {SLOW: {}}, "additionalProperties": False}, {SLOW_TEXT: 1}),
    ],
)
def test_a_backtracking_pattern_ends_in_a_problem_line_never_a_hang(
    tmp_path: Path, schema: dict[str, Any], value: dict[str, Any]
) -> None:
    root = project(tmp_path)
    name = write_schema(root, "slow.schema.json", schema)
    config = stack_config(namespace(name), {"cache_v1": json.dumps(value)})
    with pytest.raises(SpecError) as refused:
        run_program(config, program=root / "__main__.py")
    message = str(refused.value)
    assert "it backtracks: simplify the pattern" in message
    assert "a" * 40 not in message.replace(SLOW, "")  # never the value (nor a key of it)


def test_the_classic_nested_quantifier_is_matched_in_linear_time(tmp_path: Path) -> None:
    # `^(a+)+$` hangs Python's re for 2^40 steps on this value; the regex package answers.
    root = project(tmp_path)
    schema = {"properties": {"x": {"type": "string", "pattern": "^(a+)+$"}}}
    name = write_schema(root, "nested.schema.json", schema)
    config = stack_config(namespace(name), {"cache_v1": json.dumps({"x": "a" * 40 + "!"})})
    with pytest.raises(SpecError) as refused:
        run_program(config, program=root / "__main__.py")
    assert 'x: fails pattern: "^(a+)+$"' in str(refused.value)
