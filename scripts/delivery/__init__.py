"""Delivery tracking: which uploads reached Distribution, when, in which bundle, intact or not."""

from __future__ import annotations

from scripts.delivery.stats import LatencySummary, percentile, summarize
from scripts.delivery.tracker import (
    BundleSeen,
    Delivery,
    DeliveryReport,
    DeliveryTracker,
    Sighting,
    match,
)

__all__ = [
    "BundleSeen",
    "Delivery",
    "DeliveryReport",
    "DeliveryTracker",
    "LatencySummary",
    "Sighting",
    "match",
    "percentile",
    "summarize",
]
