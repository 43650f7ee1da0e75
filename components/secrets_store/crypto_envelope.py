"""Python twin of the workers' crypto formats (workers/lib/envelope.js, signing.js, keys.js).

Pure functions: ``cryptography`` and ``joserfc`` (JWTs) only, no Pulumi, no I/O. Used by the
interop tests and to pre-seed values for the local rehearsal. Every format below is produced
and accepted identically by the workers (tests/test_crypto_interop.py runs both sides).

Base64
    Decoding is canonical, here and in workers/lib/encoding.js: a text is accepted only when
    re-encoding the decoded bytes gives back exactly that text. Surrounding or embedded
    whitespace, wrong padding and non-zero trailing bits are refused.
Key secret value
    Canonical standard base64 (with padding) of exactly 32 random bytes (44 characters),
    nothing around it (a trailing newline is refused): ``invalid_key_material``.
Key id (kid)
    Lowercase hex of the first 8 bytes of SHA-256(raw key) (16 characters).
Encryption envelope (``encryption_key``), unchanged
    ``v1.<kid>.<iv>.<ct>``: iv is base64url (no padding) of a random 12-byte IV, ct is
    base64url (no padding) of the AES-256-GCM ciphertext followed by its 16-byte tag, and the
    ASCII bytes of ``v1.<kid>`` are the additional authenticated data. The AES key is the raw
    key. Parsed exactly (no surrounding whitespace): ``invalid_envelope``.
Per-purpose signing keys (``signing_key``): domain separation
    The raw key is never a MAC key itself. Each purpose has its own key::

        K_purpose = HKDF-SHA256(IKM=raw key, salt=32 zero bytes, info=label, L=32)
        label  b"secrets-store/v2/hmac"   signatures (hmac_sign / hmac_verify)
               b"secrets-store/v2/jwt"    JWTs (jwt_issue / jwt_verify)

    So an HMAC signature over ``<header>.<payload>`` never verifies as a JWT, nor the reverse,
    even when one secret is bound to a signer and to a JWT verifier.
Signature (``signing_key``)
    ``v2.<kid>.<sig>``: sig is base64url (no padding) of HMAC-SHA256(K_hmac, data); kid is the
    secret's key id. ``v1.<kid>.<sig>`` (HMAC with the raw key, before domain separation) is
    refused as ``unsupported_version``. Refusal reasons (``hmac_check``):
    ``malformed_signature``, ``unsupported_version``, ``unknown_key_id``, ``bad_signature``.
JWT (``signing_key``)
    HS256 compact JWS made and checked by ``joserfc`` (the workers use ``jose``), header
    ``{"alg":"HS256","typ":"JWT","kid":"<kid>"}``, signature
    HMAC-SHA256(K_jwt, ASCII ``<header b64url>.<payload b64url>``). Verification refuses, in
    this order and with the same codes as the workers: a leeway outside 0..300 s
    (``invalid_leeway``, a configuration error); a token over 4096 characters
    (``token_too_large``); a part that is not canonical base64url of UTF-8 JSON
    (``malformed_token``; ``NaN``/``Infinity`` literals are not JSON); JSON nested deeper than
    16 levels, counted before parsing (``json_too_deep``); header checks (``malformed_token``,
    ``bad_algorithm``, ``missing_kid``); a payload that is not an object or a signature that is
    not 32 bytes (``malformed_token``); the MAC (``unknown_key_id``, ``bad_signature``); then
    claims: ``exp`` is required (``missing_exp``) and, like ``nbf``
    and ``iat`` when present, must be a finite JSON number (``invalid_exp``, ``invalid_nbf``,
    ``invalid_iat``; true/false, null, strings and numbers that overflow a double are not);
    finally ``token_expired`` / ``token_not_yet_valid`` with the leeway (default 30 s): as in
    both libraries and RFC 7519, a token is expired from the second ``exp + leeway`` on, and
    not yet valid while ``nbf`` is after ``now + leeway``; whole seconds of ``now`` count.

Errors never include a key or a plaintext.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import math
import os
import re
import time
from collections.abc import Iterable, Mapping
from typing import Any, Literal, cast

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from joserfc import jwt
from joserfc.errors import BadSignatureError, ExpiredTokenError, InvalidClaimError, JoseError
from joserfc.jwk import OctKey

__all__ = [
    "DEFAULT_LEEWAY_S",
    "MAX_JSON_DEPTH",
    "MAX_LEEWAY_S",
    "MAX_TOKEN_LENGTH",
    "PURPOSES",
    "SIGNATURE_VERSION",
    "EnvelopeError",
    "TokenError",
    "decode_key",
    "decrypt",
    "encrypt",
    "generate_key",
    "hmac_check",
    "hmac_sign",
    "hmac_verify",
    "jwt_issue",
    "jwt_verify",
    "key_id",
    "parse_envelope",
    "purpose_key",
]

VERSION = "v1"
"""Encryption envelope version."""
SIGNATURE_VERSION = "v2"
PURPOSES: dict[str, bytes] = {"hmac": b"secrets-store/v2/hmac", "jwt": b"secrets-store/v2/jwt"}
"""HKDF info label of each signing purpose."""
_HKDF_SALT = bytes(32)
MAX_TOKEN_LENGTH = 4096
MAX_JSON_DEPTH = 16
DEFAULT_LEEWAY_S = 30
MAX_LEEWAY_S = 300

Purpose = Literal["hmac", "jwt"]

_KEY_B64 = re.compile(r"[A-Za-z0-9+/]{43}=")
_B64 = re.compile(r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?")
_B64URL = re.compile(r"[A-Za-z0-9_-]*")
_KID = re.compile(r"[0-9a-f]{16}")


class EnvelopeError(ValueError):
    """A key, envelope or signature problem. The message never contains a secret."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


