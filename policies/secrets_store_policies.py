"""Policies of the secrets-store pack, as plain functions over resource inputs.

Each `*_problems` function takes plain dicts (a resource's inputs, as the engine
names them: camelCase) and returns one message per violation; unit tests call them
directly. The `Policy` objects at the bottom adapt them to pulumi-policy. No
message ever includes a secret value: only names, types, scopes and account ids.

A preview sees one stack's new state only: what needs the base branch (a value changed
in place, an encryption_key finished without recorded re-encryption, a secret removed
while another stack binds it) or other stacks of the account is `secretsctl check`'s.
Here: what one stack's resources show on their own.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UnknownValueError

SECRET_TYPE = "cloudflare:index/secretsStoreSecret:SecretsStoreSecret"
SCRIPT_TYPE = "cloudflare:index/workersScript:WorkersScript"
STORE_TYPE = "cloudflare:index/secretsStore:SecretsStore"
ALLOWED_SCOPES = ("access", "ai_gateway", "dex", "workers")
MAX_SECRETS_PER_ACCOUNT = 100
"""Cloudflare's Secrets Store limit per account (secrets_store.spec has the same number; the
pack runs in its own virtualenv, without this project's package)."""


def _get(mapping: Any, key: str) -> Any:
    """A property, or None while it is unknown (a preview of a resource not yet created)."""
    try:
        return mapping.get(key) if isinstance(mapping, Mapping) else None
    except UnknownValueError:
        return None


def _list(value: Any) -> list[Any]:
    try:
        return list(value) if isinstance(value, Iterable) and not isinstance(value, str) else []
    except UnknownValueError:
        return []


def secret_scope_problems(props: Mapping[str, Any]) -> list[str]:
    """A SecretsStoreSecret's scopes: at least one, each allowed, sorted alphabetically."""
    name = _get(props, "name")
    scopes = _get(props, "scopes")
    if scopes is None:
        return [] if "scopes" in props else [f"secret {name}: has no scopes (use [workers])"]
    scopes = _list(scopes)
    problems = []
    if not scopes:
        problems.append(f"secret {name}: has no scopes (use [workers])")
    bad = [s for s in scopes if s not in ALLOWED_SCOPES]
    if bad:
        problems.append(
            f"secret {name}: scope {bad[0]!r} is not allowed (use {', '.join(ALLOWED_SCOPES)})"
        )
    if scopes != sorted(scopes):
        problems.append(
            f"secret {name}: scopes must be sorted alphabetically, got {scopes} "
            f"(Cloudflare expects {sorted(scopes)})"
        )
    return problems


