"""Copier Lambda handler: Archive bundle events -> content-sha256 + staged copy in Distribution."""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from botocore.exceptions import BotoCoreError, ClientError

from pipeline import aws
from pipeline.contract.metrics import BUNDLE_BYTES, BUNDLES_STAGED
from pipeline.copier.config import CopierConfig
from pipeline.copier.events import EMPTY_OBJECT, select_bundles
from pipeline.copier.freshness import (
    BUNDLE_MAX_AGE_METRIC,
    CANARIES_METRIC,
    CANARY_AGE_METRIC,
    FILE_AGE_METRIC,
    UNMEASURED_METRIC,
    bundle_ages,
)
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


def _measure_freshness(s3: Any, bucket: str, key: str, version_id: str | None, size: int) -> None:
    """Emit the files' end-to-end ages for one staged bundle (pipeline/copier/freshness.py)."""
    staged_at = datetime.now(UTC)
    try:
        measured = bundle_ages(s3, bucket, key, version_id, size, staged_at)
    except Exception as error:  # noqa: BLE001 - measuring must never fail the staged bundle
        logger.warning("file ages not measured", extra={"key": key, "reason": type(error).__name__})
        metrics.add_metric(name=UNMEASURED_METRIC, unit=MetricUnit.Count, value=1)
        return
    for age in measured.ages:
        metrics.add_metric(name=FILE_AGE_METRIC, unit=MetricUnit.Seconds, value=age)
    metrics.add_metric(name=BUNDLE_MAX_AGE_METRIC, unit=MetricUnit.Seconds, value=measured.maximum)
    if measured.canary_ages:  # no data otherwise: the CanaryMissing alarm treats it as breaching
        metrics.add_metric(
            name=CANARIES_METRIC, unit=MetricUnit.Count, value=len(measured.canary_ages)
        )
        for age in measured.canary_ages:
            metrics.add_metric(name=CANARY_AGE_METRIC, unit=MetricUnit.Seconds, value=age)
        logger.info(
            "canary delivered",
            extra={"key": key, "canaries": len(measured.canary_ages), "ages": measured.canary_ages},
        )
    logger.info(
        "bundle file ages",
        extra={
            "key": key,
            "files": len(measured.ages),
            "max_age_seconds": round(measured.maximum, 3),
            "sampled": measured.sampled,
        },
    )


@metrics.log_metrics
@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    settings = config()
    bundles, skipped = select_bundles(event, settings.bundle_prefix)
    for item in skipped:
        log = logger.warning if item.reason == EMPTY_OBJECT else logger.info
        log(
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
        _measure_freshness(s3, bundle.bucket, bundle.key, bundle.version_id, staged.size)
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
    metrics.add_metric(name=BUNDLES_STAGED, unit=MetricUnit.Count, value=staged_count)
    metrics.add_metric(name=BUNDLE_BYTES, unit=MetricUnit.Bytes, value=staged_bytes)
    if failures:
        raise BundlesNotStagedError(
            f"{len(failures)} of {len(bundles)} bundles were not staged (Lambda retries the "
            f"event; after that it goes to the copier DLQ): {'; '.join(failures)}"
        )
    return {"staged": staged_count, "skipped": len(skipped)}
