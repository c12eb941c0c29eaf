"""Ingest Lambda handler: S3 event -> object references -> Firehose PutRecordBatch."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from pipeline import aws
from pipeline.contract.metrics import REFERENCES_PUT, REFERENCES_REJECTED
from pipeline.deadline import Deadline
from pipeline.firehose import put_records
from pipeline.ingest.config import IngestConfig
from pipeline.ingest.events import parse_event
from pipeline.references import ObjectReference, iso_now
from pipeline.routing import stream_for

logger = Logger()
metrics = Metrics()


class ReferencesNotPutError(RuntimeError):
    """Some references could not be put: the invocation fails so Lambda retries the event."""


@functools.cache
def config() -> IngestConfig:
    return IngestConfig.from_env()


@metrics.log_metrics
@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    settings = config()
    parsed = parse_event(event, first_seen=iso_now())
    for ignored in parsed.ignored:
        logger.info(
            "ignoring S3 event record",
            extra={"event_name": ignored.event_name, "reason": ignored.reason},
        )
    if not parsed.references:
        metrics.add_metric(name=REFERENCES_PUT, unit=MetricUnit.Count, value=0)
        return {"put": 0, "ignored": len(parsed.ignored)}
    deadline = Deadline.from_context(context, settings.safety_margin_seconds)
    client = aws.firehose(
        max_attempts=1,
        connect_timeout=aws.DEADLINE_CONNECT_TIMEOUT,
        read_timeout=aws.DEADLINE_READ_TIMEOUT,
    )
    put, failed, retries = 0, 0, 0
    rejected_by: list[str] = []
    for stream, references in route(parsed.references, settings.delivery_stream_names).items():
        outcome = put_records(
            client, stream, [reference.to_record() for reference in references], deadline
        )
        put += outcome.put
        failed += len(outcome.failed)
        retries = max(retries, outcome.retries)
        if outcome.failed:
            rejected_by.append(stream)
    metrics.add_metric(name=REFERENCES_PUT, unit=MetricUnit.Count, value=put)
    logger.info(
        "references put",
        extra={
            "put": put,
            "retries": retries,
            "keys": [reference.key for reference in parsed.references[:20]],
        },
    )
    if failed:
        metrics.add_metric(name=REFERENCES_REJECTED, unit=MetricUnit.Count, value=failed)
        raise ReferencesNotPutError(
            f"{failed} of {len(parsed.references)} references were rejected by Firehose "
            f"stream(s) {', '.join(rejected_by)} after {retries} retries; the event will be "
            "retried by Lambda (then sent to the on-failure destination)"
        )
    return {"put": put, "ignored": len(parsed.ignored)}


def route(
    references: Sequence[ObjectReference], streams: Sequence[str]
) -> dict[str, list[ObjectReference]]:
    """The references of each stream, in event order (all versions of a key in one stream)."""
    routed: dict[str, list[ObjectReference]] = {}
    for reference in references:
        routed.setdefault(stream_for(reference.bucket, reference.key, streams), []).append(
            reference
        )
    return routed
