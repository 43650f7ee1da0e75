"""Pulumi's passphrase secrets provider, as `pulumi config set --secret` writes a stack file.

A stack file's `encryptionsalt: v1:<base64 salt>:v1:<base64 nonce>:<base64 ciphertext>`
holds an 8-byte salt and the word "pulumi" encrypted with the stack's key, so a wrong
passphrase is told apart from a right one. The key is PBKDF2-HMAC-SHA256 of the passphrase
with that salt, 1,000,000 iterations, 32 bytes; each `secure:` value is AES-256-GCM with a
random 12-byte nonce: `v1:<base64 nonce>:<base64 ciphertext and tag>`.

The shipped example stacks hold values encrypted this way (passphrase documented in the
README), so `pulumi up` can decrypt them, and tests write values as Pulumi would.
"""

from __future__ import annotations

import base64
import binascii
import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

ITERATIONS = 1_000_000
KEY_BYTES = 32
SALT_BYTES = 8
NONCE_BYTES = 12
CHECK_WORD = "pulumi"


class PassphraseError(ValueError):
    """A wrong passphrase, or a salt or ciphertext not in Pulumi's format (never a value)."""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise PassphraseError("not base64, got other characters (not a Pulumi value)") from None


@dataclass(frozen=True)
class Crypter:
    """One stack's key, from its passphrase and salt."""

    key: bytes

    @classmethod
    def from_passphrase(cls, passphrase: str, salt: bytes) -> Crypter:
        kdf = PBKDF2HMAC(
            algorithm=hashes.SHA256(), length=KEY_BYTES, salt=salt, iterations=ITERATIONS
        )
        return cls(kdf.derive(passphrase.encode("utf-8")))

    def encrypt(self, plaintext: str, nonce: bytes | None = None) -> str:
        nonce = nonce or os.urandom(NONCE_BYTES)
        sealed = AESGCM(self.key).encrypt(nonce, plaintext.encode("utf-8"), None)
        return f"v1:{_b64(nonce)}:{_b64(sealed)}"

    def decrypt(self, ciphertext: str) -> str:
        version, _, rest = ciphertext.partition(":")
        nonce, _, sealed = rest.partition(":")
        if version != "v1" or not nonce or not sealed:
            raise PassphraseError("not a Pulumi passphrase ciphertext, got another shape")
        try:
            return AESGCM(self.key).decrypt(_unb64(nonce), _unb64(sealed), None).decode("utf-8")
        except (InvalidTag, ValueError):
            raise PassphraseError(
                "cannot decrypt, got a value this passphrase did not encrypt (check "
                "PULUMI_CONFIG_PASSPHRASE)"
            ) from None


def new_salt_line(passphrase: str, salt: bytes | None = None) -> tuple[str, Crypter]:
    """(`encryptionsalt` value, the crypter) for a new stack, as Pulumi makes them."""
    salt = salt or os.urandom(SALT_BYTES)
    crypter = Crypter.from_passphrase(passphrase, salt)
    return f"v1:{_b64(salt)}:{crypter.encrypt(CHECK_WORD)}", crypter


def crypter_for(salt_line: str, passphrase: str) -> Crypter:
    """The crypter of a stack file's `encryptionsalt`; refuses a wrong passphrase."""
    version, _, rest = salt_line.partition(":")
    salt, _, check = rest.partition(":")
    if version != "v1" or not salt or not check:
        raise PassphraseError("encryptionsalt: not Pulumi's v1:<salt>:<check> shape")
    crypter = Crypter.from_passphrase(passphrase, _unb64(salt))
    try:
        matches = crypter.decrypt(check) == CHECK_WORD
    except PassphraseError:
        matches = False
    if not matches:
        raise PassphraseError("encryptionsalt: the passphrase does not match this stack")
    return crypter
