"""The Pulumi SDK range the package allows, tested at both ends.

pyproject.toml requires `pulumi>=3.272,<4`; the project's own lock (requirements.txt)
installs one version. This finds the lowest and the newest release inside the range on the
package index and, for each end that is not the locked version, builds a venv with the
lock's other pins and that pulumi, and runs the tests that touch the SDK's internals and
the components' public behaviour there. An end equal to the locked version is covered by
the main run, and it says so.

Usage: .venv/bin/python scripts/sdk_range.py [--dry-run]   (make test-sdk-range)
Exit status: non-zero when a run at either end failed; 0, saying why, when the index
cannot be reached (nothing to test against).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tomllib
from importlib.metadata import version
from pathlib import Path

from packaging.specifiers import SpecifierSet
from packaging.version import InvalidVersion, Version

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "cloudflare-secrets-store"
TESTS = [
    "tests/test_sdk_internals.py",
    "tests/test_public_api.py",
    "tests/test_codefirst_team.py",
    "tests/test_plan_cli.py",
]


def say(text: str) -> None:
    print(f"sdk-range: {text}", flush=True)


def allowed() -> SpecifierSet:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    (requirement,) = [d for d in project["dependencies"] if re.match(r"pulumi\b(?!-)", d)]
    return SpecifierSet(requirement.removeprefix("pulumi"))


def released() -> list[Version] | None:
    """Every pulumi release on the index pip is configured with; None when unreachable."""
    result = subprocess.run(
        [sys.executable, "-m", "pip", "index", "versions", "pulumi"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    match = re.search(r"Available versions: (.+)", result.stdout)
    if result.returncode != 0 or match is None:
        return None
    found = []
    for text in match.group(1).split(","):
        try:
            found.append(Version(text.strip()))
        except InvalidVersion:
            continue
    return found


def run_at(pulumi: Version) -> int:
    """Build (once) a venv with the lock's pins and `pulumi==<pulumi>`, and run TESTS there."""
    venv = CACHE / f"sdk-{pulumi}"
    python = venv / "bin" / "python"
    if not python.exists():
        say(f"building a venv with pulumi {pulumi} in {venv}")
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        # The lock, with this pulumi and the project itself from this checkout.
        lock = (ROOT / "requirements.txt").read_text()
        lock = re.sub(r"(?m)^pulumi==\S+", f"pulumi=={pulumi}", lock)
        lock = re.sub(r"(?m)^-e \.", f"-e {ROOT}", lock)
        requirements = venv / "requirements.txt"
        requirements.write_text(lock)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "-r", str(requirements)], check=True
        )
    say(f"pulumi {pulumi}: {' '.join(TESTS)}")
    return subprocess.run(
        [str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", *TESTS], cwd=ROOT
    ).returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dry-run", action="store_true", help="say what would run, run nothing")
    args = parser.parse_args()
    spec = allowed()
    versions = released()
    if versions is None:
        say("the package index cannot be reached: the range's ends were not tested")
        return 0
    inside = sorted(v for v in versions if v in spec and not v.is_prerelease)
    if not inside:
        say(f"no release on the index satisfies pulumi{spec}")
        return 1
    locked = Version(version("pulumi"))
    status = 0
    for label, end in (("lowest", inside[0]), ("newest", inside[-1])):
        if end == locked:
            say(f"{label} allowed (pulumi{spec}): {end}, the locked version the main run tests")
            continue
        say(f"{label} allowed (pulumi{spec}): {end}")
        if not args.dry_run:
            status |= run_at(end)
    return status


if __name__ == "__main__":
    sys.exit(main())
