"""PutRecordBatch with per-record retries: used by ingest (references) and transform (re-puts).

Firehose accepts a batch partially: ``FailedPutCount`` says how many records were rejected and
``RequestResponses`` which ones. Only those are sent again, with backoff and jitter, until they are
all in or the deadline comes. What could not be put is returned to the caller, who decides what
failure means (ingest raises, the transform reports the records as ``ProcessingFailed``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aws_lambda_powertools import Logger
from botocore.exceptions import BotoCoreError, ClientError

from pipeline import aws
from pipeline.contract.quotas import MAX_BATCH_BYTES, MAX_BATCH_RECORDS
from pipeline.deadline import Backoff, Deadline

if TYPE_CHECKING:
    from mypy_boto3_firehose import FirehoseClient

#: No PutRecordBatch call starts with less time left (the deadline-bound clients' timeouts).
CALL_ALLOWANCE_SECONDS = aws.CALL_ALLOWANCE_SECONDS

DEFAULT_BACKOFF = Backoff()

logger = Logger(child=True)


@dataclass(frozen=True, slots=True)
class PutOutcome:
    """How a put went: records accepted, records still rejected, and retry rounds used."""

    put: int
    failed: tuple[bytes, ...]
    retries: int


def chunk_records(
    records: Sequence[bytes],
    max_records: int = MAX_BATCH_RECORDS,
    max_bytes: int = MAX_BATCH_BYTES,
) -> Iterator[list[bytes]]:
    """Split records, in order, into PutRecordBatch-sized chunks."""
    chunk: list[bytes] = []
    size = 0
    for record in records:
        if len(record) > max_bytes:
            raise ValueError(f"record of {len(record)} bytes exceeds the {max_bytes} byte limit")
        if chunk and (len(chunk) == max_records or size + len(record) > max_bytes):
            yield chunk
            chunk, size = [], 0
        chunk.append(record)
        size += len(record)
    if chunk:
        yield chunk


def put_records(
    client: FirehoseClient,
    stream_name: str,
    records: Sequence[bytes],
    deadline: Deadline,
    *,
    backoff: Backoff | None = None,
    max_rounds: int = 10,
    sleep: Callable[[float], None] | None = None,
    call_allowance: float = CALL_ALLOWANCE_SECONDS,
) -> PutOutcome:
    """Put ``records``, retrying only the rejected ones, within ``deadline``.

    No call, the first included, starts with less than ``call_allowance`` seconds left (pass the
    client's connect + read timeouts): what was not attempted is returned as rejected.
    """
    backoff = backoff or DEFAULT_BACKOFF
    sleep = sleep or time.sleep
    pending = list(records)
    rounds = 0
    while True:
        rejected: list[bytes] = []
        for chunk in chunk_records(pending):
            if deadline.remaining() < call_allowance:
                rejected.extend(chunk)  # never start a call the deadline cannot wait for
                continue
            rejected.extend(_put_chunk(client, stream_name, chunk))
        if not rejected:
            return PutOutcome(put=len(records), failed=(), retries=rounds)
        pending = rejected
        delay = backoff.delay(rounds)
        rounds += 1
        if rounds >= max_rounds or deadline.remaining() < delay + call_allowance:
            return PutOutcome(
                put=len(records) - len(pending), failed=tuple(pending), retries=rounds - 1
            )
        logger.info(
            "retrying rejected Firehose records",
            extra={"rejected": len(pending), "round": rounds, "delay_s": round(delay, 3)},
        )
        sleep(delay)


def _put_chunk(client: FirehoseClient, stream_name: str, chunk: list[bytes]) -> list[bytes]:
    try:
        response = client.put_record_batch(
            DeliveryStreamName=stream_name, Records=[{"Data": data} for data in chunk]
        )
    except (ClientError, BotoCoreError) as error:
        code = error.response["Error"]["Code"] if isinstance(error, ClientError) else type(error)
        logger.warning(
            "PutRecordBatch call failed", extra={"error": str(code), "records": len(chunk)}
        )
        return chunk
    if not response.get("FailedPutCount"):
        return []
    results = response["RequestResponses"]
    if len(results) != len(chunk):  # never trust a malformed answer: resend everything
        return chunk
    return [data for data, result in zip(chunk, results, strict=True) if result.get("ErrorCode")]
