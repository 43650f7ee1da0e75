"""`secretsctl init`: a new, commented stack file written from what the live account holds.

It adopts the account's store and declares every `{prefix}{name}_v{N}` secret already in
it, each existing version imported by its Pulumi import id rather than created again.
The account's KV namespaces and Worker scripts are listed as comments, ready to bind.
Cloudflare never returns a secret value, so the file holds none, and needs none: each
imported version keeps its live value (the program never sends one for it).

Behavior, against whatever the API answers:

- Every value is written by the YAML library (never by string formatting), so no answer
  can add a key (a KV title holding `"\\nenvironment: [...]"` stays a comment's text).
- Names and ids are checked against the names Cloudflare itself gives
  (`secrets_store.grammar`); anything else is refused in one line, nothing written.
- Free text (KV titles, secret comments, statuses) only reaches the file through
  `untrusted.printable`: control characters, line breaks and bidi overrides become
  visible escapes.
- What it writes is capped (`MAX_SECRETS`, `MAX_VERSIONS_SHOWN`, `MAX_LISTED`,
  `MAX_FILE_BYTES`) and each cap that bit is said in `notes`; the text is read back
  with the project's stack loader before the file is created.
"""

from __future__ import annotations

import io
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from secrets_store.grammar import (
    CLOUDFLARE_ID,
    CLOUDFLARE_SECRET_NAME,
    KV_NAMESPACE_ID,
    SCRIPT_NAME,
    STORE_NAME,
    VERSIONED_NAME,
)
from secrets_store.spec import NAMESPACE, ROTATABLE_SCOPES
from secretsctl.errors import InvalidInput
from secretsctl.live.account import Account, LiveSecret
from secretsctl.live.untrusted import printable

MAX_SECRETS = 100
"""Secrets declared at most: Cloudflare's limit of secrets per account (beta)."""
MAX_VERSIONS_SHOWN = 10
"""Other versions of one secret listed as comments at most."""
MAX_LISTED = 100
"""Unmanaged secrets, KV namespaces and scripts listed as comments at most, each."""
MAX_FILE_BYTES = 256 * 1024
"""The written file at most (a quarter of what the stack loader reads)."""
MAX_COMMENT = 1024
"""A secret's `comment:` at most (the spec's limit)."""
TITLE_SHOWN = 80

SECRETS = "GET /accounts/{account_id}/secrets_store/stores/{store_id}/secrets"
STORES = "GET /accounts/{account_id}/secrets_store/stores"
NAMESPACES = "GET /accounts/{account_id}/storage/kv/namespaces"
SCRIPTS = "GET /accounts/{account_id}/workers/scripts"


@dataclass(frozen=True)
class Initialized:
    path: Path
    commands: list[str]
    """`pulumi config set --secret ...` for every value the stack still needs: none, as every
    declared version is imported with its live value (values are never read)."""
    declared: list[str]
    unmanaged: list[str]
    notes: list[str] = field(default_factory=list)
    """What was capped or changed on the way into the file, one sentence each."""


