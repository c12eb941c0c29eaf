"""The SLO measured: how old each file of a bundle is when the copier has staged the bundle.

A file's age is the time from its landing (the S3 ``event_time`` recorded in its member's pax
header) to the moment its bundle is in Distribution — the end-to-end latency the SLO promises
(95 % of files within 120 s, 99.9 % within 180 s). Per staged bundle the copier emits:

- ``FileAgeSeconds``: one value per file (EMF arrays; CloudWatch computes p95/p99.9 over them,
  which the SLO alarms watch);
- ``BundleMaxFileAgeSeconds``: the oldest file of the bundle;
- for a bundle holding canary files (Landing keys under ``_canary/``, issue 22), also
  ``CanariesDelivered`` (how many) and ``CanaryAgeSeconds`` (one value per canary file): the
  CanaryMissing alarm watches the first. Canary files count in ``FileAgeSeconds`` like any file.

The member headers are read from a second ``GetObject`` of the Archive version just staged
(headers only: content is skipped while decompressing, memory stays bounded). Bundles larger than
``SAMPLE_ABOVE_BYTES`` (the transform's direct bundles of very large files) are sampled: only their
first member is read. A bundle that cannot be read this way is staged anyway; it is counted in
``FileAgeUnmeasured`` and logged.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pipeline.bundle import read_bundle
from pipeline.contract.metrics import (
    BUNDLE_MAX_FILE_AGE_SECONDS,
    CANARIES_DELIVERED,
    CANARY_AGE_SECONDS,
    FILE_AGE_SECONDS,
    FILE_AGE_UNMEASURED,
)
from pipeline.contract.prefixes import is_canary_key

FILE_AGE_METRIC = FILE_AGE_SECONDS
BUNDLE_MAX_AGE_METRIC = BUNDLE_MAX_FILE_AGE_SECONDS
UNMEASURED_METRIC = FILE_AGE_UNMEASURED
CANARIES_METRIC = CANARIES_DELIVERED
CANARY_AGE_METRIC = CANARY_AGE_SECONDS
#: above this size only the first member's age is read (one large file per direct bundle)
SAMPLE_ABOVE_BYTES = 256 * 1024 * 1024


@dataclass(frozen=True)
class BundleAges:
    """Ages in seconds of a bundle's files (in member order) when it was staged."""

    ages: tuple[float, ...]
    sampled: bool
    #: ages of the bundle's canary files (a subset of ``ages``; empty for most bundles)
    canary_ages: tuple[float, ...] = ()

    @property
    def maximum(self) -> float:
        return max(self.ages, default=0.0)


def parse_event_time(text: str) -> datetime:
    """An S3 ``eventTime`` (``2026-12-01T12:00:00.123Z``) as an aware datetime."""
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        raise ValueError(f"event time {text!r} has no time zone")
    return value


def ages_at(event_times: Iterable[str], staged_at: datetime) -> tuple[float, ...]:
    """Seconds from each event time to ``staged_at`` (never negative: clocks differ slightly)."""
    return tuple(
        max(0.0, (staged_at - parse_event_time(text)).total_seconds()) for text in event_times
    )


def member_event_times(fileobj: Any, first_only: bool = False) -> list[str]:
    """The recorded ``event_time`` of every member of a bundle stream (content skipped)."""
    return [event_time for _, event_time in member_keys_and_times(fileobj, first_only)]


def member_keys_and_times(fileobj: Any, first_only: bool = False) -> list[tuple[str, str]]:
    """The Landing key and recorded ``event_time`` of every member (content skipped)."""
    found = []
    for member in read_bundle(fileobj):
        found.append((member.metadata.key, member.metadata.event_time))
        if first_only:
            break
    return found


def measured_ages(members: list[tuple[str, str]], staged_at: datetime, sampled: bool) -> BundleAges:
    """The ages of ``(key, event_time)`` members at ``staged_at``; canary files apart too."""
    ages = ages_at((event_time for _, event_time in members), staged_at)
    canaries = tuple(age for (key, _), age in zip(members, ages, strict=True) if is_canary_key(key))
    return BundleAges(ages, sampled, canaries)


def bundle_ages(
    s3: Any, bucket: str, key: str, version_id: str | None, size: int, staged_at: datetime
) -> BundleAges:
    """Read the member headers of that version of ``s3://bucket/key``; age them at ``staged_at``."""
    arguments = {"Bucket": bucket, "Key": key}
    if version_id:
        arguments["VersionId"] = version_id
    sampled = size > SAMPLE_ABOVE_BYTES
    body = s3.get_object(**arguments)["Body"]
    try:
        members = member_keys_and_times(body, first_only=sampled)
    finally:
        body.close()
    return measured_ages(members, staged_at, sampled)
