"""Stage planning for the rehearsal: which stack configs, their offline plans, and the deploys.

Each stage is the offline plan of one stack config (the real `__main__.py` under
the mock runtime, fed the previous stage's state so generated keys stay the
same, as Pulumi state keeps them). A transition between two plans is applied
in the order `pulumi up` applies it: new secret versions created, then workers
updated, then old versions deleted.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets as pysecrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from secrets_store.rotation import Position
from secrets_store.spec import NAMESPACE, value_key
from secretsctl.offline.mockrun import unwrap
from secretsctl.offline.plan import SCRIPT_TYPE, SECRET_TYPE, Plan, plan_stack
from secretsctl.offline.stackfile import StackConfig, config_key
from secretsctl.rehearse.driver import write_modules

ROTATED_KINDS = ("api_key", "encryption_key", "signing_key")
ROTATION_KEY = f"{NAMESPACE}:rotation"

# Token lifetime and gateway leeway in the demo: short, so the careful operator's wait
# for tokens signed by the old key to expire (before the finish) costs seconds, not minutes.
DEMO_TOKEN_TTL_S = 2
DEMO_JWT_LEEWAY_S = 1
# auth.js's lifetime setting (plain_text), and the module it belongs to.
TOKEN_TTL_VAR = "TOKEN_TTL_SECONDS"
AUTH_MODULE = "auth.js"
# The json schema of gateway.js's LOGIN_CLIENTS (components/secrets_store/schemas.py).
LOGIN_CLIENTS_SCHEMA = "login_clients"

DEMO_NAMESPACE: dict[str, Any] = {
    "accountId": "0123456789abcdef0123456789abcdef",
    "namePrefix": "demo_",
    "store": {"name": "default_secrets_store"},
    "secrets": {
        # The upstream vendor's key, shared by api (PRIMARY_KEY) and billing (BILLING_KEY).
        "api_key": {"kind": "api_key", "current": 1, "source": "config"},
        "vault_key": {"kind": "encryption_key", "current": 1, "source": "generate"},
        # Shared by auth (SIGNING_KEY, issues JWTs) and gateway (JWT_KEY, verifies them).
        "jwt_key": {"kind": "signing_key", "current": 1, "source": "generate"},
        # Who may log in at gateway (steady: the rehearsal rotates the key kinds only).
        "login_clients": {"kind": "json", "schema": LOGIN_CLIENTS_SCHEMA, "current": 1},
    },
    "workers": {
        "api": {
            "module": "workers/api.js",
            "secrets": {"PRIMARY_KEY": {"secret": "api_key", "fallback": "FALLBACK_KEY"}},
            "vars": {"UPSTREAM_URL": "https://api.example.com"},
        },
        "billing": {"module": "workers/billing.js", "secrets": {"BILLING_KEY": "api_key"}},
        "vault": {
            "module": "workers/vault.js",
            "secrets": {"ENCRYPTION_KEY": "vault_key"},
            "kv": {"CACHE": "0f2ac74b498b48028cb68387c421e279"},
        },
        "auth": {"module": "workers/auth.js", "secrets": {"SIGNING_KEY": "jwt_key"}},
        "gateway": {
            "module": "workers/gateway.js",
            "secrets": {"JWT_KEY": "jwt_key", "LOGIN_CLIENTS": "login_clients"},
            "services": {"AUTH": "auth"},
            "vars": {"JWT_LEEWAY_SECONDS": str(DEMO_JWT_LEEWAY_S)},
        },
    },
}


def api_key_value() -> str:
    """A vendor-style API key, generated locally."""
    return "sk_rehearsal_" + pysecrets.token_urlsafe(24)


def key_value() -> str:
    """Key material for encryption_key / signing_key: base64 of 32 random bytes."""
    return base64.b64encode(pysecrets.token_bytes(32)).decode()


def client_secret_value() -> str:
    """A login client's secret: 32 random bytes, hex (what `openssl rand -hex 32` makes)."""
    return pysecrets.token_hex(32)


