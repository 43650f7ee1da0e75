"""A local Cloudflare account holding what `pulumi up` of a stack would leave, for live tests.

`deploy` applies an offline plan to the project's local Cloudflare API the way the
provider would, through Cloudflare's official library and in `pulumi up` order:
secret versions first (then activated), then scripts, each service target before
its callers. Uploads keep the API's rules (10182, 10041, 10143), so a wrong order fails.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cloudflare import Cloudflare

from local_cloudflare import LocalCloudflare, serve
from secretsctl.offline.mockrun import ProgramRun, Registration, unwrap
from secretsctl.offline.plan import ADOPTED_TYPE, SCRIPT_TYPE, SECRET_TYPE, plan_stack
from secretsctl.offline.stackfile import SOURCE_ROOT, load_stack_config

ACCOUNT = "0123456789abcdef0123456789abcdef"
TOKEN = "local-test-token"
CANARY = "canary-live-Qm7ZpX2w"


@dataclass
class LiveStack:
    server: LocalCloudflare
    client: Cloudflare
    root: Path
    stack: str
    store_id: str
    kv_id: str

    @property
    def path(self) -> Path:
        return self.root / "stacks" / f"Pulumi.{self.stack}.yaml"


@contextmanager
def live_dev(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LiveStack]:
    """The shipped dev stack with real ids, its account on a local Cloudflare API, deployed."""
    with serve(tokens={TOKEN}, accounts=[ACCOUNT]) as server:
        for key, value in server.env().items():
            monkeypatch.setenv(key, value)
        client = Cloudflare(api_token=TOKEN, base_url=server.base_url, max_retries=0)
        store_id = next(iter(client.secrets_store.stores.list(account_id=ACCOUNT))).id
        kv_id = server.seed_kv_namespace(ACCOUNT, "dev-cache")
        root = tmp_path / "project"
        (root / "stacks").mkdir(parents=True)
        (root / "Pulumi.yaml").write_text((SOURCE_ROOT / "Pulumi.yaml").read_text())
        text = (SOURCE_ROOT / "tests" / "fixtures" / "stacks" / "Pulumi.dev.yaml").read_text()
        text = re.sub(r"REPLACE_ME_ACCOUNT_ID", ACCOUNT, text)
        text = re.sub(r"REPLACE_ME_KV_NAMESPACE_ID", kv_id, text)
        (root / "stacks" / "Pulumi.dev.yaml").write_text(text)
        live = LiveStack(server, client, root, "dev", str(store_id), kv_id)
        deploy(live)
        yield live


def plan_of(live: LiveStack) -> dict[str, Any]:
    return plan_stack(live.stack, config=load_stack_config(live.stack, live.path)).document


def deploy(live: LiveStack, run: ProgramRun | None = None) -> None:
    """Apply the stack's plan (or `run`) to the local account, as `pulumi up` would."""
    run = run or plan_stack(live.stack, config=load_stack_config(live.stack, live.path)).run
    secrets = live.client.secrets_store.stores.secrets
    existing = {  # a `deleted` secret is gone: pulumi up would create it again
        s.name: s for s in secrets.list(live.store_id, account_id=ACCOUNT) if s.status != "deleted"
    }
    for adopted in run.of_type(ADOPTED_TYPE):
        _adopt(live, adopted)
    for secret in run.of_type(SECRET_TYPE):
        name = str(secret.inputs["name"])
        if name not in existing:
            # The value is a stand-in: the plan never holds one, and the API never returns one.
            secrets.create(
                live.store_id,
                account_id=ACCOUNT,
                body=[{"name": name, "value": f"{CANARY}-{name}", "scopes": ["workers"]}],
            )
    live.server.advance(3600)  # every new version active (the activation resource waits)
    scripts = {str(r.inputs["scriptName"]): r for r in run.of_type(SCRIPT_TYPE)}
    done: set[str] = set()

    def upload(name: str) -> None:
        if name in done:
            return
        inputs = unwrap(scripts[name].inputs)
        for binding in inputs.get("bindings", []):
            if binding["type"] == "service" and binding["service"] in scripts:
                upload(binding["service"])
        bindings: list[Any] = []
        for binding in inputs.get("bindings", []):
            binding = {_snake(k): v for k, v in binding.items()}
            if binding["type"] == "secrets_store_secret":
                binding["store_id"] = live.store_id  # the plan shows the lookup, not the id
            bindings.append(binding)
        files = [
            (inputs["mainModule"], inputs["content"].encode(), "application/javascript+module")
        ]
        live.client.workers.scripts.update(
            name,
            account_id=ACCOUNT,
            metadata={
                "main_module": inputs["mainModule"],
                "bindings": bindings,
                "compatibility_date": inputs.get("compatibilityDate", "2025-11-01"),
            },
            files=files,
        )
        done.add(name)

    for name in scripts:
        upload(name)


def _adopt(live: LiveStack, adopted: Registration) -> None:
    """An adopted version, created as the engine creates it: the package's own dynamic
    provider (`secrets_store.adopted`), run against the local account."""
    from secrets_store.adopted import AdoptionProvider

    inputs = {k: v for k, v in unwrap(adopted.inputs).items() if k != "__provider"}
    provider = AdoptionProvider()
    credentials = {"api_token": live.client.api_token, "base_url": str(live.client.base_url)}
    provider.create({**inputs, **credentials})


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()
