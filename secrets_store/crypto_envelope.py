"""Python twin of the workers' crypto formats (workers/lib/envelope.js, signing.js, keys.js).

Pure functions: ``cryptography`` only, no Pulumi, no I/O. Used by the interop tests and to
pre-seed values for the local rehearsal.

Key secret value
    Standard base64 (with padding) of exactly 32 random bytes (44 characters).
Key id (kid)
    Lowercase hex of the first 8 bytes of SHA-256(raw key) (16 characters).
Encryption envelope (``encryption_key``)
    ``v1.<kid>.<iv>.<ct>``: iv is base64url (no padding) of a random 12-byte IV, ct is
    base64url (no padding) of the AES-256-GCM ciphertext followed by its 16-byte tag, and the
    ASCII bytes of ``v1.<kid>`` are the additional authenticated data.
Signature (``signing_key``)
    ``v1.<kid>.<sig>``: sig is base64url (no padding) of HMAC-SHA256(raw key, data).
JWT (``signing_key``)
    HS256 compact JWS with header ``{"alg":"HS256","typ":"JWT","kid":"<kid>"}``.

Errors never include a key or a plaintext.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import re
import time
from collections.abc import Iterable, Mapping
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = [
    "EnvelopeError",
    "TokenError",
    "decode_key",
    "decrypt",
    "encrypt",
    "generate_key",
    "hmac_sign",
    "hmac_verify",
    "jwt_issue",
    "jwt_verify",
    "key_id",
    "parse_envelope",
]

VERSION = "v1"
_KEY_B64 = re.compile(r"^[A-Za-z0-9+/]{43}=$")
_KID = re.compile(r"^[0-9a-f]{16}$")


class EnvelopeError(ValueError):
    """A key, envelope or signature problem. The message never contains a secret."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


class TokenError(EnvelopeError):
    """A JWT failed verification."""


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode(text: str) -> bytes:
    if not re.fullmatch(r"[A-Za-z0-9_-]*", text) or len(text) % 4 == 1:
        raise ValueError("invalid base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def generate_key() -> str:
    """A new key secret value: base64 of 32 random bytes."""
    return base64.b64encode(os.urandom(32)).decode("ascii")


def decode_key(value: str) -> bytes:
    """Raw 32 bytes from a key secret value; EnvelopeError (without the value) otherwise."""
    text = value.strip() if isinstance(value, str) else ""
    if not _KEY_B64.fullmatch(text):
        raise EnvelopeError(
            "key is not standard base64 of exactly 32 bytes", "invalid_key_material"
        )
    try:
        raw = base64.b64decode(text, validate=True)
    except binascii.Error:
        raise EnvelopeError(
            "key is not standard base64 of exactly 32 bytes", "invalid_key_material"
        ) from None
    if len(raw) != 32:
        raise EnvelopeError("key is not 32 bytes", "invalid_key_material")
    return raw


def key_id(value: str | bytes) -> str:
    """Key id of a key secret value (str) or of raw key bytes."""
    raw = value if isinstance(value, bytes) else decode_key(value)
    return hashlib.sha256(raw).digest()[:8].hex()


def _keyring(keys: str | Iterable[str]) -> dict[str, bytes]:
    values = [keys] if isinstance(keys, str) else list(keys)
    ring: dict[str, bytes] = {}
    for v in values:
        raw = decode_key(v)
        ring[key_id(raw)] = raw
    return ring


def _to_bytes(data: str | bytes) -> bytes:
    return data.encode("utf-8") if isinstance(data, str) else data


def parse_envelope(envelope: str) -> tuple[str, bytes, bytes]:
    """(kid, iv, ciphertext+tag) of a v1 envelope."""
    parts = envelope.strip().split(".") if isinstance(envelope, str) else []
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


def hmac_sign(data: str | bytes, key: str) -> str:
    """``v1.<kid>.<sig>`` HMAC-SHA256 signature of data."""
    raw = decode_key(key)
    sig = hmac.new(raw, _to_bytes(data), hashlib.sha256).digest()
    return f"{VERSION}.{key_id(raw)}.{_b64url(sig)}"


def hmac_verify(data: str | bytes, signature: str, keys: str | Iterable[str]) -> bool:
    """True when signature was made by one of ``keys`` over data (constant-time compare)."""
    parts = signature.strip().split(".") if isinstance(signature, str) else []
    if len(parts) != 3 or parts[0] != VERSION or not _KID.fullmatch(parts[1]):
        return False
    raw = _keyring(keys).get(parts[1])
    if raw is None:
        return False
    try:
        sig = _b64url_decode(parts[2])
    except (ValueError, binascii.Error):
        return False
    expected = hmac.new(raw, _to_bytes(data), hashlib.sha256).digest()
    return hmac.compare_digest(sig, expected)


def jwt_issue(
    claims: Mapping[str, Any], key: str, *, ttl_seconds: int = 300, now: float | None = None
) -> str:
    """HS256 JWT with a kid header; adds iat/exp unless given."""
    raw = decode_key(key)
    ts = int(time.time() if now is None else now)
    payload = {"iat": ts, "exp": ts + ttl_seconds, **claims}
    header = {"alg": "HS256", "typ": "JWT", "kid": key_id(raw)}
    signing_input = (
        _b64url(json.dumps(header, separators=(",", ":")).encode())
        + "."
        + _b64url(json.dumps(payload, separators=(",", ":")).encode())
    )
    sig = hmac.new(raw, signing_input.encode("ascii"), hashlib.sha256).digest()
    return f"{signing_input}.{_b64url(sig)}"


def jwt_verify(
    token: str, keys: str | Iterable[str], *, now: float | None = None, leeway: int = 30
) -> dict[str, Any]:
    """Claims of an HS256 JWT signed by one of ``keys`` (by kid); TokenError otherwise."""
    parts = token.strip().split(".") if isinstance(token, str) else []
    if len(parts) != 3:
        raise TokenError("token is not a compact JWT", "malformed_token")
    try:
        header = json.loads(_b64url_decode(parts[0]))
        payload = json.loads(_b64url_decode(parts[1]))
        sig = _b64url_decode(parts[2])
    except (ValueError, binascii.Error):
        raise TokenError("token is not a compact JWT", "malformed_token") from None
    if not isinstance(header, dict) or header.get("alg") != "HS256":
        raise TokenError("token algorithm must be HS256", "bad_algorithm")
    kid = header.get("kid")
    if not isinstance(kid, str) or not _KID.fullmatch(kid):
        raise TokenError("token has no valid kid header", "missing_kid")
    if not isinstance(payload, dict):
        raise TokenError("token payload is not a JSON object", "malformed_token")
    raw = _keyring(keys).get(kid)
    if raw is None:
        raise TokenError("token was signed by a key that is not given", "unknown_key_id")
    expected = hmac.new(raw, f"{parts[0]}.{parts[1]}".encode("ascii"), hashlib.sha256).digest()
    if not hmac.compare_digest(sig, expected):
        raise TokenError("token signature is invalid", "bad_signature")
    ts = time.time() if now is None else now
    exp, nbf = payload.get("exp"), payload.get("nbf")
    if isinstance(exp, int | float) and ts > exp + leeway:
        raise TokenError("token expired", "token_expired")
    if isinstance(nbf, int | float) and ts + leeway < nbf:
        raise TokenError("token not yet valid", "token_not_yet_valid")
    return payload
