"""Invocation deadlines and retry backoff: pure helpers shared by every function."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol


class LambdaContextLike(Protocol):
    def get_remaining_time_in_millis(self) -> int: ...


@dataclass(frozen=True, slots=True)
class Deadline:
    """A point in monotonic time by which the work must stop (the safety margin already taken)."""

    expires_at: float
    clock: Callable[[], float] = time.monotonic

    @classmethod
    def from_context(cls, context: LambdaContextLike, margin_seconds: float) -> Deadline:
        """The invocation's remaining time minus ``margin_seconds`` (time to build the answer)."""
        remaining = context.get_remaining_time_in_millis() / 1000.0 - margin_seconds
        return cls(expires_at=time.monotonic() + max(0.0, remaining))

    @classmethod
    def after(cls, seconds: float) -> Deadline:
        return cls(expires_at=time.monotonic() + seconds)

    def remaining(self) -> float:
        """Seconds left (never negative)."""
        return max(0.0, self.expires_at - self.clock())

    def expired(self) -> bool:
        return self.remaining() <= 0.0


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff with full jitter: attempt n waits uniform(0, min(cap, base * 2**n))."""

    base_seconds: float = 0.1
    cap_seconds: float = 5.0

    def delay(self, attempt: int, rng: Callable[[], float] = random.random) -> float:
        return min(self.cap_seconds, self.base_seconds * 2.0**attempt) * rng()
