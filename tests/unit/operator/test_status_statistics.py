"""`aggregator status` shows each metric with the statistic that answers the operator's question.

Ages are per-file levels: their sum over an hour (``FileAgeSeconds 3.72e+03``) reads like hour-old
files against a 120 s SLO. They are shown as percentiles (where CloudWatch computes them) and
maximum, next to the SLO; counts as sums; the statistic is named beside every value.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
from botocore.stub import ANY, Stubber
from moto import mock_aws

from scripts.status import MetricTotal, StatusReport, _pipeline_metrics, render, statistics_for
from templates.names import METRICS_NAMESPACE

REGION = "eu-west-2"
NOW = datetime(2026, 1, 31, 8, 0, tzinfo=UTC)


def _put(cloudwatch: Any, name: str, *values: float) -> None:
    cloudwatch.put_metric_data(
        Namespace=METRICS_NAMESPACE,
        MetricData=[
            {
                "MetricName": name,
                "Dimensions": [{"Name": "service", "Value": "copier"}],
                "Timestamp": datetime.now(UTC) - timedelta(minutes=5),
                "Values": list(values),
            }
        ],
    )


@mock_aws
def test_an_age_is_never_summed() -> None:
    cloudwatch = boto3.client("cloudwatch", region_name=REGION)
    _put(cloudwatch, "FileAgeSeconds", 10, 20, 30, 169)
    _put(cloudwatch, "BundleMaxFileAgeSeconds", 30, 169)
    _put(cloudwatch, "BundlesStaged", 1, 1, 1)

    totals = _pipeline_metrics(cloudwatch, datetime.now(UTC))

    by_key = {(m.name, m.statistic): m.value for m in totals}
    assert by_key[("FileAgeSeconds", "Maximum")] == 169.0
    assert by_key[("BundleMaxFileAgeSeconds", "Maximum")] == 169.0
    assert by_key[("BundlesStaged", "Sum")] == 3.0
    assert not {key for key in by_key if key[0].endswith("AgeSeconds") and key[1] == "Sum"}


def test_the_statistic_fits_the_metric() -> None:
    assert statistics_for("FileAgeSeconds") == ("p95", "p99", "Maximum")
    assert statistics_for("BundleMaxFileAgeSeconds") == ("p95", "p99", "Maximum")
    assert statistics_for("DistributionOldestAgeSeconds") == ("Maximum",)
    assert statistics_for("DistributionBacklogCount") == ("Maximum",)
    assert statistics_for("ReferencesPut") == ("Sum",)


def test_percentiles_are_asked_for_and_shown_where_cloudwatch_has_them() -> None:
    """Request shapes checked against the API model (botocore's Stubber), as AWS would answer."""
    cloudwatch = boto3.client("cloudwatch", region_name=REGION)
    metric = {"Namespace": METRICS_NAMESPACE, "MetricName": "FileAgeSeconds"}
    counter = {"Namespace": METRICS_NAMESPACE, "MetricName": "ReferencesPut"}
    window = {"StartTime": NOW - timedelta(hours=1), "EndTime": NOW}

    def query(index: int, which: dict[str, str], stat: str) -> dict[str, Any]:
        return {
            "Id": f"m{index}",
            "MetricStat": {"Metric": which, "Period": 3600, "Stat": stat},
        }

    def answer(*values: float) -> dict[str, Any]:
        results = [
            {"Id": f"m{i}", "Values": [v], "Timestamps": [NOW], "StatusCode": "Complete"}
            for i, v in enumerate(values)
        ]
        return {"MetricDataResults": results}

    with Stubber(cloudwatch) as stub:
        stub.add_response(
            "list_metrics", {"Metrics": [metric, counter]}, {"Namespace": METRICS_NAMESPACE}
        )
        plain = [query(0, metric, "Maximum"), query(1, counter, "Sum")]
        stub.add_response(
            "get_metric_data", answer(169.0, 500.0), {"MetricDataQueries": plain, **window}
        )
        percentiles = [query(0, metric, "p95"), query(1, metric, "p99")]
        stub.add_response(
            "get_metric_data",
            answer(41.0, 97.5),
            {"MetricDataQueries": percentiles, "StartTime": ANY, "EndTime": ANY},
        )
        totals = _pipeline_metrics(cloudwatch, NOW)
        stub.assert_no_pending_responses()

    assert totals == (
        MetricTotal("FileAgeSeconds", "p95", 41.0),
        MetricTotal("FileAgeSeconds", "p99", 97.5),
        MetricTotal("FileAgeSeconds", "Maximum", 169.0),
        MetricTotal("ReferencesPut", "Sum", 500.0),
    )
    screen = render(StatusReport("local", "now", metrics=totals)).splitlines()
    assert "metrics (1 h) ReferencesPut sum 500" in screen
    assert (
        "  FileAgeSeconds p95 41 s, p99 97.5 s, max 169 s   (SLO p95 <= 120 s, p99.9 <= 180 s)"
        in screen
    )
