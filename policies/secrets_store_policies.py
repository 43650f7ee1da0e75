"""Policies of the secrets-store pack, as plain functions over resource inputs.

Each `*_problems` function takes plain dicts (a resource's inputs, as the engine
names them: camelCase) and returns one message per violation; unit tests call them
directly. The `Policy` objects at the bottom adapt them to pulumi-policy. No
message ever includes a secret value: only names, types and scopes.
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


def _validate_bindings(args: StackValidationArgs, report: ReportViolation) -> None:
    resources = [{"type": r.resource_type, "props": r.props} for r in args.resources]
    _report(deleted_version_binding_problems(resources), report)


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
    ResourceValidationPolicy(
        name="store-protected",
        description="A Secrets Store created by the stack is protected from deletion.",
        validate=_validate_store,
        enforcement_level=EnforcementLevel.MANDATORY,
    ),
]
