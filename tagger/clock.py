"""The time stamps tagger stores: UTC, to the second, in ISO 8601 (they sort as text)."""

from __future__ import annotations

import datetime as dt


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
