"""The README's first real deploy, step by step, in a fresh `git clone` against the local
Cloudflare API (up to `pulumi up`, which needs the Pulumi CLI: a stand-in applies the plan
as the provider would); and the shipped examples' secure values, which decrypt."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
from cloudflare import Cloudflare
from typer.testing import CliRunner

from local_cloudflare import serve
from secretsctl.cli import app
from secretsctl.offline.passphrase import (
    SALT_BYTES,
    Crypter,
    PassphraseError,
    crypter_for,
    new_salt_line,
)
from secretsctl.offline.stackfile import SOURCE_ROOT, load_stack_config
from tests.live_support import ACCOUNT, CANARY, TOKEN, LiveStack, deploy

EXAMPLE_PASSPHRASE = "example-passphrase-not-a-secret"  # README: "Start from the examples"
runner = CliRunner()


def test_a_pulumi_passphrase_ciphertext_round_trips_and_a_wrong_passphrase_is_refused():
    salt_line, crypter = new_salt_line("correct horse")
    version, salt, check = salt_line.split(":", 2)
    assert version == "v1" and len(__import__("base64").b64decode(salt)) == SALT_BYTES
    assert re.fullmatch(r"v1:[A-Za-z0-9+/=]{16}:[A-Za-z0-9+/=]+", check)  # 12-byte nonce
    ciphertext = crypter.encrypt(CANARY)
    assert CANARY not in ciphertext and ciphertext != crypter.encrypt(CANARY)  # fresh nonce
    again = crypter_for(salt_line, "correct horse")
    assert again.decrypt(ciphertext) == CANARY
    with pytest.raises(PassphraseError, match="passphrase does not match"):
        crypter_for(salt_line, "wrong horse")
    with pytest.raises(PassphraseError):
        Crypter(b"\0" * 32).decrypt(ciphertext)


def test_every_shipped_example_value_decrypts_with_the_documented_passphrase():
    readme = (SOURCE_ROOT / "README.md").read_text()
    assert EXAMPLE_PASSPHRASE in readme
    for path in sorted((SOURCE_ROOT / "examples" / "stacks").glob("Pulumi.*.yaml")):
        text = path.read_text()
        salt = re.search(r"^encryptionsalt: (\S+)$", text, flags=re.M)
        assert salt, path
        crypter = crypter_for(salt[1], EXAMPLE_PASSPHRASE)
        values = re.findall(r"^\s+secure: (\S+)$", text, flags=re.M)
        assert values, path
        for ciphertext in values:
            assert crypter.decrypt(ciphertext).startswith(("example", "{"))
    # The examples ship under examples/stacks/: stacks/ is the user's own (`init`, the README's
    # local deploy write there), and what they hold is no concern of this test.


def set_secret(path: Path, key: str, value: str, passphrase: str) -> None:
    """`pulumi config set --secret KEY VALUE`: a salt on first use, then the ciphertext."""
    text = path.read_text()
    found = re.search(r"^encryptionsalt: (\S+)$", text, flags=re.M)
    if found:
        crypter = crypter_for(found[1], passphrase)
    else:
        salt_line, crypter = new_salt_line(passphrase)
        text = f"encryptionsalt: {salt_line}\n" + text
    path.write_text(
        text.replace("config:\n", f"config:\n  {key}:\n    secure: {crypter.encrypt(value)}\n", 1)
    )


def test_the_readme_first_deploy_works_from_a_fresh_clone(tmp_path, monkeypatch):
    clone = tmp_path / "clone"
    subprocess.run(
        ["git", "clone", "-q", str(SOURCE_ROOT), str(clone)], check=True, capture_output=True
    )
    with serve(tokens={TOKEN}, accounts=[ACCOUNT]) as server:
        for key, value in server.env().items():
            monkeypatch.setenv(key, value)
        monkeypatch.setenv("CLOUDFLARE_API_TOKEN", TOKEN)
        monkeypatch.chdir(clone)
        # An account that already holds the partner key (adopted, not created again)
        server.plant_secret(ACCOUNT, "dev_api_key_v1", CANARY)
        kv = server.seed_kv_namespace(ACCOUNT, "dev-cache")

        # 1. init: succeeds on a fresh clone, writes stacks/Pulumi.dev.yaml (stackConfigDir)
        init = runner.invoke(
            app, ["init", "--stack", "dev", "--account-id", ACCOUNT, "--name-prefix", "dev_"]
        )
        assert init.exit_code == 0, init.output
        path = clone / "stacks" / "Pulumi.dev.yaml"
        written = path.read_text()
        # per-stack facts only: the topology is the project's secrets-store.yaml
        assert not re.search(r"^\s+(module|kind):", written, flags=re.M)
        assert "secrets-store:rotation:" in written and "importIds:" in written

        # 2. set the values, as `pulumi config set --secret` writes them, and the KV id
        config = load_stack_config("dev", path)
        set_secret(path, "cloudflare:apiToken", TOKEN, "my passphrase")
        for key in config.value_keys_needed():
            value = json.dumps({"host": "db", "port": 5432, "username": "u", "password": CANARY})
            set_secret(path, key, value if "db_config" in key else CANARY, "my passphrase")
        # `pulumi config set --path secrets-store:workers.vault.kv.CACHE <id>`
        text = path.read_text()
        assert text.count("  secrets-store:workers: {}\n") == 1, text
        path.write_text(
            text.replace(
                "  secrets-store:workers: {}\n",
                f"  secrets-store:workers:\n    vault:\n      kv:\n        CACHE: {kv}\n",
            )
        )

        # 3. plan offline: no placeholder left, the existing version imported, no value shown
        plan = runner.invoke(app, ["plan", "--stack", "dev", "--format", "json"])
        assert plan.exit_code == 0, plan.output
        assert CANARY not in plan.output
        document = json.loads(plan.stdout)
        assert document["placeholders"] == []
        assert "legacy form" not in plan.stderr
        assert {"key": "secrets-store:workers.vault.kv.CACHE"}.items() <= next(
            o for o in document["overrides"] if o["key"].endswith("kv.CACHE")
        ).items()

        # 4. `pulumi up` (the Pulumi CLI is not here: the plan applied as the provider would)
        client = Cloudflare(api_token=TOKEN, base_url=server.base_url, max_retries=0)
        store_id = str(next(iter(client.secrets_store.stores.list(account_id=ACCOUNT))).id)
        deploy(LiveStack(server, client, clone, "dev", store_id, kv))

        # 5. status: the live account matches the plan (no flag needed beyond --live today)
        status = runner.invoke(app, ["status", "--stack", "dev", "--live"])
        assert status.exit_code == 0, status.output
        assert CANARY not in status.output


def test_every_install_form_the_readme_gives_works_with_the_pip_python_ships(
    tmp_path: Path,
) -> None:
    """The bundled pip (ensurepip) of the running Python parses each form the README shows,
    and installs the local-checkout one (a dry run without dependencies: only the form is
    under test; its build backend comes from PyPI, as any pip install's would)."""
    import subprocess
    import sys

    readme = (SOURCE_ROOT / "README.md").read_text()
    forms = re.findall(r"`pip install '([^']+)'`", readme)
    assert len(forms) >= 2, forms
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True)
    python = str(venv / "bin" / "python")
    for form in forms:
        local = form.replace("/path/to/checkout", str(SOURCE_ROOT))
        parse = subprocess.run(
            [python, "-c", "import sys; from pip._vendor.packaging.requirements import "
             "Requirement; Requirement(sys.argv[1])", local],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if local.startswith("/"):  # a path, which pip takes as one before any parsing
            done = subprocess.run(
                [python, "-m", "pip", "install", "--no-deps", "--dry-run", local],
                capture_output=True, text=True, check=False,
            )  # fmt: skip
            assert "Would install cloudflare-secrets-store" in done.stdout, done.stderr[-2000:]
        else:
            assert parse.returncode == 0, f"{form}: {parse.stderr[-500:]}"
