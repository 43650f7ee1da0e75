"""An open `Worker` from a user's own program, under the mock runtime: a TypeScript Worker built
by esbuild and uploaded as a bundle, any binding passed through `extra_bindings`, and
`VersionedSecret.bindings()` on a raw `cloudflare.WorkersScript`."""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from secrets_store import SpecError
from secretsctl.offline.mockrun import ProgramRun, run_program
from tests.conftest import ACCOUNT, stack_config
from tests.example_support import ENTRY, build_edge_signer

SCRIPT = "cloudflare:index/workersScript:WorkersScript"
ACTIVE = "pulumi-python:dynamic/secrets-store:SecretActivation"
STORE_ID = "fedcba9876543210fedcba9876543210"
DATABASE_ID = "4e1c2f3a-5b6d-4e7f-8a9b-0c1d2e3f4a5b"

HEAD = f"""\
import pulumi
import pulumi_cloudflare as cloudflare
from secrets_store import SecretBinding, SecretsStore, VersionedSecret, Worker

ACCOUNT = {ACCOUNT!r}
store = SecretsStore("store", account_id=ACCOUNT, store_id={STORE_ID!r})
key = VersionedSecret("hmac_key", account_id=ACCOUNT, store=store, kind="signing_key",
                      current=1, next=2, stage="fallback", generate=True)
"""
# Two as the provider's args, three as dicts of the same keyword arguments.
EXTRA = f"""\
EXTRA = [
    cloudflare.WorkersScriptBindingArgs(type="d1", name="DB", id={DATABASE_ID!r}),
    {{"type": "r2_bucket", "name": "MEDIA", "bucket_name": "edge-media", "jurisdiction": "eu"}},
    {{"type": "queue", "name": "JOBS", "queue_name": "edge-jobs"}},
    {{"type": "ai", "name": "AI"}},
    cloudflare.WorkersScriptBindingArgs(type="durable_object_namespace", name="COUNTER",
                                        class_name="Counter"),
]
"""
# The same bindings as the registered WorkersScript shows them (the engine's camelCase).
EXTRA_REGISTERED = [
    {"type": "d1", "name": "DB", "id": DATABASE_ID},
    {"type": "r2_bucket", "name": "MEDIA", "bucketName": "edge-media", "jurisdiction": "eu"},
    {"type": "queue", "name": "JOBS", "queueName": "edge-jobs"},
    {"type": "ai", "name": "AI"},
    {"type": "durable_object_namespace", "name": "COUNTER", "className": "Counter"},
]
BUNDLE_WORKER = """\
Worker("edge", account_id=ACCOUNT, script_name="edge_signer", bundle="dist",
       main_module="edge_signer.js", bindings={"HMAC_SECRET": SecretBinding(key)},
       extra_bindings=EXTRA)
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A user's project with the example's real esbuild output in dist/ (plus the source map
    and README.md a build folder holds, which are not modules)."""
    root = tmp_path / "user-project"
    build_edge_signer(root / "dist", extras=True)
    monkeypatch.chdir(root)
    return root


@pytest.fixture
def run(project: Path) -> Callable[[str], ProgramRun]:
    def run(body: str) -> ProgramRun:
        program = project / "__main__.py"
        program.write_text(HEAD + EXTRA + body)
        return run_program(stack_config({"accountId": ACCOUNT}, stack="qa"), program=program)

    return run


def rotating(name: str, fallback: str) -> list[dict[str, str]]:
    """The primary and fallback bindings of hmac_key mid-rotation (v1 primary, v2 fallback)."""
    return [
        {"type": "secrets_store_secret", "name": name, "storeId": STORE_ID,
         "secretName": "hmac_key_v1"},
        {"type": "secrets_store_secret", "name": fallback, "storeId": STORE_ID,
         "secretName": "hmac_key_v2"},
    ]  # fmt: skip


