"""Loading a stack file never tracebacks, hangs or shows a secret.

Whatever a stack file holds, every command ends in exit 0 or exit 2 with one line per
problem on stderr (`<key path>: <what is wrong>, got <value or type> (<fix>)`) and
nothing on stdout; a `secure:` value, a plain-text secret and a json secret's keys and
values never appear in any message.
"""

from __future__ import annotations

import datetime
import json
import time
from typing import Any

import pytest

from secrets_store.errors import SpecError
from secrets_store.schemas import schema_problems
from secrets_store.spec import parse_stack
from secretsctl.offline.stackfile import (
    MAX_FILE_BYTES,
    MAX_INDICATORS,
    MAX_LINES,
    MAX_OPEN_BRACKETS,
    StackFileError,
    load_stack_config,
)
from tests.conftest import CANARY
from tests.workflow_support import CANARY_CIPHERTEXT, Repo, secretsctl

# Copies of the example stacks go through command after command: identical program runs
# are run once per module (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("remembered_runs")


@pytest.fixture
def repo(tmp_path) -> Repo:
    return Repo(tmp_path / "repo")


def commands(repo: Repo) -> dict[str, list[str]]:
    root = ["--root", str(repo.root)]
    return {
        "plan": ["plan", "--stack", "dev", "--config-file", str(repo.path("dev"))],
        "check": ["check", *root],
        "rotate": ["rotate", "api_key", "--stack", "dev", *root],
        "promote": ["promote", "--from", "dev", "--to", "staging", *root],
        "diff": ["diff", "--stack", "dev", "--base", "main", *root],
    }


COMMANDS = ["plan", "check", "rotate", "promote", "diff"]


def refused(result, *words: str) -> str:
    """The one stderr line naming the problem (a clean exit 2 with nothing on stdout)."""
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert result.stdout == ""
    lines = [line for line in result.stderr.splitlines() if all(w in line for w in words)]
    assert lines, result.stderr
    for secret in (CANARY, CANARY_CIPHERTEXT):
        assert secret not in result.output
    return lines[0]


# ---- files that are not stack files ------------------------------------------------------------


@pytest.mark.parametrize("command", COMMANDS)
def test_a_stack_file_that_is_not_utf8_is_refused_in_one_line(repo, command):
    repo.path("dev").write_bytes(repo.path("dev").read_bytes() + b"# caf\xe9\n")
    result = secretsctl(*commands(repo)[command])
    line = refused(result, "Pulumi.dev.yaml", "not UTF-8")
    assert "save the file as UTF-8" in line


@pytest.mark.parametrize("command", ["check --base", "diff --base"])
def test_a_stack_file_not_utf8_at_the_base_ref_is_refused_in_one_line(repo, command):
    # GIVEN a Latin-1 stack file committed at the base, and a UTF-8 one in the working tree
    utf8 = repo.read("dev")
    repo.path("dev").write_bytes(utf8.encode() + "# café\n".encode("latin-1"))
    repo.commit("latin-1")
    repo.write("dev", utf8)
    # WHEN the gate or the diff reads the base (it decoded git's bytes as text and raised)
    argv = {
        "check --base": ["check", "--root", str(repo.root), "--base", "HEAD"],
        "diff --base": ["diff", "--stack", "dev", "--base", "HEAD", "--root", str(repo.root)],
    }[command]
    result = secretsctl(*argv)
    # THEN one line names the ref, the file, the line and the byte offset
    line = refused(result, "--base HEAD: ", "Pulumi.dev.yaml: not UTF-8")
    assert result.stderr.splitlines() == [line]
    assert f"byte offset {len(utf8.encode()) + 5}" in line


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("top", ["- config\n- more\n", "just a sentence\n", "42\n"])
def test_a_top_level_that_is_not_a_mapping_is_refused(repo, command, top):
    repo.write("dev", top)
    result = secretsctl(*commands(repo)[command])
    refused(result, "Pulumi.dev.yaml", "top level must be a mapping")


@pytest.mark.parametrize("command", ["plan", "check"])
def test_a_module_path_too_long_for_the_filesystem_is_refused_by_its_key(repo, command):
    repo.sub("dev", r"module: workers/api\.js", "module: workers/" + "a" * 5000 + ".js")
    result = secretsctl(*commands(repo)[command])
    line = refused(result, "secrets-store:workers.api.module", "too long")
    assert len(line) < 300


