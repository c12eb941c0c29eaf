"""Copier Lambda handler: Archive bundle events -> content-sha256 + staged copy in Distribution."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from botocore.exceptions import BotoCoreError, ClientError

from pipeline import aws
from pipeline.copier.config import CopierConfig
from pipeline.copier.events import select_bundles
from pipeline.copier.staging import stage_bundle

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

logger = Logger()
metrics = Metrics()


class BundlesNotStagedError(RuntimeError):
    """Some bundles failed: the invocation fails so Lambda retries it (then the DLQ keeps it)."""


@functools.cache
def config() -> CopierConfig:
    return CopierConfig.from_env()


@metrics.log_metrics
@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    settings = config()
    bundles, skipped = select_bundles(event, settings.bundle_prefix)
    for item in skipped:
        logger.info(
            "ignoring S3 event record",
            extra={"key": item.key, "event_name": item.event_name, "reason": item.reason},
        )
    s3 = aws.s3()
    failures: list[str] = []
    staged_count = staged_bytes = 0
    for bundle in bundles:
        try:
            staged = stage_bundle(
                s3,
                bucket=bundle.bucket,
                key=bundle.key,
                version_id=bundle.version_id,
                distribution_bucket=settings.distribution_bucket,
                multipart_threshold=settings.multipart_threshold,
                part_size=settings.part_size,
            )
        except (ClientError, BotoCoreError, RuntimeError) as error:
            logger.exception("bundle not staged", extra={"key": bundle.key})
            failures.append(f"{bundle.key}: {error}")
            continue
        staged_count += 1
        staged_bytes += staged.size
        logger.info(
            "bundle staged",
            extra={
                "key": staged.key,
                "size": staged.size,
                "sha256": staged.sha256,
                "hashed": staged.hashed,
                "multipart": staged.multipart,
            },
        )
    metrics.add_metric(name="BundlesStaged", unit=MetricUnit.Count, value=staged_count)
    metrics.add_metric(name="BundleBytes", unit=MetricUnit.Bytes, value=staged_bytes)
    if failures:
        raise BundlesNotStagedError(
            f"{len(failures)} of {len(bundles)} bundles were not staged (Lambda retries the "
            f"event; after that it goes to the copier DLQ): {'; '.join(failures)}"
        )
    return {"staged": staged_count, "skipped": len(skipped)}
