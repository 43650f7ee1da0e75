"""Imports never overwrite: a version `secretsctl init` adopts keeps its live value through
`pulumi up` (its adoption run by the package's own provider against the local Cloudflare
API; tests/test_engine_adopt.py runs the same under the real engine), and a rotation
afterwards creates the next version without touching it."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from cloudflare import Cloudflare
from typer.testing import CliRunner

from local_cloudflare import LocalCloudflare, serve
from secretsctl.cli import app
from secretsctl.offline.plan import ADOPTED_TYPE, SECRET_TYPE, plan_stack
from secretsctl.offline.stackfile import load_stack_config
from secretsctl.workflow.diff import diff_plans, render_diff_markdown
from secretsctl.workflow.render import IMPORTED
from tests.live_support import ACCOUNT, TOKEN, LiveStack, deploy

runner = CliRunner()
LIVE_VALUE = "live-value-Zq81vR"  # the production value nobody has in config
TYPO = "typo-in-config-Hk2"


@pytest.fixture
def adopted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LiveStack]:
    """An account holding `api_key_v1`, and a stack file `secretsctl init` wrote for it."""
    with serve(tokens={TOKEN}, accounts=[ACCOUNT]) as server:
        for key, value in server.env().items():
            monkeypatch.setenv(key, value)
        server.plant_secret(ACCOUNT, "api_key_v1", LIVE_VALUE)
        client = Cloudflare(api_token=TOKEN, base_url=server.base_url, max_retries=0)
        store_id = str(next(iter(client.secrets_store.stores.list(account_id=ACCOUNT))).id)
        root = tmp_path / "project"
        (root / "stacks").mkdir(parents=True)
        (root / "Pulumi.yaml").write_text(
            "name: secrets-store\nruntime: python\nstackConfigDir: stacks\n"
        )
        result = runner.invoke(
            app, ["init", "--stack", "qa", "--account-id", ACCOUNT, "--root", str(root)]
        )
        assert result.exit_code == 0, result.output
        # THEN init asks for no value: the imported version keeps its own
        assert "pulumi config set" not in result.output
        yield LiveStack(server, client, root, "qa", store_id, kv_id="")


def untouched(server: LocalCloudflare) -> bool:
    return server.secret_value_writes(ACCOUNT, "api_key_v1") == 1 and bool(
        server.state.secret_value_matches(ACCOUNT, "api_key_v1", LIVE_VALUE)
    )


def test_an_imported_version_keeps_its_live_value_through_deploys(adopted: LiveStack) -> None:
    assert untouched(adopted.server)
    # WHEN the stack is deployed with no value in config, twice
    deploy(adopted)
    deploy(adopted)
    # THEN the import wrote nothing: one write ever (its creation), the same value
    assert untouched(adopted.server)


def test_a_value_set_in_config_for_an_imported_version_is_never_sent(adopted: LiveStack) -> None:
    # GIVEN a typo'd `pulumi config set` of the imported version's value
    with adopted.path.open("a") as stack_file:
        stack_file.write("  secrets-store:api_key_v1:\n    secure: v1:AAAA\n")
    config = load_stack_config("qa", adopted.path)
    key = "secrets-store:api_key_v1"
    config = dataclasses.replace(  # decrypted, as `pulumi up` would read it
        config,
        config={**config.config, key: TYPO},
        opaque_keys=[k for k in config.opaque_keys if k != key],
    )
    assert key in config.secret_keys
    run = plan_stack("qa", config=config).run
    assert not run.of_type(SECRET_TYPE)
    (version,) = run.of_type(ADOPTED_TYPE)
    assert TYPO not in str(version.inputs) and "value" not in version.inputs
    deploy(adopted, run)
    assert untouched(adopted.server)


def test_a_comment_change_of_an_adopted_version_is_sent_without_a_value(
    adopted: LiveStack,
) -> None:
    # (Its scopes are managed the same way; a versioned secret may only have [workers].)
    deploy(adopted)
    text = adopted.path.read_text()
    assert "      scopes: [workers]\n" in text
    adopted.path.write_text(
        text.replace(
            "      scopes: [workers]\n", "      scopes: [workers]\n      comment: vendor\n"
        )
    )
    deploy(adopted)
    (live,) = adopted.client.secrets_store.stores.secrets.list(adopted.store_id, account_id=ACCOUNT)
    assert live.comment == "vendor"
    assert untouched(adopted.server)


def test_a_rotation_after_the_import_creates_the_next_version_and_leaves_the_first(
    adopted: LiveStack,
) -> None:
    deploy(adopted)
    text = adopted.path.read_text()
    assert text.count("    api_key: {current: 1}\n") == 1, text  # init's rotation entry
    text = text.replace(
        "    api_key: {current: 1}\n", "    api_key: {current: 1, next: 2, stage: fallback}\n"
    )
    adopted.path.write_text(text + "  secrets-store:api_key_v2:\n    secure: v1:AAAA\n")
    run = plan_stack("qa", config=load_stack_config("qa", adopted.path)).run
    assert [str(r.inputs["name"]) for r in run.of_type(SECRET_TYPE)] == ["api_key_v2"]
    assert [str(r.inputs["name"]) for r in run.of_type(ADOPTED_TYPE)] == ["api_key_v1"]
    deploy(adopted, run)
    assert adopted.server.secret_value_writes(ACCOUNT, "api_key_v2") == 1
    assert untouched(adopted.server)


def test_plan_marks_imported_versions_in_json_and_text(adopted: LiveStack) -> None:
    result = runner.invoke(
        app, ["plan", "--stack", "qa", "--format", "json", "--cwd", str(adopted.root)]
    )
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    (import_id,) = document["secrets"]["api_key"]["imported"].values()
    assert document["secrets"]["api_key"]["imported"] == {"api_key_v1": import_id}
    (version,) = [r for r in document["resources"] if r["type"] == ADOPTED_TYPE]
    assert version["imported"] == import_id
    assert "value" not in version["inputs"]
    text = runner.invoke(app, ["plan", "--stack", "qa", "--cwd", str(adopted.root)])
    assert f"api_key_v1 {IMPORTED}" in " ".join(text.output.split())


def test_diff_lists_an_imported_version_as_an_import_and_ignores_its_value(
    adopted: LiveStack,
) -> None:
    head = plan_stack("qa", config=load_stack_config("qa", adopted.path)).document
    first = diff_plans(None, head)
    assert [r["name"] for r in first["import"]] == ["api_key-v1"]
    assert not [r for r in first["create"] if r["type"] == SECRET_TYPE]
    assert first["versions_imported"] == ["api_key_v1"]
    # Its provider's code, status or credentials changing is no update; a comment is one
    base = json.loads(json.dumps(head))
    (version,) = [r for r in base["resources"] if r["type"] == ADOPTED_TYPE]
    version["inputs"].update({"__provider": "[other code]", "status": "active"})
    assert diff_plans(base, head)["update"] == []
    version["inputs"]["comment"] = "another comment"
    assert [r["fields"] for r in diff_plans(base, head)["update"]] == [["comment"]]
    markdown = render_diff_markdown(first)
    assert f"`api_key_v1 {IMPORTED}`" in markdown and "1 to import" in markdown