def alias_bomb(levels: int = 12) -> list[str]:
    lines = ["config:", '  a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"  a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, levels)]
    return [
        *lines,
        f"  secrets-store:workers: {{api: {{module: workers/api.js, vars: *a{levels - 1}}}}}",
    ]


def merge_bomb(levels: int = 25) -> list[str]:
    # Each level merges nine copies of the one before: ruamel.yaml concatenates the merged
    # pairs before it removes duplicates, so building it takes 9**25 steps.
    lines = ["config:", "  a0: &a0 {k0: 1, k1: 2}"]
    lines += [
        f"  a{i}: &a{i} {{<<: [{', '.join([f'*a{i - 1}'] * 9)}], k{i + 1}: 1}}"
        for i in range(1, levels)
    ]
    return lines


@pytest.mark.parametrize("bomb", [alias_bomb, merge_bomb], ids=["aliases", "merge-keys"])
def test_an_alias_bomb_is_refused_within_a_second_in_one_short_line(repo, bomb):
    repo.write("dev", "\n".join(bomb()) + "\n")
    start = time.perf_counter()
    with pytest.raises(StackFileError, match="alias"):
        load_stack_config("dev", repo.path("dev"))
    assert time.perf_counter() - start < 1.0
    for command in COMMANDS:  # (check goes on to plan the other stacks: not timed here)
        line = refused(secretsctl(*commands(repo)[command]), "Pulumi.dev.yaml", "alias")
        assert len(line) < 400


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("config:\n  secrets-store:secrets: &s {api_key: *s}\n", "refers to a node that contains"),
        ("config:\n  k: " + "[" * 200 + "]" * 200 + "\n", "nested deeper"),
        ("config:\n  k: " + "[" * 5000 + "]" * 5000 + "\n", "too deep"),
        # Deep enough to crash the C reader (it recurses on the C stack): read by the pure one.
        ("config:\n  k:\n    " + "- " * 100_000 + "x\n", "too deep"),
        ("config: {}\n---\nconfig: {}\n", "not valid YAML"),
        ("config:\n  a: 1\n  a: 2\n", "not valid YAML"),
        ("config: [1, 2]\n", "`config` must be a mapping"),
        ("environment: 42\nconfig: {}\n", "environment: must list"),
    ],
    ids=[
        "self-alias",
        "deep",
        "very-deep",
        "very-deep-block",
        "two-documents",
        "duplicate-key",
        "config-list",
        "env",
    ],
)
def test_yaml_that_cannot_be_config_is_refused_in_one_line(repo, text, words):
    repo.write("dev", text)
    result = secretsctl(*commands(repo)["plan"])
    line = refused(result, words)
    assert len(line) < 400


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("config: {}\n# " + "x" * MAX_FILE_BYTES + "\n", "too large for a stack file"),
        ("config: {}\n" + "#\n" * MAX_LINES, "too long for a stack file"),
        ("config:\n  k: [" + "1," * MAX_INDICATORS + "]\n", "too dense for a stack file"),
        (
            "config:\n  k: " + "[" * (MAX_OPEN_BRACKETS + 1) + "]" * (MAX_OPEN_BRACKETS + 1) + "\n",
            "too deeply nested for a stack file",
        ),
    ],
    ids=["bytes", "lines", "indicators", "brackets"],
)
def test_a_file_beyond_the_reading_limits_is_refused_before_it_is_parsed(repo, text, words):
    # Reading YAML in pure Python costs about 30 µs a token: these would take minutes.
    repo.write("dev", text)
    start = time.perf_counter()
    with pytest.raises(StackFileError, match=words):
        load_stack_config("dev", repo.path("dev"))
    assert time.perf_counter() - start < 1.0
    for command in COMMANDS:
        refused(secretsctl(*commands(repo)[command]), words)


def test_yaml_error_lines_give_the_position_never_the_content(repo):
    repo.write("dev", f"config:\n  secrets-store:api_key_v1: {CANARY}: [unclosed\n")
    line = refused(secretsctl(*commands(repo)["plan"]), "not valid YAML")
    assert "line 2" in line


