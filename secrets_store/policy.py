"""Rotation policy of one secret: `rotateEvery: <N>d` and `since: YYYY-MM-DD`. Pure.

`rotateEvery` is how old (in days) the current version may get before it is due for
rotation; `since` is the date the current version became steady (`secretsctl rotate`
writes it when a rotation finishes). Each check returns the problem text in the
spec's style (`must be ..., got ... (fix)`) or None; the lenient readers return None
for anything that is not a valid setting.
"""

from __future__ import annotations

import datetime
from typing import Any

from secrets_store.grammar import ISO_DATE, ROTATE_EVERY

MIN_DAYS, MAX_DAYS = 1, 3650


def _text(value: Any) -> str:
    text = repr(value) if isinstance(value, str | int | float | bool) else type(value).__name__
    return text if len(text) <= 40 else f"{text[:39]}…"


def rotate_every_problem(value: Any) -> str | None:
    """Why `value` is not a `rotateEvery` setting (`90d`), or None when it is one."""
    match = ROTATE_EVERY.fullmatch(value) if isinstance(value, str) else None
    if match and MIN_DAYS <= int(match["days"]) <= MAX_DAYS:
        return None
    return (
        f"must be a number of days from {MIN_DAYS}d to {MAX_DAYS}d, got {_text(value)} "
        "(for example rotateEvery: 90d)"
    )


def rotate_every_days(value: Any) -> int | None:
    """The days a `rotateEvery` setting allows, or None when unset or invalid."""
    if value is None or rotate_every_problem(value) is not None:
        return None
    return int(str(value)[:-1])


def since_date(value: Any) -> datetime.date | None:
    """A `since` setting as a date (YAML may hand over a date or its text); None if invalid."""
    if isinstance(value, datetime.datetime):
        return None
    if isinstance(value, datetime.date):
        return value
    if isinstance(value, str) and ISO_DATE.fullmatch(value):
        try:
            return datetime.date.fromisoformat(value)
        except ValueError:
            return None
    return None


def since_problem(value: Any) -> str | None:
    """Why `value` is not a `since` date, or None when it is one."""
    if since_date(value) is not None:
        return None
    return (
        f"must be a date written YYYY-MM-DD, got {_text(value)} (the day the current version "
        "became steady; `secretsctl rotate` writes it when a rotation finishes)"
    )


def age_days(since: datetime.date, today: datetime.date) -> int:
    """Whole days from `since` to `today` (0 for a date in the future)."""
    return max(0, (today - since).days)
