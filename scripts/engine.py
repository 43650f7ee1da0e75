#!/usr/bin/env python3
"""`make engine`: build the Pulumi engine from Go modules into a cache outside the checkout.

Builds, each from the Go module folder of the same name under `engine/` (versions pinned
in its go.mod and go.sum):

- `pulumi`, the CLI (github.com/pulumi/pulumi/pkg/v3, a `tool` of engine/cli);
- `pulumi-language-python`, this project's language host (engine/python-host), with
  `pulumi-language-python-exec` and `pulumi-resource-pulumi-python` from sdk/v3 beside it;
- `pulumi-resource-cloudflare` and `pulumi-resource-random`, bridged from the upstream
  Terraform providers with Pulumi's terraform bridge (engine/cloudflare, engine/random).

The cache folder is keyed by everything that goes into the build (the files under
`engine/` and the Go version), so a second run finds it and takes a second. Progress goes
to stderr; the last line on stdout is the absolute folder holding the binaries.

Usage: python3 scripts/engine.py [--print-dir]   (env: SECRETS_STORE_ENGINE_CACHE, the
cache root, default ~/.cache/secrets-store-engine). `--print-dir` prints the folder the
build would use and exits 0 if it is complete, 1 if not, building nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ENGINE = ROOT / "engine"
BUILD_TAGS = "osusergo,grpcnotrace"
COMPLETE = ".complete"
# The bridged plugins build in one folder per plugin that never moves (not under the keyed
# folder): Go's build cache keys each package on its folder, so a rebuild after any change
# to engine/ recompiles only what changed, not the upstream provider's ~1,000 packages.
SOURCES = "probe-build"


def say(message: str) -> None:
    print(f"engine: {message}", file=sys.stderr, flush=True)


def fail(message: str) -> None:
    print(f"make engine: {message}", file=sys.stderr, flush=True)
    raise SystemExit(2)


def go_binary() -> str:
    go = shutil.which("go")
    if go is None:
        fail("no Go toolchain on PATH: install Go 1.26.8 or newer, then run `make engine`")
    return go


def go_version(go: str) -> str:
    out = subprocess.run([go, "env", "GOVERSION"], capture_output=True, text=True, check=True)
    return out.stdout.strip()


def required(module_dir: Path, module: str) -> str:
    """The version that module_dir/go.mod requires of `module`."""
    text = (module_dir / "go.mod").read_text()
    match = re.search(rf"^\s*(?:require\s+)?{re.escape(module)}\s+(v\S+)", text, re.MULTILINE)
    if match is None:
        fail(f"engine/{module_dir.name}/go.mod does not require {module}")
    return match.group(1)


def cache_key(go_ver: str) -> str:
    digest = hashlib.sha256(go_ver.encode())
    for path in sorted(p for p in ENGINE.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(ENGINE)).encode() + b"\0" + path.read_bytes() + b"\0")
    cli = required(ENGINE / "cli", "github.com/pulumi/pulumi/pkg/v3")
    return f"pulumi-{cli}-cloudflare-6.23.1-{digest.hexdigest()[:12]}"


def cache_root() -> Path:
    configured = os.environ.get("SECRETS_STORE_ENGINE_CACHE")
    base = Path(configured) if configured else Path.home() / ".cache" / "secrets-store-engine"
    return base.expanduser().resolve()


class Ticker:
    """Prints `<what>: N s` every 20 seconds while a long step runs."""

    def __init__(self, what: str) -> None:
        self.what, self.start, self.done = what, time.monotonic(), threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.done.wait(20):
            say(f"  {self.what}: {self.elapsed():.0f} s so far")

    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def __enter__(self) -> Ticker:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.done.set()


def run(cmd: list[str], cwd: Path, what: str, env: dict[str, str]) -> None:
    with Ticker(what) as ticker:
        proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout + proc.stderr)
        fail(
            f"{what} failed after {ticker.elapsed():.0f} s (exit {proc.returncode}): "
            + " ".join(cmd)
        )
    say(f"  {what}: done in {ticker.elapsed():.0f} s")


def module_dir(go: str, module: str, version: str, cwd: Path, env: dict[str, str]) -> Path:
    """The read-only folder of module@version in Go's module cache (downloaded if needed)."""
    proc = subprocess.run(
        [go, "mod", "download", "-json", f"{module}@{version}"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
    )
    info = json.loads(proc.stdout or "{}")
    if proc.returncode != 0 or "Dir" not in info:
        fail(f"cannot download {module}@{version}: {info.get('Error') or proc.stderr.strip()}")
    return Path(info["Dir"])


declared = {
    "github.com/hashicorp/terraform-provider-random": (
        "github.com/terraform-providers/terraform-provider-random"
    )
}


def bridged(go: str, name: str, upstream: str, build: Path, env: dict[str, str]) -> Path:
    """engine/<name> in a build folder, with the upstream module beside it (./upstream) and
    this project's shim file inside that copy."""
    source = ENGINE / name
    folder = build / name
    if folder.exists():
        shutil.rmtree(folder, onerror=_writable_then_retry)
    folder.mkdir(parents=True)  # the same files at the same path: Go's cache still holds
    for file in [source / "go.mod", source / "go.sum", *source.glob("*.go")]:
        shutil.copy2(file, folder / file.name)
    # The module is served under `upstream`, but may call itself otherwise in its go.mod
    # (random: github.com/terraform-providers/...); our go.mod requires that name.
    version = required(source, declared.get(upstream, upstream))
    original = module_dir(go, upstream, version, build, env)  # outside any go.mod
    shutil.copytree(original, folder / "upstream")
    for path in (folder / "upstream").rglob("*"):
        path.chmod(path.stat().st_mode | 0o200)
    (folder / "upstream").chmod(0o755)
    (folder / "upstream" / "shim").mkdir(exist_ok=True)
    shutil.copy2(source / "shim" / "shim.go", folder / "upstream" / "shim" / "shim.go")
    return folder


def _writable_then_retry(func, path, _exc):  # type: ignore[no-untyped-def]
    os.chmod(Path(path).parent, 0o755)
    os.chmod(path, 0o755)
    func(path)


def build_all(go: str, out: Path, build: Path) -> None:
    env = {**os.environ, "GOFLAGS": "-buildvcs=false -mod=readonly"}
    staging = out.with_name(out.name + ".partial")
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    cli_version = required(ENGINE / "cli", "github.com/pulumi/pulumi/pkg/v3")
    version_flag = "github.com/pulumi/pulumi/sdk/v3/go/common/version.Version"
    steps = [
        (
            "pulumi (the CLI)",
            ENGINE / "cli",
            [
                "-ldflags",
                f"-s -w -X {version_flag}={cli_version}",
                "-o",
                str(staging / "pulumi"),
                "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi",
            ],
        ),
        (
            "pulumi-language-python (this project's host)",
            ENGINE / "python-host",
            [
                "-ldflags",
                f"-s -w -X {version_flag}={cli_version}",
                "-o",
                str(staging / "pulumi-language-python"),
                ".",
            ],
        ),
    ]
    for name, upstream in (
        ("cloudflare", "github.com/cloudflare/terraform-provider-cloudflare"),
        ("random", "github.com/hashicorp/terraform-provider-random"),
    ):
        folder = bridged(go, name, upstream, build, env)
        steps.append(
            (
                f"pulumi-resource-{name} (bridged from {upstream.split('/')[-1]})",
                folder,
                ["-ldflags", "-s -w", "-o", str(staging / f"pulumi-resource-{name}"), "."],
            )
        )
    for index, (what, cwd, args) in enumerate(steps, 1):
        say(f"[{index}/{len(steps)}] building {what}")
        run([go, "build", "-tags", BUILD_TAGS, *args], cwd, what, env)

    # The Python pieces that sit beside the host, from the sdk/v3 module the CLI was built with.
    sdk = module_dir(go, "github.com/pulumi/pulumi/sdk/v3", cli_version, ENGINE / "cli", env)
    for script in ("cmd/pulumi-language-python-exec", "dist/pulumi-resource-pulumi-python"):
        target = staging / Path(script).name
        shutil.copy2(sdk / "python" / script, target)
        target.chmod(0o755)
    (staging / COMPLETE).write_text(
        json.dumps({"go": go_version(go), "pulumi": cli_version}) + "\n"
    )
    if out.exists():
        shutil.rmtree(out)
    staging.rename(out)  # a killed build never leaves a folder that looks complete


def main(argv: list[str]) -> int:
    print_only = "--print-dir" in argv
    if print_only and not shutil.which("go"):
        print("no Go toolchain on PATH", file=sys.stderr)
        return 1
    go = go_binary()
    key = cache_key(go_version(go))
    root = cache_root()
    out = root / key / "bin"
    if print_only:
        print(out)
        if (out / COMPLETE).is_file():
            return 0
        print(f"engine: not built in {out} yet (run `make engine`)", file=sys.stderr)
        return 1
    if (out / COMPLETE).is_file():
        say(f"cached: {key} (delete {root / key} to rebuild)")
    else:
        say(
            f"building {key} into {root / key} "
            "(first build: about an hour on 2 cores, most of it the Cloudflare plugin)"
        )
        start = time.monotonic()
        build_all(go, out, root / SOURCES)
        say(f"built in {time.monotonic() - start:.0f} s")
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
