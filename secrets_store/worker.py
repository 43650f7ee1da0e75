"""A Worker script with its modules and every binding, secrets placed by rotation stage."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_cloudflare as cloudflare

from secrets_store.modules import Module
from secrets_store.rotation import bound_versions
from secrets_store.secret import VersionedSecret
from secrets_store.spec import WorkerSpec

MODULE_CONTENT_TYPE = "application/javascript+module"


@dataclass(frozen=True)
class WorkerArgs:
    """What a `Worker` needs: its spec, its modules and the secrets it binds."""

    spec: WorkerSpec
    script_name: str
    account_id: pulumi.Input[str]
    store_id: pulumi.Input[str]
    modules: list[Module]
    """Main module first, then its imports (see `secrets_store.modules.collect_modules`)."""
    secrets: Mapping[str, VersionedSecret]
    """The shared secret components, by secret name: one set per stack, never per worker."""
    service_scripts: Mapping[str, str] = field(default_factory=dict)
    """Script name of each worker this one may bind as a service."""
    secret_texts: Mapping[str, pulumi.Output[str]] = field(default_factory=dict)
    """Legacy secret_text values by binding name (migration), already Pulumi secrets."""


class Worker(pulumi.ComponentResource):
    """A Cloudflare Worker whose Secrets Store bindings follow each secret's rotation stage.

    Behavior:
    - One `cloudflare.WorkersScript` named `{prefix}{worker}`: the main module as
      `content` + `main_module`, every imported module as a `files` part, so a
      change to any imported module changes the script's inputs and redeploys it.
    - Per secret binding B of secret S: B points at the version the stage says and,
      while rotating, the fallback binding F (default `B_FALLBACK`) at the other one.
      All bindings of S, in every worker, move in the same deploy.
    - Secret names are taken from the secret resources' outputs, so Pulumi creates a
      new version before any worker binds it, and deletes an old one only after
      every worker has moved off it.

    Example:
        Worker("api", WorkerArgs(spec=WorkerSpec(module="workers/api.js",
               secrets={"PRIMARY_KEY": BindingSpec(secret="api_key", fallback="FALLBACK_KEY")}),
               script_name="api", account_id=account_id, store_id=store.store_id,
               modules=collect_modules(root, "workers/api.js"), secrets={"api_key": api_key}))

    API: https://developers.cloudflare.com/api/resources/workers/subresources/scripts/methods/update/
    """

    script_name: str
    """The script's name in Cloudflare."""
    secret_bindings: dict[str, str]
    """Binding name -> Cloudflare secret name, at this stage (plain data: names, never values)."""

    def __init__(self, name: str, args: WorkerArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("secrets-store:index:Worker", name, None, opts)
        self.script_name = args.script_name
        self.secret_bindings = {}
        bindings: list[cloudflare.WorkersScriptBindingArgs] = []
        for binding, spec in args.spec.secrets.items():
            secret = args.secrets[spec.secret]
            for bound in bound_versions(binding, spec.fallback, secret.position):
                bindings.append(
                    cloudflare.WorkersScriptBindingArgs(
                        type="secrets_store_secret",
                        name=bound.binding,
                        store_id=args.store_id,
                        secret_name=secret.version_names[bound.version],
                    )
                )
                self.secret_bindings[bound.binding] = secret.cloudflare_name(bound.version)
        bindings += [
            cloudflare.WorkersScriptBindingArgs(type="plain_text", name=k, text=v)
            for k, v in args.spec.vars.items()
        ]
        bindings += [
            cloudflare.WorkersScriptBindingArgs(type="kv_namespace", name=k, namespace_id=v)
            for k, v in args.spec.kv.items()
        ]
        bindings += [
            cloudflare.WorkersScriptBindingArgs(
                type="service", name=k, service=args.service_scripts[v]
            )
            for k, v in args.spec.services.items()
        ]
        bindings += [
            cloudflare.WorkersScriptBindingArgs(type="secret_text", name=k, text=v)
            for k, v in args.secret_texts.items()
        ]

        main, *imported = args.modules
        self.script = cloudflare.WorkersScript(
            f"{name}-script",
            account_id=args.account_id,
            script_name=args.script_name,
            main_module=main.name,
            content=main.source,
            files={
                module.name: cloudflare.WorkersScriptFilesArgs(
                    content_type=MODULE_CONTENT_TYPE,
                    content_base64=module.base64,
                    content_sha256=module.sha256,
                )
                for module in imported
            },
            bindings=bindings,
            compatibility_date=args.spec.compatibility_date,
            compatibility_flags=list(args.spec.compatibility_flags) or None,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs(
            {"script_name": self.script_name, "secret_bindings": self.secret_bindings}
        )
