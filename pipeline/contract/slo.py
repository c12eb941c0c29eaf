"""The freshness SLO: the share of files in Distribution within so many seconds of landing.

Measured by the copier (``FileAgeSeconds``, see :mod:`pipeline.contract.metrics`), alarmed on and
drawn by the templates, checked by the capacity model and the delivery report.
"""

from __future__ import annotations

from dataclasses import dataclass

#: 95 % of files within this many seconds of landing
SLO_P95_SECONDS = 120
#: 99.9 % of files within this many seconds of landing
SLO_P999_SECONDS = 180


@dataclass(frozen=True, slots=True)
class SloTarget:
    """One line of the SLO: ``fraction`` of files within ``seconds``."""

    statistic: str  # the CloudWatch extended statistic, e.g. "p95"
    fraction: float
    seconds: int


#: the SLO, tightest first
SLO_TARGETS = (
    SloTarget("p95", 0.95, SLO_P95_SECONDS),
    SloTarget("p99.9", 0.999, SLO_P999_SECONDS),
)
