"""The example project under the real engine: `pulumi up` of the dev stack from empty state,
then a rotation of a signing_key and an encryption_key, stage by stage, each a
`secretsctl rotate` followed by `pulumi up` against the local Cloudflare API.

GIVEN the example dev stack (examples/stacks) with a real account id and KV namespace
WHEN  the engine deploys it, and deploys every rotation stage after it
THEN  the account (read through the official client) holds what the stage table says,
      every binding of a secret moved together, the offline plan agreed with the engine's
      preview before each step, and no secret value or token is in state or output.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from tests.engine_support import (
    ACCOUNT,
    SCRIPT_TYPE,
    SECRET_TYPE,
    TOKEN,
    EngineProject,
    engine_project,
    example_stack_text,
)

pytestmark = pytest.mark.engine


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EngineProject]:
    with engine_project(tmp_path_factory.mktemp("engine-deploy")) as project:
        kv_id = project.server.state.seed_kv_namespace(ACCOUNT, "dev-cache")
        (project.root / "stacks" / "Pulumi.dev.yaml").write_text(example_stack_text("dev", kv_id))
        project.stack_init("dev")
        subprocess.run(["git", "init", "-q", str(project.root)], check=True)
        commit(project, "dev as deployed")
        yield project
        print("\npulumi command times:")
        for label, seconds in project.timings:
            print(f"  {seconds:6.1f} s  {label}")


def plan(project: EngineProject, stack: str = "dev") -> dict[str, Any]:
    result = project.secretsctl("plan", "--stack", stack, "--format", "json")
    return json.loads(result.stdout)


def secret_values(project: EngineProject, stack: str = "dev") -> list[str]:
    """Every secret value the stack holds (config and generated), read outside the transcript."""
    env = project.env()
    config = subprocess.run(
        ["pulumi", "config", "--show-secrets", "--json", "--stack", stack],
        cwd=project.root,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    values = [
        entry["value"]
        for entry in json.loads(config.stdout).values()
        if entry.get("secret") and isinstance(entry.get("value"), str)
    ]
    state = subprocess.run(
        ["pulumi", "stack", "export", "--show-secrets", "--stack", stack],
        cwd=project.root,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    for resource in json.loads(state.stdout)["deployment"].get("resources", []):
        if resource["type"] == "random:index/randomBytes:RandomBytes":
            values += [resource["outputs"]["base64"], resource["outputs"]["hex"]]
    return [v for v in values if len(v) >= 8]


def expected_secret_names(document: dict[str, Any]) -> set[str]:
    return {name for s in document["secrets"].values() for name in s["cloudflare_names"]}


def assert_account_matches_plan(project: EngineProject, document: dict[str, Any]) -> None:
    live = {n: s for n, s in project.secrets().items() if s.status != "deleted"}
    assert set(live) == expected_secret_names(document), "secrets in the account vs the plan"
    assert {s.status for s in live.values()} == {"active"}, "every version active after up"
    for worker, planned in document["workers"].items():
        kept = project.script_bindings(planned["script_name"])
        for binding, want in planned["bindings"].items():
            if want.get("type") != "secrets_store_secret":
                continue
            got = kept.get(binding)
            assert got is not None, f"{worker}: binding {binding} missing from the upload"
            assert got["secret_name"] == want["secret_name"], f"{worker}.{binding}"
            assert got["store_id"] == project.store_id(), f"{worker}.{binding} store"


def test_first_up_creates_every_version_and_worker_with_its_bindings(
    project: EngineProject,
) -> None:
    document = plan(project)
    project.up("dev")
    assert_account_matches_plan(project, document)
    # The store was adopted: still the account's only one, with the dashboard's name.
    stores = list(project.client.secrets_store.stores.list(account_id=ACCOUNT))
    assert [s.name for s in stores] == ["default_secrets_store"]


def test_a_second_preview_shows_no_change(project: EngineProject) -> None:
    project.pulumi("preview", "--expect-no-changes", stack="dev")


CHANGED_TYPES = (SECRET_TYPE, SCRIPT_TYPE, "random:index/randomBytes:RandomBytes")


def engine_ops(preview: dict[str, Any]) -> dict[str, str]:
    """URN -> op of every step of `pulumi preview --json` that changes a Cloudflare or random
    resource (a replacement, however the engine orders it, is `replace`)."""
    ops: dict[str, str] = {}
    for step in preview.get("steps", []):
        state = step.get("newState") or step.get("oldState") or {}
        if state.get("type") not in CHANGED_TYPES or step["op"] in ("same", "read"):
            continue
        op = step["op"]
        ops[step["urn"]] = "replace" if "replace" in op else op
    return ops


def plan_ops(diff: dict[str, Any]) -> dict[str, str]:
    """URN -> op of the offline diff (`secretsctl diff --format json`), for the same types."""
    ops: dict[str, str] = {}
    for op in ("create", "import", "delete", "update", "replace"):
        for row in diff[op]:
            if row["type"] in CHANGED_TYPES:
                ops[row["urn"]] = "create" if op == "import" else op
    return ops


def commit(project: EngineProject, message: str) -> None:
    git = ["git", "-C", str(project.root), "-c", "user.email=t@example.com", "-c", "user.name=t"]
    subprocess.run([*git, "add", "-A"], check=True, capture_output=True)
    subprocess.run(
        [*git, "commit", "-qm", message, "--allow-empty"], check=True, capture_output=True
    )


STAGE_TABLE = {"fallback": (1, 2), "swapped": (1, 2), "steady": (2,)}
"""The versions the account holds at each stage of a rotation from version 1 to 2."""
ROTATED = {"jwt_key": "signing_key", "vault_key": "encryption_key"}
"""jwt_key is bound by two Workers under two names (auth: SIGNING_KEY, gateway: JWT_KEY)."""


def test_a_rotation_moves_every_binding_together_and_finish_deletes_the_old_version(
    project: EngineProject,
) -> None:
    """A signing_key and an encryption_key rotated side by side: three `pulumi up`s."""
    prefix = "dev_"
    before = plan(project)
    assert {s: before["secrets"][s]["kind"] for s in ROTATED} == ROTATED
    for stage in STAGE_TABLE:
        for secret in ROTATED:
            flags = ["--reencrypted"] if stage == "steady" and secret == "vault_key" else []
            project.secretsctl("rotate", secret, "--stack", "dev", *flags)
        document = plan(project)
        offline = plan_ops(
            project.secretsctl(
                "diff", "--stack", "dev", "--base", "HEAD", "--format", "json"
            ).json()
        )
        engine = engine_ops(project.preview_json("dev"))
        assert offline == engine, f"{stage}: the offline diff vs the engine's preview"
        assert offline, f"{stage}: a stage that changes nothing"
        project.up("dev")
        commit(project, f"rotation: {stage}")
        live = {n: s for n, s in project.secrets().items() if s.status != "deleted"}
        for secret in ROTATED:
            assert document["secrets"][secret]["stage"] == stage
            versions = {f"{prefix}{secret}_v{v}" for v in STAGE_TABLE[stage]}
            assert {n for n in live if n.startswith(f"{prefix}{secret}_v")} == versions, stage
            assert set(document["secrets"][secret]["cloudflare_names"]) == versions, stage
            assert_bindings_moved_together(project, before, secret, stage)
        assert_account_matches_plan(project, document)
    for secret in ROTATED:
        old = project.secrets().get(f"{prefix}{secret}_v1")
        assert old is None or old.status == "deleted", f"finish deletes {secret}'s old version"


def assert_bindings_moved_together(
    project: EngineProject, before: dict[str, Any], secret: str, stage: str
) -> None:
    """Every binding of `secret`, under every name and in every Worker, as uploaded: the
    ones that named version 1 at steady name the stage's primary, the others its fallback."""
    primary = {"fallback": 1, "swapped": 2, "steady": 2}[stage]
    fallback = {"fallback": 2, "swapped": 1, "steady": None}[stage]
    seen = 0
    for planned in before["workers"].values():
        uploaded = project.script_bindings(planned["script_name"])
        names = {b.get("secret_name") for b in uploaded.values()}
        for binding, want in planned["bindings"].items():
            if want.get("secret_name") != f"dev_{secret}_v1":
                continue
            seen += 1
            assert uploaded[binding]["secret_name"] == f"dev_{secret}_v{primary}", binding
            # The Worker that binds the secret binds the fallback beside it, or none at all.
            other = f"dev_{secret}_v{fallback if fallback else 1}"
            assert (other in names) == (fallback is not None), f"{binding}: {other}"
    assert seen >= 1, f"no Worker binds {secret}: nothing was checked"
    if secret == "jwt_key":
        assert seen == 2, "jwt_key: both Workers, both names"


