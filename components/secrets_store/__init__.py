"""Cloudflare Secrets Store as code: Pulumi components, a stack spec and a rotation state machine.

Public API (Pulumi components, `(name, args, opts)` or keyword arguments):

    from secrets_store import SecretsStore, VersionedSecret, Worker, SecretBinding

`spec`, `rotation`, `ordering`, `schemas` and `errors` are pure (no Pulumi, no I/O);
the components load Pulumi only when first used, so the pure core stays light.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.3.0"

_PUBLIC = {
    "SecretsStore": "secrets_store.store",
    "SecretsStoreArgs": "secrets_store.store",
    "VersionedSecret": "secrets_store.secret",
    "VersionedSecretArgs": "secrets_store.secret",
    "Worker": "secrets_store.worker",
    "WorkerArgs": "secrets_store.worker",
    "SecretBinding": "secrets_store.worker",
    "SecretBindingArgs": "secrets_store.worker",
    "SpecError": "secrets_store.errors",
    "promotion_guard": "secrets_store.promotion",
    "gated": "secrets_store.promotion",
}
__all__ = [
    "SecretBinding",
    "SecretBindingArgs",
    "SecretsStore",
    "SecretsStoreArgs",
    "SpecError",
    "VersionedSecret",
    "VersionedSecretArgs",
    "Worker",
    "WorkerArgs",
    "gated",
    "promotion_guard",
]

if TYPE_CHECKING:
    from secrets_store.errors import SpecError
    from secrets_store.promotion import gated, promotion_guard
    from secrets_store.secret import VersionedSecret, VersionedSecretArgs
    from secrets_store.store import SecretsStore, SecretsStoreArgs
    from secrets_store.worker import SecretBinding, SecretBindingArgs, Worker, WorkerArgs


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        return getattr(importlib.import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'secrets_store' has no attribute {name!r}")