@dataclass(frozen=True)
class LoginClient:
    """The rehearsal's client of gateway.js `POST /login`: generated locally, listed (by its
    secret's SHA-256) in every LOGIN_CLIENTS value the rehearsal deploys."""

    client_id: str
    secret: str = field(repr=False)

    @classmethod
    def generate(cls) -> LoginClient:
        return cls("rehearsal", client_secret_value())

    def authorization(self) -> str:
        """The `Authorization` header value that presents this client (HTTP Basic)."""
        pair = f"{self.client_id}:{self.secret}".encode()
        return "Basic " + base64.b64encode(pair).decode()

    def document(self) -> str:
        """A `login_clients` value listing this client as subject `rehearsal`."""
        digest = hashlib.sha256(self.secret.encode()).hexdigest()
        entry = {"client_id": self.client_id, "secret_sha256": digest, "subject": "rehearsal"}
        return json.dumps({"clients": [entry]})


def demo_config(
    api_key_values: Mapping[int, str] | None = None, client: LoginClient | None = None
) -> StackConfig:
    """The built-in demo stack, in memory; api_key values and the login client are generated
    unless given."""
    values = dict(api_key_values or {})
    config = {
        f"{NAMESPACE}:{k}": v if isinstance(v, str) else json.dumps(v)
        for k, v in DEMO_NAMESPACE.items()
    }
    secret_keys = []
    for version in (1, 2):
        key = config_key(value_key("api_key", version))
        config[key] = values.get(version) or api_key_value()
        secret_keys.append(key)
    key = config_key(value_key("login_clients", 1))
    config[key] = (client or LoginClient.generate()).document()
    secret_keys.append(key)
    return StackConfig("demo", Path("<built-in demo>"), config, secret_keys, [])


def with_token_lifetime(config: StackConfig, seconds: int) -> tuple[StackConfig, list[str]]:
    """`config` whose auth.js workers issue tokens for `seconds` (their TOKEN_TTL_SECONDS).

    The careful operator waits for tokens signed by the old key to expire before finishing;
    with the lifetime a real stack uses (300 s by default) that wait would dwarf the rest.
    Returns a note naming the workers changed.
    """
    # The stack's own workers setting, merged over the topology's: found in the effective
    # declarations (a module may be declared in secrets-store.yaml), set in the stack's own.
    workers = json.loads(config.config.get(f"{NAMESPACE}:workers") or "{}")
    effective = config.namespace.get("workers")
    changed = []
    for name, worker in (effective if isinstance(effective, dict) else {}).items():
        if isinstance(worker, dict) and Path(str(worker.get("module", ""))).name == AUTH_MODULE:
            own = workers.get(name) if isinstance(workers.get(name), dict) else {}
            own["vars"] = {**(own.get("vars") or {}), TOKEN_TTL_VAR: str(seconds)}
            workers[name] = own
            changed.append(name)
    if not changed:
        return config, []
    note = (
        f"tokens live {seconds}s here ({TOKEN_TTL_VAR} of {', '.join(sorted(changed))}), so "
        "the wait for old tokens to expire before a finish costs seconds"
    )
    workers_key = f"{NAMESPACE}:workers"
    return replace(config, config={**config.config, workers_key: json.dumps(workers)}), [note]


def at_positions(config: StackConfig, positions: Mapping[str, Position]) -> StackConfig:
    """`config` with the given secrets moved to the given positions (one config change), in
    `rotation.<secret>`: the one form a read stack config holds (also for a secret the
    program declares in code)."""
    config = config.todays_form()
    rotation = json.loads(config.config.get(ROTATION_KEY) or "{}")
    for name, position in positions.items():
        entry = {k: v for k, v in (rotation.get(name) or {}).items() if k not in ("next", "stage")}
        entry["current"] = position.current
        if position.next is not None:
            entry["next"] = position.next
            entry["stage"] = position.stage
        rotation[name] = entry
    return replace(config, config={**config.config, ROTATION_KEY: json.dumps(rotation)})


def label(position: Position, previous: Position | None) -> str:
    """The stage name shown in reports; a steady position reached by a rotation is `finished`."""
    if position.stage == "steady" and previous is not None and previous != position:
        return "finished"
    return position.stage


def key_positions(config: StackConfig) -> dict[str, Position]:
    """Positions of the secrets the rehearsal rotates (the key kinds); json and opaque
    secrets, such as the login clients, stay where they are."""
    return {n: p for n, p in config.positions.items() if config.kinds.get(n) in ROTATED_KINDS}


def full_rotation(start: Mapping[str, Position], skip_stage: bool) -> list[dict[str, Position]]:
    """Positions of a whole rotation of every secret in `start` (all steady), stage by stage.

    `skip_stage`: the careless path, steady straight to the next version (one deploy).
    """
    path = [dict(start)]
    if skip_stage:
        path.append({n: Position(p.current + 1) for n, p in start.items()})
        return path
    while any(p.next is not None for p in path[-1].values()) or len(path) == 1:
        path.append({n: p.advance() for n, p in path[-1].items()})
    return path


