"""A versioned secret: one Cloudflare secret per live version of its rotation."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_cloudflare as cloudflare
import pulumi_random as random

from secrets_store.rotation import Position, cloudflare_secret_name
from secrets_store.spec import KEY_BYTES, SecretSpec


@dataclass(frozen=True)
class VersionedSecretArgs:
    """What a `VersionedSecret` needs. Values are Pulumi secrets by construction."""

    secret: str
    """The secret's name in config (S); Cloudflare names are `{prefix}{S}_v{N}`."""
    spec: SecretSpec
    account_id: pulumi.Input[str]
    store_id: pulumi.Input[str]
    name_prefix: str = ""
    values: Mapping[int, pulumi.Output[str]] | None = None
    """Value per version for `source: config`; ignored for `source: generate`."""


class VersionedSecret(pulumi.ComponentResource):
    """One secret of the store, as the versions its rotation stage keeps alive.

    Behavior:
    - One `cloudflare.SecretsStoreSecret` per live version (`current`, plus `next`
      while rotating), named `{prefix}{secret}_v{N}`; a version is deleted when
      the rotation finishes, after every worker has stopped binding it (workers
      depend on the version's resource, so Pulumi updates them first).
    - Values are always Pulumi secrets. `source: generate` draws 32 random bytes
      (base64) with a `random.RandomBytes` per version: kept in state, stable
      across runs, and never regenerated unless the version changes.
    - Children are named after the secret (`<secret>-v<N>`), not after this
      component, so renaming or moving the component only needs an alias.

    Example:
        api_key = VersionedSecret("api_key", VersionedSecretArgs(
            secret="api_key", spec=SecretSpec(kind="api_key", source="generate"),
            account_id=account_id, store_id=store.store_id))
        api_key.version_names[1]  # Output "api_key_v1"

    API: https://developers.cloudflare.com/api/resources/secrets_store/subresources/stores/subresources/secrets/
    """

    kind: str
    """The secret's kind (api_key, encryption_key, ...), which gives the stages their meaning."""
    position: Position
    """Where this secret stands in its rotation (plain data, not secret)."""
    version_names: dict[int, pulumi.Output[str]]
    """Cloudflare secret name per live version; binding these makes workers wait for them."""
    cloudflare_names: list[str]
    """Cloudflare names of the live versions, oldest first (plain data: known before deploy)."""

    def __init__(
        self, name: str, args: VersionedSecretArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("secrets-store:index:VersionedSecret", name, None, opts)
        spec = args.spec
        self.kind = spec.kind
        self.position = spec.position
        self._prefix, self._secret = args.name_prefix, args.secret
        self.version_names = {}
        for version in self.position.live_versions:
            child = f"{args.secret}-v{version}"
            value = self._value(child, version, args)
            resource = cloudflare.SecretsStoreSecret(
                child,
                account_id=args.account_id,
                store_id=args.store_id,
                name=self.cloudflare_name(version),
                value=value,
                scopes=list(spec.scopes),
                comment=spec.comment,
                opts=pulumi.ResourceOptions(parent=self),
            )
            self.version_names[version] = resource.name
        self.cloudflare_names = [self.cloudflare_name(v) for v in self.position.live_versions]
        self.register_outputs(
            {"cloudflare_names": self.cloudflare_names, "position": self.position.describe()}
        )

    def cloudflare_name(self, version: int) -> str:
        """Cloudflare's name of one version, as plain text (for summaries)."""
        return cloudflare_secret_name(self._prefix, self._secret, version)

    def _value(self, child: str, version: int, args: VersionedSecretArgs) -> pulumi.Output[str]:
        if args.spec.source == "generate":
            generated = random.RandomBytes(
                f"{child}-value",
                length=KEY_BYTES,
                opts=pulumi.ResourceOptions(
                    parent=self, additional_secret_outputs=["base64", "hex"]
                ),
            )
            return pulumi.Output.secret(generated.base64)
        values = args.values or {}
        if version not in values:
            # parse_stack refuses this earlier; here it is an invariant, not user input.
            raise ValueError(f"no value for {args.secret} version {version}")
        return pulumi.Output.secret(values[version])
