"""wrangler accepts what `secretsctl export wrangler` writes: `wrangler deploy --dry-run` on
the export of every example Worker, and of a `bundle:` Worker with D1 and R2 bindings, and
the bindings wrangler reads are the plan's.

wrangler (pinned in package-lock.json) is software no one here wrote: it resolves `main`
from the config file's folder, parses every binding field, and lists what the Worker would
get. Nothing is uploaded (`--dry-run`), no account is needed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ACCOUNT
from tests.workflow_support import secretsctl

ROOT = Path(__file__).resolve().parents[1]
WRANGLER = ROOT / "node_modules" / ".bin" / "wrangler"
KV_ID = "0f2ac74b498b48028cb68387c421e279"
STORE_ID = "fedcba9876543210fedcba9876543210"

pytestmark = pytest.mark.skipif(
    not WRANGLER.exists() or not shutil.which("node"),
    reason="wrangler is not installed (npm ci installs it)",
)

BUNDLE_STACK = f"""\
config:
  secrets-store:accountId: {ACCOUNT}
  secrets-store:store:
    id: {STORE_ID}
  secrets-store:secrets:
    hmac_key: {{kind: signing_key, source: generate, current: 1, next: 2, stage: fallback}}
  secrets-store:workers:
    edge:
      bundle: workers/examples/edge-signer/dist
      module: edge_signer.js
      secrets:
        HMAC_SECRET: hmac_key
      extraBindings:
        - {{type: d1, name: DB, id: 0a1b2c3d-0000-4000-8000-000000000001}}
        - {{type: r2_bucket, name: FILES, bucket_name: shop-files}}
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This repository's project, its dev stack with real-looking ids, and a bundle stack."""
    root = tmp_path_factory.mktemp("wrangler") / "project"
    root.mkdir()
    for name in ("__main__.py", "secrets-store.yaml", "Pulumi.yaml"):
        shutil.copy2(ROOT / name, root / name)
    shutil.copytree(ROOT / "workers", root / "workers", ignore=shutil.ignore_patterns("test"))
    (root / "stacks").mkdir()
    dev = (ROOT / "examples" / "stacks" / "Pulumi.dev.yaml").read_text()
    dev = dev.replace("REPLACE_ME_ACCOUNT_ID", ACCOUNT).replace("REPLACE_ME_KV_NAMESPACE_ID", KV_ID)
    (root / "stacks" / "Pulumi.dev.yaml").write_text(dev)
    return root


@pytest.fixture(scope="module")
def bundle_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project of its own (no shared topology) whose Worker is the built TypeScript bundle."""
    root = tmp_path_factory.mktemp("wrangler-bundle") / "project"
    (root / "stacks").mkdir(parents=True)
    for name in ("__main__.py", "Pulumi.yaml"):
        shutil.copy2(ROOT / name, root / name)
    dist = "workers/examples/edge-signer/dist"
    shutil.copytree(ROOT / dist, root / dist)
    (root / "stacks" / "Pulumi.edge.yaml").write_text(BUNDLE_STACK)
    return root


def workers_of(project: Path, stack: str) -> dict[str, Any]:
    result = secretsctl("plan", "--stack", stack, "--format", "json", "--cwd", str(project))
    assert result.exit_code == 0, result.stderr
    return dict(json.loads(result.stdout)["workers"])


def dry_run(project: Path, stack: str, worker: str) -> str:
    exported = secretsctl(
        "export", "wrangler", "--stack", stack, "--worker", worker, "--cwd", str(project)
    )
    assert exported.exit_code == 0, exported.stderr
    config = project / f"wrangler.{stack}.{worker}.jsonc"
    config.write_text(exported.stdout)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLOUDFLARE_")}
    env.update(WRANGLER_SEND_METRICS="false", CI="1", NO_COLOR="1", HOME=str(project.parent))
    done = subprocess.run(
        [str(WRANGLER), "deploy", "--dry-run", "--outdir", str(project.parent / f"out-{worker}"),
         "-c", str(config)],
        cwd=project, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, (
        f"wrangler refused {worker}:\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
    )
    return done.stdout


def listed(output: str) -> dict[str, str]:
    """Binding name -> what wrangler's binding table says it is bound to."""
    return {
        m["name"]: m["what"] for m in re.finditer(r"env\.(?P<name>\w+) \((?P<what>[^)]*)\)", output)
    }


@pytest.mark.parametrize(
    "worker", ["api", "audited", "auth", "billing", "gateway", "legacy", "signer", "vault"]
)
def test_wrangler_accepts_every_example_workers_export_with_the_plans_bindings(
    project: Path, worker: str
) -> None:
    planned = workers_of(project, "dev")[worker]["bindings"]
    got = listed(dry_run(project, "dev", worker))
    for name, binding in planned.items():
        if binding["type"] == "secret_text":
            assert name not in got  # a legacy secret is never exported, only named in a comment
            continue
        assert name in got, f"{worker}: wrangler sees no binding {name}: {sorted(got)}"
        expected = {
            "secrets_store_secret": binding.get("secret_name"),
            "kv_namespace": binding.get("namespace_id"),
            "service": binding.get("service"),
            "plain_text": binding.get("text"),
        }.get(binding["type"])
        if expected is not None:
            assert str(expected) in got[name], (worker, name, got[name])


def test_wrangler_accepts_a_bundle_worker_from_the_project_root_with_d1_and_r2(
    bundle_project: Path,
) -> None:
    got = listed(dry_run(bundle_project, "edge", "edge"))
    assert got["HMAC_SECRET"].endswith("/hmac_key_v1")
    assert got["HMAC_SECRET_FALLBACK"].endswith("/hmac_key_v2")
    assert "0a1b2c3d-0000-4000-8000-000000000001" in got["DB"]
    assert "shop-files" in got["FILES"]
