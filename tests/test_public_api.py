"""The public API from a user's own Pulumi program: `SecretsStore`, `VersionedSecret`, `Worker`
and `SecretBinding`, in a folder outside this repository, run under the project's mock runtime."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from secrets_store import SpecError
from secretsctl.offline.mockrun import SECRET_SIG, SIG_KEY, ProgramRun, redact, run_program
from tests.conftest import ACCOUNT, CANARY, stack_config

ROOT = Path(__file__).resolve().parents[1]
STORE_ID = "fedcba9876543210fedcba9876543210"
V1, V2 = f"{CANARY}-v1", f"{CANARY}-v2"
SECRET = "cloudflare:index/secretsStoreSecret:SecretsStoreSecret"
ADOPTED = "pulumi-python:dynamic/secrets-store:AdoptedSecretVersion"
SCRIPT = "cloudflare:index/workersScript:WorkersScript"
STORE = "cloudflare:index/secretsStore:SecretsStore"
RANDOM = "random:index/randomBytes:RandomBytes"

# The user's program. {key} is the VersionedSecret's keyword arguments after `store=store`.
PROGRAM = """\
import pulumi
from secrets_store import SecretBinding, SecretsStore, VersionedSecret, Worker

ACCOUNT = {account!r}
V1, V2 = {v1!r}, {v2!r}
store = SecretsStore("store", account_id=ACCOUNT, store_id={store_id!r})  # adopt by id
key = VersionedSecret("api_key", account_id=ACCOUNT, store=store, {key})
Worker("edge", account_id=ACCOUNT, script_name="qa_edge", main_module="workers/api.js",
       bindings={{"PRIMARY_KEY": SecretBinding(key, fallback="FALLBACK_KEY")}})
"""
ROTATING = (
    'kind="api_key", current=1, next=2, stage="fallback", '
    "values={1: pulumi.Output.secret(V1), 2: pulumi.Output.secret(V2)}, "
    'scopes=["workers"], name_prefix="qa_"'
)
MESSAGE = re.compile(r"^VersionedSecret api_key\.\w+: [^\n]+ \([^\n]+\)$")
"""The project's message style: `<key path>: <what is wrong>[, got <value>] (<how to fix>)`."""


@pytest.fixture
def user_program(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[str], ProgramRun]:
    """Write the program with `key` arguments into a folder outside the repository, with
    workers/api.js and the modules it imports, and run it there under the mock runtime."""
    project = tmp_path / "user-project"
    (project / "workers" / "lib").mkdir(parents=True)
    shutil.copy(ROOT / "workers" / "api.js", project / "workers" / "api.js")
    for module in (ROOT / "workers" / "lib").glob("*.js"):
        shutil.copy(module, project / "workers" / "lib" / module.name)
    assert ROOT not in project.resolve().parents
    monkeypatch.chdir(project)  # main_module is relative to the program's working directory

    def run(key: str) -> ProgramRun:
        program = project / "__main__.py"
        program.write_text(
            PROGRAM.format(account=ACCOUNT, v1=V1, v2=V2, store_id=STORE_ID, key=key)
        )
        return run_program(stack_config({"accountId": ACCOUNT}, stack="qa"), program=program)

    return run