def write_stack_file(
    account: Account,
    stack: str,
    path: Path,
    *,
    name_prefix: str = "",
    store_name: str = "default_secrets_store",
    shared: Mapping[str, Any] | None = None,
    code_first: bool = False,
) -> Initialized:
    """Write `path` for `stack` from the account; refuses when the file exists.

    `shared`: the project's topology (`secrets-store.yaml`). The file then holds this
    stack's facts only: a secret the topology declares gets its import ids, one it does not
    is declared here whole; each position goes to `secrets-store:rotation`.
    `code_first`: the project's program declares its secrets in code: the file holds what
    VersionedSecret reads from config (`secrets-store:rotation`, `secrets-store:importIds`),
    none of the YAML front end's keys."""
    if path.exists():
        raise InvalidInput(
            f"{path}: already exists, got a stack file for {stack!r} (init never overwrites: "
            "pick another --stack, or move the file away first)"
        )
    stores = account.stores()
    store = next((s for s in stores if s["name"] == store_name), None)
    if store is None and len(stores) == 1:
        store = stores[0]
    if store is not None:
        _check(STORES, "store name", store["name"], STORE_NAME)
    secrets = account.secrets(store["id"]) if store else []
    namespaces = account.kv_namespaces()
    scripts = account.scripts()
    for secret in secrets:
        _check(SECRETS, "secret name", secret.name, CLOUDFLARE_SECRET_NAME)
        _check(SECRETS, f"id of secret {secret.name}", secret.id, CLOUDFLARE_ID)
    for namespace in namespaces:
        _check(NAMESPACES, "namespace id", namespace["id"], KV_NAMESPACE_ID)
    for script in scripts:
        _check(SCRIPTS, "script name", script, SCRIPT_NAME)

    groups: dict[str, dict[int, LiveSecret]] = defaultdict(dict)
    unmanaged: list[str] = []
    for secret in sorted(secrets, key=lambda s: s.name):
        match = VERSIONED_NAME.fullmatch(secret.name.removeprefix(name_prefix))
        if not secret.name.startswith(name_prefix) or not match or secret.status == "deleted":
            unmanaged.append(secret.name)
            continue
        if set(secret.scopes) - set(ROTATABLE_SCOPES):
            unmanaged.append(f"{secret.name} (scopes {', '.join(secret.scopes)}: read by name)")
            continue
        groups[match["secret"]][int(match["version"])] = secret

    notes: list[str] = []
    if len(groups) > MAX_SECRETS:
        notes.append(
            f"Declared the first {MAX_SECRETS} of {len(groups):,} secrets (Cloudflare allows "
            f"{MAX_SECRETS} per account); the other {len(groups) - MAX_SECRETS:,} are not in "
            "the file."
        )
    declared = sorted(groups)[:MAX_SECRETS]
    if code_first:
        document, commands = _code_first_document(
            account, stack, store["id"] if store else "", {n: groups[n] for n in declared}, notes
        )
        comments = _listed(
            "Secrets in the store this stack does not manage (not {prefix}<name>_v<N>):",
            unmanaged,
            "unmanaged secrets",
            notes,
        )
        comments += _listed("Worker scripts in this account:", scripts, "scripts", notes)
        if comments:
            document.yaml_set_comment_before_after_key("config", after="\n".join(comments))
        return _written(stack, path, document, commands, declared, unmanaged, notes)
    known = shared.get("secrets") if shared else None
    document, commands = _document(
        account,
        stack,
        name_prefix,
        store,
        store_name,
        {n: groups[n] for n in declared},
        notes,
        known if isinstance(known, Mapping) else {},
    )
    listings = CommentedMap()
    document["config"][f"{NAMESPACE}:workers"] = listings
    listings.fa.set_flow_style()
    before = _listed(
        "Secrets in the store this stack does not manage (not {prefix}<name>_v<N>):",
        unmanaged,
        "unmanaged secrets",
        notes,
    )
    before += _listed(
        "KV namespaces in this account (bind one: workers.<name>.kv.<BINDING>: <id>):",
        [f"{n['id']}  {printable(n['title'], TITLE_SHOWN)}" for n in namespaces],
        "KV namespaces",
        notes,
    )
    before += _listed("Worker scripts in this account:", scripts, "scripts", notes)
    before.append(
        "Declare workers here (see README):"
        if shared is None
        else "Workers are declared in secrets-store.yaml; this stack's own settings "
        "(KV ids) go here:"
    )
    document["config"].yaml_set_comment_before_after_key(
        f"{NAMESPACE}:workers", before="\n".join(before), indent=2
    )
    return _written(stack, path, document, commands, declared, unmanaged, notes)


def _written(
    stack: str,
    path: Path,
    document: CommentedMap,
    commands: list[str],
    declared: list[str],
    unmanaged: list[str],
    notes: list[str],
) -> Initialized:
    text = _dumped(document)
    _checked_text(stack, path, text)
    path.parent.mkdir(parents=True, exist_ok=True)
    # "x": never overwrite, even if the file appeared since the check above.
    with path.open("x", encoding="utf-8") as handle:
        handle.write(text)
    return Initialized(path, commands, declared, unmanaged, notes)


