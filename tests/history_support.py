"""A scripted git history of the example stacks: rotations landing on chosen days.

`scripted_history(root)` builds the repository the rotation tests (and the dry run in the
README's report) read: commits dated as if each change had been merged that day.
"""

from __future__ import annotations

import os
from pathlib import Path

from tests.workflow_support import Repo, git

TODAY = "2026-06-01"
"""The day the scripted history is looked at."""


def _noon(day: str) -> tuple[str, dict[str, str]]:
    """Noon UTC on `day`, and the environment that makes it git's author and committer date."""
    stamp = f"{day}T12:00:00+00:00"
    return stamp, {**os.environ, "GIT_AUTHOR_DATE": stamp, "GIT_COMMITTER_DATE": stamp}


def commit_on(repo: Repo, day: str, message: str) -> None:
    """Commit everything as landed on `day` (author and committer dates: the day it merged)."""
    _, env = _noon(day)
    git(repo.root, "add", "-A")
    git(repo.root, "commit", "-q", "--allow-empty", "-m", message, env=env)


def redate_base(repo: Repo, day: str) -> None:
    """Move the first commit (Repo's `base`) to `day`, so the scripted days follow it."""
    stamp, env = _noon(day)
    git(repo.root, "commit", "-q", "--amend", "--no-edit", "--date", stamp, env=env)


def stage(repo: Repo, stack: str, secret: str, day: str, block: str) -> None:
    """One rotation stage of one secret, merged on `day`."""
    repo.set_position(stack, secret, block)
    commit_on(repo, day, f"{stack}: {secret} {block.replace(chr(10), ' ')}")


def rotation(repo: Repo, stack: str, secret: str, days: tuple[str, str, str], old: int) -> None:
    """A whole rotation old -> old+1: fallback, swapped and the finish, on three days."""
    new = old + 1
    stage(repo, stack, secret, days[0], f"current: {old}\nnext: {new}\nstage: fallback")
    stage(repo, stack, secret, days[1], f"current: {old}\nnext: {new}\nstage: swapped")
    stage(repo, stack, secret, days[2], f"current: {new}")


def scripted_history(root: Path) -> Repo:
    """The example stacks from 2026-01-05 to 2026-05-20.

    - every secret steady at v1 on 2026-01-05 (dev's api_key too);
    - hmac_key rotated to v2 in dev (Feb 2-9), staging (Feb 16-23), prod (Mar 2-9);
    - jwt_key: dev at fallback on Apr 1, swapped on Apr 3, and not moved since;
    - api_key (source: config): dev at fallback with v2's value on May 4;
    - vault_key (encryption_key): dev finished v2 on May 20, re-encrypted, `since:` recorded.

    On 2026-06-01: dev's hmac_key is due (112 days, rotateEvery 90d), dev's jwt_key is
    stuck in swapped (59 days), dev's api_key waits for a person, staging follows dev's
    finished vault_key, and staging's jwt_key and api_key wait for dev to finish.
    """
    repo = Repo(root)
    repo.set_api_key("dev", "current: 1")
    git(repo.root, "add", "-A")
    git(repo.root, "-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-q",
        "--amend", "--no-edit")  # fmt: skip
    redate_base(repo, "2026-01-05")
    rotation(repo, "dev", "hmac_key", ("2026-02-02", "2026-02-04", "2026-02-09"), 1)
    rotation(repo, "staging", "hmac_key", ("2026-02-16", "2026-02-18", "2026-02-23"), 1)
    rotation(repo, "prod", "hmac_key", ("2026-03-02", "2026-03-04", "2026-03-09"), 1)
    stage(repo, "dev", "jwt_key", "2026-04-01", "current: 1\nnext: 2\nstage: fallback")
    stage(repo, "dev", "jwt_key", "2026-04-03", "current: 1\nnext: 2\nstage: swapped")
    repo.set_api_key("dev", "current: 1\nnext: 2\nstage: fallback")
    commit_on(repo, "2026-05-04", "dev: api_key fallback (v2's value set)")
    stage(repo, "dev", "vault_key", "2026-05-11", "current: 1\nnext: 2\nstage: fallback")
    stage(repo, "dev", "vault_key", "2026-05-13", "current: 1\nnext: 2\nstage: swapped")
    repo.set_position("dev", "vault_key", "current: 2\nreencrypted: 2\nsince: 2026-05-20")
    commit_on(repo, "2026-05-20", "dev: vault_key v2 steady, re-encrypted")
    return repo
