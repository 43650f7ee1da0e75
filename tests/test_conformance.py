"""Every registration of the shipped stacks, and of a user's program, conforms to the provider
SDKs' generated input types (tests/conformance.py), and the check catches a wrong one."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path

import pytest

from secretsctl.offline.mockrun import SECRET_SIG, SIG_KEY, ProgramRun, Registration, run_program
from secretsctl.offline.plan import SCRIPT_TYPE, SECRET_TYPE, plan_stack
from secretsctl.offline.stackfile import SOURCE_ROOT, load_stack_config
from tests.conformance import allowed_values, registration_problems
from tests.conftest import ACCOUNT, CANARY, stack_config

USER_PROGRAM = f"""\
import pulumi
from secrets_store import SecretBinding, SecretsStore, VersionedSecret, Worker

store = SecretsStore("store", account_id={ACCOUNT!r})  # looked up by name
key = VersionedSecret("api_key", store=store, kind="api_key", current=1, next=2,
                      stage="swapped", values={{1: "{CANARY}-1", 2: "{CANARY}-2"}},
                      name_prefix="qa_", comment="vendor key")
jwt = VersionedSecret("jwt", store=store, kind="signing_key", generate=True)
target = Worker("target", account_id={ACCOUNT!r}, script_name="qa_target",
                main_module="workers/api.js")
Worker("edge", account_id={ACCOUNT!r}, script_name="qa_edge", main_module="workers/api.js",
       bindings={{"PRIMARY_KEY": SecretBinding(key, fallback="FALLBACK_KEY"),
                  "JWT": SecretBinding(jwt)}},
       vars={{"MODE": "strict"}}, kv_namespaces={{"CACHE": "0" * 32}},
       services={{"TARGET": target.script_name}},
       secret_texts={{"LEGACY": pulumi.Output.secret("{CANARY}-legacy")}},
       compatibility_flags=["nodejs_compat"])
"""


def checked_types(run: ProgramRun) -> set[str]:
    return {r.type for r in run.resources if r.type.startswith(("cloudflare:", "random:"))}


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_every_registration_of_the_shipped_stacks_conforms(stack: str) -> None:
    config = load_stack_config(stack, SOURCE_ROOT / "examples" / "stacks" / f"Pulumi.{stack}.yaml")
    run = plan_stack(stack, config=config).run
    assert {SECRET_TYPE, SCRIPT_TYPE} <= checked_types(run)
    assert [p for r in run.resources for p in registration_problems(r)] == []


@pytest.fixture
def user_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ProgramRun:
    project = tmp_path / "user-project"
    shutil.copytree(SOURCE_ROOT / "workers", project / "workers", ignore=shutil.ignore_patterns(
        "test", "node_modules"))  # fmt: skip
    monkeypatch.chdir(project)
    (project / "__main__.py").write_text(USER_PROGRAM)
    return run_program(stack_config({"accountId": ACCOUNT}, stack="qa"),
                       program=project / "__main__.py")  # fmt: skip


def test_every_registration_of_a_user_program_conforms(user_run: ProgramRun) -> None:
    assert {SECRET_TYPE, SCRIPT_TYPE, "random:index/randomBytes:RandomBytes"} <= checked_types(
        user_run
    )
    assert [p for r in user_run.resources for p in registration_problems(r)] == []


def _edited(registration: Registration, edit) -> Registration:  # type: ignore[no-untyped-def]
    inputs = copy.deepcopy(registration.inputs)
    edit(inputs)
    return Registration(**{**registration.__dict__, "inputs": inputs})


@pytest.mark.parametrize(
    ("resource", "edit", "problem"),
    [
        pytest.param(
            SCRIPT_TYPE,
            lambda i: i.update(mainModul=i.pop("mainModule")),
            "WorkersScript edge-script.mainModul: unknown field of WorkersScriptArgs",
            id="misspelt-field",
        ),
        pytest.param(
            SCRIPT_TYPE,
            lambda i: i["bindings"][0].update(secret_nam="x"),
            "WorkersScript edge-script.bindings[0].secret_nam: unknown field of "
            "WorkersScriptBindingArgs",
            id="python-name-on-the-wire",
        ),
        pytest.param(
            SECRET_TYPE,
            lambda i: i.pop("storeId"),
            "SecretsStoreSecret api_key-v1.storeId: required by SecretsStoreSecretArgs, missing",
            id="missing-required-field",
        ),
        pytest.param(
            SCRIPT_TYPE,
            lambda i: i["bindings"][0].update(type="secret_store_secret"),
            "WorkersScript edge-script.bindings[0].type: 'secret_store_secret' is not one of",
            id="bad-enum-value",
        ),
        pytest.param(
            SECRET_TYPE,
            lambda i: i.update(scopes=["workers", "everyone"]),
            "SecretsStoreSecret api_key-v1.scopes: 'everyone' is not one of",
            id="bad-scope",
        ),
        pytest.param(
            SECRET_TYPE,
            lambda i: i.update(value=i["value"]["value"]),
            "SecretsStoreSecret api_key-v1.value: the schema marks it secret, sent in plain text",
            id="secret-sent-plain",
        ),
        pytest.param(
            SCRIPT_TYPE,
            lambda i: i.update(compatibilityFlags="nodejs_compat"),
            "WorkersScript edge-script.compatibilityFlags: WorkersScriptArgs wants list",
            id="wrong-kind",
        ),
    ],
)
def test_a_hand_injected_wrong_field_is_caught(
    user_run: ProgramRun,
    resource: str,
    edit,
    problem: str,  # type: ignore[no-untyped-def]
) -> None:
    (original,) = [r for r in user_run.of_type(resource) if r.name in ("edge-script", "api_key-v1")]
    assert registration_problems(original) == []
    problems = registration_problems(_edited(original, edit))
    assert any(p.startswith(problem) for p in problems), problems
    assert not any(CANARY in p for p in problems if "plain text" in p)


def test_enum_values_come_from_the_sdk_docstrings() -> None:
    import pulumi_cloudflare as cloudflare

    binding_type = vars(cloudflare.WorkersScriptBindingArgs)["type"].__doc__
    assert {"secrets_store_secret", "plain_text", "service"} <= (
        allowed_values(binding_type) or set()
    )
    scopes = vars(cloudflare.SecretsStoreSecretArgs)["scopes"].__doc__
    assert allowed_values(scopes) == {"workers", "ai_gateway", "dex", "access"}
    assert SIG_KEY and SECRET_SIG  # the secret marker the check reads