class TokenError(EnvelopeError):
    """A JWT failed verification."""


# ---------------------------------------------------------------- encodings


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    """Canonical standard base64 (with padding) only; ValueError otherwise."""
    if not isinstance(text, str) or not _B64.fullmatch(text):
        raise ValueError("invalid base64")
    raw = base64.b64decode(text, validate=True)
    if base64.b64encode(raw).decode("ascii") != text:
        raise ValueError("non-canonical base64")
    return raw


def _b64url_decode(text: str) -> bytes:
    """Canonical base64url without padding only; ValueError otherwise."""
    if not isinstance(text, str) or not _B64URL.fullmatch(text) or len(text) % 4 == 1:
        raise ValueError("invalid base64url")
    raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if _b64url(raw) != text:
        raise ValueError("non-canonical base64url")
    return raw


def _json_too_deep(text: str, max_depth: int = MAX_JSON_DEPTH) -> bool:
    """True when arrays/objects nest deeper than max_depth; same scan as encoding.js jsonTooDeep.

    ``[``/``{`` outside strings open a level, ``]``/``}`` close one. Exact for valid JSON, so
    ``json.loads`` never sees a text that would make it recurse deeply (RecursionError).
    """
    depth = 0
    in_string = escaped = False
    for c in text:
        if in_string:
            if escaped:
                escaped = False
            elif c == "\\":
                escaped = True
            elif c == '"':
                in_string = False
        elif c == '"':
            in_string = True
        elif c in "[{":
            depth += 1
            if depth > max_depth:
                return True
        elif c in "]}" and depth > 0:
            depth -= 1
    return False


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite(value: object) -> bool:
    """A finite JSON number as the workers see it (a double): not a bool, no overflow."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        return math.isfinite(float(value))
    except OverflowError:
        return False


# ---------------------------------------------------------------- keys


def generate_key() -> str:
    """A new key secret value: base64 of 32 random bytes."""
    return base64.b64encode(os.urandom(32)).decode("ascii")


def decode_key(value: str) -> bytes:
    """Raw 32 bytes from a key secret value; EnvelopeError (without the value) otherwise."""
    bad = EnvelopeError(
        "key is not canonical standard base64 of exactly 32 bytes (no whitespace)",
        "invalid_key_material",
    )
    if not isinstance(value, str) or not _KEY_B64.fullmatch(value):
        raise bad
    try:
        raw = _b64decode(value)
    except (ValueError, binascii.Error):
        raise bad from None
    if len(raw) != 32:
        raise bad
    return raw


def key_id(value: str | bytes) -> str:
    """Key id of a key secret value (str) or of raw key bytes."""
    raw = value if isinstance(value, bytes) else decode_key(value)
    return hashlib.sha256(raw).digest()[:8].hex()


def purpose_key(value: str | bytes, purpose: Purpose) -> bytes:
    """The 32-byte MAC key for one purpose (``hmac`` or ``jwt``) of a signing key (see above)."""
    raw = value if isinstance(value, bytes) else decode_key(value)
    if purpose not in PURPOSES:
        raise ValueError(f"unknown signing purpose {purpose!r}")
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=_HKDF_SALT, info=PURPOSES[purpose])
    return hkdf.derive(raw)


def _keyring(keys: str | Iterable[str]) -> dict[str, bytes]:
    values = [keys] if isinstance(keys, str) else list(keys)
    ring: dict[str, bytes] = {}
    for v in values:
        raw = decode_key(v)
        ring[key_id(raw)] = raw
    return ring


def _to_bytes(data: str | bytes) -> bytes:
    return data.encode("utf-8") if isinstance(data, str) else data


# ---------------------------------------------------------------- envelopes


def parse_envelope(envelope: str) -> tuple[str, bytes, bytes]:
    """(kid, iv, ciphertext+tag) of a v1 envelope."""
    parts = envelope.split(".") if isinstance(envelope, str) else []
    if len(parts) != 4 or parts[0] != VERSION or not _KID.fullmatch(parts[1]):
        raise EnvelopeError("ciphertext is not a valid v1 envelope", "invalid_envelope")
    try:
        iv, ct = _b64url_decode(parts[2]), _b64url_decode(parts[3])
    except (ValueError, binascii.Error):
        raise EnvelopeError("ciphertext is not a valid v1 envelope", "invalid_envelope") from None
    if len(iv) != 12 or len(ct) < 16:
        raise EnvelopeError("ciphertext is not a valid v1 envelope", "invalid_envelope")
    return parts[1], iv, ct


def encrypt(plaintext: str | bytes, key: str, *, iv: bytes | None = None) -> str:
    """Encrypt with one key secret value; returns ``v1.<kid>.<iv>.<ct>``."""
    raw = decode_key(key)
    kid = key_id(raw)
    nonce = iv if iv is not None else os.urandom(12)
    if len(nonce) != 12:
        raise EnvelopeError("iv must be 12 bytes", "invalid_iv")
    ct = AESGCM(raw).encrypt(nonce, _to_bytes(plaintext), f"{VERSION}.{kid}".encode("ascii"))
    return f"{VERSION}.{kid}.{_b64url(nonce)}.{_b64url(ct)}"


def decrypt(envelope: str, keys: str | Iterable[str]) -> bytes:
    """Decrypt with whichever of ``keys`` (secret values) has the envelope's kid."""
    kid, iv, ct = parse_envelope(envelope)
    raw = _keyring(keys).get(kid)
    if raw is None:
        raise EnvelopeError(f"no key with id {kid} was given", "unknown_key_id")
    try:
        return AESGCM(raw).decrypt(iv, ct, f"{VERSION}.{kid}".encode("ascii"))
    except InvalidTag:
        raise EnvelopeError(
            "ciphertext failed authentication (tampered or corrupted)", "decrypt_failed"
        ) from None


