"""A stream's DirectPut usage as Firehose reports it in CloudWatch (namespace ``AWS/Firehose``).

Firehose publishes, per ``DeliveryStreamName`` (Developer Guide, "Monitoring with CloudWatch
metrics", data ingestion metrics): ``IncomingPutRequests`` (successful PutRecord/PutRecordBatch
calls, after throttling), ``IncomingRecords`` and ``IncomingBytes`` (what was accepted),
``ThrottledRecords`` (records throttled because ingestion exceeded one of the stream's limits),
and the stream's current quota as ``PutRequestsPerSecondLimit``, ``RecordsPerSecondLimit`` and
``BytesPerSecondLimit``. The pipeline's quota alarms divide the first three by the last three
(templates/alarms.py); the throttling alarm watches ``ThrottledRecords``.

Our choice where the guide is silent: every record of a call that failed as a whole (over the
request rate, or a ``PutRecord`` whose record did not fit) counts in ``ThrottledRecords`` and the
call not in ``IncomingPutRequests``; a ``PutRecordBatch`` answered with per-record failures is a
successful request. A limit switched off in the emulator (``0``) is not published.
"""

from __future__ import annotations

from dataclasses import dataclass

from localstack_plugins.cloudwatch_batch import MetricBatcher, MetricKey
from pipeline.contract.quotas import DirectPutQuota

NAMESPACE = "AWS/Firehose"


@dataclass(frozen=True, slots=True)
class PutUsage:
    """What one PutRecord/PutRecordBatch call did to a stream."""

    admitted: bool  # False: the call failed as a whole (request rate; a PutRecord's record)
    accepted_records: int
    accepted_bytes: int
    throttled_records: int


def record_usage(
    batcher: MetricBatcher,
    account: str,
    region: str,
    stream: str,
    quota: DirectPutQuota,
    usage: PutUsage,
) -> None:
    def key(name: str, unit: str) -> MetricKey:
        return MetricKey(account, region, NAMESPACE, name, (("DeliveryStreamName", stream),), unit)

    if usage.admitted:
        batcher.add(key("IncomingPutRequests", "Count"), 1)
        batcher.add(key("IncomingRecords", "Count"), usage.accepted_records)
        batcher.add(key("IncomingBytes", "Bytes"), usage.accepted_bytes)
    batcher.add(key("ThrottledRecords", "Count"), usage.throttled_records)
    limits = (
        ("PutRequestsPerSecondLimit", quota.requests_per_second),
        ("RecordsPerSecondLimit", quota.records_per_second),
        ("BytesPerSecondLimit", quota.bytes_per_second),
    )
    for name, limit in limits:
        if limit > 0:
            batcher.add(key(name, "Count"), limit)
