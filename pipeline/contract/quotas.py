"""Firehose quotas the pipeline lives with: per-request limits, DirectPut throughput, processor
concurrency. The capacity model (``scripts/capacity``) plans with them and the Firehose emulator
(``localstack_plugins/firehose``) enforces them; the ingest batches within them.

Source: Firehose developer guide, "Amazon Data Firehose Quota",
https://docs.aws.amazon.com/firehose/latest/dev/limits.html (read 2026-12-01).
"""

from __future__ import annotations

from dataclasses import dataclass

MIB = 1024 * 1024

#: PutRecord/PutRecordBatch: one record's data at most (1,000 KiB)
MAX_RECORD_BYTES = 1_024_000
#: PutRecordBatch: records per call
MAX_BATCH_RECORDS = 500
#: PutRecordBatch: bytes per call
MAX_BATCH_BYTES = 4 * MIB

#: Regions with the larger DirectPut quota ("For US East (N. Virginia), US West (Oregon), and
#: Europe (Ireland): 500,000 records/second, 2,000 requests/second, and 5 MiB/second"); every
#: other commercial region, Europe (London) included: 100,000 records/s, 1,000 requests/s and
#: 1 MiB/s. "The three quota scale proportionally" when one is raised.
LARGE_QUOTA_REGIONS = frozenset({"us-east-1", "us-west-2", "eu-west-1"})


@dataclass(frozen=True)
class DirectPutQuota:
    """Per-stream DirectPut quota, combined over PutRecord and PutRecordBatch (0 = no limit)."""

    bytes_per_second: float
    requests_per_second: float
    records_per_second: float


LARGE_QUOTA = DirectPutQuota(5 * MIB, 2_000, 500_000)
DEFAULT_QUOTA = DirectPutQuota(1 * MIB, 1_000, 100_000)


def direct_put_quota(region: str) -> DirectPutQuota:
    """AWS's default DirectPut quota of one stream in ``region``."""
    return LARGE_QUOTA if region in LARGE_QUOTA_REGIONS else DEFAULT_QUOTA


#: Concurrent processor (transform) invocations Firehose runs for one stream. An earlier version of
#: the quota page said "When the destination is Amazon S3, Amazon Redshift, or Amazon ES, Kinesis
#: Data Firehose allows up to 5 outstanding Lambda invocations per shard" (a DirectPut stream at
#: the default quota: one shard, taken as one stream); NOT CONFIRMED on the current page
#: (2026-12-01). The emulator runs this many at once; the capacity model plans with it (both
#: overridable).
PROCESSOR_CONCURRENCY_PER_STREAM = 5