def test_a_typescript_bundle_with_every_binding_passed_through(
    run: Callable[[str], ProgramRun], project: Path
) -> None:
    # GIVEN the esbuild output of the TypeScript example, five bindings the component has no
    # typed field for, and a rotating secret
    result = run(BUNDLE_WORKER)
    (script,) = result.of_type(SCRIPT)
    inputs = script.inputs
    # THEN every binding reaches the WorkersScript unchanged, after the rotating ones
    assert inputs["bindings"] == rotating("HMAC_SECRET", "HMAC_SECRET_FALLBACK") + EXTRA_REGISTERED
    names = [b["name"] for b in inputs["bindings"]]
    assert len(names) == len(set(names)), names
    # AND the entry is the main module; the bundle's other module files go as parts with
    # their content type; the source map and README.md stay behind
    built = project / "dist"
    assert inputs["mainModule"] == ENTRY
    assert inputs["content"] == (built / ENTRY).read_text()
    assert "@secrets-store/rotation" not in inputs["content"], "the package is bundled in"
    assert "async function sign(" in inputs["content"]
    assert sorted(p.name for p in built.iterdir()) == [
        "README.md", ENTRY, f"{ENTRY}.map", "package.json",
    ]  # fmt: skip
    assert inputs.get("files") in (None, {})
    # AND the secret binding waits on each version's activation
    actives = {r.name: r.urn for r in result.of_type(ACTIVE)}
    assert set(actives.values()) <= set(script.dependencies)


def test_the_parts_a_bundle_entry_imports_are_uploaded_and_nothing_else(
    run: Callable[[str], ProgramRun], project: Path
) -> None:
    # GIVEN a build folder whose entry imports a chunk, a wasm and a text module (one of them
    # dynamically, as esbuild's splitting does), beside files nothing imports
    built = project / "dist"
    (built / "chunks").mkdir()
    (built / "chunks" / "shared-4f2a.js").write_text(
        'export const shared = 1;\nexport const lazy = () => import("./lazy-9b1c.js");\n'
    )
    (built / "chunks" / "lazy-9b1c.js").write_text("export const later = 2;\n")
    (built / "add.wasm").write_bytes(b"\0asm\x01\0\0\0")
    (built / "schema.sql").write_text("CREATE TABLE t (id INTEGER);\n")
    (built / "model.bin").write_bytes(bytes(range(256)))  # imported by nothing
    (built / "stray.js").write_text("export const stray = 3;\n")  # imported by nothing
    entry = built / ENTRY
    entry.write_text(
        entry.read_text()
        + 'import { shared } from "./chunks/shared-4f2a.js";\n'
        + 'import add from "./add.wasm";\nimport schema from "./schema.sql";\n'
    )
    files = run(BUNDLE_WORKER).of_type(SCRIPT)[0].inputs["files"]
    # THEN each imported part is uploaded, named by its path in the folder, with
    # Cloudflare's content type; nothing else of the folder is
    assert {name: part["contentType"] for name, part in files.items()} == {
        "add.wasm": "application/wasm",
        "chunks/shared-4f2a.js": "application/javascript+module",
        "chunks/lazy-9b1c.js": "application/javascript+module",
        "schema.sql": "text/plain",
    }
    for name, part in files.items():
        data = (built / name).read_bytes()
        assert part["contentBase64"] == base64.b64encode(data).decode()
        assert part["contentSha256"] == hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize(
    ("folder", "why"),
    [(".", "is the project folder itself"), ("src", "holds a node_modules/ folder")],
)
def test_a_bundle_that_is_no_build_output_is_refused(
    run: Callable[[str], ProgramRun], project: Path, folder: str, why: str
) -> None:
    # `bundle: .` would upload the project; a folder with node_modules/ is a source tree
    (project / "src" / "node_modules" / "left-pad").mkdir(parents=True)
    (project / "src" / "index.js").write_text("export default {};\n")
    body = BUNDLE_WORKER.replace('bundle="dist"', f"bundle={folder!r}")
    assert body != BUNDLE_WORKER
    with pytest.raises(SpecError) as refused:
        run(body.replace(f'main_module="{ENTRY}"', 'main_module="index.js"'))
    (line,) = str(refused.value).splitlines()
    assert line.startswith(f"Worker edge.bundle: {why}, got {folder!r}"), line
    assert "(point bundle: at the build's output folder, for example dist/)" in line


def test_bindings_on_a_raw_workers_script_wait_for_the_activation(
    run: Callable[[str], ProgramRun], project: Path
) -> None:
    # GIVEN a team's own WorkersScript, given the rotating secret's bindings
    result = run(
        'cloudflare.WorkersScript("raw", account_id=ACCOUNT, script_name="raw_signer",\n'
        '    main_module="edge_signer.js", content=open("dist/edge_signer.js").read(),\n'
        '    bindings=[*key.bindings("HMAC_SECRET", fallback="HMAC_OLD"), *EXTRA])\n'
    )
    (script,) = result.of_type(SCRIPT)
    # THEN it binds the primary and the fallback, then its own bindings unchanged
    assert script.inputs["bindings"] == rotating("HMAC_SECRET", "HMAC_OLD") + EXTRA_REGISTERED
    # AND it depends on both versions' activation waits: a pending version is never bound
    actives = {r.name: r for r in result.of_type(ACTIVE)}
    assert sorted(actives) == ["hmac_key-v1-active", "hmac_key-v2-active"]
    for active in actives.values():
        assert active.urn in script.dependencies, active.name


