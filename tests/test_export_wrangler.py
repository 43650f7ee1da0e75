"""`secretsctl export wrangler`: a worker's wrangler.jsonc from the offline plan, and its bindings
running on miniflare (wrangler's own local runtime)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ACCOUNT, CANARY
from tests.workflow_support import CANARY_CIPHERTEXT, Result, secretsctl

ROOT = Path(__file__).resolve().parents[1]
RUNNER = ROOT / "workers" / "local" / "run.mjs"
STORE_ID = "fedcba9876543210fedcba9876543210"
LOOKED_UP = "<default_secrets_store: looked up at deploy>"
WRANGLER_FIELDS = {
    "name",
    "main",
    "compatibility_date",
    "compatibility_flags",
    "secrets_store_secrets",
    "kv_namespaces",
    "services",
    "vars",
}

# A stack adopting its store by id (a real-looking id), mid-rotation, with a legacy secret.
QA_STACK = f"""\
config:
  secrets-store:accountId: {ACCOUNT}
  secrets-store:namePrefix: qa_
  secrets-store:store:
    id: {STORE_ID}
  secrets-store:secrets:
    api_key: {{kind: api_key, scopes: [workers], current: 1, next: 2, stage: fallback}}
    db_config: {{kind: json, schema: postgres, current: 1}}
  secrets-store:workers:
    api:
      module: workers/api.js
      secrets:
        PRIMARY_KEY: {{secret: api_key, fallback: FALLBACK_KEY}}
        DB_CONFIG: db_config
      vars:
        UPSTREAM_URL: https://upstream.test
    legacy:
      module: workers/legacy.js
      secretText:
        API_KEY: legacy_api_key
  secrets-store:api_key_v1:
    secure: {CANARY_CIPHERTEXT}
  secrets-store:api_key_v2:
    secure: {CANARY_CIPHERTEXT}
  secrets-store:db_config_v1:
    secure: {CANARY_CIPHERTEXT}
  secrets-store:legacy_api_key:
    secure: {CANARY_CIPHERTEXT}
"""


@pytest.fixture(autouse=True)
def outside_any_project(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # Each stack file is its own project's: the shipped examples the repository's (with its
    # topology, secrets-store.yaml), the scratch qa stack none (it declares everything).
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def qa_stack(tmp_path: Path) -> Path:
    path = tmp_path / "Pulumi.qa.yaml"
    path.write_text(QA_STACK)
    return path


def jsonc(text: str) -> dict[str, Any]:
    """The export parsed: its comments are whole `//` lines."""
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("//")]
    return dict(json.loads("\n".join(lines)))


def comments(text: str) -> str:
    """The export's comments, joined into one line of text (they are wrapped at 100 columns)."""
    notes = [
        line.strip()[2:].strip() for line in text.splitlines() if line.strip().startswith("//")
    ]
    return " ".join(notes)


def export(*args: str) -> Result:
    if "--config-file" not in args and args[:2] in (("--stack", "dev"), ("--stack", "prod")):
        # the shipped examples (examples/stacks/: stacks/ is the user's own)
        args = (
            *args,
            "--config-file",
            str(ROOT / "examples" / "stacks" / f"Pulumi.{args[1]}.yaml"),
        )
    return secretsctl("export", "wrangler", *args)


# ---- the exported config ------------------------------------------------------------------


def test_dev_api_at_its_stage() -> None:
    result = export("--stack", "dev", "--worker", "api")
    assert result.exit_code == 0, result.stderr
    config = jsonc(result.stdout)
    assert set(config) <= WRANGLER_FIELDS
    assert config == {
        "name": "dev_api",
        "main": "workers/api.js",
        "compatibility_date": "2025-11-01",
        # dev's api_key is in `fallback`: v1 is primary, v2 the fallback
        "secrets_store_secrets": [
            {"binding": "DB_CONFIG", "store_id": LOOKED_UP, "secret_name": "dev_db_config_v1"},
            {"binding": "FALLBACK_KEY", "store_id": LOOKED_UP, "secret_name": "dev_api_key_v2"},
            {"binding": "PRIMARY_KEY", "store_id": LOOKED_UP, "secret_name": "dev_api_key_v1"},
        ],
        "vars": {"UPSTREAM_URL": "https://api.example.com"},
    }
    notes = comments(result.stdout)
    assert "Rotation: api_key v1 → v2 fallback; db_config v1 steady." in notes
    # The store is looked up by name at deploy: its stand-in is flagged with the way to the id.
    assert f'store_id "{LOOKED_UP}" is not a real id' in notes
    assert "`npx wrangler secrets-store store list --remote`" in notes
    assert "not real ids yet" in result.stderr


