"""`secretsctl check`: the offline pull-request gate over every stack file.

Rules, each reported as one line naming the stack file and config key:
1. every stack's config is valid (the real program runs under mocks);
2. the promotion rule (`secrets_store.ordering.promotion_problems`, the guard's): no stack
   ahead of its `promotion.after` stack, nor (with `promotion.soak`) a stage taken before
   that stack held it long enough, both as written in the files; an emergency is exempt;
3. stacks sharing one Cloudflare account (the same `accountId` text) never manage the
   same secret or script name, and hold at most 100 live secrets together;
against the base ref (`--base`), nothing that destroys a key or loses data:
4. no secret moved more than one stage (a new secret, a new stack, a finished rotation
   and a one-stage rollback count right), unless this change records an emergency for it
   (`emergency: {reason, at}`, written by `secretsctl rotate --emergency --reason`): then
   any number of stages forwards; a routine move never keeps the base's emergency record;
5. no `secure:` value of a version that stays live changes (an instant rotation);
6. no encryption_key version deleted without the recorded re-encryption
   (`reencrypted: <new current>`, written by `secretsctl rotate --reencrypted`);
7. no secret removed, renamed (its key, or every name through `namePrefix`/`accountId`)
   or switched between `generate` and `config` while any worker in the account binds it,
   at the base or here; an encryption_key not at all unless the base marks it
   `reencrypted: retired`;
8. no secret version deleted while any worker in the same account binds it;
9. no `kind` changed on a secret that a worker binds (here or at the base) or that has a
   live version at the base (a warning for an allowed change to or from a key kind);
10. no `workers` dropped from the scopes of a secret a worker binds (here or at the base);
11. no stack file deleted (or renamed: a deletion plus a new stack) while the base's file
   declares any secret or worker: a stack is retired by emptying it in gated changes first.

A secrets-provider change (provider keys and every `secure:` ciphertext, nothing else) is
exempt from rule 5, with a note. Two different placeholder accounts whose stacks would
collide as one account earn a warning.

Lines name keys, versions and stacks, never a value: `secure:` ciphertexts are compared,
never shown.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from secrets_store.errors import Problem, SpecError
from secrets_store.grammar import PLAIN_NAME
from secrets_store.ordering import cycle_problem, promotion_problems
from secrets_store.rotation import (
    Position,
    cloudflare_secret_name,
    position_from,
    steps_between,
)
from secrets_store.spec import (
    KINDS,
    MAX_SECRETS_PER_ACCOUNT,
    NAMESPACE,
    is_placeholder,
    value_key,
)
from secretsctl.errors import InvalidInput
from secretsctl.offline.gitbase import (
    materialized,
    stack_file_at,
    stacks_at,
    topology_at,
    verify_ref,
)
from secretsctl.offline.plan import (
    ADOPTED_TYPE,
    SECRET_TYPE,
    plan_stack,
    registered_scripts,
    registered_versions,
)
from secretsctl.offline.project import project_at
from secretsctl.offline.references import self_reference, stack_cycle
from secretsctl.offline.stackfile import (
    Emergency,
    StackConfig,
    StackFileError,
    config_key,
    list_stacks,
    load_stack_config,
    read_stack_file,
    shown,
    stack_file_name,
    stack_path,
)

RETIRED = "retired"
"""`secrets.<S>.reencrypted: retired`: the explicit retire step of an encryption_key."""

KEY_KINDS = ("encryption_key", "signing_key")
"""Kinds whose value is key material: a change to or from one is worth a warning."""


@dataclass
class Findings:
    """What `check` found: refusals (exit 2), and lines that only inform (exit stays 0)."""

    problems: list[str] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    """`Warning: ...` (worth a look, allowed) and `Note: ...` (an exemption taken) lines."""


def one_stage_back(position: Position) -> Position | None:
    """The rollback of one stage that keeps the same versions alive (None: not safe)."""
    if position.stage == "swapped":
        return Position(position.current, "fallback", position.next)
    if position.stage == "fallback":
        return Position(position.current)  # abort: the new version goes, nothing reads it yet
    return None  # undoing a finish would need the deleted version back


def fresh_emergency(old: StackConfig, new: StackConfig, name: str) -> Emergency | None:
    """The emergency record this change writes for secret `name` (None: none, or the base's
    own record kept): only a new one lets a secret move more than one stage."""
    record = new.emergency(name)
    if record is None or old.emergency(name) == record:
        return None
    return record


def move_problems(
    before: Mapping[str, Position],
    after: Mapping[str, Position],
    base: str,
    key: Callable[[str], str] | None = None,
    emergencies: Mapping[str, Emergency] | None = None,
) -> list[Problem]:
    """Secrets that moved more than one stage (or backwards) between `base` and now.
    `key`: the config key of a secret's position (default `secrets.<secret>`).
    `emergencies`: secrets this change moves in an emergency (a new `emergency: {reason,
    at}` record): they may move several stages forwards, never backwards."""
    problems = []
    for name in sorted(set(before) & set(after)):
        old, new = before[name], after[name]
        steps = steps_between(old, new)
        if steps in (0, 1) or new == one_stage_back(old):
            continue
        if steps is not None and name in (emergencies or {}):
            continue
        what = (
            f"moved {steps} stages in one change"
            if steps is not None
            else "moved backwards or to an unrelated version"
        )
        problems.append(
            Problem(
                key(name) if key is not None else f"{NAMESPACE}:secrets.{name}",
                f"{what}, got {old.describe()} at {base} and {new.describe()} here "
                f"(one stage per change: `secretsctl rotate {name}` from the base's position; "
                f'a leaked key: `secretsctl rotate {name} --emergency --reason "why"`)',
            )
        )
    return problems


def stale_emergency_problems(old: StackConfig, new: StackConfig, base: str) -> list[Problem]:
    """A secret moved while keeping the base's emergency record: the record would exempt
    the new position from the promotion rule, though no emergency moved it there."""
    problems = []
    for name in sorted(
        set(old.positions) & set(new.positions) & set(old.secrets) & set(new.secrets)
    ):
        was, now = old.secrets[name].emergency, new.secrets[name].emergency
        if was is None or now != was or old.positions[name] == new.positions[name]:
            continue
        problems.append(
            Problem(
                f"{NAMESPACE}:secrets.{named(name)}.emergency",
                f"keeps the emergency record of {base} on a routine move, got "
                f"{old.positions[name].describe()} at {base} and "
                f"{new.positions[name].describe()} here (remove it: `secretsctl rotate` and "
                "`promote` do; an emergency writes a new one)",
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


def bound_names(plan: Mapping[str, Any]) -> dict[tuple[str, str], str]:
    """(account id, Cloudflare secret name) -> `worker.BINDING` of the first binding that
    points at it, in the account the program registers the Worker's script in."""
    script_accounts = {script: account for account, script in registered_scripts(plan)}
    bound: dict[tuple[str, str], str] = {}
    for worker, summary in plan["workers"].items():
        account = script_accounts.get(str(summary.get("script_name")), "")
        for binding, fields in summary["bindings"].items():
            if fields.get("type") == "secrets_store_secret":
                key = (account, str(fields.get("secret_name")))
                bound.setdefault(key, f"{worker}.{binding}")
    return bound