def test_a_stack_name_too_long_for_the_filesystem_is_refused(repo):
    result = secretsctl("rotate", "api_key", "--stack", "s" * 5000, "--root", str(repo.root))
    # refused as a name before any path is built (stack names are at most 100 characters)
    line = refused(result, "--stack: not a stack name")
    assert len(line) < 300


def test_a_promotion_after_that_is_no_stack_name_is_refused_by_its_key(repo):
    repo.sub("staging", r"after: dev", "after: ../../" + "x" * 5000)
    result = secretsctl(*commands(repo)["check"])
    line = refused(result, "secrets-store:promotion.after", "must be a stack name")
    assert len(line) < 400


def test_long_names_are_cut_short_in_error_lines(repo):
    name = "N" * 1000  # (YAML allows implicit keys up to 1024 characters)
    repo.sub("dev", r"^    db_config:", f"    {name}:")
    result = secretsctl(*commands(repo)["plan"])
    assert result.exit_code == 2
    assert max(len(line) for line in result.stderr.splitlines()) < 400
    assert "1,002 characters" in result.stderr  # the repr's length, quotes included


def test_a_version_of_infinity_is_refused_not_an_overflow(repo):
    repo.sub("dev", r"current: 1\n      next: 2", "current: .inf\n      next: 2")
    for command in ("plan", "check", "rotate", "diff"):
        result = secretsctl(*commands(repo)[command])
        assert result.exit_code == 2, (command, result.stderr)
        assert result.stdout == ""


# ---- an unquoted compatibilityDate is valid YAML, and valid config -------------------------


def with_unquoted_date(repo: Repo, stack: str) -> None:
    repo.sub(
        stack, r"(      module: workers/api\.js\n)", r"\1      compatibilityDate: 2025-11-01\n"
    )


@pytest.mark.parametrize("command", COMMANDS)
def test_an_unquoted_compatibility_date_is_accepted(repo, command):
    for stack in ("dev", "staging"):
        with_unquoted_date(repo, stack)
    repo.add_value("staging", "api_key_v2")
    result = secretsctl(*commands(repo)[command])
    assert result.exit_code == 0, result.stderr


def test_a_rotation_keeps_an_unquoted_compatibility_date_as_written(repo):
    with_unquoted_date(repo, "dev")
    before = repo.read("dev")
    assert secretsctl(*commands(repo)["rotate"]).exit_code == 0
    assert repo.read("dev") == before.replace("stage: fallback", "stage: swapped", 1)
    assert "      compatibilityDate: 2025-11-01\n" in repo.read("dev")


def test_the_spec_reads_a_yaml_date_as_the_date_it_is_written_as():
    config = {
        "accountId": "0123456789abcdef0123456789abcdef",
        "workers": {
            "api": {"module": "workers/api.js", "compatibilityDate": datetime.date(2025, 11, 1)}
        },
    }
    spec = parse_stack("dev", config, {})
    assert spec.workers["api"].compatibility_date == "2025-11-01"


def test_a_timestamp_is_no_compatibility_date(repo):
    repo.sub(
        "dev",
        r"(      module: workers/api\.js\n)",
        r"\1      compatibilityDate: 2025-11-01 10:00:00\n",
    )
    refused(secretsctl(*commands(repo)["plan"]), "workers.api.compatibilityDate", "pattern")


# ---- Pulumi ESC environments --------------------------------------------------------------------


def with_environment(repo: Repo, stack: str) -> None:
    repo.write(stack, "environment:\n  - secrets-store/" + stack + "\n" + repo.read(stack))


def test_values_an_esc_environment_supplies_are_opaque_never_missing(repo):
    # GIVEN dev imports an environment and its file lacks api_key_v2
    with_environment(repo, "dev")
    repo.sub("dev", r"  secrets-store:api_key_v2:\n    secure: .*\n", "")
    # THEN plan and check accept it, and say so in one line on stderr
    for command in ("plan", "check", "diff"):
        result = secretsctl(*commands(repo)[command])
        assert result.exit_code == 0, result.stderr
        notes = [line for line in result.stderr.splitlines() if "ESC" in line]
        assert len(notes) == 1, result.stderr
        assert "secrets-store/dev" in notes[0] and "opaque" in notes[0]
    # AND rotate takes the value as supplied instead of refusing it as missing
    result = secretsctl(*commands(repo)["rotate"])
    assert result.exit_code == 0, result.stderr


