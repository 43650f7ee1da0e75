"""Every name and value pattern the project accepts, in one place. Pure.

Each pattern is matched whole with `fullmatch` (never `match` with `^...$`: `$` also
matches before a trailing newline, so `"30d\n"` would pass a check and break whoever
reads the value next). The spec, the CLI's file readers and the live commands all
test names through `is_a` or these patterns, so one rule holds everywhere.
"""

from __future__ import annotations

import re
from typing import Any

SECRET_NAME = re.compile(r"[A-Za-z0-9_-]{1,100}")
"""A Secrets Store secret name (Cloudflare: no spaces; letters, digits, `_`, `-`)."""
SCRIPT_NAME = re.compile(r"[a-z0-9_-]{1,63}")
"""A Worker script name."""
BINDING_NAME = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]{0,255}")
"""A Worker binding name: a JavaScript identifier (it becomes `env.<NAME>`)."""
ACCOUNT_ID = re.compile(r"[0-9a-f]{32}")
"""A Cloudflare account id."""
STORE_ID = re.compile(r"[0-9a-f]{32}")
"""A Secrets Store id as the API gives it."""
KV_NAMESPACE_ID = re.compile(r"[0-9a-f]{32}")
"""A Workers KV namespace id."""
PLACEHOLDER = re.compile(r"REPLACE_ME[A-Z0-9_]*")
"""A shipped example value (`REPLACE_ME_ACCOUNT_ID`): visibly not real, refused by `pulumi up`."""
NAME_PREFIX = re.compile(r"[a-z0-9_-]{0,62}")
"""`namePrefix`, prefixed to secret and script names (both grammars must still hold)."""
STORE_NAME = re.compile(r"[A-Za-z0-9_. -]{1,255}")
"""A Secrets Store name as `secretsctl init` writes it (`default_secrets_store`)."""
CLOUDFLARE_SECRET_NAME = re.compile(r"[A-Za-z0-9_-]{1,255}")
"""Any name Cloudflare gives a Secrets Store secret (longer than the names this project
declares: a store may hold secrets it does not manage)."""
CLOUDFLARE_ID = re.compile(r"[A-Za-z0-9_-]{1,100}")
"""A secret's id as the API gives it (one part of an import id)."""
KV_NAMESPACE_ID = re.compile(r"[0-9a-f]{32}")
"""A Workers KV namespace id."""
IMPORT_ID = re.compile(r"[0-9a-f]{32}/[A-Za-z0-9_-]{1,100}/[A-Za-z0-9_-]{1,100}")
"""A secret's import id: `<account_id>/<store_id>/<secret_id>`."""
VERSIONED_NAME = re.compile(r"(?P<secret>[A-Za-z0-9_-]{1,100}?)_v(?P<version>[1-9][0-9]{0,8})")
"""A versioned Cloudflare secret name, `<secret>_v<N>` (N fits an int: at most 9 digits)."""
VALUE_KEY = re.compile(r"(?P<secret>.+)_v(?P<version>[0-9]{1,9})")
"""A config key holding one version's value, `<secret>_v<N>` (without the namespace)."""
STACK_NAME = re.compile(r"[A-Za-z0-9_.-]{1,100}")
"""A Pulumi stack name; anything else never becomes a file name."""
ROTATE_EVERY = re.compile(r"(?P<days>[0-9]{1,5})d")
"""`rotateEvery`: a number of days, `90d`."""
ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
"""`since` and other dates: `YYYY-MM-DD`."""
DURATION = re.compile(r"(?P<amount>[0-9]{1,6})(?P<unit>[mhd])")
"""`promotion.soak`: minutes, hours or days, `30m`, `2h`, `1d`."""
TIMESTAMP = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(?::[0-9]{2})?(?:Z|[+-]00:00)?"
)
"""A moment in UTC, as `secretsctl rotate` writes it: `2026-06-01T06:17:00Z`."""
GO_TIME = re.compile(
    r"(?P<date>[0-9]{4}-[0-9]{2}-[0-9]{2}) (?P<time>[0-9]{2}:[0-9]{2}:[0-9]{2})(?:[.][0-9]+)?"
    r" (?P<offset>[+-][0-9]{4}) [A-Z]{1,5}"
)
"""An unquoted YAML date or moment as the Pulumi engine hands it to a program: Go's
`time.Time` text, `2026-12-07 00:00:00 +0000 UTC`."""
COMPATIBILITY_DATE = ISO_DATE
PLAIN_NAME = re.compile(r"[A-Za-z0-9_.$-]{1,80}")
"""A name an error line may show as written (anything else is quoted and cut)."""


def is_a(pattern: re.Pattern[str], value: Any) -> bool:
    """True when `value` is a string matching `pattern` whole (no trailing newline)."""
    return isinstance(value, str) and pattern.fullmatch(value) is not None
