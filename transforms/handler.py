"""Transform Lambda handler (Firehose data-transformation processor)."""

from __future__ import annotations

import dataclasses
import functools
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from pipeline import aws
from pipeline.contract import metrics as names
from pipeline.deadline import Deadline
from transforms import crt_fetch
from transforms.batch import BatchSummary, process_batch
from transforms.config import CONNECT_TIMEOUT_SECONDS, READ_TIMEOUT_SECONDS, TransformConfig
from transforms.outcomes import DEFERRED_METRIC, OLDEST_REFERENCE_AGE_METRIC, FailureReason

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

logger = Logger()
metrics = Metrics()


@functools.cache
def config() -> TransformConfig:
    return TransformConfig.from_env()


@metrics.log_metrics
@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = config()
    deadline = Deadline.from_context(context, settings.safety_margin_seconds)
    timeouts: aws.Timeouts = {
        "connect_timeout": CONNECT_TIMEOUT_SECONDS,
        "read_timeout": READ_TIMEOUT_SECONDS,
    }
    s3 = aws.s3(max_attempts=1, max_pool_connections=settings.fetch_concurrency + 4, **timeouts)
    firehose = aws.firehose(max_attempts=1, **timeouts)
    fetcher = crt_fetch.fetcher(s3, settings.fetch_concurrency, settings.fetch_stall_seconds)
    result, summary = process_batch(event, settings, deadline, s3, firehose, fetcher=fetcher)
    publish(summary)
    logger.info("batch processed", extra={"summary": dataclasses.asdict(summary)})
    return result


def publish(summary: BatchSummary) -> None:
    """The batch's metrics: one per outcome, one per failure reason class (zeros included, so
    alarms see data), and the age of the oldest reference packed."""
    metrics.add_metric(name=names.FILES_INLINED, unit=MetricUnit.Count, value=summary.inlined)
    metrics.add_metric(name=names.FILES_DIRECT, unit=MetricUnit.Count, value=summary.direct)
    metrics.add_metric(
        name=names.DIRECT_BUNDLES, unit=MetricUnit.Count, value=summary.direct_bundles
    )
    metrics.add_metric(name=DEFERRED_METRIC, unit=MetricUnit.Count, value=summary.deferred)
    metrics.add_metric(name=names.FETCH_RETRIES, unit=MetricUnit.Count, value=summary.fetch_retries)
    for reason in FailureReason:
        count = summary.failures.get(reason.value, 0)
        metrics.add_metric(name=reason.metric, unit=MetricUnit.Count, value=count)
    if summary.oldest_reference_age_seconds is not None:
        metrics.add_metric(
            name=OLDEST_REFERENCE_AGE_METRIC,
            unit=MetricUnit.Seconds,
            value=max(0.0, summary.oldest_reference_age_seconds),
        )