def _code_first_document(
    account: Account,
    stack: str,
    store_id: str,
    groups: dict[str, dict[int, LiveSecret]],
    notes: list[str],
) -> tuple[CommentedMap, list[str]]:
    """The config contract a code-first program reads: each secret's position and the
    import id of its live version, by secret name. The program declares the rest (kind,
    scopes, Workers) in code."""
    config = CommentedMap()
    document = CommentedMap(config=config)
    document.yaml_set_start_comment(
        f"Stack `{stack}`: written by `secretsctl init` from account {account.account_id}\n"
        f"on {date.today().isoformat()}, for a program that declares its secrets in code.\n"
        "VersionedSecret reads each secret's position (secrets-store:rotation) and the id of\n"
        "each version it adopts (secrets-store:importIds) from here: an adopted version is\n"
        "not created again and keeps its live value. Declare each of these secrets in the\n"
        "program with the same secret_name (and name_prefix, when --name-prefix was given)."
    )
    config[f"{NAMESPACE}:accountId"] = account.account_id
    config.yaml_add_eol_comment(
        'pulumi.Config("secrets-store").require("accountId")', f"{NAMESPACE}:accountId"
    )
    rotation = CommentedMap()
    imports = CommentedMap()
    for name, versions in groups.items():
        current = max(versions)
        position = CommentedMap(current=current)
        position.fa.set_flow_style()
        rotation[name] = position
        live = versions[current]
        ids = CommentedMap({current: f"{account.account_id}/{store_id}/{live.id}"})
        ids.fa.set_flow_style()
        imports[name] = ids
        if len(versions) > 1:
            notes.append(
                f"{name}: {len(versions) - 1} older version(s) in the store are not adopted: "
                "delete them once no worker binds them."
            )
    if groups:
        config[f"{NAMESPACE}:rotation"] = rotation
        config[f"{NAMESPACE}:importIds"] = imports
    return document, []


def _document(
    account: Account,
    stack: str,
    name_prefix: str,
    store: dict[str, str] | None,
    store_name: str,
    groups: dict[str, dict[int, LiveSecret]],
    notes: list[str],
    known: Mapping[str, Any],
) -> tuple[CommentedMap, list[str]]:
    """The file's data with its comments, and the commands that set each value still needed
    (none: every declared version is imported and keeps its live value)."""
    config = CommentedMap()
    document = CommentedMap(config=config)
    document.yaml_set_start_comment(
        f"Stack `{stack}`: written by `secretsctl init` from account {account.account_id}\n"
        f"on {date.today().isoformat()}. Review every `kind:` (init cannot know what a value "
        "is).\nExisting versions are imported (importIds), not created again, and keep their "
        "live\nvalues: no value is needed for them. Keep each importIds entry while its "
        "version\nlives (without it, the program would send a value from config)."
    )
    config[f"{NAMESPACE}:accountId"] = account.account_id
    config[f"{NAMESPACE}:namePrefix"] = name_prefix
    stored = CommentedMap()
    config[f"{NAMESPACE}:store"] = stored
    if store is None:
        stored["name"] = store_name
        stored["create"] = True
        stored.yaml_add_eol_comment("the account has no store yet", "create")
    else:
        stored["id"] = store["id"]
        stored["name"] = store["name"]
        stored.yaml_add_eol_comment("adopted: never created or deleted by Pulumi", "id")
    commands: list[str] = []
    secrets = CommentedMap()
    rotation = CommentedMap()
    if groups:
        config[f"{NAMESPACE}:secrets"] = secrets
        config[f"{NAMESPACE}:rotation"] = rotation
        config.yaml_add_eol_comment("each secret's position in this stack", f"{NAMESPACE}:rotation")
    for name, versions in groups.items():
        current = max(versions)
        live = versions[current]
        entry = CommentedMap()
        secrets[name] = entry
        position = CommentedMap(current=current)
        position.fa.set_flow_style()
        rotation[name] = position
        if name not in known:  # not in the topology: declared by this stack alone
            _declare(entry, name, live, notes)
        assert store is not None  # secrets are read from a store
        entry["importIds"] = CommentedMap(
            {current: f"{account.account_id}/{store['id']}/{live.id}"}
        )
        others = sorted((v for v in versions if v != current), reverse=True)
        also = [
            f"also in the store: {versions[v].name} ({_status(versions[v].status)}), "
            "not declared: delete it once no worker binds it"
            for v in others[:MAX_VERSIONS_SHOWN]
        ]
        if len(others) > MAX_VERSIONS_SHOWN:
            also.append(f"and {len(others) - MAX_VERSIONS_SHOWN:,} older versions")
            notes.append(
                f"{name}: listed {MAX_VERSIONS_SHOWN} of its {len(others):,} older versions."
            )
        if also:
            entry.yaml_set_comment_before_after_key("importIds", before="\n".join(also), indent=6)
    return document, commands


