"""DirectPut request limits, with the errors Firehose returns (pure functions).

- a record over 1,000 KiB: the whole request fails with ``ValidationException`` (the API model's
  length constraint, reported per offending member);
- more than 500 records: ``ValidationException`` on ``records``;
- a batch over 4 MiB: ``InvalidArgumentException: Records size exceeds 4 MB limit``;
- throughput over the stream's region-dependent quota: the call fails with
  ``ServiceUnavailableException`` (request rate, or the record of a ``PutRecord``), or
  per-record ``ServiceUnavailableException: Slow down.`` entries and ``FailedPutCount`` (see
  :class:`ThroughputQuota`).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from pipeline.contract.quotas import (
    MAX_BATCH_BYTES,
    MAX_BATCH_RECORDS,
    MAX_RECORD_BYTES,
    DirectPutQuota,
    direct_put_quota,
)


@dataclass(frozen=True)
class LimitViolation:
    code: str
    message: str


def _too_long(size: int, where: str) -> str:
    return (
        f"Value 'java.nio.HeapByteBuffer[pos=0 lim={size} cap={size}]' at '{where}' failed to "
        f"satisfy constraint: Member must have length less than or equal to {MAX_RECORD_BYTES}"
    )


def _validation(errors: list[str]) -> LimitViolation:
    noun = "error" if len(errors) == 1 else "errors"
    return LimitViolation(
        "ValidationException", f"{len(errors)} validation {noun} detected: " + "; ".join(errors)
    )


def check_record(size: int) -> LimitViolation | None:
    """PutRecord: one record's size."""
    return _validation([_too_long(size, "record.data")]) if size > MAX_RECORD_BYTES else None


def check_batch(sizes: Sequence[int]) -> LimitViolation | None:
    """PutRecordBatch: count, per-record size and total size, in Firehose's order."""
    errors = [
        _too_long(size, f"records.{index}.member.data")
        for index, size in enumerate(sizes, start=1)
        if size > MAX_RECORD_BYTES
    ]
    if len(sizes) > MAX_BATCH_RECORDS:
        errors.append(
            f"Value at 'records' failed to satisfy constraint: Member must have length less "
            f"than or equal to {MAX_BATCH_RECORDS}"
        )
    if errors:
        return _validation(errors)
    if sum(sizes) > MAX_BATCH_BYTES:
        return LimitViolation("InvalidArgumentException", "Records size exceeds 4 MB limit")
    return None


QUOTA_ENVIRONMENT = {
    "bytes_per_second": "FIREHOSE_DIRECT_PUT_BYTES_PER_SECOND",
    "requests_per_second": "FIREHOSE_DIRECT_PUT_REQUESTS_PER_SECOND",
    "records_per_second": "FIREHOSE_DIRECT_PUT_RECORDS_PER_SECOND",
}


def region_quota(region: str, environment: Mapping[str, str] | None = None) -> DirectPutQuota:
    """AWS's default quota for ``region``; each ``FIREHOSE_DIRECT_PUT_*`` variable overrides one.

    Tests scale the quota down (or switch a dimension off with ``0``) through these variables of
    the LocalStack process.
    """
    environment = os.environ if environment is None else environment
    base = direct_put_quota(region)
    values = {
        name: float(environment.get(variable) or getattr(base, name))
        for name, variable in QUOTA_ENVIRONMENT.items()
    }
    return DirectPutQuota(**values)


class _TokenBucket:
    """``rate`` tokens per second, at most one second's worth banked (0 disables it)."""

    def __init__(self, rate: float, now: float) -> None:
        self.rate = rate
        self.tokens = rate
        self.stamp = now

    def refill(self, now: float) -> None:
        self.tokens = min(self.rate, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now

    def has(self, amount: float) -> bool:
        return self.rate <= 0 or amount <= self.tokens

    def spend(self, amount: float) -> None:
        if self.rate > 0:
            self.tokens -= amount


class ThroughputQuota:
    """The DirectPut quota of one stream: requests/s per call, records/s and bytes/s per record.

    As on AWS: a call over the request rate fails as a whole with ``ServiceUnavailableException``;
    in ``PutRecordBatch``, records beyond the records/s or bytes/s quota fail individually
    (``ServiceUnavailableException: Slow down.``) while the others are accepted; a ``PutRecord``
    whose record does not fit fails as a whole.
    """

    def __init__(self, quota: DirectPutQuota, clock: Callable[[], float] = time.monotonic) -> None:
        self.quota = quota
        self._clock = clock
        now = clock()
        self._requests = _TokenBucket(quota.requests_per_second, now)
        self._records = _TokenBucket(quota.records_per_second, now)
        self._bytes = _TokenBucket(quota.bytes_per_second, now)
        self._lock = threading.Lock()

    def admit_call(self) -> bool:
        """One request against the request rate; False = throttle the whole call."""
        with self._lock:
            self._requests.refill(self._clock())
            if not self._requests.has(1):
                return False
            self._requests.spend(1)
            return True

    def admit(self, size: int) -> bool:
        """One record of ``size`` bytes against records/s and bytes/s."""
        with self._lock:
            now = self._clock()
            self._records.refill(now)
            self._bytes.refill(now)
            if not (self._records.has(1) and self._bytes.has(size)):
                return False
            self._records.spend(1)
            self._bytes.spend(size)
            return True
