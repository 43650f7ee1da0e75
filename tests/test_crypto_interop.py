"""Crypto interop between components/crypto_envelope.py and the workers on workerd.

Python decrypts what the vault worker encrypted and the worker decrypts what Python
encrypted (same v1 envelope, same key ids); Python verifies the signer's HMAC signatures
and the auth worker's JWTs, and the signer/gateway workers verify Python's. The workers
run on workerd through workers/local/run.mjs (the same harness the rehearsal uses).
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from secrets_store import crypto_envelope as ce

ROOT = Path(__file__).resolve().parent.parent
RUNNER = ROOT / "workers" / "local" / "run.mjs"
PLAINTEXT = "héllo wörld ✓ interop"


def _ss(name: str, secret: str) -> dict:
    return {"type": "secrets_store_secret", "name": name, "store_id": "st1", "secret_name": secret}


def _worker(name: str, bindings: list[dict]) -> dict:
    return {
        "name": name,
        "main_module": f"{name}.js",
        "modules_root": "workers",
        "bindings": bindings,
    }


def _run_workerd(payload: dict) -> list[dict]:
    if not (ROOT / "node_modules" / "miniflare").is_dir():
        pytest.skip("node_modules/miniflare is missing: run `make setup` (npm ci) to get workerd")
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    proc = subprocess.run(
        [node, str(RUNNER)],
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout)["results"]


# ---------------------------------------------------------------- pure Python


def test_key_id_known_vector_matches_workers():
    # Same vector as workers/test (Buffer.alloc(32, 1)); hex(SHA-256(raw)[:8]).
    value = base64.b64encode(bytes([1] * 32)).decode()
    assert ce.key_id(value) == "72cd6e8422c407fb"


def test_python_round_trip_and_rejections():
    k1, k2 = ce.generate_key(), ce.generate_key()
    env = ce.encrypt("secret text", k1)
    assert env.startswith(f"v1.{ce.key_id(k1)}.")
    assert ce.decrypt(env, [k2, k1]) == b"secret text"
    with pytest.raises(ce.EnvelopeError) as unknown:
        ce.decrypt(env, [k2])
    assert unknown.value.code == "unknown_key_id"
    v, kid, iv, ct = env.split(".")
    tampered = f"{v}.{kid}.{iv}.{'A' if ct[0] != 'A' else 'B'}{ct[1:]}"
    with pytest.raises(ce.EnvelopeError) as bad:
        ce.decrypt(tampered, [k1])
    assert bad.value.code == "decrypt_failed"
    sig = ce.hmac_sign("data", k1)
    assert ce.hmac_verify("data", sig, [k2, k1])
    assert not ce.hmac_verify("datb", sig, [k1])
    assert not ce.hmac_verify("data", sig, [k2])


def test_bad_key_material_error_does_not_echo_value():
    short = base64.b64encode(b"CANARY-16-bytes!").decode()
    with pytest.raises(ce.EnvelopeError) as err:
        ce.decode_key(short)
    assert short not in str(err.value)
    assert "CANARY" not in str(err.value)
    assert err.value.code == "invalid_key_material"


def test_jwt_alg_none_and_expiry_rejected():
    k = ce.generate_key()
    token = ce.jwt_issue({"sub": "a"}, k, now=1000, ttl_seconds=60)
    assert ce.jwt_verify(token, k, now=1030)["sub"] == "a"
    with pytest.raises(ce.TokenError) as expired:
        ce.jwt_verify(token, k, now=2000)
    assert expired.value.code == "token_expired"
    _, p, s = token.split(".")
    none = base64.urlsafe_b64encode(b'{"alg":"none","kid":"0000000000000000"}').rstrip(b"=")
    with pytest.raises(ce.TokenError) as alg:
        ce.jwt_verify(f"{none.decode()}.{p}.{s}", k)
    assert alg.value.code == "bad_algorithm"


# ---------------------------------------------------------------- Python <-> workerd


@pytest.fixture(scope="module")
def interop():
    """One workerd run: every request the interop tests need, with Python-made inputs."""
    enc1, enc2 = ce.generate_key(), ce.generate_key()
    sign1, sign2, stranger = ce.generate_key(), ce.generate_key(), ce.generate_key()
    now = time.time()
    py = {
        "env_v1": ce.encrypt(PLAINTEXT, enc1),
        "env_v2": ce.encrypt(PLAINTEXT, enc2),
        "sig_v1": ce.hmac_sign("payload-from-python", sign1),
        "sig_v2": ce.hmac_sign("payload-from-python", sign2),
        "jwt_v1": ce.jwt_issue({"sub": "py-v1"}, sign1),
        "jwt_v2": ce.jwt_issue({"sub": "py-v2"}, sign2),
        "jwt_expired": ce.jwt_issue({"sub": "old"}, sign1, now=now - 3600, ttl_seconds=60),
        "jwt_stranger": ce.jwt_issue({"sub": "x"}, stranger),
    }
    v, kid, iv, ct = py["env_v2"].split(".")
    py["env_tampered"] = f"{v}.{kid}.{iv}.{ct[:-3]}{'AAA' if ct[-3:] != 'AAA' else 'BBB'}"
    kv = {"type": "kv_namespace", "name": "CACHE", "namespace_id": "kv1"}
    description = {
        "workers": [
            # vault in the `swapped` stage: B = enc v2, F = enc v1
            _worker(
                "vault",
                [_ss("ENCRYPTION_KEY", "enc_v2"), _ss("ENCRYPTION_KEY_FALLBACK", "enc_v1"), kv],
            ),
            _worker("signer", [_ss("HMAC_SECRET", "sign_v1")]),
            _worker("auth", [_ss("SIGNING_KEY", "sign_v1")]),
            # gateway in the `fallback` stage: B = sign v1, F = sign v2
            _worker(
                "gateway",
                [
                    _ss("JWT_KEY", "sign_v1"),
                    _ss("JWT_KEY_FALLBACK", "sign_v2"),
                    {"type": "service", "name": "AUTH", "service": "auth"},
                ],
            ),
        ],
        "secrets": {"st1": {"enc_v1": enc1, "enc_v2": enc2, "sign_v1": sign1, "sign_v2": sign2}},
    }

    def post(worker: str, path: str, body: str, headers: dict | None = None) -> dict:
        return {
            "worker": worker,
            "method": "POST",
            "path": path,
            "body": body,
            "headers": headers or {},
        }

    def me(token: str) -> dict:
        return {"worker": "gateway", "path": "/me", "headers": {"authorization": f"Bearer {token}"}}

    payload = "payload-from-python"
    steps = {
        "w_encrypt": post("vault", "/encrypt", PLAINTEXT),
        "w_dec_v1": post("vault", "/decrypt", py["env_v1"]),
        "w_dec_v2": post("vault", "/decrypt", py["env_v2"]),
        "w_dec_tampered": post("vault", "/decrypt", py["env_tampered"]),
        "w_sign": post("signer", "/sign", "payload-from-worker"),
        "w_verify_v1": post("signer", "/verify", payload, {"x-signature": py["sig_v1"]}),
        "w_verify_v2": post("signer", "/verify", payload, {"x-signature": py["sig_v2"]}),
        "w_verify_wrong_data": post("signer", "/verify", "other", {"x-signature": py["sig_v1"]}),
        "w_issue": post("gateway", "/login", json.dumps({"sub": "from-worker"})),
        "w_me_v1": me(py["jwt_v1"]),
        "w_me_v2": me(py["jwt_v2"]),
        "w_me_expired": me(py["jwt_expired"]),
        "w_me_stranger": me(py["jwt_stranger"]),
    }
    results = _run_workerd({"description": description, "steps": list(steps.values())})
    out = dict(zip(steps, results, strict=True))
    keys = {"enc1": enc1, "enc2": enc2, "sign1": sign1, "sign2": sign2}
    return out, keys


def test_python_decrypts_worker_ciphertext(interop):
    out, keys = interop
    assert out["w_encrypt"]["status"] == 200
    envelope = json.loads(out["w_encrypt"]["body"])["envelope"]
    assert envelope.split(".")[1] == ce.key_id(keys["enc2"])  # swapped stage: B is v2
    assert ce.decrypt(envelope, [keys["enc1"], keys["enc2"]]).decode() == PLAINTEXT
    with pytest.raises(ce.EnvelopeError):
        ce.decrypt(envelope, [keys["enc1"]])


def test_worker_decrypts_python_ciphertext_with_b_or_f(interop):
    out, _ = interop
    assert (out["w_dec_v1"]["status"], out["w_dec_v1"]["body"]) == (200, PLAINTEXT)
    assert (out["w_dec_v2"]["status"], out["w_dec_v2"]["body"]) == (200, PLAINTEXT)
    tampered = out["w_dec_tampered"]
    assert tampered["status"] == 400
    assert json.loads(tampered["body"])["error"] == "decrypt_failed"
    assert PLAINTEXT not in tampered["body"]


def test_python_verifies_worker_hmac(interop):
    out, keys = interop
    sig = json.loads(out["w_sign"]["body"])["signature"]
    assert sig.split(".")[1] == ce.key_id(keys["sign1"])
    assert ce.hmac_verify("payload-from-worker", sig, [keys["sign1"]])
    assert not ce.hmac_verify("payload-from-worker!", sig, [keys["sign1"]])


def test_worker_verifies_python_hmac(interop):
    out, _ = interop
    assert out["w_verify_v1"]["status"] == 200
    assert json.loads(out["w_verify_v1"]["body"])["valid"] is True
    # sign_v2 is not bound to the signer worker at all
    assert out["w_verify_v2"]["status"] == 401
    assert json.loads(out["w_verify_v2"]["body"])["reason"] == "unknown_key_id"
    assert out["w_verify_wrong_data"]["status"] == 401
    assert json.loads(out["w_verify_wrong_data"]["body"])["reason"] == "bad_signature"


def test_python_verifies_worker_jwt(interop):
    out, keys = interop
    assert out["w_issue"]["status"] == 200
    token = json.loads(out["w_issue"]["body"])["token"]
    claims = ce.jwt_verify(token, [keys["sign1"]])
    assert claims["sub"] == "from-worker"
    assert claims["iss"] == "auth"
    with pytest.raises(ce.TokenError):
        ce.jwt_verify(token, [keys["sign2"]])


def test_worker_verifies_python_jwt(interop):
    out, _ = interop
    assert (out["w_me_v1"]["status"], json.loads(out["w_me_v1"]["body"])) == (200, {"sub": "py-v1"})
    # signed with v2, which the gateway has as its fallback binding
    assert (out["w_me_v2"]["status"], json.loads(out["w_me_v2"]["body"])) == (200, {"sub": "py-v2"})
    assert out["w_me_expired"]["status"] == 401
    assert json.loads(out["w_me_expired"]["body"])["error"] == "token_expired"
    assert out["w_me_stranger"]["status"] == 401
    assert json.loads(out["w_me_stranger"]["body"])["error"] == "unknown_key_id"