def test_bindings_while_steady_are_the_primary_only(run: Callable[[str], ProgramRun]) -> None:
    result = run(
        'steady = VersionedSecret("steady_key", account_id=ACCOUNT, store=store,\n'
        '    kind="signing_key", generate=True)\n'
        'cloudflare.WorkersScript("raw", account_id=ACCOUNT, script_name="raw_signer",\n'
        '    main_module="edge_signer.js", content="export default {}",\n'
        '    bindings=steady.bindings("HMAC_SECRET"))\n'
    )
    (script,) = result.of_type(SCRIPT)
    assert script.inputs["bindings"] == [
        {"type": "secrets_store_secret", "name": "HMAC_SECRET", "storeId": STORE_ID,
         "secretName": "steady_key_v1"},
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("body", "message"),
    [
        pytest.param(
            BUNDLE_WORKER.replace(
                "extra_bindings=EXTRA", 'extra_bindings=[{"type": "ai", "name": "HMAC_SECRET"}]'
            ),
            "Worker edge.extra_bindings[0]: binding name 'HMAC_SECRET' is already used by "
            "bindings.HMAC_SECRET (give one of them another name)",
            id="collides-with-the-primary",
        ),
        pytest.param(
            BUNDLE_WORKER.replace(
                "extra_bindings=EXTRA",
                'extra_bindings=[{"type": "ai", "name": "HMAC_SECRET_FALLBACK"}]',
            ),
            "Worker edge.extra_bindings[0]: binding name 'HMAC_SECRET_FALLBACK' is already used "
            "by bindings.HMAC_SECRET (give one of them another name)",
            id="collides-with-the-fallback",
        ),
        pytest.param(
            BUNDLE_WORKER.replace(
                "extra_bindings=EXTRA",
                'extra_bindings=[{"type": "d1", "name": "DB", "databaseId": "x"}]',
            ),
            "Worker edge.extra_bindings[0]: is not a WorkersScriptBindingArgs shape, got keys "
            "['databaseId', 'name', 'type'] (needs name and type; unknown: ['databaseId']; use "
            "the provider's snake_case field names, for example database_id)",
            id="unknown-field",
        ),
        pytest.param(
            BUNDLE_WORKER.replace(
                'bundle="dist",\n       main_module="edge_signer.js"',
                'main_module="src/edge_signer.ts"',
            ),
            "Worker edge.main_module: TypeScript is not uploaded as is, got "
            "'src/edge_signer.ts' (build it with esbuild or wrangler, then pass "
            "bundle=<output folder> and main_module=<entry .js>)",
            id="typescript-main-module",
        ),
        pytest.param(
            BUNDLE_WORKER.replace('main_module="edge_signer.js"', 'main_module="index.js"'),
            "Worker edge.bundle: dist: has no ES module 'index.js', got edge_signer.js "
            "(main_module names the entry inside the bundle folder, for example index.js)",
            id="entry-not-in-the-bundle",
        ),
    ],
)
def test_refused_at_construction(run: Callable[[str], ProgramRun], body: str, message: str) -> None:
    with pytest.raises(SpecError) as refused:
        run(body)
    assert str(refused.value).splitlines() == [message]


def test_a_bundle_file_linked_from_outside_the_project_is_refused(
    run: Callable[[str], ProgramRun], project: Path, tmp_path: Path
) -> None:
    # GIVEN a build folder holding a symlink to a module outside the project
    outside = tmp_path / "elsewhere.js"
    outside.write_text("export const leaked = 1;\n")
    os.symlink(outside, project / "dist" / "leak.js")
    entry = project / "dist" / ENTRY
    entry.write_text(entry.read_text() + 'import { leaked } from "./leak.js";\n')
    with pytest.raises(SpecError) as refused:
        run(BUNDLE_WORKER)
    message = str(refused.value)
    assert message.startswith(
        "Worker edge.bundle: lies outside the project once symlinks are followed, got "
        "'dist/leak.js' -> '"
    ), message
    assert message.endswith("; copy the file in instead of linking to it)"), message
    assert "leaked" not in message  # the outside file's content never shows
    assert "\n" not in message
