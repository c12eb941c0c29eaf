"""Transform Lambda handler (Firehose data-transformation processor)."""

from __future__ import annotations

import dataclasses
import functools
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from pipeline import aws
from pipeline.deadline import Deadline
from transforms.batch import process_batch
from transforms.config import TransformConfig

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
    s3 = aws.s3(max_attempts=1, max_pool_connections=settings.fetch_concurrency + 4)
    result, summary = process_batch(event, settings, deadline, s3, aws.firehose(max_attempts=1))
    metrics.add_metric(name="FilesInlined", unit=MetricUnit.Count, value=summary.inlined)
    metrics.add_metric(name="FilesDirect", unit=MetricUnit.Count, value=summary.direct)
    metrics.add_metric(name="FilesDeferred", unit=MetricUnit.Count, value=summary.deferred)
    metrics.add_metric(name="ObjectsMissing", unit=MetricUnit.Count, value=summary.missing)
    metrics.add_metric(name="FetchRetries", unit=MetricUnit.Count, value=summary.fetch_retries)
    logger.info("batch processed", extra={"summary": dataclasses.asdict(summary)})
    return result