# ---------------------------------------------------------------- signatures


def hmac_sign(data: str | bytes, key: str) -> str:
    """``v2.<kid>.<sig>`` HMAC-SHA256 signature of data, with the key's ``hmac`` purpose key."""
    raw = decode_key(key)
    sig = hmac.new(purpose_key(raw, "hmac"), _to_bytes(data), hashlib.sha256).digest()
    return f"{SIGNATURE_VERSION}.{key_id(raw)}.{_b64url(sig)}"


def hmac_check(data: str | bytes, signature: str, keys: str | Iterable[str]) -> str | None:
    """None when signature was made by one of ``keys`` over data, else the refusal reason.

    Same reasons as the workers' ``verify``: malformed_signature, unsupported_version,
    unknown_key_id, bad_signature. Constant-time compare.
    """
    ok = isinstance(signature, str) and len(signature) <= 128
    parts = signature.split(".") if ok else []
    if len(parts) == 3 and parts[0] == "v1":
        return "unsupported_version"
    if len(parts) != 3 or parts[0] != SIGNATURE_VERSION or not _KID.fullmatch(parts[1]):
        return "malformed_signature"
    try:
        sig = _b64url_decode(parts[2])
    except (ValueError, binascii.Error):
        return "malformed_signature"
    if len(sig) != 32:
        return "malformed_signature"
    raw = _keyring(keys).get(parts[1])
    if raw is None:
        return "unknown_key_id"
    expected = hmac.new(purpose_key(raw, "hmac"), _to_bytes(data), hashlib.sha256).digest()
    return None if hmac.compare_digest(sig, expected) else "bad_signature"


