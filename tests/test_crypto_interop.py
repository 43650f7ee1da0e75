"""Crypto interop between components/secrets_store/crypto_envelope.py and the workers on workerd.

Python decrypts what the vault worker encrypted and the worker decrypts what Python
encrypted (same v1 envelope, same key ids); Python verifies the signer's HMAC signatures
and the auth worker's JWTs, and the signer/gateway workers verify Python's. The workers
run on workerd through workers/local/run.mjs (the same harness the rehearsal uses).

Hardening, each in pure Python and across languages (Python signs / workers verify, and
workers sign / Python verifies): JWT `exp` required and finite, bounded leeway; HMAC
signatures and JWTs domain-separated by HKDF per-purpose keys (the `signer /sign` forgery,
both ways); canonical base64; JSON depth refused before parsing; auth issuing to
service-binding callers only. The last section checks that a killed rehearsal leaves no
key material or workerd behind (secretsctl/rehearse/driver.py).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
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


def _b64u(data: bytes | str) -> str:
    raw = data.encode() if isinstance(data, str) else data
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _raw_token(payload_text: str, key: str, header_text: str | None = None) -> str:
    """A JWT over raw JSON texts, MAC'd with the key's JWT purpose key, no claim checks."""
    if header_text is None:
        header_text = json.dumps({"alg": "HS256", "typ": "JWT", "kid": ce.key_id(key)})
    signing_input = f"{_b64u(header_text)}.{_b64u(payload_text)}"
    sig = hmac.new(ce.purpose_key(key, "jwt"), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64u(sig)}"


B64URL_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def _non_canonical(text: str) -> str:
    """Same bytes, a non-zero trailing bit (text length % 4 != 0)."""
    value = B64URL_ALPHABET.index(text[-1])
    assert value & 1 == 0 and len(text) % 4
    return text[:-1] + B64URL_ALPHABET[value | 1]


def _nested(levels: int, exp: int) -> str:
    """A payload object whose deepest array sits at nesting level `levels`."""
    return f'{{"sub":"deep","exp":{exp},"a":{"[" * (levels - 1)}{"]" * (levels - 1)}}}'


# Payload texts (given exp) a verifier must refuse, and the code it refuses them with.
EXP_CASES = {
    "string": (lambda exp: f'{{"sub":"a","exp":"{exp}"}}', "invalid_exp"),
    "null": (lambda exp: '{"sub":"a","exp":null}', "invalid_exp"),
    "bool": (lambda exp: '{"sub":"a","exp":true}', "invalid_exp"),
    "infinity": (lambda exp: '{"sub":"a","exp":1e400}', "invalid_exp"),
    "huge_int": (lambda exp: '{"sub":"a","exp":1' + "0" * 400 + "}", "invalid_exp"),
    "nan": (lambda exp: '{"sub":"a","exp":NaN}', "malformed_token"),
    "missing": (lambda exp: '{"sub":"a"}', "missing_exp"),
    "nbf_string": (lambda exp: f'{{"sub":"a","exp":{exp},"nbf":"0"}}', "invalid_nbf"),
    "iat_null": (lambda exp: f'{{"sub":"a","exp":{exp},"iat":null}}', "invalid_iat"),
}
# Decoder vectors shared with workers/test/crypto_hardening.test.mjs: hex, or None = refused.
B64_STD_VECTORS = {
    "QQ==": "41",
    "QR==": None,
    " QQ==": None,
    "QQ==\n": None,
    "QQ": None,
    "QQ=": None,
    "Q Q==": None,
    "AAAA": "000000",
    "": "",
    "+/8=": "fbff",
    "+/9=": None,
    "QUJD\r\n": None,
}
B64_URL_VECTORS = {
    "QQ": "41",
    "QR": None,
    "QQ==": None,
    " QQ": None,
    "QQ\n": None,
    "-_8": "fbff",
    "-_9": None,
    "Q": None,
    "": "",
    "+/8": None,
    "QUJD": "414243",
    "QUJD ": None,
}


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


def test_jwt_exp_is_required_and_must_be_a_finite_number():
    k = ce.generate_key()
    exp = int(time.time()) + 300
    assert ce.jwt_verify(_raw_token(f'{{"sub":"ok","exp":{exp}}}', k), k)["sub"] == "ok"
    for name, (payload, code) in EXP_CASES.items():
        with pytest.raises(ce.TokenError) as err:
            ce.jwt_verify(_raw_token(payload(exp), k), k)
        assert err.value.code == code, name


def test_jwt_leeway_is_bounded():
    k = ce.generate_key()
    token = ce.jwt_issue({"sub": "late"}, k, now=1000, ttl_seconds=60)  # exp 1060
    assert ce.jwt_verify(token, k, now=1060 + 299.9, leeway=300)["sub"] == "late"
    # Expired from the second exp + leeway on (RFC 7519 "before exp"; jose and joserfc alike)
    with pytest.raises(ce.TokenError) as expired:
        ce.jwt_verify(token, k, now=1060 + 300, leeway=300)
    assert expired.value.code == "token_expired"
    for leeway in (301, 100000, -1, float("inf"), float("nan"), True):
        with pytest.raises(ce.EnvelopeError) as err:
            ce.jwt_verify(token, k, now=1000, leeway=leeway)
        assert err.value.code == "invalid_leeway", leeway


def test_jwt_issue_refuses_claims_a_verifier_would_refuse():
    k = ce.generate_key()
    for claims, ttl, code in (
        ({"exp": "soon"}, 300, "invalid_exp"),
        ({"exp": None}, 300, "invalid_exp"),
        ({"exp": float("inf")}, 300, "invalid_exp"),
        ({"nbf": float("nan")}, 300, "invalid_nbf"),
        ({"sub": "a"}, 0, "invalid_ttl"),
        ({"a": [[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]}, 300, "json_too_deep"),
        ({"sub": "x" * 4000}, 300, "token_too_large"),
    ):
        with pytest.raises(ce.EnvelopeError) as err:
            ce.jwt_issue(claims, k, ttl_seconds=ttl)
        assert err.value.code == code, claims
        assert k not in str(err.value)


def test_hmac_signature_over_header_payload_is_not_a_jwt_and_back():
    """The forgery: one secret bound to a signer of arbitrary bodies and to a JWT verifier."""
    k = ce.generate_key()
    header = _b64u(json.dumps({"alg": "HS256", "typ": "JWT", "kid": ce.key_id(k)}))
    payload = _b64u(json.dumps({"sub": "admin", "exp": int(time.time()) + 600}))
    sig = ce.hmac_sign(f"{header}.{payload}", k).split(".")[2]
    with pytest.raises(ce.TokenError) as forged:
        ce.jwt_verify(f"{header}.{payload}.{sig}", k)
    assert forged.value.code == "bad_signature"
    # and the old raw-key MAC (what a v1 signer returned) is no JWT either
    raw_mac = _b64u(hmac.new(ce.decode_key(k), f"{header}.{payload}".encode(), "sha256").digest())
    with pytest.raises(ce.TokenError):
        ce.jwt_verify(f"{header}.{payload}.{raw_mac}", k)
    # reversed: a JWT's signature is no signature of header.payload
    h, p, s = ce.jwt_issue({"sub": "a"}, k).split(".")
    assert ce.hmac_check(f"{h}.{p}", f"v2.{ce.key_id(k)}.{s}", k) == "bad_signature"


def test_purpose_keys_are_hkdf_sha256_with_the_documented_labels():
    value = base64.b64encode(bytes([1] * 32)).decode()
    raw = ce.decode_key(value)
    prk = hmac.new(bytes(32), raw, hashlib.sha256).digest()  # RFC 5869 extract, salt 0^32
    # expand to L = 32: T(1) = HMAC(PRK, info || 0x01)
    hmac_key = hmac.new(prk, b"secrets-store/v2/hmac\x01", hashlib.sha256).digest()
    jwt_key = hmac.new(prk, b"secrets-store/v2/jwt\x01", hashlib.sha256).digest()
    assert ce.purpose_key(value, "hmac") == hmac_key
    assert ce.purpose_key(value, "jwt") == jwt_key
    assert hmac_key.hex() == "2557e559afdd6be9a1b1856d8093d2eacd175c9310d3621515dcd8c1518729e7"
    assert jwt_key.hex() == "5998fd51619228a519d04bc3508190d6a4c7af9397217c1a2ad82431724997fe"
    expected = _b64u(hmac.new(hmac_key, b"data", hashlib.sha256).digest())
    assert ce.hmac_sign("data", value) == f"v2.{ce.key_id(value)}.{expected}"
    h, p, s = ce.jwt_issue({"sub": "a"}, value, now=1000).split(".")
    assert s == _b64u(hmac.new(jwt_key, f"{h}.{p}".encode(), hashlib.sha256).digest())


def test_signatures_are_v2_and_v1_is_unsupported():
    k = ce.generate_key()
    assert ce.hmac_sign("data", k).startswith(f"v2.{ce.key_id(k)}.")
    v1 = f"v1.{ce.key_id(k)}.{_b64u(hmac.new(ce.decode_key(k), b'data', 'sha256').digest())}"
    assert ce.hmac_check("data", v1, k) == "unsupported_version"
    assert not ce.hmac_verify("data", v1, k)


def test_base64_is_canonical_everywhere():
    for text, want in B64_STD_VECTORS.items():
        try:
            got: str | None = ce._b64decode(text).hex()
        except ValueError:
            got = None
        assert got == want, repr(text)
    for text, want in B64_URL_VECTORS.items():
        try:
            got = ce._b64url_decode(text).hex()
        except ValueError:
            got = None
        assert got == want, repr(text)
    k = ce.generate_key()
    bent_key = k[:42] + _non_canonical(k[:43])[-1] + "="
    for bad in (k + "\n", " " + k, k + " ", bent_key):
        with pytest.raises(ce.EnvelopeError) as err:
            ce.decode_key(bad)
        assert err.value.code == "invalid_key_material"
        assert k[:20] not in str(err.value)
    env = ce.encrypt("abcd", k)  # ct: 20 bytes, 27 chars
    v, kid, iv, ct = env.split(".")
    for bad in (f"{v}.{kid}.{iv}.{_non_canonical(ct)}", f" {env}", f"{env}\n"):
        with pytest.raises(ce.EnvelopeError) as err:
            ce.decrypt(bad, k)
        assert err.value.code == "invalid_envelope"
    sig = ce.hmac_sign("data", k)
    v, kid, s = sig.split(".")
    assert ce.hmac_check("data", f"{v}.{kid}.{_non_canonical(s)}", k) == "malformed_signature"
    assert ce.hmac_check("data", f"{sig}\n", k) == "malformed_signature"
    h, p, t = ce.jwt_issue({"sub": "a"}, k).split(".")
    for bad in (f"{h}.{p}.{_non_canonical(t)}", f" {h}.{p}.{t}"):
        with pytest.raises(ce.TokenError) as err:
            ce.jwt_verify(bad, k)
        assert err.value.code == "malformed_token"


def test_deep_json_in_a_token_is_refused_before_parsing():
    k = ce.generate_key()
    exp = int(time.time()) + 300
    assert ce.jwt_verify(_raw_token(_nested(16, exp), k), k)["sub"] == "deep"
    with pytest.raises(ce.TokenError) as deep:
        ce.jwt_verify(_raw_token(_nested(17, exp), k), k)
    assert deep.value.code == "json_too_deep"
    # 2900 levels: within the size limit, and json.loads would raise RecursionError
    for token in (f"{_b64u('[' * 2900)}.{_b64u('{}')}.{'A' * 43}", _raw_token("[" * 2900, k)):
        assert len(token) <= ce.MAX_TOKEN_LENGTH
        with pytest.raises(ce.TokenError) as err:
            ce.jwt_verify(token, k)
        assert err.value.code == "json_too_deep"
    sub = "s" + "[" * 20 + '"' + "{" * 20
    tricky = json.dumps({"sub": sub, "exp": exp})
    assert ce.jwt_verify(_raw_token(tricky, k), k)["sub"] == sub
    assert not ce._json_too_deep('[[["]]]]]]"]]]', 3)
    with pytest.raises(ce.TokenError) as big:
        ce.jwt_verify(_raw_token(json.dumps({"sub": "x" * 4000, "exp": exp}), k), k)
    assert big.value.code == "token_too_large"


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
    # hardening inputs, all made by Python for sign_v1 (bound to signer, auth and gateway)
    exp = int(now) + 300
    header = _b64u(json.dumps({"alg": "HS256", "typ": "JWT", "kid": ce.key_id(sign1)}))
    claims = _b64u(json.dumps({"sub": "admin", "exp": exp + 300}))
    forged_input = f"{header}.{claims}"
    py_sig = ce.hmac_sign("amount=10", sign1)
    py_env = ce.encrypt("abcd", enc2)  # ct: 20 bytes, 27 chars
    py_jwt = py["jwt_v1"].split(".")
    v, kid, iv, ct = py_env.split(".")
    sv, skid, ssig = py_sig.split(".")
    kv = {"type": "kv_namespace", "name": "CACHE", "namespace_id": "kv1"}
    # gateway's one login client, logging in as `from-worker`
    client_secret = secrets.token_hex(32)
    login_client = {
        "client_id": "interop",
        "secret_sha256": hashlib.sha256(client_secret.encode()).hexdigest(),
        "subject": "from-worker",
    }
    basic = base64.b64encode(f"interop:{client_secret}".encode()).decode()
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
                    _ss("LOGIN_CLIENTS", "clients"),
                    {"type": "service", "name": "AUTH", "service": "auth"},
                ],
            ),
            # a gateway whose clock leeway is out of bounds
            _worker(
                "gateway",
                [
                    _ss("JWT_KEY", "sign_v1"),
                    {"type": "service", "name": "AUTH", "service": "auth"},
                    {"type": "plain_text", "name": "JWT_LEEWAY_SECONDS", "text": "100000"},
                ],
            )
            | {"name": "gateway_wide"},
            # test-only: the lib's building blocks (workers/test/fixtures/crypto_probe.js)
            _worker("probe", [_ss("SIGNING_KEY", "sign_v1")])
            | {"main_module": "test/fixtures/crypto_probe.js"},
        ],
        "secrets": {
            "st1": {
                "enc_v1": enc1,
                "enc_v2": enc2,
                "sign_v1": sign1,
                "sign_v2": sign2,
                "clients": json.dumps({"clients": [login_client]}),
            }
        },
    }

    def post(worker: str, path: str, body: str, headers: dict | None = None) -> dict:
        return {
            "worker": worker,
            "method": "POST",
            "path": path,
            "body": body,
            "headers": headers or {},
        }

    def me(token: str, worker: str = "gateway") -> dict:
        return {"worker": worker, "path": "/me", "headers": {"authorization": f"Bearer {token}"}}

    def probe(path: str, body: object) -> dict:
        return post("probe", path, json.dumps(body))

    bent_key = sign1[:42] + _non_canonical(sign1[:43])[-1] + "="

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
        "w_issue": post("gateway", "/login", "", {"authorization": f"Basic {basic}"}),
        "w_me_v1": me(py["jwt_v1"]),
        "w_me_v2": me(py["jwt_v2"]),
        "w_me_expired": me(py["jwt_expired"]),
        "w_me_stranger": me(py["jwt_stranger"]),
        # exp required and finite; leeway bounded (Python signs, workers verify)
        "w_me_good_raw": me(_raw_token(f'{{"sub":"raw","exp":{exp}}}', sign1)),
        **{f"w_me_exp_{n}": me(_raw_token(f(exp), sign1)) for n, (f, _) in EXP_CASES.items()},
        "w_me_wide_leeway": me(py["jwt_expired"], "gateway_wide"),
        # ... and the reverse: a worker signs the same payloads as-is, Python verifies
        **{
            f"w_raw_exp_{n}": probe("/jwt-raw", {"payload": f(exp)})
            for n, (f, _) in EXP_CASES.items()
        },
        # the forgery, both ways, with one secret bound to signer and gateway
        "w_forged_by_python_hmac": me(
            f"{forged_input}.{ce.hmac_sign(forged_input, sign1).split('.')[2]}"
        ),
        "w_sign_forged_input": post("signer", "/sign", forged_input),
        "w_verify_python_jwt_sig": post(
            "signer",
            "/verify",
            f"{py_jwt[0]}.{py_jwt[1]}",
            {"x-signature": f"v2.{ce.key_id(sign1)}.{py_jwt[2]}"},
        ),
        "w_derive": probe("/derive", {"key": base64.b64encode(bytes([1] * 32)).decode()}),
        # canonical base64 (Python's inputs bent; the worker's outputs are bent in the tests)
        "w_b64": probe("/b64", {"std": list(B64_STD_VECTORS), "url": list(B64_URL_VECTORS)}),
        "w_keys": probe("/key", {"values": [sign1, f"{sign1}\n", f" {sign1}", bent_key]}),
        "w_sig_bent": post(
            "signer", "/verify", "amount=10", {"x-signature": f"{sv}.{skid}.{_non_canonical(ssig)}"}
        ),
        "w_sig_ok": post("signer", "/verify", "amount=10", {"x-signature": py_sig}),
        "w_env_bent": post("vault", "/decrypt", f"{v}.{kid}.{iv}.{_non_canonical(ct)}"),
        "w_env_space": post("vault", "/decrypt", f"{py_env}\n"),
        "w_env_ok": post("vault", "/decrypt", py_env),
        "w_jwt_bent": me(f"{py_jwt[0]}.{py_jwt[1]}.{_non_canonical(py_jwt[2])}"),
        "w_encrypt_abcd": post("vault", "/encrypt", "abcd"),
        # JSON depth
        "w_me_depth_16": me(_raw_token(_nested(16, exp), sign1)),
        "w_me_depth_17": me(_raw_token(_nested(17, exp), sign1)),
        "w_me_depth_2900": me(_raw_token("[" * 2900, sign1)),
        "w_raw_depth_16": probe("/jwt-raw", {"payload": _nested(16, exp)}),
        "w_raw_depth_17": probe("/jwt-raw", {"payload": _nested(17, exp)}),
        "w_raw_depth_header": probe("/jwt-raw", {"header": "[" * 2900, "payload": "{}"}),
        **{
            f"w_depth_{i}": probe("/depth", {"text": t, "max": 3})
            for i, t in enumerate(DEPTH_TEXTS)
        },
        # auth issues to service-binding callers only
        "w_auth_http": post("auth", "/token", json.dumps({"sub": "admin"})),
    }
    results = _run_workerd({"description": description, "steps": list(steps.values())})
    out = dict(zip(steps, results, strict=True))
    keys = {"enc1": enc1, "enc2": enc2, "sign1": sign1, "sign2": sign2, "forged": forged_input}
    return out, keys


DEPTH_TEXTS = [
    "[[[]]]",
    "[[[[]]]]",
    '[[["]]]]]]"]]]',
    '[["\\"[[[["]]',
    '{"a":{"b":{"c":{}}}}',
    "]]]][[[",
    '"\\\\"[[[[',
]


def _body(result: dict) -> dict:
    return json.loads(result["body"])


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


# ---------------------------------------------------------------- hardening, across languages


def test_exp_required_and_finite_python_signs_worker_verifies(interop):
    out, _ = interop
    assert (out["w_me_good_raw"]["status"], _body(out["w_me_good_raw"])) == (200, {"sub": "raw"})
    for name, (_, code) in EXP_CASES.items():
        result = out[f"w_me_exp_{name}"]
        assert (result["status"], _body(result)["error"]) == (401, code), name


def test_exp_required_and_finite_worker_signs_python_verifies(interop):
    out, keys = interop
    for name, (_, code) in EXP_CASES.items():
        token = _body(out[f"w_raw_exp_{name}"])["token"]
        with pytest.raises(ce.TokenError) as err:
            ce.jwt_verify(token, keys["sign1"])
        assert err.value.code == code, name


def test_leeway_bounded_on_both_sides(interop):
    out, keys = interop
    wide = out["w_me_wide_leeway"]
    assert (wide["status"], _body(wide)["error"]) == (500, "invalid_leeway")
    token = _body(out["w_issue"])["token"]
    with pytest.raises(ce.EnvelopeError) as err:
        ce.jwt_verify(token, keys["sign1"], leeway=100000)
    assert err.value.code == "invalid_leeway"


def test_forgery_python_hmac_is_no_jwt_for_the_gateway(interop):
    out, _ = interop
    forged = out["w_forged_by_python_hmac"]
    assert (forged["status"], _body(forged)["error"]) == (401, "bad_signature")
    jwt_sig_as_hmac = out["w_verify_python_jwt_sig"]
    assert (jwt_sig_as_hmac["status"], _body(jwt_sig_as_hmac)["reason"]) == (401, "bad_signature")


def test_forgery_worker_hmac_is_no_jwt_for_python(interop):
    out, keys = interop
    signature = _body(out["w_sign_forged_input"])["signature"]
    assert signature.startswith(f"v2.{ce.key_id(keys['sign1'])}.")
    assert ce.hmac_verify(keys["forged"], signature, keys["sign1"])  # a genuine signature...
    with pytest.raises(ce.TokenError) as err:  # ...that is no JWT
        ce.jwt_verify(f"{keys['forged']}.{signature.split('.')[2]}", keys["sign1"])
    assert err.value.code == "bad_signature"
    h, p, s = _body(out["w_issue"])["token"].split(".")
    assert ce.hmac_check(f"{h}.{p}", f"v2.{ce.key_id(keys['sign1'])}.{s}", keys["sign1"]) == (
        "bad_signature"
    )


def test_purpose_keys_match_across_languages(interop):
    out, _ = interop
    value = base64.b64encode(bytes([1] * 32)).decode()
    assert _body(out["w_derive"]) == {
        "hmac": ce.purpose_key(value, "hmac").hex(),
        "jwt": ce.purpose_key(value, "jwt").hex(),
    }


def test_base64_decoders_agree_across_languages(interop):
    out, keys = interop
    b64 = _body(out["w_b64"])
    assert b64["std"] == list(B64_STD_VECTORS.values())
    assert b64["url"] == list(B64_URL_VECTORS.values())
    results = _body(out["w_keys"])["results"]
    assert [r.get("kid") or r["error"] for r in results] == [ce.key_id(keys["sign1"])] + [
        "invalid_key_material"
    ] * 3
    assert keys["sign1"][:20] not in out["w_keys"]["body"]  # refusals never echo the value


def test_non_canonical_python_outputs_refused_by_workers(interop):
    out, _ = interop
    assert out["w_sig_ok"]["status"] == 200
    assert (out["w_sig_bent"]["status"], _body(out["w_sig_bent"])["reason"]) == (
        401,
        "malformed_signature",
    )
    assert (out["w_env_ok"]["status"], out["w_env_ok"]["body"]) == (200, "abcd")
    for name in ("w_env_bent", "w_env_space"):
        assert (out[name]["status"], _body(out[name])["error"]) == (400, "invalid_envelope"), name
        assert "abcd" not in out[name]["body"]
    assert (out["w_jwt_bent"]["status"], _body(out["w_jwt_bent"])["error"]) == (
        401,
        "malformed_token",
    )


def test_non_canonical_worker_outputs_refused_by_python(interop):
    out, keys = interop
    sig = _body(out["w_sign"])["signature"]
    v, kid, s = sig.split(".")
    assert ce.hmac_check("payload-from-worker", sig, keys["sign1"]) is None
    bent = f"{v}.{kid}.{_non_canonical(s)}"
    assert ce.hmac_check("payload-from-worker", bent, keys["sign1"]) == "malformed_signature"
    assert ce.hmac_check("payload-from-worker", f"{sig} ", keys["sign1"]) == "malformed_signature"
    envelope = _body(out["w_encrypt_abcd"])["envelope"]
    assert ce.decrypt(envelope, keys["enc2"]) == b"abcd"
    v, kid, iv, ct = envelope.split(".")
    for bad in (f"{v}.{kid}.{iv}.{_non_canonical(ct)}", f" {envelope}"):
        with pytest.raises(ce.EnvelopeError) as err:
            ce.decrypt(bad, keys["enc2"])
        assert err.value.code == "invalid_envelope"
    h, p, t = _body(out["w_issue"])["token"].split(".")
    with pytest.raises(ce.TokenError) as tok:
        ce.jwt_verify(f"{h}.{p}.{_non_canonical(t)}", keys["sign1"])
    assert tok.value.code == "malformed_token"


def test_deep_json_python_signs_worker_refuses(interop):
    out, _ = interop
    assert (out["w_me_depth_16"]["status"], _body(out["w_me_depth_16"])) == (200, {"sub": "deep"})
    for name in ("w_me_depth_17", "w_me_depth_2900"):
        assert (out[name]["status"], _body(out[name])["error"]) == (401, "json_too_deep"), name


def test_deep_json_worker_signs_python_refuses_without_recursion(interop):
    out, keys = interop
    assert ce.jwt_verify(_body(out["w_raw_depth_16"])["token"], keys["sign1"])["sub"] == "deep"
    for name in ("w_raw_depth_17", "w_raw_depth_header"):
        with pytest.raises(ce.TokenError) as err:
            ce.jwt_verify(_body(out[name])["token"], keys["sign1"])
        assert err.value.code == "json_too_deep", name
    for i, text in enumerate(DEPTH_TEXTS):
        assert _body(out[f"w_depth_{i}"])["too_deep"] is ce._json_too_deep(text, 3), text


def test_auth_issues_tokens_to_service_binding_callers_only(interop):
    out, keys = interop
    refused = out["w_auth_http"]
    assert refused["status"] == 403
    assert _body(refused)["error"] == "service_binding_only"
    assert "token" not in _body(refused)
    # the gateway, which holds the service binding, got one (RPC) and Python verifies it
    assert out["w_issue"]["status"] == 200
    assert ce.jwt_verify(_body(out["w_issue"])["token"], keys["sign1"])["sub"] == "from-worker"


# ---------------------------------------------------------------- rehearsal cleanup (issue 10 §3)
# These belong with tests/test_rehearse.py; they live here because the stand-in values a
# rehearsal leaves on disk are key material.

STANDIN = "Y2FuYXJ5LWtleS1tYXRlcmlhbC0zMi1ieXRlcyEhISE="  # a key value, used as a canary


def _needs_workerd() -> None:
    if not (ROOT / "node_modules" / "miniflare").is_dir() or shutil.which("node") is None:
        pytest.skip("node and node_modules/miniflare are needed (run `make setup`)")
    if not hasattr(os, "killpg") or not Path("/proc").is_dir():
        pytest.skip("process groups and /proc are needed to observe workerd")


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def _holding(root: Path, value: str) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and value.encode() in p.read_bytes()]


def test_killed_rehearsal_driver_leaves_nothing_for_the_next_run(tmp_path):
    _needs_workerd()
    from secretsctl.rehearse.driver import OWNER_FILE, Driver, Request, _driver_group, reap_stale

    workdir = tmp_path / "rehearsal-killed"
    workdir.mkdir()
    driver = Driver(workdir=workdir)
    try:
        driver.deploy(
            {
                "workers": [_worker("signer", [_ss("HMAC_SECRET", "k")])],
                "secrets": {"st1": {"k": STANDIN}},
            }
        )
        assert driver.traffic([Request("signer", "POST", "/sign", body="x")])[0].status == 200
        assert _holding(workdir, STANDIN), "workerd's store (with the value) lives in the workdir"
        group = _driver_group(driver._proc.pid)
        assert len(group) == 2  # node + workerd, in the driver's own process group
        os.kill(driver._proc.pid, signal.SIGKILL)  # the driver is killed: workerd is orphaned
        driver._proc.wait()
        assert _driver_group(driver._proc.pid), "an orphaned workerd is left running"
        # ...and so is the owning process (simulated: the owner file names a dead pid)
        owner = json.loads((workdir / OWNER_FILE).read_text())
        (workdir / OWNER_FILE).write_text(json.dumps({**owner, "owner": _dead_pid()}))
        # a live rehearsal's folder is left alone
        live = tmp_path / "rehearsal-live"
        live.mkdir()
        (live / OWNER_FILE).write_text(json.dumps({"owner": os.getpid(), "driver": 1}))

        removed = reap_stale(tmp_path)  # what the next `secretsctl rehearse` does first

        assert removed == ["rehearsal-killed (ended 1 orphaned processes)"]
        assert not workdir.exists() and live.exists()
        assert _driver_group(driver._proc.pid) == []
    finally:
        driver.close()


def test_sigterm_to_a_rehearsal_removes_its_key_material_and_workerd(tmp_path):
    _needs_workerd()
    from secretsctl.rehearse.driver import OWNER_FILE, _driver_group

    env = {**os.environ, "TMPDIR": str(tmp_path)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "secretsctl", "rehearse"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.time() + 120
        blobs: list[Path] = []
        while time.time() < deadline and not blobs and proc.poll() is None:
            time.sleep(0.2)
            blobs = list(tmp_path.glob("rehearsal-*/workers-local-*/secrets-store/*/blobs/*"))
        assert blobs, "the rehearsal deployed secrets into its temp dir"
        marker = next(tmp_path.glob(f"rehearsal-*/{OWNER_FILE}"))
        driver = json.loads(marker.read_text())["driver"]
        assert _driver_group(driver)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 128 + signal.SIGTERM
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert list(tmp_path.glob("rehearsal-*")) == []
    assert list(tmp_path.glob("workers-local-*")) == []
    assert _driver_group(driver) == []
