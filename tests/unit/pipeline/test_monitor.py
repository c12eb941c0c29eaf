"""Monitor: backlog count and oldest age of Distribution."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from pipeline.monitor import handler
from pipeline.monitor.backlog import measure
from tests.unit.conftest import LambdaContextStub, PipelineAws


def test_measure() -> None:
    now = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert measure([], now).count == 0
    assert measure([], now).oldest_age_seconds == 0.0
    backlog = measure([now - timedelta(seconds=30), now - timedelta(hours=2), now], now)
    assert backlog.count == 3
    assert backlog.oldest_age_seconds == 7200.0


def test_handler_publishes_backlog_metrics(
    pipeline_aws: PipelineAws,
    lambda_context: LambdaContextStub,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("DISTRIBUTION_BUCKET", pipeline_aws.distribution)
    handler.distribution_bucket.cache_clear()
    for index in range(3):
        pipeline_aws.s3.put_object(Bucket=pipeline_aws.distribution, Key=f"bundles/{index}.gz")

    result = handler.lambda_handler({}, lambda_context)

    assert result["count"] == 3
    assert 0 <= result["oldest_age_seconds"] < 120
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if "_aws" in line]
    assert (
        emf[-1]["DistributionBacklogCount"] == [3.0] or emf[-1]["DistributionBacklogCount"] == 3.0
    )
    names = {m["Name"] for m in emf[-1]["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    assert names == {"DistributionBacklogCount", "DistributionOldestAgeSeconds"}
    assert emf[-1]["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "S3Aggregator"