def test_placeholders_are_flagged_with_the_command_to_fix_them() -> None:
    vault = export("--stack", "dev", "--worker", "vault")
    assert vault.exit_code == 0, vault.stderr
    assert jsonc(vault.stdout)["kv_namespaces"] == [
        {"binding": "CACHE", "id": "REPLACE_ME_KV_NAMESPACE_ID"}
    ]
    notes = comments(vault.stdout)
    assert 'id "REPLACE_ME_KV_NAMESPACE_ID" (CACHE) is a REPLACE_ME placeholder' in notes
    assert "`npx wrangler kv namespace list`" in notes
    assert "'secrets-store:workers.vault.kv.CACHE' <KV namespace id>" in notes

    # prod adopts its store by an id the stack file still holds as a placeholder.
    prod = export("--stack", "prod", "--worker", "api")
    assert prod.exit_code == 0, prod.stderr
    notes = comments(prod.stdout)
    assert "secrets-store:store.id is still a REPLACE_ME placeholder" in notes
    assert "`pulumi config set --path --stack prod 'secrets-store:store.id' <store id>`" in notes


def test_service_bindings_name_the_target_script() -> None:
    result = export("--stack", "dev", "--worker", "gateway")
    assert result.exit_code == 0, result.stderr
    assert jsonc(result.stdout)["services"] == [{"binding": "AUTH", "service": "dev_auth"}]


def test_a_real_store_id_is_not_flagged(qa_stack: Path) -> None:
    result = export("--stack", "qa", "--worker", "api", "--config-file", str(qa_stack))
    assert result.exit_code == 0, result.stderr
    config = jsonc(result.stdout)
    assert {s["store_id"] for s in config["secrets_store_secrets"]} == {STORE_ID}
    assert "not a real id" not in result.stdout
    # nothing on stderr but the one notice of a legacy-form stack file
    assert [line for line in result.stderr.splitlines() if "legacy form" not in line] == []


def test_legacy_secret_text_is_a_comment_never_a_value(qa_stack: Path) -> None:
    result = export("--stack", "qa", "--worker", "legacy", "--config-file", str(qa_stack))
    assert result.exit_code == 0, result.stderr
    config = jsonc(result.stdout)
    assert config == {
        "name": "qa_legacy",
        "main": "workers/legacy.js",
        "compatibility_date": "2025-11-01",
    }
    notes = comments(result.stdout)
    assert "Legacy Worker secret(s) (secret_text), never exported: API_KEY." in notes
    assert "`npx wrangler secret put API_KEY`" in notes
    assert ".dev.vars" in notes
    for leaked in (CANARY_CIPHERTEXT, CANARY, "[secret]", "[undecrypted]"):
        assert leaked not in result.output


def test_an_unknown_worker_exits_2_naming_the_known_ones() -> None:
    result = export("--stack", "dev", "--worker", "apx")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "secrets-store:workers: no such worker in stack 'dev', got 'apx' (declared: api, "
        "audited, auth, billing, gateway, legacy, signer, vault; pass one of them to --worker)"
    ]


def test_an_invalid_stack_exits_2_with_one_line_per_problem(qa_stack: Path) -> None:
    qa_stack.write_text(QA_STACK.replace("scopes: [workers]", "scopes: [bogus]"))
    result = export("--stack", "qa", "--worker", "api", "--config-file", str(qa_stack))
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "secrets-store:secrets.api_key.scopes: 'bogus' is not a scope (use workers)"
    ]


# ---- the exported bindings on miniflare ---------------------------------------------------


def description(config: dict[str, Any]) -> dict[str, Any]:
    """A wrangler config as a `workers/local` description: each wrangler field becomes the
    binding wrangler makes of it (`secrets_store_secrets` -> Miniflare `secretsStoreSecrets`)."""
    main = Path(config["main"])
    bindings = [
        {"type": "secrets_store_secret", "name": s["binding"], **s}
        for s in config.get("secrets_store_secrets", [])
    ]
    bindings += [
        {"type": "plain_text", "name": name, "text": text}
        for name, text in config.get("vars", {}).items()
    ]
    bindings += [
        {"type": "kv_namespace", "name": k["binding"], "namespace_id": k["id"]}
        for k in config.get("kv_namespaces", [])
    ]
    for binding in bindings:
        binding.pop("binding", None)
    return {
        "name": config["name"],
        "modules_root": str(main.parent),
        "main_module": main.name,
        "compatibility_date": config["compatibility_date"],
        "compatibility_flags": config.get("compatibility_flags", []),
        "bindings": bindings,
    }


def run_on_miniflare(
    config: dict[str, Any], secrets: dict[str, dict[str, str]], accept: list[str]
) -> tuple[list[dict[str, Any]], int]:
    """Run the exported worker on workerd, its store seeded with `secrets`; GET /ping and /db.
    The fake upstream accepts the keys in `accept`."""
    node = shutil.which("node")
    if node is None or not (ROOT / "node_modules" / "miniflare").is_dir():
        pytest.skip("node and node_modules/miniflare are needed (run `make setup`)")
    payload = {
        "description": {"workers": [description(config)], "secrets": secrets},
        "upstream": {"accept": accept},
        "steps": [
            {"worker": config["name"], "path": "/ping"},
            {"worker": config["name"], "path": "/db"},
        ],
    }
    process = subprocess.run(
        [node, str(RUNNER)],
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=180,
        check=False,
    )
    assert process.returncode == 0, process.stderr[-2000:]
    answer = json.loads(process.stdout)
    return answer["results"], answer["upstream_requests"]


