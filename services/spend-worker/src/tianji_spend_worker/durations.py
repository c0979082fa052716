"""`budget_duration` parsing and the next reset time.

Why a copy of the control plane's rule: services never import each other, and the
control plane and this worker must agree on what "30d" means. LiteLLM durations:
`30s`, `30m`, `30h`, `30d`, `2w`, `1mo` (30 days, as the control plane counts it).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Final

__all__ = ["next_reset", "parse_duration"]

_DURATION: Final = re.compile(r"^\s*(\d+)\s*(mo|s|m|h|d|w)\s*$")
_UNIT_SECONDS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "mo": 2592000}


def parse_duration(value: str | None) -> timedelta | None:
    """The duration, or None when it is absent, zero or not a LiteLLM duration."""
    match = _DURATION.match(value or "")
    if match is None:
        return None
    seconds = int(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    return timedelta(seconds=seconds) if seconds > 0 else None


def next_reset(duration: str | None, now: datetime) -> datetime | None:
    """When a budget reset now resets next; None stops resetting (no valid duration)."""
    step = parse_duration(duration)
    return None if step is None else now + step