def version_names(config: StackConfig, plan: Mapping[str, Any] | None) -> set[tuple[str, str]]:
    """(account id, Cloudflare name) of every version a stack keeps: as its program registers
    them (the names and accounts a code-first program computes), else as its file says."""
    if plan is not None:
        return set(registered_versions(plan))
    return {(str(config.account_id), name) for name in live_names(config)}


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def named(name: str) -> str:
    """A name from a file as a line shows it: as written when plain, else quoted and cut
    (a name the program refuses must still not break the line)."""
    return name if PLAIN_NAME.fullmatch(name) else shown(name)


def source_of(config: StackConfig, secret: str) -> str:
    """`source:` of a declared secret; `config` for one a program declares in code (its
    values, when not generated, are the `secrets-store:<secret>_v<N>` keys)."""
    entry = config.secrets.get(secret)
    return entry.source if entry is not None else "config"


def secret_setting(config: StackConfig, secret: str, setting: str) -> Any:
    """One setting of a declared secret as the file writes it (None: not written)."""
    return _mapping(_mapping(config.namespace.get("secrets")).get(secret)).get(setting)


def bindings(config: StackConfig) -> Iterable[tuple[str, str]]:
    """(`worker.BINDING`, secret) of every secret binding the file writes, in file order."""
    for worker, spec in _mapping(config.namespace.get("workers")).items():
        for binding, target in _mapping(_mapping(spec).get("secrets")).items():
            secret = _mapping(target).get("secret") if isinstance(target, Mapping) else target
            if isinstance(secret, str):
                yield named(f"{worker}.{binding}"), secret


