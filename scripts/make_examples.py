"""Regenerate the shipped examples from the legacy test fixtures.

    .venv/bin/python scripts/make_examples.py

`tests/fixtures/stacks/` (the legacy form every existing test uses) is migrated with
`secretsctl migrate` in a scratch project; the result becomes `secrets-store.yaml` (the
example topology, at the project root) and `examples/stacks/`. Their `secure:` values are
then encrypted for real with Pulumi's passphrase provider and the documented example
passphrase (EXAMPLE_PASSPHRASE), each stack with its own `encryptionsalt`, so `pulumi up`
can decrypt every value a fresh clone ships: none is a placeholder ciphertext any more.
`cloudflare:apiToken` is left out (set your own, or CLOUDFLARE_API_TOKEN).
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from secretsctl.offline.passphrase import new_salt_line  # noqa: E402
from secretsctl.workflow.migrate import migrate  # noqa: E402

EXAMPLE_PASSPHRASE = "example-passphrase-not-a-secret"
"""Encrypts the examples' values: documented in the README, so it protects nothing. Your own
stacks get your own passphrase (or Pulumi Cloud) the first time you set a secret."""

# What each example value decrypts to: visibly examples, of the shape each kind needs.
EXAMPLE_VALUES = {
    "api_key_v1": "example-partner-api-key-v1",
    "api_key_v2": "example-partner-api-key-v2",
    "legacy_api_key": "example-legacy-worker-secret",
    "db_config_v1": json.dumps(
        {"host": "db.example.com", "port": 5432, "username": "app", "password": "example"}
    ),
    # the client secret "example" (sha256 below): visibly an example, refused nowhere
    "login_clients_v1": json.dumps(
        {
            "clients": [
                {
                    "client_id": "billing",
                    "secret_sha256": hashlib.sha256(b"example").hexdigest(),
                    "subject": "billing",
                }
            ]
        }
    ),
}
SECURE = re.compile(r"^(?P<indent>  )(?P<key>[\w:.-]+):\n    secure: (?P<cipher>\S+)\n", flags=re.M)


def main() -> None:
    with tempfile.TemporaryDirectory() as scratch:
        project = Path(scratch)
        shutil.copy(ROOT / "Pulumi.yaml", project / "Pulumi.yaml")
        shutil.copytree(ROOT / "tests" / "fixtures" / "stacks", project / "stacks")
        migrate(project)
        (ROOT / "secrets-store.yaml").write_text(example_topology(project))
        out = ROOT / "examples" / "stacks"
        out.mkdir(parents=True, exist_ok=True)
        for path in sorted((project / "stacks").glob("Pulumi.*.yaml")):
            (out / path.name).write_text(encrypted(path.read_text()))


def example_topology(project: Path) -> str:
    """The migrated topology, as the example a user edits: dev's own notes left out, and
    the KV id a placeholder each stack sets (plan lists it until then)."""
    text = (project / "secrets-store.yaml").read_text()
    text = re.sub(
        r"^ +# The upstream vendor's API key, mid-rotation here.*\n.*\n", "", text, flags=re.M
    )
    vault = "      ENCRYPTION_KEY: vault_key\n"
    assert vault in text
    return text.replace(
        vault,
        vault + "    kv:\n      CACHE: REPLACE_ME_KV_NAMESPACE_ID   # per stack: "
        "pulumi config set --path 'secrets-store:workers.vault.kv.CACHE' <id>\n",
    )


def encrypted(text: str) -> str:
    salt_line, crypter = new_salt_line(EXAMPLE_PASSPHRASE)

    def value(match: re.Match[str]) -> str:
        key = match["key"]
        if key == "cloudflare:apiToken":
            return ""
        plain = EXAMPLE_VALUES[key.removeprefix("secrets-store:")]
        return f"{match['indent']}{key}:\n    secure: {crypter.encrypt(plain)}\n"

    text = SECURE.sub(value, text)
    text = text.replace(
        "# (the `secure:` values below are examples of the shape, not decryptable values).\n",
        "# The `secure:` values below are examples, encrypted with the passphrase\n"
        f'# `{EXAMPLE_PASSPHRASE}` (README: "Start from the examples").\n',
    )
    return f"encryptionsalt: {salt_line}\n" + text


if __name__ == "__main__":
    main()
