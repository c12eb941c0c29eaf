"""The status screen shows the functions' own metrics (published from their EMF logs)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import boto3

from scripts.status import MetricTotal, StatusReport, _pipeline_metrics, render
from templates.names import METRICS_NAMESPACE

REGION = "eu-west-2"


def test_counters_are_summed_and_gauges_maximised(s3: Any) -> None:
    cloudwatch = boto3.client("cloudwatch", region_name=REGION)
    now = datetime.now(UTC)

    def put(name: str, service: str, *values: float) -> None:
        cloudwatch.put_metric_data(
            Namespace=METRICS_NAMESPACE,
            MetricData=[
                {
                    "MetricName": name,
                    "Dimensions": [{"Name": "service", "Value": service}],
                    "Timestamp": now - timedelta(minutes=5),
                    "Values": list(values),
                }
            ],
        )

    put("ReferencesPut", "ingest", 20, 30)
    put("BundleBytes", "transform", 75_926_428)
    put("BundlesStaged", "transform", 2)
    put("BundlesStaged", "copier-ish", 1)
    put("DistributionBacklogCount", "monitor", 4, 1)
    cloudwatch.put_metric_data(
        Namespace="Other", MetricData=[{"MetricName": "ReferencesPut", "Value": 99}]
    )

    totals = _pipeline_metrics(cloudwatch, now)

    assert totals == (
        MetricTotal("BundleBytes", "Sum", 75_926_428.0),
        MetricTotal("BundlesStaged", "Sum", 3.0),
        MetricTotal("DistributionBacklogCount", "Maximum", 4.0),
        MetricTotal("ReferencesPut", "Sum", 50.0),
    )
    screen = render(StatusReport("local", "now", metrics=totals))
    assert (
        "metrics (1 h) BundleBytes sum 75,926,428, BundlesStaged sum 3, "
        "DistributionBacklogCount max 4, ReferencesPut sum 50" in screen
    )


def test_no_metrics_yet_shows_a_dash() -> None:
    assert "metrics (1 h) -" in render(StatusReport("local", "now"))
