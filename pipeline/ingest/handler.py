"""Ingest Lambda handler: S3 event -> object references -> Firehose PutRecordBatch."""

from __future__ import annotations

import functools
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from pipeline import aws
from pipeline.deadline import Deadline
from pipeline.firehose import put_records
from pipeline.ingest.config import IngestConfig
from pipeline.ingest.events import parse_event
from pipeline.references import iso_now

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
        metrics.add_metric(name="ReferencesPut", unit=MetricUnit.Count, value=0)
        return {"put": 0, "ignored": len(parsed.ignored)}
    deadline = Deadline.from_context(context, settings.safety_margin_seconds)
    outcome = put_records(
        aws.firehose(
            max_attempts=1,
            connect_timeout=aws.DEADLINE_CONNECT_TIMEOUT,
            read_timeout=aws.DEADLINE_READ_TIMEOUT,
        ),
        settings.delivery_stream_name,
        [reference.to_record() for reference in parsed.references],
        deadline,
    )
    metrics.add_metric(name="ReferencesPut", unit=MetricUnit.Count, value=outcome.put)
    logger.info(
        "references put",
        extra={
            "put": outcome.put,
            "retries": outcome.retries,
            "keys": [reference.key for reference in parsed.references[:20]],
        },
    )
    if outcome.failed:
        metrics.add_metric(
            name="ReferencesRejected", unit=MetricUnit.Count, value=len(outcome.failed)
        )
        raise ReferencesNotPutError(
            f"{len(outcome.failed)} of {len(parsed.references)} references were rejected by "
            f"Firehose stream {settings.delivery_stream_name!r} after {outcome.retries} retries; "
            "the event will be retried by Lambda (then sent to the on-failure destination)"
        )
    return {"put": outcome.put, "ignored": len(parsed.ignored)}
