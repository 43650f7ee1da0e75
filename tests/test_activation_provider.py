"""`SecretActivation` sends the provider `pulumi.dynamic.Resource` would send, serialized once.

The SDK serializes a dynamic resource's provider for every resource, and each call
leaves pickle's `_batch_setitems` wrapped once more: a few hundred secret versions
per process (a 100-secret stack run a few times, as `make bench` and the tests do)
got slower and then failed with RecursionError. `SecretActivation` serializes
its provider once per process; the input it sends, its type and its URN are the
SDK's own.
"""

from __future__ import annotations

import base64
import pickle
from collections.abc import Callable
from typing import Any

from pulumi.dynamic import dynamic

from secrets_store import activation
from secrets_store.activation import ActivationProvider
from secrets_store.sdk_internals import DYNAMIC_PROVIDER_KEY, serialized_dynamic_provider
from secretsctl.offline.mockrun import ProgramRun

ACTIVE_TYPE = "pulumi-python:dynamic/secrets-store:SecretActivation"


def test_the_sent_provider_is_the_one_the_sdk_would_serialize(
    run: Callable[..., ProgramRun], namespace: dict[str, Any]
) -> None:
    expected, captured_secrets = serialized_dynamic_provider(ActivationProvider())
    assert not captured_secrets  # so the SDK would send it as plain text, not a secret
    assert DYNAMIC_PROVIDER_KEY == "__provider"

    result = run(namespace)

    waits = [r for r in result.resources if r.type == ACTIVE_TYPE]
    assert len(waits) == 4  # one per live version of the four secrets
    assert {r.inputs[DYNAMIC_PROVIDER_KEY] for r in waits} == {expected}
    assert all(r.custom for r in waits)
    # What the engine's dynamic provider host does with it: a working provider again.
    assert isinstance(pickle.loads(base64.b64decode(expected)), ActivationProvider)


def test_the_provider_is_serialized_once_per_process_not_once_per_resource(
    monkeypatch: Any, run: Callable[..., ProgramRun], namespace: dict[str, Any]
) -> None:
    calls = []
    sdk = dynamic.serialize_provider

    def counting(provider: Any) -> str:
        calls.append(type(provider))
        return sdk(provider)

    monkeypatch.setattr(dynamic, "serialize_provider", counting)
    monkeypatch.setattr(activation, "_SERIALIZED", {})

    for _ in range(3):
        run(namespace)

    assert calls == [ActivationProvider]


def test_running_the_program_again_leaves_pickle_alone(
    run: Callable[..., ProgramRun], namespace: dict[str, Any]
) -> None:
    # Each SDK serialization wrapped pickle's `_batch_setitems` once more, for good.
    run(namespace)
    before = pickle._Pickler._batch_setitems  # type: ignore[attr-defined]
    for _ in range(3):
        run(namespace)
    assert pickle._Pickler._batch_setitems is before  # type: ignore[attr-defined]