@dataclass(frozen=True)
class Deployment:
    """What one plan puts on Cloudflare, in the local runtime's shapes."""

    workers: dict[str, dict[str, Any]]
    """Script name -> startLocal worker description (modules written to a temp folder)."""
    secrets: dict[str, dict[str, str]] = field(repr=False)
    """Store id -> {Cloudflare secret name: value}. Values: never printed."""
    modules: dict[str, str] = field(default_factory=dict)
    """Script name -> main module (api.js, vault.js, ...): what traffic it understands."""
    bindings: dict[str, dict[str, str]] = field(default_factory=dict)
    """Script name -> {binding name: Cloudflare secret name} for secret bindings."""
    plain: dict[str, dict[str, str]] = field(default_factory=dict)
    """Script name -> plain_text bindings (not secret)."""

    def secret_names(self) -> set[tuple[str, str]]:
        return {(store, name) for store, names in self.secrets.items() for name in names}

    def value(self, name: str) -> str | None:
        for names in self.secrets.values():
            if name in names:
                return names[name]
        return None


def deployment(plan: Plan, modules_dir: Path) -> Deployment:
    """The workers and secret values of one plan, exactly as registered."""
    secrets: dict[str, dict[str, str]] = {}
    for r in plan.run.of_type(SECRET_TYPE):
        secrets.setdefault(str(r.inputs["storeId"]), {})[str(r.inputs["name"])] = str(
            unwrap(r.inputs["value"])
        )
    workers: dict[str, dict[str, Any]] = {}
    modules: dict[str, str] = {}
    bindings: dict[str, dict[str, str]] = {}
    plain: dict[str, dict[str, str]] = {}
    for r in plan.run.of_type(SCRIPT_TYPE):
        inputs = r.inputs
        script = str(inputs["scriptName"])
        # Same modules, same folder: deploys of an unchanged script reuse it.
        fingerprint = hashlib.sha256(
            json.dumps([inputs["content"], inputs.get("files") or {}], sort_keys=True).encode()
        ).hexdigest()[:16]
        root = write_modules(modules_dir / f"{script}-{fingerprint}", inputs)
        worker_bindings = [_binding(b) for b in unwrap(inputs.get("bindings") or [])]
        workers[script] = {
            "name": script,
            "main_module": str(inputs["mainModule"]),
            "modules_root": str(root),
            "compatibility_date": inputs.get("compatibilityDate"),
            "compatibility_flags": list(inputs.get("compatibilityFlags") or []),
            "bindings": worker_bindings,
        }
        modules[script] = str(inputs["mainModule"])
        bindings[script] = {
            b["name"]: b["secret_name"]
            for b in worker_bindings
            if b["type"] == "secrets_store_secret"
        }
        plain[script] = {b["name"]: b["text"] for b in worker_bindings if b["type"] == "plain_text"}
    return Deployment(workers, secrets, modules, bindings, plain)


def _binding(binding: Mapping[str, Any]) -> dict[str, Any]:
    """A registered binding (camelCase, as sent to Cloudflare) in startLocal's snake_case."""
    return {
        "".join(f"_{c.lower()}" if c.isupper() else c for c in k): v for k, v in binding.items()
    }


def description(workers_from: Deployment, *secrets_from: Deployment) -> dict[str, Any]:
    """A startLocal description: these workers, and the union of these secrets."""
    stores: dict[str, dict[str, str]] = {}
    for d in secrets_from:
        for store, names in d.secrets.items():
            stores.setdefault(store, {}).update(names)
    return {"workers": list(workers_from.workers.values()), "secrets": stores}


@dataclass(frozen=True)
class Step:
    """One deploy of a transition, in `pulumi up` order."""

    name: str
    """`create` (new secret versions), `workers` (scripts updated) or `delete` (old versions)."""
    what: str
    """Human summary: names only."""
    description: dict[str, Any] = field(repr=False)


