"""Canary Lambda handler (scheduled): put one canary file under ``_canary/`` in Landing.

It flows through the real path like any other file (Landing event -> ingest -> Firehose ->
transform -> Archive -> copier -> Distribution); the copier counts it in ``CanariesDelivered``,
and the CanaryMissing alarm fires when none arrives (docs/operations.md, "Runbook: canary missing").
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from pipeline import aws
from pipeline.canary.config import CanaryConfig
from pipeline.canary.payload import CanaryPut
from pipeline.contract.metrics import CANARIES_PUT

logger = Logger()
metrics = Metrics()

CONTENT_TYPE = "application/json"


@functools.cache
def config() -> CanaryConfig:
    return CanaryConfig.from_env()


@metrics.log_metrics
@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, str]:
    settings = config()
    put = CanaryPut(
        run_id=context.aws_request_id,
        put_at=datetime.now(UTC),
        interval_minutes=settings.interval_minutes,
    )
    response = aws.s3().put_object(
        Bucket=settings.landing_bucket, Key=put.key, Body=put.body, ContentType=CONTENT_TYPE
    )
    version_id = response.get("VersionId", "")
    metrics.add_metric(name=CANARIES_PUT, unit=MetricUnit.Count, value=1)
    logger.info(
        "canary put",
        extra={"bucket": settings.landing_bucket, "key": put.key, "version_id": version_id},
    )
    return {"bucket": settings.landing_bucket, "key": put.key, "version_id": version_id}