def test_a_rotating_secret_bound_by_a_worker(user_program: Callable[[str], ProgramRun]) -> None:
    run = user_program(ROTATING)

    # The store is adopted by id: no store resource, and every secret and binding uses the id.
    assert run.of_type(STORE) == []
    secrets = {r.inputs["name"]: r.inputs for r in run.of_type(SECRET)}
    assert sorted(secrets) == ["qa_api_key_v1", "qa_api_key_v2"]
    for name, value in (("qa_api_key_v1", V1), ("qa_api_key_v2", V2)):
        registered = secrets[name]
        # Registered as a Pulumi secret, exactly as sent to the engine.
        assert registered["value"] == {SIG_KEY: SECRET_SIG, "value": value}
        assert registered["storeId"] == STORE_ID
        assert registered["accountId"] == ACCOUNT
        assert registered["scopes"] == ["workers"]

    (script,) = run.of_type(SCRIPT)
    inputs = script.inputs
    assert inputs["scriptName"] == "qa_edge"
    assert inputs["bindings"] == [
        {
            "type": "secrets_store_secret",
            "name": "PRIMARY_KEY",
            "storeId": STORE_ID,
            "secretName": "qa_api_key_v1",
        },
        {
            "type": "secrets_store_secret",
            "name": "FALLBACK_KEY",
            "storeId": STORE_ID,
            "secretName": "qa_api_key_v2",
        },
    ]
    # The main module as content, every module it imports as a `files` part.
    project = Path.cwd()
    assert inputs["mainModule"] == "api.js"
    assert inputs["content"] == (project / "workers" / "api.js").read_text()
    assert sorted(inputs["files"]) == [
        "lib/audit.js",
        "lib/http.js",
        "lib/json_secret.js",
        "lib/secrets.js",
        "lib/upstream.js",
    ]
    for name, part in inputs["files"].items():
        source = (project / "workers" / name).read_bytes()
        assert part["contentType"] == "application/javascript+module"
        assert part["contentBase64"] == base64.b64encode(source).decode()
        assert part["contentSha256"] == hashlib.sha256(source).hexdigest()

    # No value anywhere but inside a Pulumi secret.
    shown = json.dumps([redact(r.inputs) for r in run.resources]) + json.dumps(run.outputs)
    assert CANARY not in shown


def test_plain_values_are_registered_as_pulumi_secrets(
    user_program: Callable[[str], ProgramRun],
) -> None:
    """A plain str and a non-secret Output: "made Pulumi secrets whatever they are given as"."""
    run = user_program(
        'kind="api_key", current=1, next=2, stage="fallback", '
        'values={1: V1, 2: pulumi.Output.from_input(V2)}, name_prefix="qa_"'
    )
    values = {r.inputs["name"]: r.inputs["value"] for r in run.of_type(SECRET)}
    assert values == {
        "qa_api_key_v1": {SIG_KEY: SECRET_SIG, "value": V1},
        "qa_api_key_v2": {SIG_KEY: SECRET_SIG, "value": V2},
    }
    shown = json.dumps([redact(r.inputs) for r in run.resources]) + json.dumps(run.outputs)
    assert CANARY not in shown


def test_generated_values_are_random_bytes_kept_secret(
    user_program: Callable[[str], ProgramRun],
) -> None:
    run = user_program(
        'kind="encryption_key", current=1, next=2, stage="fallback", generate=True, '
        'name_prefix="qa_"'
    )
    drawn = {r.name: r for r in run.of_type(RANDOM)}
    assert sorted(drawn) == ["api_key-v1-value", "api_key-v2-value"]
    assert all(r.inputs["length"] == 32 for r in drawn.values())
    for registered in run.of_type(SECRET):
        value = registered.inputs["value"]
        assert value[SIG_KEY] == SECRET_SIG
        assert len(base64.b64decode(value["value"])) == 32
    assert {r.inputs["name"] for r in run.of_type(SECRET)} == {"qa_api_key_v1", "qa_api_key_v2"}