def binding_sites(config: StackConfig) -> dict[str, list[str]]:
    """Cloudflare secret name -> `worker.BINDING` of every binding the file gives it (the
    primary binding and, during a rotation, its fallback: every live version)."""
    sites: dict[str, list[str]] = {}
    for site, secret in bindings(config):
        position = config.positions.get(secret)
        for version in position.live_versions if position is not None else ():
            name = cloudflare_secret_name(config.name_prefix, secret, version)
            sites.setdefault(name, []).append(site)
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
        document = read_stack_file(Path("<stack file>"), text or "").data
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


def shared_names(a: StackConfig, b: StackConfig) -> tuple[str, list[str]] | None:
    """(the key to name, the shared names) when two stacks of one account would manage the
    same secret or script names; None when they would not."""
    roots = sorted(set(secret_roots(a)) & set(secret_roots(b)))
    scripts = sorted(set(script_names(a)) & set(script_names(b)))
    if not roots and not scripts:
        return None
    if a.name_prefix == b.name_prefix:
        key = "namePrefix"
    elif roots:
        key = f"secrets.{named(secret_roots(b)[roots[0]])}"
    else:
        key = f"workers.{named(script_names(b)[scripts[0]])}"
    shared = [f"secret {named(r)}_v<N>" for r in roots]
    shared += [f"script {named(s)}" for s in scripts]
    return key, shared


def collision_problems(configs: Mapping[str, StackConfig]) -> list[tuple[str, Problem]]:
    """Two stacks of one account that would manage the same secret or script names."""
    found: list[tuple[str, Problem]] = []
    for account, stacks in accounts(configs).items():
        for i, first in enumerate(stacks):
            for second in stacks[i + 1 :]:
                shared = shared_names(configs[first], configs[second])
                if shared is None:
                    continue
                key, names = shared
                found.append(
                    (
                        second,
                        Problem(
                            f"{NAMESPACE}:{key}",
                            f"manages the same Cloudflare names as stack {first!r} in account "
                            f"{shown(account)}, got {len(names)} shared, first {names[0]} "
                            f"(give each stack of one account its own namePrefix)",
                        ),
                    )
                )
    return found


def registered_collision_problems(
    plans: Mapping[str, Mapping[str, Any]], reported: set[str]
) -> list[tuple[str, Problem]]:
    """Two stacks whose programs register the same Cloudflare secret or script name in the
    same account (as the programs compute names and accounts, whatever config keys they
    read): the second deploy would take over, or fail on, the first's. Stacks already
    refused for it by their files (`reported`) are not named twice."""
    found: list[tuple[str, Problem]] = []
    names = {
        stack: set(registered_versions(plan)) | {("script", *s) for s in registered_scripts(plan)}
        for stack, plan in plans.items()
    }
    stacks = sorted(names)
    for i, first in enumerate(stacks):
        for second in stacks[i + 1 :]:
            if second in reported:
                continue
            shared = sorted(names[first] & names[second])
            if not shared:
                continue
            what = shared[0]
            account, name = what[-2], what[-1]
            found.append(
                (
                    second,
                    Problem(
                        "program",
                        f"registers the same Cloudflare names as stack {first!r} "
                        f"in account {shown(account)}, got {len(shared)} shared, first "
                        f"{'script ' if what[0] == 'script' else ''}{name} (give each stack "
                        "of one account its own name prefix, e.g. name_prefix= from the "
                        "stack's config)",
                    ),
                )
            )
    return found


