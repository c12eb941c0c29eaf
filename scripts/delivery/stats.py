"""Latency figures: pure functions over a list of per-file latencies."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class LatencySummary:
    """Nearest-rank percentiles of upload → Distribution latency, in seconds."""

    count: int
    p50: float
    p95: float
    p99: float
    max: float

    def describe(self) -> str:
        return (
            f"p50 {self.p50:.2f} s, p95 {self.p95:.2f} s, p99 {self.p99:.2f} s, "
            f"max {self.max:.2f} s ({self.count} files)"
        )


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of already sorted values (``fraction`` in (0, 1])."""
    if not sorted_values:
        raise ValueError("percentile of no values")
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    rank = math.ceil(fraction * len(sorted_values))
    return sorted_values[rank - 1]


def summarize(latencies: Sequence[float]) -> LatencySummary:
    """Summary of latencies; all zeros for an empty input (nothing was delivered)."""
    if not latencies:
        return LatencySummary(count=0, p50=0.0, p95=0.0, p99=0.0, max=0.0)
    ordered = sorted(latencies)
    return LatencySummary(
        count=len(ordered),
        p50=percentile(ordered, 0.50),
        p95=percentile(ordered, 0.95),
        p99=percentile(ordered, 0.99),
        max=ordered[-1],
    )