def test_the_exported_bindings_serve_requests_on_miniflare(qa_stack: Path) -> None:
    result = export("--stack", "qa", "--worker", "api", "--config-file", str(qa_stack))
    assert result.exit_code == 0, result.stderr
    config = jsonc(result.stdout)
    primary, fallback = f"{CANARY}-primary", f"{CANARY}-fallback"
    db = json.dumps({"host": "db.test", "port": 5432, "username": "app", "password": CANARY})
    # The values live in the store under the exported names, as `wrangler secrets-store secret
    # create` would put them; the worker sees them under the exported binding names.
    secrets = {
        STORE_ID: {"qa_api_key_v1": primary, "qa_api_key_v2": fallback, "qa_db_config_v1": db}
    }

    (ping, db_check), calls = run_on_miniflare(config, secrets, accept=[primary])
    assert ping["status"] == 200, ping["body"]
    assert ping["headers"]["x-secret-fallback"] == "0"  # PRIMARY_KEY -> qa_api_key_v1
    assert calls == 1
    assert db_check["status"] == 200, db_check["body"]
    assert json.loads(db_check["body"]) == {"configured": True, "port": 5432}
    assert CANARY not in ping["body"] + db_check["body"]

    # Upstream has revoked v1: the request succeeds through FALLBACK_KEY -> qa_api_key_v2.
    (ping, _), calls = run_on_miniflare(config, secrets, accept=[fallback])
    assert ping["status"] == 200, ping["body"]
    assert ping["headers"]["x-secret-fallback"] == "1"
    assert calls == 2


# A bundle Worker (its entry inside the bundle folder) with Durable Object, D1 and R2 bindings.
BUNDLE_STACK = f"""\
config:
  secrets-store:accountId: {ACCOUNT}
  secrets-store:store:
    id: {STORE_ID}
  secrets-store:secrets:
    api_key: {{kind: api_key, source: generate, current: 1}}
  secrets-store:workers:
    edge:
      bundle: dist/edge
      module: index.js
      secrets:
        API_KEY: api_key
      extraBindings:
        - {{type: durable_object_namespace, name: ROOMS, class_name: Room}}
        - {{type: d1, name: DB, id: 0a1b2c3d-0000-4000-8000-000000000001}}
        - {{type: r2_bucket, name: FILES, bucket_name: shop-files}}
"""


def test_a_bundle_worker_exports_main_from_the_project_root_and_every_binding_wrangler_has(
    tmp_path: Path,
) -> None:
    # A project of its own, with this repository's program: the bundle is found under it.
    (tmp_path / "Pulumi.yaml").write_text("name: shop\nruntime: python\n")
    shutil.copy2(ROOT / "__main__.py", tmp_path / "__main__.py")
    bundle = tmp_path / "dist" / "edge"
    bundle.mkdir(parents=True)
    (bundle / "index.js").write_text("export class Room {}\nexport default { fetch() {} };\n")
    path = tmp_path / "Pulumi.qa.yaml"
    path.write_text(BUNDLE_STACK)
    result = export("--stack", "qa", "--worker", "edge", "--config-file", str(path))
    assert result.exit_code == 0, result.stderr
    config = jsonc(result.stdout)
    assert config["main"] == "dist/edge/index.js"  # wrangler finds the entry from here
    assert (tmp_path / config["main"]).is_file()
    assert config["durable_objects"] == {"bindings": [{"name": "ROOMS", "class_name": "Room"}]}
    assert config["d1_databases"] == [
        {"binding": "DB", "database_id": "0a1b2c3d-0000-4000-8000-000000000001"}
    ]
    assert config["r2_buckets"] == [{"binding": "FILES", "bucket_name": "shop-files"}]
    assert "Not exported" not in comments(result.stdout)


def test_a_code_first_worker_exports_its_module_path_from_the_project_root(tmp_path: Path) -> None:
    # GIVEN a program in infra/ (Pulumi runs it from there) naming its Worker's module
    root = tmp_path / "shop"
    (root / "infra").mkdir(parents=True)
    (root / "workers").mkdir()
    (root / "stacks").mkdir()
    (root / "Pulumi.yaml").write_text(
        "name: shop\nruntime: python\nmain: infra/__main__.py\nstackConfigDir: stacks\n"
    )
    (root / "stacks" / "Pulumi.dev.yaml").write_text(
        f"config:\n  secrets-store:accountId: {ACCOUNT}\n"
    )
    (root / "workers" / "edge.js").write_text(
        "export default { fetch() { return new Response('ok'); } };\n"
    )
    (root / "infra" / "__main__.py").write_text(
        "from secrets_store import Worker\n"
        f'Worker("edge", account_id="{ACCOUNT}", script_name="edge", root="..",\n'
        '       main_module="workers/edge.js")\n'
    )
    result = secretsctl(
        "export", "wrangler", "--stack", "dev", "--worker", "edge", "--cwd", str(root)
    )
    assert result.exit_code == 0, result.stderr
    config = jsonc(result.stdout)
    assert config["main"] == "workers/edge.js"  # from the project root, where the export goes
    assert (root / config["main"]).is_file()