def placeholder_account_warnings(configs: Mapping[str, StackConfig]) -> list[tuple[str, Problem]]:
    """Two stacks whose accounts are different placeholders but which would manage the same
    names in one account: probably one account written twice, which hides a collision."""
    stacks = sorted(s for s, c in configs.items() if is_placeholder(c.account_id))
    found: list[tuple[str, Problem]] = []
    for i, first in enumerate(stacks):
        for second in stacks[i + 1 :]:
            a, b = configs[first], configs[second]
            shared = shared_names(a, b) if a.account_id != b.account_id else None
            if shared is None:
                continue
            key, names = shared
            found.append(
                (
                    second,
                    Problem(
                        f"{NAMESPACE}:accountId",
                        f"is the placeholder {shown(b.account_id)} and stack {first!r} has "
                        f"{shown(a.account_id)}: if both stand for one account, the two manage "
                        f"the same Cloudflare names ({key}), got {len(names)} shared, first "
                        f"{names[0]} (write one account as one placeholder, or set the real "
                        "account ids, so the shared-account checks can see it)",
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
        if source_of(old, name) != "config" or source_of(new, name) != "config":
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
        record = new.reencrypted(name)
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
        elif entry.source != source_of(old, name):
            key, what = f"secrets.{named(name)}.source", "switches the source of"
            got = f"source {entry.source} here and {source_of(old, name)} at {base}"
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
        retired = old.reencrypted(name) == RETIRED
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


def binder(
    old: StackConfig, new: StackConfig, name: str, base: str, sites: Mapping[str, str]
) -> str | None:
    """Who binds secret `name`, as a line says it: any worker of the account bound to one
    of its live versions (here or at the base), else any worker of this stack naming it
    (here or at the base, whatever its position); None when none does."""
    for config in (new, old):
        position = config.positions.get(name)
        for version in position.live_versions if position is not None else ():
            site = sites.get(cloudflare_secret_name(config.name_prefix, name, version))
            if site is not None:
                return site
    for config, where in ((new, "here"), (old, f"at {base}")):
        site = next((s for s, secret in bindings(config) if secret == name), None)
        if site is not None:
            return f"worker {site} of stack {config.stack!r} binds it {where}"
    return None


def kind_change_problems(
    old: StackConfig, new: StackConfig, base: str, sites: Mapping[str, str]
) -> tuple[list[Problem], list[Problem]]:
    """(refused, warned) kind changes. A kind is what every reader takes the value to be (an
    encryption_key keeps the re-encryption rule): changing it under a binding or a live
    version reinterprets existing material, and `encryption_key -> opaque` then `finish`
    would delete a key with no re-encryption. Allowed only with neither; a change to or
    from a key kind is still worth a warning."""
    refused: list[Problem] = []
    warned: list[Problem] = []
    for name in sorted(set(old.secrets) & set(new.secrets)):
        was, now = old.kinds[name], new.kinds[name]
        if was == now or was not in KINDS or now not in KINDS:
            continue  # an unknown kind is rule 1's (here) or never deployed (at the base)
        key = f"{NAMESPACE}:secrets.{named(name)}.kind"
        got = f"got {now} here and {was} at {base}"
        bound = binder(old, new, name, base, sites)
        position = old.positions.get(name)
        live = position.live_versions if position is not None else ()
        if bound is None and not live:
            if was in KEY_KINDS or now in KEY_KINDS:
                warned.append(
                    Problem(
                        key,
                        f"changes the kind of secret {shown(name)} to or from a key kind, {got} "
                        f"(allowed: no worker binds it and it has no live version at {base}; "
                        f"make sure nothing outside still uses it as {was})",
                    )
                )
            continue
        versions = ", ".join(value_key(named(name), v) for v in live)
        why = bound if bound is not None else f"{versions} live at {base}"
        retire = f"mark it reencrypted: {RETIRED} and " if was == "encryption_key" else ""
        refused.append(
            Problem(
                key,
                f"changes the kind of secret {shown(name)} while {why}, {got} (a kind is fixed "
                f"for a secret's life: declare a new secret with kind {now} under a new name, "
                f"move every binding to it, then {retire}remove {named(name)})",
            )
        )
    return refused, warned


def scopes_of(config: StackConfig, secret: str) -> tuple[str, ...] | None:
    """A secret's scopes as written (the default when not written); None: not a list of
    names (rule 1's)."""
    raw = secret_setting(config, secret, "scopes")
    if raw is None:
        return ("workers",)
    raw = [raw] if isinstance(raw, str) else raw
    if isinstance(raw, list) and raw and all(isinstance(s, str) for s in raw):
        return tuple(raw)
    return None


def scope_problems(
    old: StackConfig, new: StackConfig, base: str, sites: Mapping[str, str]
) -> list[Problem]:
    """`workers` dropped from the scopes of a secret a worker binds (here or at the base):
    every binding of it stops resolving."""
    problems = []
    for name in sorted(set(old.secrets) & set(new.secrets)):
        was, now = scopes_of(old, name), scopes_of(new, name)
        if was is None or now is None or "workers" not in was or "workers" in now:
            continue
        bound = binder(old, new, name, base, sites)
        if bound is None:
            continue

        def listed(scopes: tuple[str, ...]) -> str:
            return "[" + ", ".join(named(s) for s in scopes) + "]"

        problems.append(
            Problem(
                f"{NAMESPACE}:secrets.{named(name)}.scopes",
                f"drops workers from the scopes of secret {shown(name)} while {bound}, got "
                f"{listed(now)} here and {listed(was)} at {base} (keep workers and add the "
                "other scopes next to it; drop workers only once no worker binds it, after a "
                "change of its own that moves every binding off it)",
            )
        )
    return problems


def declared(config: StackConfig) -> tuple[int, int]:
    """(secrets, workers) a stack file declares, in any shape: what its stack manages."""

    def count(key: str) -> int:
        value = config.namespace.get(key)
        if isinstance(value, Mapping):
            return len(value)
        return int(bool(value) or config_key(key) in config.secret_keys)

    return count("secrets"), count("workers")


def likely_rename(old: StackConfig, added: Mapping[str, StackConfig]) -> str | None:
    """The new stack that declares the most of the removed stack's secret and worker names
    (a rename is a removal plus an add); None when no new stack shares one."""

    def names(config: StackConfig) -> set[str]:
        return {f"s:{n}" for n in config.secrets} | {
            f"w:{n}" for n in _mapping(config.namespace.get("workers"))
        }

    shared = {s: len(names(old) & names(c)) for s, c in sorted(added.items())}
    best = max(shared, key=shared.__getitem__, default=None)  # the first of a tie
    return best if best is not None and shared[best] else None


def removed_stack_problems(
    removed: Mapping[str, StackConfig], added: Mapping[str, StackConfig], base: str
) -> tuple[list[tuple[str, Problem]], list[tuple[str, str]]]:
    """(refused, noted) stack files deleted since the base. A stack that declares anything
    at the base has live resources there (the base is what was deployed), and deleting its
    file only stops managing them: refused. The retire step is the base declaring nothing:
    workers and secrets removed in changes this gate checked, and deployed."""
    refused: list[tuple[str, Problem]] = []
    noted: list[tuple[str, str]] = []
    for stack, old in sorted(removed.items()):
        secrets, workers = declared(old)
        label = old.owner().stack_label
        file = label(stack_file_name(named(stack)))
        if not secrets and not workers:
            noted.append(
                (
                    stack,
                    f"removes stack {shown(stack)}, which declares nothing at {base} (retired): "
                    f"after the merge, run `pulumi stack rm {named(stack)}`",
                )
            )
            continue
        renamed = likely_rename(old, added)
        if renamed is None:
            got = f"got no {file} here"
            fix = (
                "retire it first: remove its workers, then its secrets, in changes this check "
                f"passes, and deploy them; delete the file once the base declares neither, then "
                f"run `pulumi stack rm {named(stack)}`"
            )
        else:
            got = (
                f"got no {file} here and a new {label(stack_file_name(named(renamed)))}: "
                f"looks like a rename of {named(stack)} -> {named(renamed)}"
            )
            fix = (
                "Pulumi stacks are renamed with `pulumi stack rename`, and the stack file "
                f"follows: the new file alone deploys a new stack {named(renamed)} that creates "
                f"every name {named(stack)} owns; a rename moves deployed state, which this "
                "gate cannot see, so keep the name here, or retire the old stack first"
            )
        refused.append(
            (
                stack,
                Problem(
                    f"{NAMESPACE}:{'secrets' if secrets else 'workers'}",
                    f"deletes the file of stack {shown(stack)} while it declares {secrets} "
                    f"secret(s) and {workers} worker(s) at {base}, {got} ({fix})",
                ),
            )
        )
    return refused, noted


PROVIDER_KEYS = ("secretsprovider", "encryptedkey", "encryptionsalt")
"""A stack file's top-level keys that `pulumi stack change-secrets-provider` rewrites."""
SECURE = object()
"""Stands in for a `secure:` value when two files are compared around their ciphertexts."""


def provider_change(old_text: str | bytes | None, new_text: str | bytes | None) -> bool:
    """True when a stack file changed only as `pulumi stack change-secrets-provider` changes
    it: a provider key differs, every `secure:` ciphertext differs (all are re-encrypted),
    the same keys hold them, and nothing else changed. The gate never decrypts: it takes
    the values to be the same, which is what that command guarantees."""

    def masked(value: Any, path: str, found: dict[str, str]) -> Any:
        if isinstance(value, Mapping):
            if set(value) == {"secure"} and isinstance(value["secure"], str):
                found[path] = value["secure"]
                return SECURE
            return {str(k): masked(v, f"{path}/{k}", found) for k, v in value.items()}
        if isinstance(value, list):
            return [masked(v, f"{path}/{i}", found) for i, v in enumerate(value)]
        return value

    documents = []
    for text in (old_text, new_text):
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        try:
            document = read_stack_file(Path("<stack file>"), text or "").data
        except StackFileError:
            return False
        if not isinstance(document, Mapping):
            return False
        documents.append(document)
    before, after = documents
    if all(before.get(k) == after.get(k) for k in PROVIDER_KEYS):
        return False
    old_secure: dict[str, str] = {}
    new_secure: dict[str, str] = {}
    rest = [{k: v for k, v in d.items() if k not in PROVIDER_KEYS} for d in documents]
    if masked(rest[0], "", old_secure) != masked(rest[1], "", new_secure):
        return False
    same_keys = old_secure.keys() == new_secure.keys()
    return same_keys and all(old_secure[k] != new_secure[k] for k in old_secure)


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


def _base_positions(
    old: StackConfig, new: StackConfig, plan: Mapping[str, Any] | None
) -> Mapping[str, Position]:
    """The base's positions, with those of secrets a program declares in code and whose
    position the base left to the default (no `rotation` entry) taken from the base's plan:
    a secret that gains an entry here must still move one stage from where it stood."""
    unwritten = [
        name
        for name in ((plan or {}).get("secrets") or {})
        if name in new.positions and name not in old.positions
    ]
    if not unwritten:
        return old.positions
    try:
        before = plan_stack(old.stack, config=old, **self_reference(old)).document["secrets"]
    except SpecError:
        return old.positions  # the base's program run fails: nothing more to compare
    found = {n: position_from(before[n]) for n in unwritten if n in before}
    return {**{n: p for n, p in found.items() if p is not None}, **old.positions}


def _holders(plan: Mapping[str, Any]) -> dict[str, str]:
    """Cloudflare secret name -> the component that registers it (its resource's parent)."""
    return {
        str(r["inputs"].get("name")): str(r.get("parent") or r["name"])
        for r in plan.get("resources") or ()
        if r.get("type") in (SECRET_TYPE, ADOPTED_TYPE) and isinstance(r.get("inputs"), Mapping)
    }


def _named_versions(entry: Mapping[str, Any]) -> dict[int, str]:
    """Version -> Cloudflare name, of a plan's secret entry."""
    position = position_from(entry)
    if position is None:
        return {}
    return dict(
        zip(position.live_versions, map(str, entry.get("cloudflare_names") or ()), strict=False)
    )


def dropped_secret_problems(
    before: Mapping[str, Any], after: Mapping[str, Any], old: StackConfig, base: str
) -> list[Problem]:
    """Secrets a program declares in code (none of the file's) that its change removes or
    renames in Cloudflare while a Worker bound them at the base: the Workers would move to a
    new secret (a generated one drawn afresh) with no fallback stage, so whatever the old
    value signed or encrypted stops working. The file's secrets have rules 7 and 10."""
    bound = {fields["secret_name"]: f"{worker}.{binding}"
             for worker, summary in (before.get("workers") or {}).items()
             for binding, fields in summary["bindings"].items()
             if fields.get("type") == "secrets_store_secret"}  # fmt: skip
    holders = _holders(before)
    # Cloudflare name -> the account the program registers it in, at the base and here.
    was_in = {name: account for account, name in registered_versions(before)}
    now_in = {name: account for account, name in registered_versions(after)}
    problems: list[Problem] = []
    now = after.get("secrets") or {}
    for secret, entry in sorted((before.get("secrets") or {}).items()):
        if secret in old.secrets:
            continue
        names = [str(n) for n in entry.get("cloudflare_names") or ()]
        binder = next((f"{bound[n]} binds {n}" for n in names if n in bound), None)
        if binder is None:
            continue
        kept = set(now.get(secret, {}).get("cloudflare_names") or ())
        component = holders.get(names[0], secret) if names else secret
        # A base account that is still a placeholder was never deployed: nothing moves.
        moved = next(
            (
                (was_in[n], now_in[n])
                for n in names
                if n in kept
                and n in was_in
                and n in now_in
                and was_in[n] != now_in[n]
                and not is_placeholder(was_in[n])
            ),
            None,
        )
        if secret in now and moved is None:
            was, is_now = _named_versions(entry), _named_versions(now[secret])
            if all(was[v] == is_now[v] for v in set(was) & set(is_now)):
                continue  # the same names for the versions live on both sides: a rotation
        if moved is not None:
            problems.append(
                Problem(
                    "program",
                    f"moves secret {shown(secret)} (VersionedSecret {component}) to another "
                    f"account while worker {binder} at {base}, got account {shown(moved[1])} "
                    f"here and {shown(moved[0])} at {base} (a new account is a new secret with "
                    "no fallback stage: keep its account_id, and set up a new stack for the "
                    "new account instead)",
                )
            )
            continue
        what = "removes or renames" if secret not in now else "renames in Cloudflare"
        problems.append(
            Problem(
                "program",
                f"{what} secret {shown(secret)} (VersionedSecret {component}) while worker "
                f"{binder} at {base}, got "
                + (
                    "no VersionedSecret with that secret_name here"
                    if secret not in now
                    else f"{', '.join(sorted(kept)) or 'no version'} here"
                )
                + " (the Workers would switch to a new secret with no fallback stage: keep "
                f'secret_name="{secret}" and its name_prefix, and rename a component with '
                f'opts=pulumi.ResourceOptions(aliases=[pulumi.Alias(name="{component}")]); '
                "or move every binding off it and deploy that first)",
            )
        )
    return problems


def program_change_problems(
    root: Path, base: str, olds: Mapping[str, StackConfig], plans: Mapping[str, Any]
) -> tuple[list[tuple[str, Problem]], dict[str, dict[str, Any]]]:
    """What the program's own change would make Cloudflare refuse: each stack's base config
    planned with the base's program (the project as committed at `base`), against its plan
    here. A renamed component creates a version under new URNs before deleting the old one:
    one Cloudflare name twice (1003).

    Also returns the base's plans, by stack (a stack whose base program does not run here
    has none)."""
    from secretsctl.workflow.diff import diff_plans, name_conflict_line

    found: list[tuple[str, Problem]] = []
    befores: dict[str, dict[str, Any]] = {}
    with materialized(root, base) as base_root:
        base_project = project_at(base_root) if base_root is not None else None
        if base_project is None:
            return found, befores
        for stack, old in olds.items():
            if stack not in plans:
                continue
            config = replace(old, project=base_project)
            try:
                before = plan_stack(stack, config=config, **self_reference(config)).document
            except (SpecError, InvalidInput):
                continue  # the base's program does not run here: nothing to compare
            befores[stack] = before
            conflicts = diff_plans(before, plans[stack])["name_conflicts"]
            for conflict in conflicts:
                found.append((stack, Problem("program", name_conflict_line(conflict))))
            if not conflicts:
                found.extend(
                    (stack, problem)
                    for problem in dropped_secret_problems(before, plans[stack], old, base)
                )
    return found, befores


def check_stacks(root: Path, base: str | None = None) -> Findings:
    """Every problem of every stack of the project at `root`, one line each (none: all
    good), and the warnings and notes that do not refuse."""
    found = Findings()
    lines = found.problems
    configs: dict[str, StackConfig] = {}
    project = project_at(root)
    for stack in list_stacks(root):
        try:
            configs[stack] = load_stack_config(stack, stack_path(root, stack), project=project)
        except StackFileError as exc:
            lines.append(str(exc))

    def where(stack: str) -> str:
        return project.stack_label(stack_file_name(named(stack)))

    def report(stack: str, problems: Iterable[Problem]) -> None:
        for problem in problems:
            line = f"{where(stack)}: {problem}"
            if line not in lines:  # a stack that follows itself: the spec and rule 2 agree
                lines.append(line)

    def warn(stack: str, problems: Iterable[Problem]) -> None:
        found.notices.extend(f"Warning: {where(stack)}: {p}" for p in problems)

    def note(stack: str, text: str) -> None:
        found.notices.append(f"Note: {where(stack)}: {text}")

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
                        f"(create {project.stack_label(stack_file_name(after))} or fix the "
                        "name)",
                    )
                ],
            )
            continue
        report(
            stack,
            promotion_problems(
                stack,
                after,
                config.standings,
                configs[after].rotation_output(),
                soak=config.soak,
                key=config.position_key,
            ),
        )

    # The base's files: of stacks here (a stack with no file there is new: every position
    # is its first) and of stacks whose file is gone.
    olds: dict[str, StackConfig] = {}
    texts: dict[str, bytes] = {}
    removed: dict[str, StackConfig] = {}
    added: dict[str, StackConfig] = {}
    if base is not None:
        verify_ref(root, base)
        here = set(list_stacks(root))  # a file here that does not load is not removed
        base_topology = topology_at(root, base)  # the base's files mean what they meant then
        for stack in sorted(here | set(stacks_at(root, base))):
            if stack in here and stack not in configs:
                continue  # its file does not load here: reported above
            raw = stack_file_at(root, base, stack)
            if raw is None:
                if stack in configs:
                    added[stack] = configs[stack]
                continue
            path = project.stacks_dir / stack_file_name(stack)
            try:
                old = load_stack_config(
                    stack, path, text=raw, project=project, topology=base_topology
                )
            except StackFileError as exc:  # say which side: the file at the ref, not on disk
                lines.extend(f"--base {base}: {line}" for line in exc.lines)
                continue
            if stack in configs:
                olds[stack], texts[stack] = old, raw
            else:
                removed[stack] = old

    # 3. One account, many stacks: no name managed twice, one limit for all.
    collisions = collision_problems(configs)
    registered = registered_collision_problems(plans, {stack for stack, _ in collisions})
    for stack, problem in collisions + registered + account_limit_problems(configs, olds):
        report(stack, [problem])
    for stack, problem in placeholder_account_warnings(configs):
        warn(stack, [problem])

    # 4 to 11 compare with the base ref.
    if base is None:
        return found
    binders = account_binders(configs, {**olds, **removed}, base)
    gone_stacks, retired = removed_stack_problems(removed, added, base)
    for stack, problem in gone_stacks:
        report(stack, [problem])
    for stack, text in retired:
        note(stack, text)
    changed, befores = program_change_problems(root, base, olds, plans)
    for stack, problem in changed:
        report(stack, [problem])
    deleted: list[tuple[str, tuple[str, str]]] = []  # (stack, (account, removed name))
    for stack, old in olds.items():
        config = configs[stack]
        sites = binders.get(str(old.account_id), {})
        emergencies = {  # every positioned secret: declared in the file, or in code
            name: record
            for name in config.positions
            if (record := fresh_emergency(old, config, name)) is not None
        }
        report(
            stack,
            move_problems(
                _base_positions(old, config, plans.get(stack)),
                config.positions,
                base,
                config.position_key,
                emergencies,
            ),
        )
        report(stack, stale_emergency_problems(old, config, base))
        if provider_change(texts[stack], config.raw):
            note(
                stack,
                "a secrets-provider change (`pulumi stack change-secrets-provider`): every "
                "`secure:` value re-encrypted, the same keys, nothing else changed, so no value "
                "counts as changed (check never decrypts: review that this is all the PR does)",
            )
        else:
            report(stack, value_change_problems(old, config, base))
        report(stack, reencryption_problems(old, config))
        gone, covered = removal_problems(old, config, base, sites)
        report(stack, gone)
        kinds, kind_warnings = kind_change_problems(old, config, base, sites)
        report(stack, kinds)
        warn(stack, kind_warnings)
        report(stack, scope_problems(old, config, base, sites))
        # Rule 8 by what the programs register: a Cloudflare name in an account, at the base
        # and here (another account's version of the same name is another secret).
        kept = version_names(config, plans.get(stack))
        vanished = version_names(old, befores.get(stack)) - kept
        deleted.extend(
            (stack, (account, n))
            for account, n in sorted(vanished)
            if n not in covered or account != str(old.account_id)
        )
    for stack, plan in plans.items():
        bound = bound_names(plan)
        for owner, (account, name) in deleted:
            if (account, name) in bound:
                report(
                    owner,
                    [
                        Problem(
                            f"{NAMESPACE}:secrets",
                            f"deletes secret version {name} while worker "
                            f"{bound[account, name]} of stack {stack!r} binds it, got {name} bound "
                            f"(move that binding off {name} before deleting it)",
                        )
                    ],
                )
    return found