def hmac_verify(data: str | bytes, signature: str, keys: str | Iterable[str]) -> bool:
    """True when signature was made by one of ``keys`` over data (constant-time compare)."""
    return hmac_check(data, signature, keys) is None


# ---------------------------------------------------------------- JWTs

_CLAIM_MESSAGES = {
    "missing_exp": "token has no exp claim",
    "invalid_exp": "token exp claim is not a finite number",
    "invalid_nbf": "token nbf claim is not a finite number",
    "invalid_iat": "token iat claim is not a finite number",
}


def _time_claims_problem(claims: Mapping[str, Any]) -> str | None:
    if "exp" not in claims:
        return "missing_exp"
    if not _finite(claims["exp"]):
        return "invalid_exp"
    for name in ("nbf", "iat"):
        if name in claims and not _finite(claims[name]):
            return f"invalid_{name}"
    return None


_JWT_ALGORITHMS = ["HS256"]


def _jwt_key(raw: bytes) -> OctKey:
    return OctKey.import_key(purpose_key(raw, "jwt"))


def jwt_issue(
    claims: Mapping[str, Any], key: str, *, ttl_seconds: int = 300, now: float | None = None
) -> str:
    """HS256 JWT with a kid header, MAC'd with the key's ``jwt`` purpose key; adds iat/exp.

    Refuses (EnvelopeError) a ttl that is not a positive integer, exp/nbf/iat that are not
    finite numbers, claims nested too deeply and a token the verifier would find too large.
    """
    if isinstance(ttl_seconds, bool) or not isinstance(ttl_seconds, int) or ttl_seconds <= 0:
        raise EnvelopeError("token ttl must be a positive integer of seconds", "invalid_ttl")
    raw = decode_key(key)
    ts = int(time.time() if now is None else now)
    payload = {"iat": ts, "exp": ts + ttl_seconds, **claims}
    problem = _time_claims_problem(payload)
    if problem:
        raise EnvelopeError(f"refusing to issue: {_CLAIM_MESSAGES[problem]}", problem)
    if _json_too_deep(json.dumps(payload, ensure_ascii=False)):
        raise EnvelopeError("refusing to issue: claims nest too deeply", "json_too_deep")
    header = {"alg": "HS256", "typ": "JWT", "kid": key_id(raw)}  # the workers' order, as is
    token = jwt.encode(header, payload, _jwt_key(raw), _JWT_ALGORITHMS, default_type=None)
    if len(token) > MAX_TOKEN_LENGTH:
        raise EnvelopeError("refusing to issue: token would be too large", "token_too_large")
    return token


