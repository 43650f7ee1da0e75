"""A code-first project under the real engine: its own Pulumi.yaml with `main:` a file in a
sub-folder and its own stack folder, the components declared in Python.

GIVEN a team's project outside this repository (infra/__main__.py, envs/Pulumi.dev.yaml), a
      Worker whose module imports another, a shared signing key under two binding names
WHEN  `pulumi up` deploys it, and `secretsctl plan` plans it offline
THEN  the program ran in the folder Pulumi gives it (infra/), the Worker was uploaded with
      every module it imports, both bindings name one version, and the offline plan
      registered the same resources as the engine deployed.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.engine_support import (
    ACCOUNT,
    REPO,
    SCRIPT_TYPE,
    SECRET_TYPE,
    VENV,
    EngineProject,
    engine_project,
)

pytestmark = pytest.mark.engine

PROJECT_FILE = """\
name: shop-edge
runtime:
  name: python
  options:
    virtualenv: {venv}
main: infra/__main__.py
stackConfigDir: envs
"""
PROGRAM = f"""\
\"\"\"The team's program: run by Pulumi from infra/ (the folder of main:).\"\"\"
import os
from pathlib import Path

import pulumi
from secrets_store import SecretBinding, SecretsStore, VersionedSecret, Worker

ACCOUNT = {ACCOUNT!r}
PREFIX = pulumi.Config().get("prefix") or ""  # the team's own key: staging_ in staging
store = SecretsStore("store", account_id=ACCOUNT, store_name="default_secrets_store")
signing = VersionedSecret(
    "signing_key", account_id=ACCOUNT, store=store, kind="signing_key", generate=True,
    name_prefix=PREFIX,
)
Worker(
    "edge",
    account_id=ACCOUNT,
    script_name=f"{{PREFIX}}shop_edge",
    main_module="workers/edge.js",  # relative to the working directory: infra/
    bindings={{
        "SIGNING_KEY": SecretBinding(signing),
        "VERIFY_KEY": SecretBinding(signing),  # the same secret under a second name
    }},
)
pulumi.export("ran_in", Path(os.getcwd()).name)

if pulumi.Config().get_bool("plantViolation"):
    # Written by hand, past the components: scopes out of order, which the policy pack refuses.
    import pulumi_cloudflare as cloudflare

    cloudflare.SecretsStoreSecret(
        "stray",
        account_id=ACCOUNT,
        store_id=store.store_id,
        name="stray_v1",
        value=pulumi.Output.secret("stray-value-not-deployed"),
        scopes=["workers", "access"],
    )