def _declare(entry: CommentedMap, name: str, live: LiveSecret, notes: list[str]) -> None:
    """What the project's topology does not say of a secret: its kind (to review), scopes
    and comment as Cloudflare lists them."""
    entry["kind"] = "opaque"
    entry.yaml_add_eol_comment("api_key | encryption_key | signing_key | json | opaque", "kind")
    scopes = CommentedSeq(sorted(s for s in live.scopes if s in ROTATABLE_SCOPES) or ["workers"])
    scopes.fa.set_flow_style()
    entry["scopes"] = scopes
    unknown = sorted({s for s in live.scopes if s not in ROTATABLE_SCOPES})
    if unknown:
        shown = ", ".join(printable(s, 40) for s in unknown[:5])
        entry.yaml_add_eol_comment(f"Cloudflare also lists {shown}: not a scope here", "scopes")
        notes.append(f"{name}: scopes this project does not know were left out ({shown}).")
    if live.comment:
        entry["comment"] = _comment_value(name, live.comment, notes)


def _status(status: str | None) -> str:
    return "null" if status is None else printable(status, 40)


def _check(endpoint: str, what: str, value: str, pattern: re.Pattern[str]) -> None:
    """Refuse a name or id Cloudflare itself would never give: it would go into the file."""
    if not pattern.fullmatch(value):
        raise InvalidInput(
            f"Cloudflare API: {endpoint} answered a {what} Cloudflare never gives, got "
            f"{printable(repr(value), 80)} (nothing was written; is CLOUDFLARE_BASE_URL "
            "Cloudflare's API?)"
        )


def _listed(title: str, items: Iterable[str], what: str, notes: list[str]) -> list[str]:
    """Comment lines listing `items` under `title`, at most `MAX_LISTED` of them."""
    items = list(items)
    lines = [title] + [f"  {printable(i, 200)}" for i in items[:MAX_LISTED]]
    if not items:
        lines.append("  (none)")
    if len(items) > MAX_LISTED:
        lines.append(f"  … and {len(items) - MAX_LISTED:,} more")
        notes.append(f"Listed {MAX_LISTED} of {len(items):,} {what}.")
    return lines


def _comment_value(name: str, comment: str, notes: list[str]) -> str:
    """A secret's comment as the file may hold it: control characters as visible escapes,
    within the spec's length (a changed comment is said: `pulumi up` would send it back)."""
    clean = printable(comment, limit=len(comment))
    if len(clean) > MAX_COMMENT:
        clean = clean[: MAX_COMMENT - 1] + "…"
    if clean != comment:
        notes.append(
            f"{name}: its comment held control characters or was too long; written with "
            "escapes, cut to fit (`pulumi up` would set it so in Cloudflare)."
        )
    return clean


def _dumped(document: CommentedMap) -> str:
    yaml = YAML(typ="rt")
    yaml.width = 4096  # one value per line, never folded
    yaml.indent(mapping=2, sequence=4, offset=2)
    stream = io.StringIO()
    yaml.dump(document, stream)
    return stream.getvalue()


def _checked_text(stack: str, path: Path, text: str) -> None:
    """Refuse to write what the project could not read back."""
    from secretsctl.offline.stackfile import load_stack_config

    size = len(text.encode("utf-8"))
    if size > MAX_FILE_BYTES:
        raise InvalidInput(
            f"{path}: would be {size:,} bytes, got more than init writes ({MAX_FILE_BYTES:,}; "
            "nothing was written: declare the secrets by hand)"
        )
    loaded: Any = load_stack_config(stack, path, text)
    if loaded.environments:  # by construction never; the one key an answer must not add
        raise InvalidInput(f"{path}: would import ESC environments, got {loaded.environments}")
