"""Monitor Lambda handler (scheduled): Distribution backlog count and oldest age as metrics."""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from pipeline import aws
from pipeline.contract.metrics import DISTRIBUTION_BACKLOG_COUNT, DISTRIBUTION_OLDEST_AGE_SECONDS
from pipeline.monitor.backlog import measure
from pipeline.monitor.config import ConfigError, bucket_from_env

__all__ = ["ConfigError", "bucket_from_env", "lambda_handler"]

logger = Logger()
metrics = Metrics()


@functools.cache
def distribution_bucket() -> str:
    return bucket_from_env(os.environ)


def _last_modified(bucket: str) -> Iterator[datetime]:
    paginator = aws.s3().get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            yield item["LastModified"]


@metrics.log_metrics
@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, float]:
    bucket = distribution_bucket()
    backlog = measure(_last_modified(bucket), datetime.now(UTC))
    metrics.add_metric(name=DISTRIBUTION_BACKLOG_COUNT, unit=MetricUnit.Count, value=backlog.count)
    metrics.add_metric(
        name=DISTRIBUTION_OLDEST_AGE_SECONDS,
        unit=MetricUnit.Seconds,
        value=backlog.oldest_age_seconds,
    )
    logger.info(
        "distribution backlog",
        extra={"count": backlog.count, "oldest_age_seconds": backlog.oldest_age_seconds},
    )
    return {"count": backlog.count, "oldest_age_seconds": backlog.oldest_age_seconds}