"""
EDGE = (
    'import { greet } from "./lib/greet.js";\n'
    "export default { fetch: () => new Response(greet()) };\n"
)
GREET = 'export function greet() { return "hello from edge"; }\n'


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EngineProject]:
    with engine_project(tmp_path_factory.mktemp("engine-codefirst"), files=()) as project:
        (project.root / "Pulumi.yaml").write_text(PROJECT_FILE.format(venv=VENV))
        (project.root / "stacks").rmdir()
        (project.root / "envs").mkdir()
        infra = project.root / "infra"
        (infra / "workers" / "lib").mkdir(parents=True)
        (infra / "__main__.py").write_text(PROGRAM)
        (infra / "workers" / "edge.js").write_text(EDGE)
        (infra / "workers" / "lib" / "greet.js").write_text(GREET)
        project.stack_init("dev")
        git(project.root, "init", "-q")
        commit(project.root, "base")
        yield project


def git(root: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-C", str(root), "-c", "user.email=t@example.com", "-c", "user.name=t", *args],
        check=True,
        capture_output=True,
    )


def commit(root: Path, message: str) -> None:
    git(root, "add", "-A")
    git(root, "commit", "-qm", message)


def offline_ops(project: EngineProject, stack: str) -> dict[str, list[str]]:
    """`secretsctl diff --base HEAD` as {op: sorted names} of its Cloudflare resources."""
    out = project.secretsctl("diff", "--stack", stack, "--base", "HEAD", "--format", "json")
    document = json.loads(out.stdout)
    return {
        op: sorted(r["name"] for r in document[op] if r["type"] in (SECRET_TYPE, SCRIPT_TYPE))
        for op in ("create", "update", "delete")
    }


def engine_ops(project: EngineProject, stack: str) -> dict[str, list[str]]:
    """`pulumi preview --json` as {op: sorted resource names} for Cloudflare resources."""
    steps = project.preview_json(stack)["steps"]
    ops: dict[str, list[str]] = {"create": [], "update": [], "delete": []}
    for step in steps:
        urn = step["urn"]
        if step["op"] in ops and urn.split("::")[-2].split("$")[-1] in (SECRET_TYPE, SCRIPT_TYPE):
            ops[step["op"]].append(urn.split("::")[-1])
    return {op: sorted(names) for op, names in ops.items()}


def test_code_first_project_deploys_from_the_folder_pulumi_runs_it_in(
    project: EngineProject,
) -> None:
    document = json.loads(project.secretsctl("plan", "--stack", "dev", "--format", "json").stdout)
    project.up("dev")
    outputs = json.loads(project.pulumi("stack", "output", "--json", stack="dev").stdout)
    assert outputs["ran_in"] == "infra", "Pulumi runs a main: file from its own folder"

    script = project.server.state.script(ACCOUNT, "shop_edge")
    # Named by their import path from the main module, every one uploaded.
    assert set(script.modules) == {"edge.js", "lib/greet.js"}
    bindings = project.script_bindings("shop_edge")
    assert (
        bindings["SIGNING_KEY"]["secret_name"]
        == bindings["VERIFY_KEY"]["secret_name"]
        == ("signing_key_v1")
    )

    # The offline plan registered what the engine deployed, resource for resource.
    exported = project.export("dev")["deployment"]["resources"]
    engine = sorted(r["urn"] for r in exported if r["type"] in (SECRET_TYPE, SCRIPT_TYPE))
    offline = sorted(
        r["urn"] for r in document["resources"] if r["type"] in (SECRET_TYPE, SCRIPT_TYPE)
    )
    assert offline == engine


def test_changing_an_imported_module_redeploys_the_worker(project: EngineProject) -> None:
    greet = project.root / "infra" / "workers" / "lib" / "greet.js"
    greet.write_text(GREET.replace("hello from edge", "hello again"))
    preview = project.preview_json("dev")
    changed = [s["urn"] for s in preview["steps"] if s["op"] == "update"]
    assert any(urn.endswith("::edge-script") for urn in changed), changed
    # `diff --base` (the program at HEAD against the program here) says what preview says
    assert offline_ops(project, "dev") == engine_ops(project, "dev")
    assert offline_ops(project, "dev")["update"] == ["edge-script"]
    project.up("dev")
    script = project.server.state.script(ACCOUNT, "shop_edge")
    uploaded = next(m for name, m in script.modules.items() if name.endswith("greet.js"))
    assert b"hello again" in uploaded.content
    project.pulumi("preview", "--expect-no-changes", stack="dev")
    commit(project.root, "greet again")


def test_a_renamed_component_is_refused_by_the_gate_as_the_engine_would_replace_it(
    project: EngineProject,
) -> None:
    program = project.root / "infra" / "__main__.py"
    original = program.read_text()
    program.write_text(original.replace('"signing_key", account_id', '"signer", account_id', 1))
    try:
        # The engine would create the version under new URNs (and draw a new key) and
        # delete the old: offline and engine agree, and the gate refuses it.
        assert offline_ops(project, "dev") == engine_ops(project, "dev")
        assert "signer-v1" in offline_ops(project, "dev")["create"]
        refused = project.secretsctl("check", "--base", "HEAD", check=False)
        assert refused.returncode == 2
        assert 'aliases=[pulumi.Alias(name="signing_key")]' in refused.stderr
        # WHEN the secret_name and the alias the gate names are kept: nothing changes, for both
        program.write_text(
            original.replace(
                '"signing_key", account_id',
                '"signer", secret_name="signing_key",'
                ' opts=pulumi.ResourceOptions(aliases=[pulumi.Alias(name="signing_key")]),'
                " account_id",
                1,
            )
        )
        assert offline_ops(project, "dev") == engine_ops(project, "dev")
        assert offline_ops(project, "dev") == {"create": [], "update": [], "delete": []}
        project.secretsctl("check", "--base", "HEAD")
        project.pulumi("preview", "--expect-no-changes", stack="dev")
    finally:
        program.write_text(original)


def test_the_promotion_guard_refuses_a_code_first_stack_ahead_at_up(
    project: EngineProject,
) -> None:
    # GIVEN staging after dev, both of this program: dev deployed steady at 1, and it
    # exported the `rotation` output the guard reads without the program exporting it
    outputs = json.loads(project.pulumi("stack", "output", "--json", stack="dev").stdout)
    assert outputs["rotation"]["signing_key"]["current"] == 1
    project.stack_init("staging")
    project.config_set("staging", "shop-edge:prefix", "staging_")
    project.pulumi(
        "config", "set", "--path", "secrets-store:promotion.after", "dev", stack="staging"
    )
    for key, value in (("current", "1"), ("next", "2"), ("stage", "fallback")):
        project.pulumi(
            "config", "set", "--path", f"secrets-store:rotation.signing_key.{key}", value,
            stack="staging",
        )  # fmt: skip
    # WHEN staging would start a rotation dev has not: refused at up, before anything exists
    refused = project.up("staging", check=False)
    assert refused.returncode != 0
    assert "is ahead of stack 'dev'" in refused.output
    assert not [n for n in project.secrets() if n.startswith("staging_")]
    assert "staging_shop_edge" not in project.server.state.account(ACCOUNT).scripts
    # THEN once dev is deployed at that stage, staging goes
    for key, value in (("current", "1"), ("next", "2"), ("stage", "fallback")):
        project.pulumi(
            "config", "set", "--path", f"secrets-store:rotation.signing_key.{key}", value,
            stack="dev",
        )  # fmt: skip
    project.up("dev")
    project.up("staging")
    assert {"staging_signing_key_v1", "staging_signing_key_v2"} <= set(project.secrets())
    project.pulumi("destroy", "--yes", "--skip-preview", stack="staging")


def test_the_policy_pack_refuses_a_violation_at_preview(project: EngineProject) -> None:
    policies = project.root / "policies"
    shutil.copytree(
        REPO / "policies", policies, ignore=shutil.ignore_patterns("venv", "__pycache__")
    )
    policy_file = policies / "PulumiPolicy.yaml"
    policy_file.write_text(
        policy_file.read_text().replace("virtualenv: venv", f"virtualenv: {VENV}")
    )

    clean = project.pulumi("preview", "--policy-pack", str(policies), stack="dev")
    assert "secret-scopes-allowed-and-sorted" not in clean.output

    project.config_set("dev", "shop-edge:plantViolation", "true")
    try:
        refused = project.pulumi(
            "preview", "--policy-pack", str(policies), stack="dev", check=False
        )
    finally:
        project.pulumi("config", "rm", "shop-edge:plantViolation", stack="dev")
    assert refused.returncode != 0, refused.output
    assert "secret-scopes-allowed-and-sorted" in refused.output
    assert "stray_v1" in refused.output
    assert "stray-value-not-deployed" not in refused.output


def test_destroy_removes_versions_and_workers_and_leaves_the_store(project: EngineProject) -> None:
    store = project.store_id()
    project.pulumi("destroy", "--yes", "--skip-preview", stack="dev")
    assert project.store_id() == store, "the adopted store stays in the account"
    # Cloudflare lists a deleted secret as `deleted` for a while before it is gone.
    assert {s.status for s in project.secrets().values()} <= {"deleted"}
    assert project.client.workers.scripts.list(account_id=ACCOUNT).result == []


def test_no_call_the_provider_made_was_unknown_to_the_local_api(project: EngineProject) -> None:
    assert project.server.unrouted == []
