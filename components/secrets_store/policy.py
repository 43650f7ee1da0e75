"""Rotation policy: `rotateEvery: <N>d`, `since: YYYY-MM-DD`, `promotion.soak` and the
moments `secretsctl rotate` records (`reached`, `emergency.at`). Pure.

`rotateEvery` is how old (in days) the current version may get before it is due for
rotation; `since` is the date the current version became steady (`secretsctl rotate`
writes it when a rotation finishes). Each check returns the problem text in the
spec's style (`must be ..., got ... (fix)`) or None; the lenient readers return None
for anything that is not a valid setting.
"""

from __future__ import annotations

import datetime
from typing import Any

from secrets_store.grammar import DURATION, GO_TIME, ISO_DATE, ROTATE_EVERY, TIMESTAMP

MIN_DAYS, MAX_DAYS = 1, 3650
MAX_SOAK = datetime.timedelta(days=365)
UNIT_SECONDS = {"m": 60, "h": 3600, "d": 86400}


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
    go = GO_TIME.fullmatch(value) if isinstance(value, str) else None
    if go and go["time"] == "00:00:00" and go["offset"] == "+0000":
        value = go["date"]  # an unquoted date, as the engine passes it on
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


def soak_problem(value: Any) -> str | None:
    """Why `value` is not a `promotion.soak` duration (`2h`), or None when it is one."""
    match = DURATION.fullmatch(value) if isinstance(value, str) else None
    if match and _duration(match) <= MAX_SOAK:
        return None
    return (
        f"must be a duration in minutes, hours or days up to 365d, got {_text(value)} "
        "(for example soak: 2h, soak: 1d, or soak: 0m for none)"
    )


def soak_of(value: Any) -> datetime.timedelta:
    """The time a `promotion.soak` setting asks for (0 when unset or invalid)."""
    if value is None or soak_problem(value) is not None:
        return datetime.timedelta(0)
    match = DURATION.fullmatch(value)
    assert match is not None
    return _duration(match)


def _duration(match: Any) -> datetime.timedelta:
    return datetime.timedelta(seconds=int(match["amount"]) * UNIT_SECONDS[match["unit"]])


def moment_of(value: Any) -> datetime.datetime | None:
    """A recorded moment (`2026-06-01T06:17:00Z`; YAML may hand over a datetime) in UTC;
    None if it is not one. A moment without a zone is UTC, as `secretsctl` writes it."""
    go = GO_TIME.fullmatch(value) if isinstance(value, str) else None
    if isinstance(value, datetime.datetime):
        moment = value
    elif go:  # an unquoted moment, as the engine passes it on
        offset = f"{go['offset'][:3]}:{go['offset'][3:]}"
        try:
            moment = datetime.datetime.fromisoformat(f"{go['date']}T{go['time']}{offset}")
        except ValueError:
            return None
    elif isinstance(value, str) and TIMESTAMP.fullmatch(value):
        try:
            moment = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    else:
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=datetime.UTC)
    return moment.astimezone(datetime.UTC)


def moment_text(moment: datetime.datetime) -> str:
    """How a moment is written: UTC, to the second, `2026-06-01T06:17:00Z`."""
    utc = moment.astimezone(datetime.UTC) if moment.tzinfo else moment
    return utc.strftime("%Y-%m-%dT%H:%M:%SZ")


def moment_problem(value: Any) -> str | None:
    """Why `value` is not a recorded moment, or None when it is one."""
    if moment_of(value) is not None:
        return None
    return (
        f"must be a moment in UTC written YYYY-MM-DDTHH:MM:SSZ, got {_text(value)} "
        "(`secretsctl rotate` writes it)"
    )