def test_the_promotion_guard_refuses_at_preview_through_a_real_stack_reference(
    project: EngineProject,
) -> None:
    """staging follows dev (`promotion.after: dev`); dev's `rotation` output is read through a
    StackReference in the same file backend, as `pulumi up` would read it."""
    kv_id = project.server.state.seed_kv_namespace(ACCOUNT, "staging-cache")
    text = example_stack_text("staging", kv_id).replace("REPLACE_ME_STAGING_KV_NAMESPACE_ID", kv_id)
    path = project.root / "stacks" / "Pulumi.staging.yaml"
    path.write_text(text)
    project.stack_init("staging")
    # staging one stage behind dev: the reference is read and the preview passes.
    project.pulumi("preview", stack="staging")
    steady = "      current: 1                          # steady: dev is one stage ahead"
    assert steady in text
    ahead = "      current: 1\n      next: 2\n      stage: swapped  #"
    path.write_text(text.replace(steady, ahead))
    project.config_set("staging", "secrets-store:api_key_v2", "stg-api-key-v2-Pq7w", secret=True)
    refused = project.pulumi("preview", stack="staging", check=False)
    assert refused.returncode != 0
    assert "is ahead of stack 'dev'" in refused.output, refused.output[-3000:]
    assert "Traceback" not in refused.output
    assert not [s for s in project.secrets() if s.startswith("stg_")], "nothing was created"


def test_state_and_engine_output_hold_no_secret_value_or_token(project: EngineProject) -> None:
    values = secret_values(project)
    assert values, "the check found no secret value to look for"
    exported = json.dumps(project.export("dev"))
    for text, where in [(exported, "pulumi stack export")] + [
        (out, "engine output") for out in project.transcript
    ]:
        assert TOKEN not in text, f"the API token in plaintext in {where}"
        for value in values:
            assert value not in text, f"a secret value in plaintext in {where}"


def test_every_call_the_provider_made_was_one_cloudflare_documents(project: EngineProject) -> None:
    # Deploy, three rotation stages, a refused preview: no call fell through to "no route".
    assert project.server.unrouted == []
