"""`secretsctl check`: the offline pull-request gate over every stack file.

Rules, each reported as one line naming the stack file and config key:
1. every stack's config is valid (the real program runs under mocks);
2. no stack ahead of its `promotion.after` stack (both as written in the files);
3. stacks sharing one Cloudflare account (the same `accountId` text) never manage the
   same secret or script name, and hold at most 100 live secrets together;
against the base ref (`--base`), nothing that destroys a key or loses data:
4. no secret moved more than one stage (a new secret, a new stack, a finished rotation
   and a one-stage rollback count right);
5. no `secure:` value of a version that stays live changes (an instant rotation);
6. no encryption_key version deleted without the recorded re-encryption
   (`reencrypted: <new current>`, written by `secretsctl rotate --reencrypted`);
7. no secret removed, renamed (its key, or every name through `namePrefix`/`accountId`)
   or switched between `generate` and `config` while any worker in the account binds it,
   at the base or here; an encryption_key not at all unless the base marks it
   `reencrypted: retired`;
8. no secret version deleted while any worker in the same account binds it.

Lines name keys, versions and stacks, never a value: `secure:` ciphertexts are compared,
never shown.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from secrets_store.errors import Problem, SpecError
from secrets_store.grammar import PLAIN_NAME
from secrets_store.ordering import ahead_problems, cycle_problem
from secrets_store.rotation import Position, cloudflare_secret_name, steps_between
from secrets_store.spec import MAX_SECRETS_PER_ACCOUNT, NAMESPACE, is_placeholder, value_key
from secretsctl.offline.gitbase import base_loader, verify_ref
from secretsctl.offline.plan import plan_stack
from secretsctl.offline.references import self_reference, stack_cycle
from secretsctl.offline.stackfile import (
    STACKS_DIR,
    StackConfig,
    StackFileError,
    config_key,
    list_stacks,
    load_stack_config,
    parse_document,
    shown,
    stack_file_name,
    stack_path,
)

RETIRED = "retired"
"""`secrets.<S>.reencrypted: retired`: the explicit retire step of an encryption_key."""


def one_stage_back(position: Position) -> Position | None:
    """The rollback of one stage that keeps the same versions alive (None: not safe)."""
    if position.stage == "swapped":
        return Position(position.current, "fallback", position.next)
    if position.stage == "fallback":
        return Position(position.current)  # abort: the new version goes, nothing reads it yet
    return None  # undoing a finish would need the deleted version back


def move_problems(
    before: Mapping[str, Position], after: Mapping[str, Position], base: str
) -> list[Problem]:
    """Secrets that moved more than one stage (or backwards) between `base` and now."""
    problems = []
    for name in sorted(set(before) & set(after)):
        old, new = before[name], after[name]
        steps = steps_between(old, new)
        if steps in (0, 1) or new == one_stage_back(old):
            continue
        what = (
            f"moved {steps} stages in one change"
            if steps is not None
            else "moved backwards or to an unrelated version"
        )
        problems.append(
            Problem(
                f"{NAMESPACE}:secrets.{name}",
                f"{what}, got {old.describe()} at {base} and {new.describe()} here "
                f"(one stage per change: `secretsctl rotate {name}` from the base's position)",
            )
        )
    return problems


def live_names(config: StackConfig) -> set[str]:
    """Cloudflare secret names a stack file keeps alive (prefix + S_vN)."""
    return {
        cloudflare_secret_name(config.name_prefix, name, version)
        for name, position in config.positions.items()
        for version in position.live_versions
    }


def bound_names(plan: Mapping[str, Any]) -> dict[str, str]:
    """Cloudflare secret name -> `worker.BINDING` of the first binding that points at it."""
    bound: dict[str, str] = {}
    for worker, summary in plan["workers"].items():
        for binding, fields in summary["bindings"].items():
            if fields.get("type") == "secrets_store_secret":
                bound.setdefault(str(fields.get("secret_name")), f"{worker}.{binding}")
    return bound


# ---- what the files say, read leniently (a file the program refuses is reported by rule 1) --


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def named(name: str) -> str:
    """A name from a file as a line shows it: as written when plain, else quoted and cut
    (a name the program refuses must still not break the line)."""
    return name if PLAIN_NAME.fullmatch(name) else shown(name)


def secret_setting(config: StackConfig, secret: str, setting: str) -> Any:
    """One setting of a declared secret as the file writes it (None: not written)."""
    return _mapping(_mapping(config.namespace.get("secrets")).get(secret)).get(setting)


def binding_sites(config: StackConfig) -> dict[str, list[str]]:
    """Cloudflare secret name -> `worker.BINDING` of every binding the file gives it (the
    primary binding and, during a rotation, its fallback: every live version)."""
    sites: dict[str, list[str]] = {}
    for worker, spec in _mapping(config.namespace.get("workers")).items():
        for binding, target in _mapping(_mapping(spec).get("secrets")).items():
            secret = _mapping(target).get("secret") if isinstance(target, Mapping) else target
            position = config.positions.get(secret) if isinstance(secret, str) else None
            for version in position.live_versions if position is not None else ():
                name = cloudflare_secret_name(config.name_prefix, str(secret), version)
                sites.setdefault(name, []).append(named(f"{worker}.{binding}"))
    return sites


def script_names(config: StackConfig) -> dict[str, str]:
    """Cloudflare script name -> the worker declaring it."""
    workers = _mapping(config.namespace.get("workers"))
    return {f"{config.name_prefix}{worker}": str(worker) for worker in workers}


def secret_roots(config: StackConfig) -> dict[str, str]:
    """`{prefix}{S}` (every version's Cloudflare name is `<root>_v<N>`) -> the secret S."""
    return {f"{config.name_prefix}{name}": name for name in config.secrets}


def live_count(config: StackConfig) -> int:
    """Cloudflare secrets the stack keeps: every live version of every secret."""
    return sum(len(p.live_versions) for p in config.positions.values())


def secure_values(text: str | bytes | None) -> dict[str, str]:
    """Full config key -> the `secure:` ciphertext of each secret value of a stack file's
    text. Compared, never shown: a ciphertext is secret material too."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    try:  # parsed already by `load_stack_config` when it could be: then a cache hit
        document = parse_document(Path("<stack file>"), text or "")
    except StackFileError:  # unreadable: nothing to compare (rule 1 reports it)
        return {}
    config = _mapping(_mapping(document).get("config"))
    return {
        config_key(str(key)): value["secure"]
        for key, value in config.items()
        if isinstance(value, Mapping) and len(value) == 1 and isinstance(value.get("secure"), str)
    }


def accounts(configs: Mapping[str, StackConfig]) -> dict[str, list[str]]:
    """Account id (as written: equal text is the same account) -> its stacks, sorted."""
    grouped: dict[str, list[str]] = {}
    for stack in sorted(configs):
        account = configs[stack].account_id
        if account:
            grouped.setdefault(account, []).append(stack)
    return grouped


# ---- the rules ------------------------------------------------------------------------------


def collision_problems(configs: Mapping[str, StackConfig]) -> list[tuple[str, Problem]]:
    """Two stacks of one account that would manage the same secret or script names."""
    found: list[tuple[str, Problem]] = []
    for account, stacks in accounts(configs).items():
        for i, first in enumerate(stacks):
            for second in stacks[i + 1 :]:
                a, b = configs[first], configs[second]
                roots = sorted(set(secret_roots(a)) & set(secret_roots(b)))
                scripts = sorted(set(script_names(a)) & set(script_names(b)))
                if not roots and not scripts:
                    continue
                if a.name_prefix == b.name_prefix:
                    key = "namePrefix"
                elif roots:
                    key = f"secrets.{named(secret_roots(b)[roots[0]])}"
                else:
                    key = f"workers.{named(script_names(b)[scripts[0]])}"
                shared = [f"secret {named(r)}_v<N>" for r in roots]
                shared += [f"script {named(s)}" for s in scripts]
                found.append(
                    (
                        second,
                        Problem(
                            f"{NAMESPACE}:{key}",
                            f"manages the same Cloudflare names as stack {first!r} in account "
                            f"{shown(account)}, got {len(shared)} shared, first {shared[0]} "
                            f"(give each stack of one account its own namePrefix)",
                        ),
                    )
                )
    return found


def account_limit_problems(
    configs: Mapping[str, StackConfig], olds: Mapping[str, StackConfig]
) -> list[tuple[str, Problem]]:
    """Stacks of one account holding more live secrets together than the account allows.

    One line per account, on the stack that grew most since the base (else the largest).
    A single stack over the limit on its own is already refused by its spec (rule 1)."""
    found: list[tuple[str, Problem]] = []
    for account, stacks in accounts(configs).items():
        counts = {s: live_count(configs[s]) for s in stacks}
        total = sum(counts.values())
        if total <= MAX_SECRETS_PER_ACCOUNT or max(counts.values()) > MAX_SECRETS_PER_ACCOUNT:
            continue
        growth = {s: counts[s] - (live_count(olds[s]) if s in olds else 0) for s in stacks}
        owner = max(stacks, key=lambda s: (growth[s], counts[s]))
        split = " + ".join(f"{s} {counts[s]}" for s in stacks)
        found.append(
            (
                owner,
                Problem(
                    f"{NAMESPACE}:secrets",
                    f"the stacks of account {shown(account)} need {total} Cloudflare secrets "
                    f"together (every live version counts), over the per-account limit of "
                    f"{MAX_SECRETS_PER_ACCOUNT}, got {split} (finish rotations or remove secrets "
                    "first: the limit is per account, not per stack)",
                ),
            )
        )
    return found


def value_change_problems(old: StackConfig, new: StackConfig, base: str) -> list[Problem]:
    """`secure:` values changed in place for a version that stays live."""
    before, after = secure_values(old.raw), secure_values(new.raw)
    problems = []
    for name in sorted(set(old.positions) & set(new.positions)):
        if old.secrets[name].source != "config" or new.secrets[name].source != "config":
            continue  # a switch of source is rule 7's
        kept = set(old.positions[name].live_versions) & set(new.positions[name].live_versions)
        for version in sorted(kept):
            key = config_key(value_key(name, version))
            if key in before and key in after and before[key] != after[key]:
                problems.append(
                    Problem(
                        config_key(value_key(named(name), version)),
                        f"changes the value of live version {version} of secret {shown(name)} in "
                        f"place, got a different `secure:` ciphertext than at {base} (an instant "
                        f"rotation with no fallback: keep this value and rotate to a new version "
                        f"with `secretsctl rotate {named(name)} --stack {new.stack}`)",
                    )
                )
    return problems


def reencryption_problems(old: StackConfig, new: StackConfig) -> list[Problem]:
    """encryption_key versions deleted without the recorded re-encryption."""
    problems = []
    for name in sorted(set(old.positions) & set(new.positions)):
        if "encryption_key" not in (old.kinds.get(name), new.kinds.get(name)):
            continue
        before, after = old.positions[name], new.positions[name]
        gone = set(before.live_versions) - set(after.live_versions)
        if before.stage == "fallback" and before.next is not None:
            gone.discard(before.next)  # only ever a fallback: nothing was encrypted with it
        record = secret_setting(new, name, "reencrypted")
        if not gone or (type(record) is int and record == after.current):
            continue
        versions = ", ".join(value_key(name, v) for v in sorted(gone))
        target = after.current
        fix = (
            f"finish with `secretsctl rotate {named(name)} --stack {new.stack} --reencrypted`, "
            "which records it"
            if before.next == target
            else f"record it as secrets.{named(name)}.reencrypted: {target}"
        )
        problems.append(
            Problem(
                f"{NAMESPACE}:secrets.{named(name)}.reencrypted",
                f"deletes encryption_key version {versions} without a recorded re-encryption, "
                f"got {shown(record) if record is not None else 'nothing'} here (re-encrypt "
                f"every value encrypted with it under v{target}, then {fix})",
            )
        )
    return problems


def _moved(old: StackConfig, new: StackConfig) -> tuple[str, str, str] | None:
    """(setting, was, now) when every Cloudflare name of the stack changes; None if none do.

    A base account that is still a placeholder was never deployed: setting it moves nothing."""
    if old.name_prefix != new.name_prefix:
        return ("namePrefix", shown(old.name_prefix), shown(new.name_prefix))
    if old.account_id and old.account_id != new.account_id and not is_placeholder(old.account_id):
        return ("accountId", shown(old.account_id), shown(new.account_id))
    return None


def removal_problems(
    old: StackConfig, new: StackConfig, base: str, sites: Mapping[str, str]
) -> tuple[list[Problem], set[str]]:
    """Secrets removed, renamed or switched between generate and config: refused while any
    worker of the account binds them (`sites`: Cloudflare name -> who binds it), and for an
    encryption_key unless the base marks it retired.

    Also returns the Cloudflare names these lines speak for (rule 8 stays quiet on them)."""
    moved = _moved(old, new)
    problems: list[Problem] = []
    covered: set[str] = set()
    for name in sorted(old.positions):
        entry = new.secrets.get(name)
        if entry is None:
            key, what = f"secrets.{named(name)}", "removes or renames"
            got = f"no secrets.{named(name)} here"
            fix = "move every binding off it and deploy that first, then remove it"
        elif entry.source != old.secrets[name].source:
            key, what = f"secrets.{named(name)}.source", "switches the source of"
            got = f"source {entry.source} here and {old.secrets[name].source} at {base}"
            fix = (
                "a new source gives every live version a new value: move every binding off it "
                "and deploy that first, or declare a new secret with that source"
            )
        elif moved is not None:
            setting, was, now = moved
            if any(p.key == f"{NAMESPACE}:{setting}" for p in problems):
                continue  # one line for the whole stack
            key, what = setting, f"renames in Cloudflare (a new {setting}) every version of"
            got = f"{now} here and {was} at {base}"
            fix = f"keep {setting}: set up a new stack for the new one instead"
        else:
            continue
        names = [
            cloudflare_secret_name(old.name_prefix, name, v)
            for v in old.positions[name].live_versions
        ]
        kinds = (old.kinds.get(name), entry.kind if entry is not None else None)
        retired = secret_setting(old, name, "reencrypted") == RETIRED
        binder = next((sites[n] for n in names if n in sites), None)
        if "encryption_key" in kinds and not retired:
            message = (
                f"{what} encryption_key {shown(name)} without a retire step, got {got} and no "
                f"reencrypted: {RETIRED} at {base} (re-encrypt or delete everything it "
                f"encrypted, then set secrets.{named(name)}.reencrypted: {RETIRED} in a change "
                "of its own and deploy it before this one)"
            )
        elif binder is not None:
            message = f"{what} secret {shown(name)} while {binder}, got {got} ({fix})"
        else:
            continue
        problems.append(Problem(f"{NAMESPACE}:{key}", message))
        covered |= live_names(old) if moved is not None and entry is not None else set(names)
    return problems, covered


def account_binders(
    configs: Mapping[str, StackConfig], olds: Mapping[str, StackConfig], base: str
) -> dict[str, dict[str, str]]:
    """Account -> Cloudflare secret name -> who binds it, here or at the base."""
    found: dict[str, dict[str, str]] = {}
    sides: Iterable[tuple[Mapping[str, StackConfig], str]] = (
        (configs, "here"),
        (olds, f"at {base}"),
    )
    for side, where in sides:
        for stack in sorted(side):
            config = side[stack]
            if not config.account_id:
                continue
            names = found.setdefault(config.account_id, {})
            for name, places in binding_sites(config).items():
                names.setdefault(name, f"worker {places[0]} of stack {stack!r} binds it {where}")
    return found


def check_stacks(root: Path, base: str | None = None) -> list[str]:
    """Every problem of every stack under `root`/stacks, one line each (empty: all good)."""
    lines: list[str] = []
    configs: dict[str, StackConfig] = {}
    for stack in list_stacks(root):
        try:
            configs[stack] = load_stack_config(stack, stack_path(root, stack))
        except StackFileError as exc:
            lines.append(str(exc))

    def report(stack: str, problems: Iterable[Problem]) -> None:
        for problem in problems:
            line = f"{STACKS_DIR}/{stack_file_name(stack)}: {problem}"
            if line not in lines:  # a stack that follows itself: the spec and rule 2 agree
                lines.append(line)

    # 1. Validity: the real program; its promotion guard answered by the stack itself,
    # because promotion is checked below against the other stack's file.
    plans: dict[str, dict[str, Any]] = {}
    for stack, config in configs.items():
        try:
            plans[stack] = plan_stack(stack, config=config, **self_reference(config)).document
        except SpecError as exc:
            report(stack, exc.problems)

    # 2. Promotion order, file against file, along a chain that ends: a cycle has no first
    # stack, and is reported once, on the first of its stacks.
    cycles: set[frozenset[str]] = set()
    for stack, config in configs.items():
        after = config.promotion_after
        if not after:
            continue
        cycle = stack_cycle(config, configs.get)
        if cycle:
            if stack not in cycle or frozenset(cycle) not in cycles:
                report(stack, [cycle_problem(stack, cycle)])
            cycles.add(frozenset(cycle))
            continue
        if after not in configs:
            report(
                stack,
                [
                    Problem(
                        f"{NAMESPACE}:promotion.after",
                        f"names a stack with no file, got {after!r} "
                        f"(create {STACKS_DIR}/{stack_file_name(after)} or fix the name)",
                    )
                ],
            )
            continue
        report(
            stack,
            ahead_problems(stack, after, config.positions, configs[after].rotation_output()),
        )

    # The base's files (a stack with no file there is new: every position is its first).
    olds: dict[str, StackConfig] = {}
    if base is not None:
        verify_ref(root, base)
        load_base = base_loader(root, base)
        for stack in configs:
            try:
                old = load_base(stack)
            except StackFileError as exc:  # its lines name the ref
                lines.extend(exc.lines)
                continue
            if old is not None:
                olds[stack] = old

    # 3. One account, many stacks: no name managed twice, one limit for all.
    for stack, problem in collision_problems(configs) + account_limit_problems(configs, olds):
        report(stack, [problem])

    # 4 to 8 compare with the base ref.
    if base is None:
        return lines
    binders = account_binders(configs, olds, base)
    removed: dict[str, list[tuple[str, str]]] = {}  # account -> (stack, removed name)
    for stack, old in olds.items():
        config = configs[stack]
        report(stack, move_problems(old.positions, config.positions, base))
        report(stack, value_change_problems(old, config, base))
        report(stack, reencryption_problems(old, config))
        gone, covered = removal_problems(old, config, base, binders.get(str(old.account_id), {}))
        report(stack, gone)
        account = str(config.account_id)
        removed.setdefault(account, []).extend(
            (stack, n) for n in sorted(live_names(old) - live_names(config) - covered)
        )
    for stack, plan in plans.items():
        account = str(configs[stack].account_id)
        bound = bound_names(plan)
        for owner, name in removed.get(account, []):
            if name in bound:
                report(
                    owner,
                    [
                        Problem(
                            f"{NAMESPACE}:secrets",
                            f"deletes secret version {name} while worker {bound[name]} of stack "
                            f"{stack!r} binds it, got {name} bound "
                            f"(move that binding off {name} before deleting it)",
                        )
                    ],
                )
    return lines
