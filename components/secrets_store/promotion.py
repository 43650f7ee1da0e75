"""The promotion guard: a stack may never be ahead of its `promotion.after` stack.

Pure part: `ahead_problems` compares this stack's rotation positions with the
`rotation` output of the stack it follows (plain data, no Pulumi). Pulumi part:
`promotion_gate` reads that output through a `pulumi.StackReference` and returns
an Output that every Cloudflare resource's `account_id` waits on (see
`secrets_store.program.build`), so a refused `pulumi up` fails before the engine is
asked to create, update or delete anything.

Behavior (the rule is `secrets_store.ordering.promotion_problems`, the one `check` applies):
- Compared per secret declared in both stacks; a secret the other stack does not
  declare is new here and is not compared.
- Ahead means a later rotation position (`Position.ordinal`), or the same stage
  towards another `next` version.
- With `promotion.soak`: the other stack must have reached each position at least that
  long before this one did (the `reached` moments of both, in the config and the output).
- A position reached by an emergency (`emergency: {reason, at}`) is exempt.
- `pulumi preview` and `pulumi up` both refuse: a preview that passed is an `up` that
  will pass. A pull request that moves dev and staging together shows staging refused
  until dev is deployed (the offline plan answers from dev's new stack file instead).
- The referenced stack must have a `rotation` output (deployed by this program);
  otherwise `pulumi up` refuses: deploy that stack first.

Reference name: `promotion.stackReference` when set (for example
`acme/secrets-store/staging` in Pulumi Cloud, or `staging` with a local backend),
else `<organization>/<project>/<after>` of the running stack (local backends
report the organization as `organization`).
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi
from pydantic import ValidationError

from secrets_store.errors import Problem, SpecError
from secrets_store.ordering import (
    Standing,
    promotion_problems,
    reached_of,
    reference_name,
    standing_from,
)
from secrets_store.policy import soak_of
from secrets_store.spec import NAMESPACE, PromotionSpec, StackSpec


class PromotionError(SpecError, pulumi.RunError):
    """This stack would be ahead of the stack it follows. A RunError: Pulumi shows no traceback."""


def promotion_gate(spec: StackSpec) -> pulumi.Output[str] | None:
    """The guard as an Output that resolves only when this stack may be deployed.

    None when the stack follows none. Raises `PromotionError` (through the
    Output), at `pulumi preview` as at `pulumi up`, when this stack would be ahead.
    The YAML front end's program: it becomes this run's `promotion_guard()`.
    """
    after = spec.promotion.after
    gate = None
    if after:
        mine = {
            secret: Standing(s.position, reached_of(s.reached), s.emergency is not None)
            for secret, s in spec.secrets.items()
        }
        check = _checker(
            spec.stack,
            after,
            spec.promotion.stack_reference,
            spec.promotion.soak,
            spec.position_key,
        )
        gate = check(mine)
    loop = _run_loop()
    if loop is not None:
        _RUNS[loop] = _RunGuard(gate, managed=True)
    return gate


# ---- the guard for any program -----------------------------------------------------------


@dataclass
class _RunGuard:
    """One program run's promotion guard: the gate, and what the stack exports for the
    stacks that follow it."""

    gate: pulumi.Output[str] | None
    managed: bool
    """The YAML front end's program built it (and exports `rotation` itself)."""
    rotation: dict[str, pulumi.Input[Any]] = field(default_factory=dict)
    check: Callable[[Mapping[str, Standing]], pulumi.Output[str]] | None = None
    """(standings) -> Output that resolves when none of them is ahead (None: no guard)."""


# Per event loop: one per program run (offline tools run many programs in one process).
_RUNS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _RunGuard] = weakref.WeakKeyDictionary()


def _run_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_event_loop()
    except RuntimeError:
        return None


def _configured_promotion() -> PromotionSpec:
    """`secrets-store:promotion` of the stack config; SpecError naming the key otherwise."""
    try:
        raw = pulumi.Config(NAMESPACE).get_object("promotion")
    except pulumi.ConfigTypeError:
        raw = "text"
    if raw is None:
        return PromotionSpec()
    if not isinstance(raw, Mapping):
        raise SpecError(
            [
                Problem(
                    f"{NAMESPACE}:promotion",
                    "must be a mapping {after, soak, stackReference}, got "
                    f"{type(raw).__name__} (pulumi config set --path "
                    f"'{NAMESPACE}:promotion.after' staging)",
                )
            ]
        )
    try:
        return PromotionSpec.model_validate(raw)
    except ValidationError as exc:
        raise SpecError(
            [
                Problem(f"{NAMESPACE}:promotion.{'.'.join(map(str, e['loc']))}", e["msg"])
                for e in exc.errors(include_input=False, include_url=False)
            ]
        ) from None