def test_without_an_environment_a_missing_value_is_still_refused(repo):
    repo.sub("dev", r"  secrets-store:api_key_v2:\n    secure: .*\n", "")
    refused(secretsctl(*commands(repo)["plan"]), "secrets-store:api_key_v2", "missing value")


def test_an_environment_stands_in_for_secret_values_only(repo):
    # GIVEN dev imports an environment, and its file lacks api_key_v2 and accountId
    with_environment(repo, "dev")
    repo.sub("dev", r"  secrets-store:api_key_v2:\n    secure: .*\n", "")
    repo.sub("dev", r"  secrets-store:accountId: .*\n", "")
    # THEN only the value is taken to come from the environment (opaque: never shown)
    config = load_stack_config("dev", repo.path("dev"))
    assert config.from_environment == ("secrets-store:api_key_v2",)
    assert "secrets-store:api_key_v2" in config.opaque_keys
    # AND the missing account id is still refused, by its key
    refused(secretsctl(*commands(repo)["plan"]), "secrets-store:accountId", "32-character")


# ---- no secret content in any message ------------------------------------------------------------


def test_json_schema_errors_never_echo_keys_or_values_of_the_secret():
    value = json.dumps(
        {"host": "db", "port": CANARY, "username": "u", "password": "p", CANARY: CANARY}
    )
    lines = schema_problems("postgres", value)
    assert lines and not any(CANARY in line for line in lines)
    assert any("(undeclared key): Extra inputs are not permitted" in line for line in lines)
    assert any(
        line.endswith("port: Input should be a valid integer, unable to parse string as an integer")
        for line in lines
    )


def test_a_json_secret_with_an_unknown_key_is_refused_without_showing_it(run, namespace):
    values = {
        "api_key_v1": CANARY + "-v1",
        "db_config_v1": json.dumps(
            {"host": "h", "port": 1, "username": "u", "password": "p", CANARY: "x"}
        ),
    }
    with pytest.raises(SpecError) as refusal:
        run(namespace, values)
    assert "secrets-store:db_config_v1" in str(refusal.value)
    assert CANARY not in str(refusal.value)


@pytest.mark.parametrize("key", ["accountId", "namePrefix"])
def test_an_account_id_or_prefix_stored_as_a_secret_is_refused_and_never_echoed(
    run, namespace, key
):
    # At `pulumi up` the program sees the decrypted value: it must not print it.
    namespace.pop(key, None)
    values: dict[str, Any] = {"api_key_v1": "v1", "db_config_v1": "{}", key: CANARY}
    with pytest.raises(SpecError) as refusal:
        run(namespace, values)
    message = str(refusal.value)
    assert f"secrets-store:{key}: is stored as a secret, got a secure value (not shown)" in message
    assert CANARY not in message


@pytest.mark.parametrize("key", ["accountId", "namePrefix"])
def test_a_secure_account_id_or_prefix_in_the_file_is_refused_offline_too(repo, key):
    repo.sub(
        "dev", rf"secrets-store:{key}: .*", f"secrets-store:{key}:\n    secure: {CANARY_CIPHERTEXT}"
    )
    for command in ("plan", "check"):
        refused(secretsctl(*commands(repo)[command]), f"secrets-store:{key}", "not shown")


def test_structured_config_holding_a_secure_value_is_refused_without_showing_it(repo):
    repo.sub(
        "dev", r"UPSTREAM_URL: https://api\.example\.com", f"TOKEN: {{secure: {CANARY_CIPHERTEXT}}}"
    )
    refused(secretsctl(*commands(repo)["plan"]), "secrets-store:workers", "not shown")


def test_a_value_stored_as_plain_text_is_refused_without_echoing_it(repo):
    repo.sub(
        "dev",
        r"  secrets-store:api_key_v1:\n    secure: .*\n",
        f"  secrets-store:api_key_v1: {CANARY}\n",
    )
    refused(secretsctl(*commands(repo)["plan"]), "secrets-store:api_key_v1", "plain text")


