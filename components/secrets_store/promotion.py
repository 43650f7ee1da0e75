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

from collections.abc import Mapping
from typing import Any

import pulumi

from secrets_store.errors import SpecError
from secrets_store.ordering import Standing, promotion_problems, reached_of, reference_name
from secrets_store.policy import soak_of
from secrets_store.spec import StackSpec


class PromotionError(SpecError, pulumi.RunError):
    """This stack would be ahead of the stack it follows. A RunError: Pulumi shows no traceback."""


def promotion_gate(spec: StackSpec) -> pulumi.Output[str] | None:
    """The guard as an Output that resolves only when this stack may be deployed.

    None when the stack follows no other. Raises `PromotionError` (through the
    Output), at `pulumi preview` as at `pulumi up`, when this stack would be ahead.
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
    mine = {
        secret: Standing(s.position, reached_of(s.reached), s.emergency is not None)
        for secret, s in spec.secrets.items()
    }

    def check(rotation: Any) -> str:
        problems = promotion_problems(
            spec.stack,
            after,
            mine,
            rotation if isinstance(rotation, Mapping) else None,
            soak=soak_of(spec.promotion.soak),
        )
        if problems:
            raise PromotionError(problems)
        return name

    return reference.get_output("rotation").apply(check)