@pytest.mark.parametrize(
    ("key", "message"),
    [
        pytest.param(
            'kind="api_key", current=1, stage="fallback", values={1: pulumi.Output.secret(V1)}',
            "VersionedSecret api_key.stage: 'fallback' needs next, got no next (set next=2)",
            id="stage-without-next",
        ),
        pytest.param(
            'kind="api_key", values={1: pulumi.Output.secret(V1)}, scopes=["workers", "bogus"]',
            "VersionedSecret api_key.scopes: 'bogus' is not a scope (use workers)",
            id="bad-scope",
        ),
        pytest.param(
            'kind="api_key", values={1: pulumi.Output.secret(V1)}, secret_name="api key"',
            "VersionedSecret api_key.secret_name: bad secret name, got 'api key' "
            "(letters, digits, _ and - only, no spaces)",
            id="name-with-a-space",
        ),
        pytest.param(
            'kind="api_key", current=1, next=2, stage="fallback", '
            "values={1: pulumi.Output.secret(V1)}",
            "VersionedSecret api_key.values: no value for version 2, got versions [1] "
            "(pass values={2: ...}, import_ids={2: ...} or generate=True)",
            id="missing-value",
        ),
    ],
)
def test_construction_guards(
    user_program: Callable[[str], ProgramRun], key: str, message: str
) -> None:
    with pytest.raises(SpecError) as refused:
        user_program(key)
    lines = str(refused.value).splitlines()
    assert message in lines
    assert all(MESSAGE.match(line) for line in lines), lines
    assert CANARY not in str(refused.value)
    assert not any(CANARY in str(problem) for problem in refused.value.problems)


def test_account_id_defaults_to_the_store_s(user_program: Callable[[str], ProgramRun]) -> None:
    program = Path.cwd() / "__main__.py"
    run = user_program(ROTATING)  # writes the program: the same one without account_id
    text = program.read_text().replace("account_id=ACCOUNT, store=store", "store=store")
    assert 'VersionedSecret("api_key", store=store' in text
    program.write_text(text)
    again = run_program(stack_config({"accountId": ACCOUNT}, stack="qa"), program=program)
    assert {r.inputs["accountId"] for r in again.of_type(SECRET)} == {ACCOUNT}
    assert [r.inputs for r in again.of_type(SECRET)] == [r.inputs for r in run.of_type(SECRET)]


def test_an_imported_version_needs_no_value_and_sends_none(
    user_program: Callable[[str], ProgramRun],
) -> None:
    imported = f"{ACCOUNT}/{STORE_ID}/{'c' * 32}"
    run = user_program(
        'kind="api_key", current=1, next=2, stage="fallback", '
        f"import_ids={{1: {imported!r}}}, values={{2: pulumi.Output.secret(V2)}}"
    )
    by_name = {r.inputs["name"]: r for r in run.of_type(SECRET)}
    assert set(by_name) == {"api_key_v2"}, "only the new version is a provider resource"
    new = by_name["api_key_v2"]
    # The imported version: adopted by id, never through the provider (its `value` is
    # required and write-only there), and no request of the adoption carries a value.
    (old,) = run.of_type(ADOPTED)
    assert (old.inputs["name"], old.inputs["secret_id"]) == ("api_key_v1", "c" * 32)
    assert (old.inputs["account_id"], old.inputs["store_id"]) == (ACCOUNT, STORE_ID)
    assert "value" not in old.inputs
    assert old.inputs["scopes"] == ["workers"]
    # The new version is created with its value, and nothing of it is ignored
    assert (new.import_id, new.ignore_changes) == ("", ())
    assert new.inputs["value"] == {SIG_KEY: SECRET_SIG, "value": V2}


STRICT_PROGRAM = """\
import pulumi

from secrets_store import SecretBinding, SecretsStore, VersionedSecret, Worker

store = SecretsStore("store", account_id="0" * 32)
key = VersionedSecret(
    "api_key", store=store, kind="api_key", current=1, next=2, stage="fallback",
    values={1: pulumi.Output.secret("a"), 2: pulumi.Output.secret("b")},
    import_ids={1: "a/b/c"},
)
named = VersionedSecret("db", store=store, kind="json", values={"1": "{}"})
worker = Worker("edge", account_id="0" * 32, script_name="edge", main_module="api.js",
                bindings={"KEY": SecretBinding(key, fallback="KEY_FALLBACK")})
pulumi.export("script", worker.script.script_name)
"""