def _json_part(part: str) -> object:
    try:
        text = _b64url_decode(part).decode("utf-8")
    except (ValueError, binascii.Error):
        raise TokenError("token is not a compact JWT", "malformed_token") from None
    if _json_too_deep(text):
        raise TokenError("token JSON nests too deeply", "json_too_deep")
    try:
        return json.loads(text, parse_constant=_no_constant)
    except ValueError:
        raise TokenError("token is not a compact JWT", "malformed_token") from None


def jwt_verify(
    token: str,
    keys: str | Iterable[str],
    *,
    now: float | None = None,
    leeway: float = DEFAULT_LEEWAY_S,
) -> dict[str, Any]:
    """Claims of an HS256 JWT signed by one of ``keys`` (by kid); TokenError otherwise.

    ``exp`` is required; ``leeway`` (seconds of clock skew) must be within 0..300, else
    EnvelopeError ``invalid_leeway``.
    """
    if not _finite(leeway) or not 0 <= leeway <= MAX_LEEWAY_S:
        raise EnvelopeError(f"JWT clock leeway must be 0..{MAX_LEEWAY_S} seconds", "invalid_leeway")
    if not isinstance(token, str):
        raise TokenError("token is not a compact JWT", "malformed_token")
    if len(token) > MAX_TOKEN_LENGTH:
        raise TokenError("token is too large", "token_too_large")
    parts = token.split(".")
    if len(parts) != 3:
        raise TokenError("token is not a compact JWT", "malformed_token")
    header = _json_part(parts[0])
    payload = _json_part(parts[1])
    try:
        sig = _b64url_decode(parts[2])
    except (ValueError, binascii.Error):
        raise TokenError("token is not a compact JWT", "malformed_token") from None
    if not isinstance(header, dict):
        raise TokenError("token header is not a JSON object", "malformed_token")
    if header.get("alg") != "HS256":
        raise TokenError("token algorithm must be HS256", "bad_algorithm")
    kid = header.get("kid")
    if not isinstance(kid, str) or not _KID.fullmatch(kid):
        raise TokenError("token has no valid kid header", "missing_kid")
    if not isinstance(payload, dict):
        raise TokenError("token payload is not a JSON object", "malformed_token")
    if len(sig) != 32:
        raise TokenError("token signature is not 32 bytes", "malformed_token")
    raw = _keyring(keys).get(kid)
    if raw is None:
        raise TokenError("token was signed by a key that is not given", "unknown_key_id")
    try:
        claims = jwt.decode(token, _jwt_key(raw), _JWT_ALGORITHMS).claims
    except BadSignatureError:
        raise TokenError("token signature is invalid", "bad_signature") from None
    except JoseError:
        raise TokenError("token is not a compact JWT", "malformed_token") from None
    # Types first (joserfc would call a missing and a null exp alike), then the clock, on
    # exp and nbf only: what jose checks in the workers (iat is not held to the clock there).
    problem = _time_claims_problem(claims)
    if problem:
        raise TokenError(_CLAIM_MESSAGES[problem], problem)
    ts = math.floor(time.time() if now is None else now)  # whole seconds, as jose counts them
    # Typed int, compared as any number: a fractional leeway works as in jose.
    clock = jwt.JWTClaimsRegistry(now=ts, leeway=cast(int, leeway))
    try:
        clock.validate({k: claims[k] for k in ("exp", "nbf") if k in claims})
    except ExpiredTokenError:
        raise TokenError("token expired", "token_expired") from None
    except InvalidClaimError:
        raise TokenError("token not yet valid", "token_not_yet_valid") from None
    return claims