def transition_steps(before: Deployment, after: Deployment) -> list[Step]:
    """The deploys from `before` to `after`: create, then update workers, then delete."""
    steps = []
    created = sorted(n for _, n in after.secret_names() - before.secret_names())
    deleted = sorted(n for _, n in before.secret_names() - after.secret_names())
    if created:
        steps.append(
            Step("create", "create " + ", ".join(created), description(before, before, after))
        )
    changed = sorted(w for w in after.workers if before.workers.get(w) != after.workers[w])
    if changed:
        steps.append(
            Step("workers", "update " + ", ".join(changed), description(after, before, after))
        )
    if deleted:
        steps.append(Step("delete", "delete " + ", ".join(deleted), description(after, after)))
    return steps


@dataclass(frozen=True)
class Stage:
    """One planned stage: positions, their labels, the plan and what it deploys."""

    positions: dict[str, Position]
    labels: dict[str, str]
    plan: Plan
    deployment: Deployment
    config: StackConfig | None = field(default=None, repr=False)
    """The stack config this stage deploys (the engine rehearsal writes it to a stack file)."""


def plan_stages(
    base: StackConfig, path: list[dict[str, Position]], modules_dir: Path
) -> list[Stage]:
    """Plan every position of `path`; each run gets the previous run's state."""
    stages: list[Stage] = []
    state: dict[str, dict[str, Any]] | None = None
    previous: dict[str, Position] | None = None
    for positions in path:
        config = at_positions(base, positions)
        plan = plan_stack(config.stack, config=config, state=state)
        state = plan.run.state
        labels = {n: label(p, previous.get(n) if previous else None) for n, p in positions.items()}
        stages.append(Stage(positions, labels, plan, deployment(plan, modules_dir), config))
        previous = positions
    return stages


# -- `--stack NAME`: the stack's real config, with local stand-ins for what cannot be decrypted

POSTGRES_STANDIN = {"host": "db.rehearsal.local", "port": 5432, "username": "rehearsal"}


def standin(kind: str, schema: str | None, client: LoginClient) -> str:
    """A locally generated value of the right shape for a secret of `kind`."""
    if kind in ("encryption_key", "signing_key"):
        return key_value()
    if kind == "json" and schema == LOGIN_CLIENTS_SCHEMA:
        return client.document()
    if kind == "json" and schema == "postgres":
        return json.dumps({**POSTGRES_STANDIN, "password": pysecrets.token_urlsafe(16)})
    if kind == "json":
        return "{}"
    return api_key_value()


def with_standins(
    config: StackConfig,
    path: list[dict[str, Position]],
    client: LoginClient,
    declared: Mapping[str, Mapping[str, Any]] | None = None,
) -> tuple[StackConfig, list[str]]:
    """`config` where every value the rehearsal cannot read is a local stand-in.

    Covers opaque (`secure:`, undecryptable here) values and the values of versions
    the path creates that the stack file does not hold yet; a LOGIN_CLIENTS stand-in
    lists `client`. `declared`: each secret's {kind, schema, source} (default: the stack
    file's `secrets`). Returns notes naming the keys replaced (never a value).
    """
    secrets = declared if declared is not None else config.namespace.get("secrets") or {}
    values = dict(config.config)
    secret_keys = list(config.secret_keys)
    opaque = set(config.opaque_keys)
    replaced: list[str] = []

    def shape(key: str) -> tuple[str, str | None]:
        short = key.removeprefix(f"{NAMESPACE}:")
        name, _, version = short.rpartition("_v")
        data = secrets.get(name) if version.isdigit() else None
        if isinstance(data, dict):
            return str(data.get("kind", "opaque")), data.get("schema")
        return "opaque", None

    # A readable LOGIN_CLIENTS value is replaced too: it lists no client the rehearsal can be.
    clients = {k for k in values if shape(k) == ("json", LOGIN_CLIENTS_SCHEMA)}
    for key in sorted(opaque | clients):
        if key.startswith(f"{NAMESPACE}:"):
            values[key] = standin(*shape(key), client)
            opaque.discard(key)
            replaced.append(key)
    for positions in path:
        for name, position in positions.items():
            data = secrets.get(name) or {}
            if data.get("source", "config") != "config":
                continue
            for version in position.live_versions:
                key = config_key(value_key(name, version))
                if key not in values:
                    values[key] = standin(str(data.get("kind")), data.get("schema"), client)
                    secret_keys.append(key)
                    replaced.append(key)
    notes = []
    if replaced:
        notes.append(
            "local stand-ins (generated here, right shape, never the real values) for: "
            + ", ".join(k.removeprefix(f"{NAMESPACE}:") for k in replaced)
        )
    return replace(
        config, config=values, secret_keys=secret_keys, opaque_keys=sorted(opaque)
    ), notes