def test_the_readme_s_int_version_keys_type_check_under_mypy_strict(tmp_path: Path) -> None:
    import subprocess
    import sys

    program = tmp_path / "user_program.py"

    def strict_errors(source: str) -> list[str]:
        """mypy --strict's errors in the user's program (the library's own modules are
        checked by `make lint`, under the project's settings)."""
        program.write_text(source)
        result = subprocess.run(
            [sys.executable, "-m", "mypy", "--strict", "--config-file",
             str(ROOT / "pyproject.toml"), str(program)],
            cwd=ROOT, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert "error: " in result.stdout or result.returncode == 0, result.stdout + result.stderr
        return [line for line in result.stdout.splitlines() if line.startswith(str(program))]

    assert strict_errors(STRICT_PROGRAM) == []
    # The control: a key that is neither a version number nor its text is refused.
    refused = strict_errors(STRICT_PROGRAM.replace("values={1:", "values={1.5:"))
    assert refused and any("values" in line for line in refused), refused


def test_a_missing_configured_value_names_the_command_with_its_stack(tmp_path: Path) -> None:
    # A code-first program, its value expected in config: the fix names the stack to set it in.
    program = tmp_path / "__main__.py"
    program.write_text(
        "from secrets_store import SecretsStore, VersionedSecret\n"
        'store = SecretsStore("store", account_id="0" * 32)\n'
        'VersionedSecret("api_key", store=store, kind="api_key")\n'
    )
    with pytest.raises(SpecError) as refused:
        run_program(stack_config({"accountId": ACCOUNT}, stack="qa"), program=program)
    assert "pulumi config set --secret --stack qa secrets-store:api_key_v1 <value>" in str(
        refused.value
    )


def test_an_unknown_keyword_is_refused_never_ignored(tmp_path: Path) -> None:
    program = tmp_path / "__main__.py"
    program.write_text(
        "from secrets_store import SecretsStore, VersionedSecret\n"
        'store = SecretsStore("store", account_id="0" * 32)\n'
        'VersionedSecret("api_key", store=store, kind="api_key", generate=True,\n'
        '                name_prefx="dev_", rotate_evry="30d")\n'
    )
    with pytest.raises(SpecError) as refused:
        run_program(stack_config({"accountId": ACCOUNT}, stack="qa"), program=program)
    lines = str(refused.value).splitlines()
    assert (
        "VersionedSecret api_key.name_prefx: is not an argument of VersionedSecret, got "
        "name_prefx= (did you mean name_prefix=?)" in lines
    )
    assert any(
        line.startswith("VersionedSecret api_key.rotate_evry: is not an argument") for line in lines
    )


def test_two_secrets_with_one_cloudflare_name_in_one_account_are_refused(tmp_path: Path) -> None:
    program = tmp_path / "__main__.py"
    program.write_text(
        "from secrets_store import SecretsStore, VersionedSecret\n"
        'store = SecretsStore("store", account_id="0" * 32)\n'
        'other = SecretsStore("other", account_id="1" * 32)\n'
        'VersionedSecret("a", store=store, kind="api_key", generate=True, secret_name="key")\n'
        'VersionedSecret("b", store=other, kind="api_key", generate=True, secret_name="key")\n'
        'VersionedSecret("c", store=store, kind="api_key", generate=True, secret_name="key")\n'
    )
    with pytest.raises(SpecError) as refused:
        run_program(stack_config({"accountId": ACCOUNT}, stack="qa"), program=program)
    # b is in another account: only c collides, with a
    assert str(refused.value) == (
        "VersionedSecret c.secret_name: registers key_v1, which VersionedSecret a registers "
        "too, got two secrets with one Cloudflare name in one account (give one another "
        "secret_name or name_prefix)"
    )


def test_an_error_in_the_users_program_is_one_line_naming_where_never_a_value(
    tmp_path: Path,
) -> None:
    from secretsctl.errors import InvalidInput

    program = tmp_path / "__main__.py"
    program.write_text(
        "import pulumi\n"
        "def lookup():\n"
        "    return pulumi.Config('secrets-store').get('api_key_v1')\n"
        "def broken(text):\n"
        "    raise ValueError(f'no such key: {text}')\n"
        "broken(lookup())\n"
    )
    config = stack_config({"accountId": ACCOUNT}, {"api_key_v1": CANARY}, stack="qa")
    with pytest.raises(InvalidInput) as failed:
        run_program(config, program=program)
    (line,) = str(failed.value).splitlines()
    assert line == (
        "__main__.py:5: the program raised ValueError: no such key: [secret] (fix the "
        "program: `pulumi preview` would fail the same way)"
    )
    assert CANARY not in line


def test_a_reference_to_another_projects_stack_is_named_instead_of_a_traceback(
    tmp_path: Path,
) -> None:
    from secretsctl.errors import InvalidInput

    program = tmp_path / "__main__.py"
    program.write_text(
        "import pulumi\n"
        'platform = pulumi.StackReference("acme/platform/dev")\n'
        'platform.get_output("rotation").apply(lambda r: r["api_key"])\n'
    )
    with pytest.raises(InvalidInput) as failed:
        run_program(stack_config({"accountId": ACCOUNT}, stack="apps"), program=program)
    (line,) = str(failed.value).splitlines()
    assert line.startswith("__main__.py:3: the program raised TypeError")
    assert (
        "after reading StackReference acme/platform/dev: no project named 'platform' beside this "
        "one" in line
    )


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            'kind="encryption_key", values={1: pulumi.Output.secret("c2hvcnQ=")}',
            "VersionedSecret k.values[1]: a encryption_key must be base64 of 32 random bytes",
        ),
        (
            'kind="signing_key", values={1: "eA=="}',
            "VersionedSecret k.values[1]: a signing_key must be base64 of 32 random bytes",
        ),
        (
            f'kind="json", values={{1: pulumi.Output.secret("{{not json {CANARY}")}}',
            "VersionedSecret k.values[1]: is not valid JSON",
        ),
        (
            'kind="json", schema="postgres", values={1: pulumi.Output.secret(\'{"port": 5432}\')}',
            "VersionedSecret k.values[1]: does not satisfy schema 'postgres': host",
        ),
        (
            'kind="api_key", schema="postgres", values={1: "x"}',
            "k.schema: applies to kind json only",
        ),
    ],
)
def test_values_a_program_passes_meet_the_rules_stack_config_values_meet(
    tmp_path: Path, args: str, expected: str
) -> None:
    program = tmp_path / "__main__.py"
    program.write_text(
        "import pulumi\n"
        "from secrets_store import SecretsStore, VersionedSecret\n"
        'store = SecretsStore("store", account_id="0" * 32)\n'
        f'VersionedSecret("k", store=store, {args})\n'
    )
    with pytest.raises(ValueError) as refused:
        run_program(stack_config({"accountId": ACCOUNT}, stack="qa"), program=program)
    assert expected in str(refused.value)
    assert CANARY not in str(refused.value)


def test_a_value_that_meets_its_kinds_rules_passes(tmp_path: Path) -> None:
    key = base64.b64encode(b"k" * 32).decode()
    program = tmp_path / "__main__.py"
    program.write_text(
        "import pulumi\n"
        "from secrets_store import SecretsStore, VersionedSecret\n"
        'store = SecretsStore("store", account_id="0" * 32)\n'
        f'VersionedSecret("k", store=store, kind="signing_key",\n'
        f'                values={{1: pulumi.Output.secret("{key}")}})\n'
        'db = \'{"host": "db", "port": 5432, "username": "u", "password": "p"}\'\n'
        'VersionedSecret("db", store=store, kind="json", schema="postgres",\n'
        "                values={1: pulumi.Output.secret(db)})\n"
    )
    run = run_program(stack_config({"accountId": ACCOUNT}, stack="qa"), program=program)
    assert len(run.of_type(SECRET)) == 2
