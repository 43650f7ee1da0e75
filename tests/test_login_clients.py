"""The `login_clients` schema: gateway.js's LOGIN_CLIENTS document, checked offline.

`secretsctl plan` and `pulumi up` refuse a value that gateway.js would refuse at
/login (workers/test/login_auth.test.mjs holds the worker's side), and the refusal
names the field and the rule, never the value.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest

from secrets_store.schemas import SUBJECT_PATTERN, schema_problems

ROOT = Path(__file__).resolve().parents[1]
CANARY = "canary-L0gin-Cl1ents"
DIGEST = hashlib.sha256(b"a client secret").hexdigest()
GOOD = {"client_id": "billing", "secret_sha256": DIGEST, "subject": "svc.billing"}


def problems(document: object) -> list[str]:
    return schema_problems("login_clients", json.dumps(document))


def test_a_listed_client_passes():
    assert problems({"clients": [GOOD, {**GOOD, "client_id": "reports"}]}) == []


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        # the grammar: a full match, so a trailing newline is refused too
        ({"clients": [{**GOOD, "subject": f"{CANARY}\n"}]}, "clients.0.subject: must match"),
        ({"clients": [{**GOOD, "subject": f"\u202e{CANARY}"}]}, "clients.0.subject: must match"),
        ({"clients": [{**GOOD, "subject": "admin\u0000"}]}, "clients.0.subject: must match"),
        ({"clients": [{**GOOD, "subject": " admin"}]}, "clients.0.subject: must match"),
        ({"clients": [{**GOOD, "subject": "a" * 65}]}, "clients.0.subject: must match"),
        ({"clients": [{**GOOD, "subject": ""}]}, "clients.0.subject: must match"),
        ({"clients": [{**GOOD, "client_id": f"{CANARY}:x"}]}, "clients.0.client_id: must match"),
        # a digest, not the secret itself
        ({"clients": [{**GOOD, "secret_sha256": CANARY}]}, "clients.0.secret_sha256: must be 64"),
        ({"clients": [{**GOOD, "secret_sha256": DIGEST.upper()}]}, "secret_sha256: must be 64"),
        ({"clients": [{**GOOD, "secret": CANARY}]}, "clients.0.(undeclared key): Extra inputs"),
        # each client once, at least one
        ({"clients": [GOOD, GOOD]}, "a client_id is listed twice"),
        ({"clients": []}, "clients: List should have at least 1 item"),
        ({CANARY: [GOOD]}, "(undeclared key): Extra inputs"),
    ],
)
def test_a_document_gateway_would_refuse_is_refused_without_its_values(
    document: object, expected: str
):
    found = problems(document)
    assert any(expected in line for line in found), found
    assert CANARY not in " ".join(found) and DIGEST not in " ".join(found)


def test_the_subject_grammar_is_the_same_in_python_and_in_the_workers():
    source = (ROOT / "workers" / "lib" / "subject.js").read_text()
    match = re.search(r"SUBJECT_PATTERN = /\^(.*)\$/;", source)
    assert match, "workers/lib/subject.js no longer declares SUBJECT_PATTERN as /^...$/"
    assert match.group(1) == SUBJECT_PATTERN
