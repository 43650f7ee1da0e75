"""The promotion guard: a stack may never be ahead of its `promotion.after` stack.

Pure part: `ahead_problems` compares this stack's rotation positions with the
`rotation` output of the stack it follows (plain data, no Pulumi). Pulumi part:
`promotion_gate` reads that output through a `pulumi.StackReference` and returns
an Output that every Cloudflare resource's `account_id` waits on (see
`components.program.build`), so a refused `pulumi up` fails before the engine is
asked to create, update or delete anything.

Behavior:
- Compared per secret declared in both stacks; a secret the other stack does not
  declare is new here and is not compared.
- Ahead means a later rotation position (`Position.ordinal`), or the same stage
  towards another `next` version.
- `pulumi up` refuses; `pulumi preview` only warns, so a pull request that moves
  dev and staging together previews cleanly and its merge deploys them in order.
- The referenced stack must have a `rotation` output (deployed by this program);
  otherwise `pulumi up` refuses: deploy that stack first.

Reference name: `promotion.stackReference` when set (for example
`acme/secrets-store/staging` in Pulumi Cloud, or `staging` with a local backend),
else `<organization>/<project>/<after>` of the running stack (local backends
report the organization as `organization`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi

from components.errors import Problem, SpecError
from components.rotation import Position, position_from
from components.spec import NAMESPACE, StackSpec

# What the local backend and Pulumi's mock runtime report as the organization.
DEFAULT_ORGANIZATION = "organization"


class PromotionError(SpecError, pulumi.RunError):
    """This stack would be ahead of the stack it follows. A RunError: Pulumi shows no traceback."""


def reference_name(
    after: str, project: str, organization: str | None = None, configured: str | None = None
) -> str:
    """The StackReference name of the `promotion.after` stack."""
    return configured or f"{organization or DEFAULT_ORGANIZATION}/{project}/{after}"


def is_ahead(mine: Position, theirs: Position) -> bool:
    """True when `mine` is further along than `theirs` (or rotates towards another version)."""
    if mine.ordinal != theirs.ordinal:
        return mine.ordinal > theirs.ordinal
    return mine.next != theirs.next


def ahead_problems(
    stack: str,
    after: str,
    mine: Mapping[str, Position],
    theirs: Mapping[str, Mapping[str, Any]] | None,
) -> list[Problem]:
    """Every secret of `stack` that is ahead of the same secret in `after`.

    `theirs` is the other stack's `rotation` output (None: it has none, so it was
    never deployed by this program and everything here is ahead of it).
    """
    fix = f"deploy {after} first, or run `secretsctl promote --from {after} --to {stack}`"
    if theirs is None:
        return [
            Problem(
                f"{NAMESPACE}:promotion.after",
                f"stack {after!r} has no `rotation` output, got nothing to compare "
                f"(deploy {after} with this program first, or fix promotion.stackReference)",
            )
        ]
    problems = []
    for name, position in sorted(mine.items()):
        entry = theirs.get(name)
        other = position_from(entry) if isinstance(entry, Mapping) else None
        if other is not None and is_ahead(position, other):
            problems.append(
                Problem(
                    f"{NAMESPACE}:secrets.{name}",
                    f"is ahead of stack {after!r}, got {position.describe()} here and "
                    f"{other.describe()} in {after} ({fix})",
                )
            )
    return problems


def promotion_gate(spec: StackSpec) -> pulumi.Output[str] | None:
    """The guard as an Output that resolves only when this stack may be deployed.

    None when the stack follows no other. Raises `PromotionError` (through the
    Output) at `pulumi up` when this stack would be ahead; warns at preview.
    """
    after = spec.promotion.after
    if not after:
        return None
    name = reference_name(
        after,
        pulumi.get_project(),
        pulumi.get_organization(),
        spec.promotion.stack_reference,
    )
    reference = pulumi.StackReference(f"promotion-{after}", stack_name=name)
    mine = {secret: s.position for secret, s in spec.secrets.items()}

    def check(rotation: Any) -> str:
        problems = ahead_problems(
            spec.stack, after, mine, rotation if isinstance(rotation, Mapping) else None
        )
        if problems and pulumi.runtime.is_dry_run():
            for problem in problems:
                pulumi.log.warn(f"promotion guard (refused at `pulumi up`): {problem}")
        elif problems:
            raise PromotionError(problems)
        return name

    return reference.get_output("rotation").apply(check)