def _bindings(props: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [b for b in _list(_get(props, "bindings")) if isinstance(b, Mapping)]


def shadowed_secret_text_problems(props: Mapping[str, Any]) -> list[str]:
    """A worker's plain `secret_text` binding must not reuse a Secrets Store binding's name."""
    script = _get(props, "scriptName")
    store_names = {
        _get(b, "name") for b in _bindings(props) if _get(b, "type") == "secrets_store_secret"
    }
    return [
        f"worker {script}: secret_text binding {_get(b, 'name')} shadows the Secrets Store "
        "binding of the same name (finish the migration: remove it from secretText)"
        for b in _bindings(props)
        if _get(b, "type") == "secret_text" and _get(b, "name") in store_names
    ]


def deleted_version_binding_problems(resources: Iterable[Mapping[str, Any]]) -> list[str]:
    """No worker may bind a secret version this update deletes (absent from the new state).

    `resources`: every resource of the stack after the update, as {type, props}.
    """
    resources = list(resources)
    live = {_get(r["props"], "name") for r in resources if r["type"] == SECRET_TYPE} - {None}
    problems = []
    for resource in resources:
        if resource["type"] != SCRIPT_TYPE:
            continue
        for binding in _bindings(resource["props"]):
            secret = _get(binding, "secretName")
            if _get(binding, "type") == "secrets_store_secret" and secret and secret not in live:
                problems.append(
                    f"worker {_get(resource['props'], 'scriptName')}: binding "
                    f"{_get(binding, 'name')} points at secret {secret}, which this update "
                    "deletes or never creates (keep the version until no binding uses it)"
                )
    return problems


def duplicate_name_problems(resources: Iterable[Mapping[str, Any]]) -> list[str]:
    """No two resources manage the same Cloudflare secret or script name in one account
    (two components, or two name prefixes, that collide).

    `resources`: every resource of the stack after the update, as {type, props}."""
    seen: dict[tuple[str, Any, Any], int] = {}
    for resource in resources:
        props = resource["props"]
        if resource["type"] == SECRET_TYPE:
            what, name = "secret", _get(props, "name")
        elif resource["type"] == SCRIPT_TYPE:
            what, name = "script", _get(props, "scriptName")
        else:
            continue
        account = _get(props, "accountId")
        if isinstance(name, str) and isinstance(account, str):  # unknown: not compared
            seen[(what, account, name)] = seen.get((what, account, name), 0) + 1
    return [
        f"{what} {name}: managed by {count} resources in account {account} (each needs its "
        "own name: give each stack or component sharing an account its own namePrefix)"
        for (what, account, name), count in seen.items()
        if count > 1
    ]


def account_secret_limit_problems(resources: Iterable[Mapping[str, Any]]) -> list[str]:
    """At most 100 Secrets Store secrets per account: this stack's own count (the other
    stacks sharing the account add theirs: `secretsctl check` counts them together)."""
    counts: dict[str, int] = {}
    for resource in resources:
        account = _get(resource["props"], "accountId")
        if resource["type"] == SECRET_TYPE and isinstance(account, str):
            counts[account] = counts.get(account, 0) + 1
    return [
        f"account {account}: {count} Secrets Store secrets in this stack alone, over "
        f"Cloudflare's limit of {MAX_SECRETS_PER_ACCOUNT} per account (finish rotations or "
        "remove secrets)"
        for account, count in counts.items()
        if count > MAX_SECRETS_PER_ACCOUNT
    ]


def store_protection_problems(resource_type: str, name: str, protect: bool) -> list[str]:
    """A created Secrets Store holds every secret of the account: it must be protected."""
    if resource_type == STORE_TYPE and not protect:
        return [f"store {name}: must be protected (ResourceOptions(protect=True))"]
    return []


# ---- pulumi-policy adapters -----------------------------------------------------------------


def _report(messages: list[str], report: ReportViolation, urn: str | None = None) -> None:
    for message in messages:
        report(message, urn)


def _validate_scopes(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type == SECRET_TYPE:
        _report(secret_scope_problems(args.props), report)


def _validate_secret_text(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type == SCRIPT_TYPE:
        _report(shadowed_secret_text_problems(args.props), report)


def _validate_store(args: ResourceValidationArgs, report: ReportViolation) -> None:
    _report(store_protection_problems(args.resource_type, args.name, args.opts.protect), report)


def _resources(args: StackValidationArgs) -> list[dict[str, Any]]:
    return [{"type": r.resource_type, "props": r.props} for r in args.resources]


def _validate_bindings(args: StackValidationArgs, report: ReportViolation) -> None:
    _report(deleted_version_binding_problems(_resources(args)), report)


def _validate_names(args: StackValidationArgs, report: ReportViolation) -> None:
    _report(duplicate_name_problems(_resources(args)), report)


def _validate_limit(args: StackValidationArgs, report: ReportViolation) -> None:
    _report(account_secret_limit_problems(_resources(args)), report)


POLICIES = [
    ResourceValidationPolicy(
        name="secret-scopes-allowed-and-sorted",
        description="Secrets Store secrets have scopes from access, ai_gateway, dex, workers, "
        "sorted alphabetically.",
        validate=_validate_scopes,
        enforcement_level=EnforcementLevel.MANDATORY,
    ),
    ResourceValidationPolicy(
        name="no-secret-text-shadowing-store-binding",
        description="No worker has a plain secret_text binding named like one of its Secrets "
        "Store bindings.",
        validate=_validate_secret_text,
        enforcement_level=EnforcementLevel.MANDATORY,
    ),
    StackValidationPolicy(
        name="no-binding-to-deleted-version",
        description="No worker is bound to a secret version that the same update deletes.",
        validate=_validate_bindings,
        enforcement_level=EnforcementLevel.MANDATORY,
    ),
    StackValidationPolicy(
        name="no-cloudflare-name-managed-twice",
        description="No two resources manage the same Secrets Store secret or Worker script "
        "name in one account.",
        validate=_validate_names,
        enforcement_level=EnforcementLevel.MANDATORY,
    ),
    StackValidationPolicy(
        name="at-most-100-secrets-per-account",
        description="A stack holds at most 100 Secrets Store secrets per account (Cloudflare's "
        "per-account limit).",
        validate=_validate_limit,
        enforcement_level=EnforcementLevel.MANDATORY,
    ),
    ResourceValidationPolicy(
        name="store-protected",
        description="A Secrets Store created by the stack is protected from deletion.",
        validate=_validate_store,
        enforcement_level=EnforcementLevel.MANDATORY,
    ),
]
