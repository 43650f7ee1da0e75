"""Renaming or moving a component keeps live secrets: old URNs stay reachable through aliases."""

from __future__ import annotations

from pathlib import Path

import pytest

from secretsctl.offline.mockrun import ProgramRun, Registration, run_program
from tests.conftest import stack_config

SECRET = "cloudflare:index/secretsStoreSecret:SecretsStoreSecret"
RANDOM = "random:index/randomBytes:RandomBytes"

HEADER = """
import pulumi
from secrets_store import VersionedSecret, VersionedSecretArgs

args = VersionedSecretArgs(
    secret_name="api_key", kind="api_key", generate=True, current=1, next=2, stage="fallback",
    account_id="a" * 32, store_id="store",
)
"""

# Release 1: the secret component at the root of the stack.
BEFORE = HEADER + 'VersionedSecret("api_key", args)\n'

# Release 2: renamed, and moved under a platform component a user wraps everything in.
MOVED = (
    HEADER
    + """
class Platform(pulumi.ComponentResource):
    def __init__(self, name):
        super().__init__("acme:index:Platform", name)

platform = Platform("platform")
VersionedSecret("partner-api-key", args, opts=pulumi.ResourceOptions(
    parent=platform,
    aliases=[pulumi.Alias(name="api_key", parent=pulumi.ROOT_STACK_RESOURCE)] if ALIASED else [],
))
"""
)


def run_layout(tmp_path: Path, source: str, name: str) -> ProgramRun:
    program = tmp_path / f"{name}.py"
    program.write_text(source)
    return run_program(stack_config({}), program=program)


def engine_aliases(run: ProgramRun, registration: Registration) -> set[str]:
    """A resource's aliases as the engine computes them: its own, plus one per alias of
    its parent (a child of a moved parent moves with it), recursively."""
    by_urn = {r.urn: r for r in run.resources}
    aliases = set(registration.aliases)
    parent = by_urn.get(registration.parent)
    if parent is not None:
        for parent_alias in engine_aliases(run, parent):
            prefix, qualified, parent_name = parent_alias.rsplit("::", 2)
            name = registration.name
            if name.startswith(parent.name):  # children named after the parent follow its rename
                name = parent_name + name[len(parent.name) :]
            aliases.add(f"{prefix}::{qualified}${registration.type}::{name}")
    return aliases


def reachable(run: ProgramRun, type_: str) -> set[str]:
    """Every URN the engine would match against state: the URN itself and its aliases."""
    return {u for r in run.of_type(type_) for u in (r.urn, *engine_aliases(run, r))}


def test_moving_and_renaming_a_secret_component_keeps_every_version_through_aliases(tmp_path):
    # GIVEN a stack deployed with the secret component at the root
    before = run_layout(tmp_path, BEFORE, "before")
    old_urns = {r.urn for r in before.of_type(SECRET) + before.of_type(RANDOM)}
    assert len(old_urns) == 4  # two versions, two generated values
    # WHEN the component is renamed and moved under another component, with an alias
    after = run_layout(tmp_path, "ALIASED = True\n" + MOVED, "after")
    # THEN every live version and generated value maps onto its old URN: no replacement
    assert old_urns <= reachable(after, SECRET) | reachable(after, RANDOM)


def test_without_the_alias_the_move_would_replace_live_secrets(tmp_path):
    # The control case: the URNs really change when a component moves.
    before = run_layout(tmp_path, BEFORE, "before")
    old_urns = {r.urn for r in before.of_type(SECRET)}
    after = run_layout(tmp_path, "ALIASED = False\n" + MOVED, "after")
    assert not old_urns & reachable(after, SECRET)


def test_a_rename_alone_keeps_urns_through_the_aliases_of_the_previous_naming(tmp_path):
    before = run_layout(tmp_path, BEFORE, "before")
    renamed = run_layout(
        tmp_path,
        BEFORE.replace('VersionedSecret("api_key"', 'VersionedSecret("partner-api-key"'),
        "renamed",
    )
    old = {r.urn for r in before.of_type(SECRET) + before.of_type(RANDOM)}
    assert old <= reachable(renamed, SECRET) | reachable(renamed, RANDOM)


TWO_PREFIXES = (
    HEADER
    + """
dev = VersionedSecret("dev-api-key", {**args, "name_prefix": "dev_"})
stg = VersionedSecret("stg-api-key", {**args, "name_prefix": "stg_"})
"""
)


def test_two_prefixed_secrets_of_one_name_register_distinct_children(tmp_path):
    # GIVEN two environments sharing one account, told apart by name_prefix
    run = run_layout(tmp_path, TWO_PREFIXES, "two")
    urns = [r.urn for r in run.resources]
    # THEN no two resources share a URN (the engine refuses a program that does)
    assert len(urns) == len(set(urns)), sorted(urns)
    names = sorted(str(r.inputs["name"]) for r in run.of_type(SECRET))
    assert names == ["dev_api_key_v1", "dev_api_key_v2", "stg_api_key_v1", "stg_api_key_v2"]
    # AND no alias is claimed twice, nor is any resource's URN (engine error 2008)
    claimed = [a for r in run.resources for a in engine_aliases(run, r)]
    assert len(claimed) == len(set(claimed)), sorted(claimed)
    assert not set(claimed) & set(urns)


def test_the_first_of_them_keeps_the_urns_it_had_alone(tmp_path):
    # A program with one of them deployed before 0.4 (children `<secret>-v<N>`) adds the other.
    alone = run_layout(tmp_path, HEADER + 'VersionedSecret("dev-api-key", args)\n', "alone")
    old = {r.urn.replace("dev-api-key-", "api_key-") for r in alone.of_type(SECRET)}
    both = run_layout(tmp_path, TWO_PREFIXES, "both")
    dev = [r for r in both.of_type(SECRET) if str(r.inputs["name"]).startswith("dev_")]
    assert old == {a for r in dev for a in engine_aliases(both, r)}


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_the_shipped_stacks_keep_every_urn_of_the_previous_naming(stack):
    """Before 0.4 a version was `<secret>-v<N>` under its VersionedSecret: still reachable."""
    from secretsctl.offline.plan import plan_stack
    from secretsctl.offline.stackfile import SOURCE_ROOT, load_stack_config

    config = load_stack_config(stack, SOURCE_ROOT / "examples" / "stacks" / f"Pulumi.{stack}.yaml")
    run = plan_stack(stack, config=config).run
    secrets = run.of_type("secrets-store:index:VersionedSecret")
    assert secrets
    previous = set()
    for component in secrets:
        prefix = component.urn.rsplit("::", 2)[0]
        for version in config.positions[component.name].live_versions:
            child = f"{component.name}-v{version}"  # the secret's name: the stack file's key
            previous.add(
                f"{prefix}::secrets-store:index:VersionedSecret$"
                f"cloudflare:index/secretsStoreSecret:SecretsStoreSecret::{child}"
            )
    assert previous <= reachable(run, SECRET)
