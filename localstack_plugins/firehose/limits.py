"""DirectPut request limits, with the errors Firehose returns (pure functions).

- a record over 1,000 KiB: the whole request fails with ``ValidationException`` (the API model's
  length constraint, reported per offending member);
- more than 500 records: ``ValidationException`` on ``records``;
- a batch over 4 MiB: ``InvalidArgumentException: Records size exceeds 4 MB limit``;
- throughput over the stream's quota: per-record ``ServiceUnavailableException: Slow down.``
  entries and ``FailedPutCount`` (see :class:`ThroughputQuota`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

MAX_RECORD_BYTES = 1_024_000
MAX_BATCH_RECORDS = 500
MAX_BATCH_BYTES = 4 * 1024 * 1024


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


class ThroughputQuota:
    """Token bucket of bytes per second for one stream (DirectPut quota; 0 disables it)."""

    def __init__(self, bytes_per_second: float) -> None:
        self._rate = bytes_per_second
        self._tokens = bytes_per_second
        self._stamp = time.monotonic()
        self._lock = threading.Lock()

    def admit(self, size: int) -> bool:
        if self._rate <= 0:
            return True
        with self._lock:
            now = time.monotonic()
            self._tokens = min(self._rate, self._tokens + (now - self._stamp) * self._rate)
            self._stamp = now
            if size > self._tokens:
                return False
            self._tokens -= size
            return True