@pytest.mark.parametrize(
    ("module", "words"),
    [
        ("/proc/self/environ", "got the absolute path '/proc/self/environ'"),
        ("C:/workers/api.js", "got the absolute path"),
        ("../README.md", "climbs out with .."),
        ("workers/../../etc/passwd.js", "climbs out with .."),
        ("stacks/Pulumi.dev.yaml", "must be an ES module file (.js or .mjs)"),
        (".env", "must be an ES module file (.js or .mjs)"),
        ("workers\\api.js", "uses a backslash"),
    ],
)
def test_a_module_must_be_an_es_module_inside_the_project(repo, monkeypatch, module, words):
    # Its content is uploaded, and shown by the plan: the environment, another stack file
    # (with its ciphertexts) or a .env file would be printed.
    monkeypatch.setenv("CANARY_ENVIRONMENT", CANARY)
    repo.sub("dev", r"module: workers/api\.js", f"module: '{module}'".replace("\\", "\\\\"))
    result = secretsctl(*commands(repo)["plan"], "--format", "json")
    line = refused(result, "secrets-store:workers.api.module")
    assert words in line
    assert "CANARY_ENVIRONMENT" not in result.output


# Scalars whose type a YAML 1.1 reader would change (yes/no/on/off, octal, sexagesimal) and
# the shapes stack files use: the C reader must read each exactly as the pure one does.
TRICKY_SCALARS = """config:
  a: yes
  b: no
  c: on
  d: Off
  e: 0777
  f: 0o17
  g: 1_000
  h: 12:30:00
  i: ~
  j: .inf
  k: 2026-01-01
  l: 0x1F
  m: '123'
  n: !!str 5
  o: 08
  p: "v1:Q0FOQVJZ"
  q: [a, {b: c}, "d, e"]
  r: |
    line one
    line two
  s: &anchor {x: 1}
  t: *anchor
  u: "tab\\tand\\/slash"
"""
# What the C reader (YAML 1.1's scanner) reads otherwise or refuses: the pure one reads it.
PURE_ONLY = {
    "flow-colon": "config:\n  t: {secure: v1:Q0FOQVJZ}\n",  # 1.1: `:` ends a flow scalar
    "line-separator": 'config:\n  v: plain\u2028separator\n  w: "a\\u2028b"\n',  # 1.1: a break
    "yaml-1.1-directive": "%YAML 1.1\n---\nconfig:\n  a: yes\n",  # pure: true; C: 'yes'
}


@pytest.mark.parametrize("name", ["dev", "staging", "prod", "tricky", *PURE_ONLY])
def test_stack_files_read_the_same_with_the_c_reader_as_with_the_pure_python_one(name):
    from ruamel.yaml import YAML
    from ruamel.yaml.cyaml import CParser

    from secrets_store import yamlfile
    from secretsctl.offline import stackfile

    assert YAML(typ="safe", pure=False).Parser is CParser  # ruamel.yaml.clib is installed
    path = stackfile.SOURCE_ROOT / "tests" / "fixtures" / "stacks" / f"Pulumi.{name}.yaml"
    text = {"tricky": TRICKY_SCALARS, **PURE_ONLY}.get(name) or path.read_text()
    pure = repr(yamlfile._read(path, text, pure=True))  # repr: types too ('yes' vs True)
    assert repr(yamlfile._parse(path, text)) == pure
    if name not in PURE_ONLY:  # read by the C reader itself, not through a fallback
        assert yamlfile._c_readable(text)
        assert repr(yamlfile._read(path, text, pure=False)) == pure


# ---- a trailing newline in any name or value (`$` accepted one; the grammar does not) -----

