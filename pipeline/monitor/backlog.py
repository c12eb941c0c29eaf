"""Pure backlog measurement over a Distribution listing."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Backlog:
    count: int
    oldest_age_seconds: float


def measure(last_modified: Iterable[datetime], now: datetime) -> Backlog:
    """Object count and the age of the oldest object (0 when empty)."""
    count = 0
    oldest: datetime | None = None
    for moment in last_modified:
        count += 1
        if oldest is None or moment < oldest:
            oldest = moment
    age = max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0
    return Backlog(count=count, oldest_age_seconds=age)