def _configured_standings() -> dict[str, Standing]:
    """Every secret's standing from `secrets-store:rotation` (the config contract). A secret
    with no entry is steady at version 1, which is never ahead of anything."""
    try:
        rotation = pulumi.Config(NAMESPACE).get_object("rotation")
    except pulumi.ConfigTypeError:
        return {}  # refused, with its key, by the VersionedSecret that reads it
    out: dict[str, Standing] = {}
    for secret, entry in (rotation if isinstance(rotation, Mapping) else {}).items():
        standing = standing_from(entry) if isinstance(entry, Mapping) else None
        if standing is not None:
            out[str(secret)] = standing
    return out


def promotion_guard() -> pulumi.Output[str] | None:
    """This stack's promotion guard, for any program: an Output that resolves (to the name of
    the stack it follows) only when no secret of this stack is ahead of that stack's
    deployed rotation. None when the stack follows none.

    Read from the config contract: `secrets-store:promotion` ({after, soak, stackReference})
    and each secret's `secrets-store:rotation.<S>` entry. `VersionedSecret` and `Worker`
    call it themselves, and every Cloudflare resource they register waits on it, so
    `pulumi preview` and `pulumi up` refuse before anything changes. A program that also
    registers Cloudflare resources of its own makes them wait on it the same way, with
    `gated`: `cloudflare.WorkersKvNamespace("kv", account_id=gated(ACCOUNT), title="kv")`.

    Calling it again in the same run returns the same guard.
    """
    loop = _run_loop()
    run = _RUNS.get(loop) if loop is not None else None
    if run is not None:
        return run.gate
    if pulumi.runtime.get_root_resource() is None:
        # Constructed by a component provider (pulumi-plugin/, for other languages), not a
        # stack's program: no stack of its own to guard or to export to.
        if loop is not None:
            _RUNS[loop] = _RunGuard(None, managed=True)
        return None
    promotion = _configured_promotion()
    gate, check = None, None
    if promotion.after:
        check = _checker(
            pulumi.get_stack(), promotion.after, promotion.stack_reference, promotion.soak
        )
        gate = check(_configured_standings())
    if loop is not None:
        _RUNS[loop] = _RunGuard(gate, managed=False, check=check)
    return gate


def _checker(
    stack: str,
    after: str,
    configured_reference: str | None,
    soak: str | None,
    key: Callable[[str], str] | None = None,
) -> Callable[[Mapping[str, Standing]], pulumi.Output[str]]:
    """(standings) -> an Output resolving to the reference name once none of `standings` is
    ahead of the `after` stack's deployed rotation (raising PromotionError otherwise). One
    StackReference for the run, however many checks."""
    project, organization = pulumi.get_project(), pulumi.get_organization()
    name = reference_name(after, project, organization, configured_reference)
    rotation = pulumi.StackReference(f"promotion-{after}", stack_name=name).get_output("rotation")

    def check(mine: Mapping[str, Standing]) -> pulumi.Output[str]:
        def verdict(theirs: Any) -> str:
            problems = promotion_problems(
                stack,
                after,
                mine,
                theirs if isinstance(theirs, Mapping) else None,
                soak=soak_of(soak),
                key=key,
            )
            if problems:
                raise PromotionError(problems)
            return name

        return rotation.apply(verdict)

    return check


def gated(
    value: pulumi.Input[Any], standings: Mapping[str, Standing] | None = None
) -> pulumi.Input[Any]:
    """`value`, held back until this run's promotion guard passes (as is, with no guard).

    `standings`: positions given in code rather than in `secrets-store:rotation` (which the
    guard reads itself), checked too before `value` resolves."""
    gate = promotion_guard()
    if gate is None:
        return value
    loop = _run_loop()
    run = _RUNS.get(loop) if loop is not None else None
    waits: list[pulumi.Output[str]] = [gate]
    if standings and run is not None and run.check is not None:
        waits.append(run.check(standings))
    return pulumi.Output.all(*waits, value).apply(lambda parts: parts[-1])


def publish_position(secret: str, entry: Mapping[str, pulumi.Input[Any]]) -> None:
    """Add one secret to the `rotation` output the stacks that follow this one read (its
    position, kind and names, with the records of its `rotation` entry): exported by any
    program that uses VersionedSecret, so nothing has to be exported by hand. The YAML front
    end's program exports its own."""
    promotion_guard()
    loop = _run_loop()
    run = _RUNS.get(loop) if loop is not None else None
    if run is None or run.managed:
        return
    records = _configured_records(secret)
    run.rotation[secret] = {**entry, **records}
    pulumi.export("rotation", dict(run.rotation))


def _configured_records(secret: str) -> dict[str, Any]:
    try:
        rotation = pulumi.Config(NAMESPACE).get_object("rotation")
    except pulumi.ConfigTypeError:
        return {}
    entry = rotation.get(secret) if isinstance(rotation, Mapping) else None
    if not isinstance(entry, Mapping):
        return {}
    return {k: entry[k] for k in ("reached", "emergency") if isinstance(entry.get(k), Mapping)}
