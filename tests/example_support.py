"""Builds the TypeScript example Worker (workers/examples/edge-signer) with the pinned esbuild,
as its README says: the tests deploy and rehearse that real output."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "workers" / "examples" / "edge-signer"
ENTRY = "edge_signer.js"


def build_edge_signer(outdir: Path = EXAMPLE / "dist", *, extras: bool = False) -> Path:
    """esbuild's output of the example in `outdir` (source map included: not a module).

    Built in a scratch folder and moved in file by file, so tests running at once never
    read a half-written bundle. `extras`: also leave a README.md there, as wrangler does.
    """
    esbuild = ROOT / "node_modules" / ".bin" / "esbuild"
    if not esbuild.exists():
        pytest.skip("node_modules/.bin/esbuild is missing: run `make setup` (npm ci)")
    outdir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=outdir.parent) as scratch:
        subprocess.run(
            [
                str(esbuild),
                str(EXAMPLE / "src" / "edge_signer.ts"),
                "--bundle",
                "--format=esm",
                "--platform=neutral",
                "--target=es2022",
                "--sourcemap",
                f"--outdir={scratch}",
            ],
            check=True,
            capture_output=True,
            cwd=ROOT,
            timeout=120,
        )
        for built in Path(scratch).iterdir():
            os.replace(built, outdir / built.name)
    if extras:
        shutil.copy(EXAMPLE / "package.json", outdir / "package.json")
        (outdir / "README.md").write_text("This folder is a build output.\n")
    return outdir