# field -> (pattern in dev's file, its replacement, the key the refusal names)
TRAILING_NEWLINES = {
    "rotateEvery": (r"rotateEvery: 90d ", r'rotateEvery: "90d\\n" ', "secrets.api_key.rotateEvery"),
    "accountId": (
        r"accountId: REPLACE_ME_ACCOUNT_ID ",
        r'accountId: "0123456789abcdef0123456789abcdef\\n" ',
        "accountId",
    ),
    "placeholder accountId": (
        r"accountId: REPLACE_ME_ACCOUNT_ID ",
        r'accountId: "REPLACE_ME_ACCOUNT_ID\\n" ',
        "accountId",
    ),
    "namePrefix": (r"namePrefix: dev_ ", r'namePrefix: "dev_\\n" ', "namePrefix"),
    "secret name": (r"^    hmac_key:", r'    "hmac_key\\n":', "secrets.'hmac_key\\n'"),
    "worker name": (r"^    signer:", r'    "signer\\n":', "workers.'signer\\n'"),
    "binding name": (
        r"HMAC_SECRET: hmac_key",
        r'"HMAC_SECRET\\n": hmac_key',
        "workers.signer.secrets.'HMAC_SECRET\\n'",
    ),
    "bound secret": (
        r"HMAC_SECRET: hmac_key",
        r'HMAC_SECRET: "hmac_key\\n"',
        "workers.signer.secrets.HMAC_SECRET",
    ),
    "promotion.after": (
        r"^  secrets-store:secrets:\n",
        r'  secrets-store:promotion:\n    after: "staging\\n"\n  secrets-store:secrets:\n',
        "promotion.after",
    ),
    "importIds": (
        r"^    hmac_key:\n",
        r'    hmac_key:\n      importIds: {1: "' + "0" * 32 + "/" + "1" * 32 + r'/abc\\n"}\n',
        "secrets.hmac_key.importIds",
    ),
    "current": (
        r"current: 1\n      next: 2",
        r'current: "1\\n"\n      next: 2',
        "secrets.api_key.current",
    ),
    "stage": (r"stage: fallback", r'stage: "fallback\\n"', "secrets.api_key.stage"),
    "since": (
        r"^    hmac_key:\n",
        r'    hmac_key:\n      since: "2026-01-01\\n"\n',
        "secrets.hmac_key.since",
    ),
    "store.name": (
        r"name: default_secrets_store",
        r'name: "default_secrets_store\\n"',
        "store.name",
    ),
    "store.id": (
        r"name: default_secrets_store",
        r'id: "0123456789abcdef0123456789abcdef\\n"',
        "store.id",
    ),
    "kv namespace id": (
        r"CACHE: REPLACE_ME_KV_NAMESPACE_ID",
        r'CACHE: "0123456789abcdef0123456789abcdef\\n"',
        "workers.vault.kv.CACHE",
    ),
    "scope": (r"scopes: \[workers\]", r'scopes: ["workers\\n"]', "secrets.api_key.scopes"),
    "service": (r"AUTH: auth", r'AUTH: "auth\\n"', "workers.gateway.services.AUTH"),
    "module": (
        r"module: workers/signer\.js",
        r'module: "workers/signer.js\\n"',
        "workers.signer.module",
    ),
}


def with_trailing_newline(repo: Repo, field: str) -> str:
    """Write `field` of dev with a trailing newline (a YAML "\\n" escape); the key to name."""
    pattern, replacement, key = TRAILING_NEWLINES[field]
    repo.sub("dev", pattern, replacement)
    return f"secrets-store:{key}"


@pytest.mark.parametrize("field", list(TRAILING_NEWLINES))
def test_plan_refuses_a_trailing_newline_in_one_line_naming_the_key(repo, field):
    key = with_trailing_newline(repo, field)
    result = secretsctl(*commands(repo)["plan"])
    line = refused(result, key + ": ")
    assert line.startswith(key + ": ") and "\\n'" in line, result.stderr


# The fields the adversarial pass found accepted, through every command that reads them.
ISSUE_FIELDS = [
    "rotateEvery",
    "accountId",
    "secret name",
    "worker name",
    "importIds",
    "promotion.after",
]


@pytest.mark.parametrize("command", ["due", "rotate", "check", "bot plan"])
def test_commands_never_trace_back_on_a_trailing_newline(repo, command):
    root = ["--root", str(repo.root)]
    argv = {
        "due": ["due", *root, "--today", "2027-06-01"],
        "rotate": ["rotate", "api_key", "--stack", "dev", *root],
        "check": ["check", *root],
        "bot plan": ["bot", "plan", *root, "--today", "2027-06-01"],
    }[command]
    original = repo.read("dev")
    for field in ISSUE_FIELDS:
        repo.write("dev", original)
        key = with_trailing_newline(repo, field)
        result = secretsctl(*argv)  # an exception fails the test (catch_exceptions=False)
        assert result.exit_code in (0, 1, 2), (field, result.output)
        if command == "check":  # the gate validates every file: refused by its key
            refused(result, key + ": ")
        elif command == "rotate":  # refused (by its key, or the editor's layout rule first)
            refused(result)
        assert all(line.isprintable() for line in result.output.splitlines()), (
            field,
            result.output,
        )
