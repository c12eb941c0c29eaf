"""EMF log lines to CloudWatch metric data (Powertools documents and the spec's rules)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit

from localstack_plugins import lambda_emf


def _powertools_line() -> str:
    metrics = Metrics(namespace="S3Aggregator", service="s3-aggregator-local-monitor")
    metrics.add_metric(name="DistributionBacklogCount", unit=MetricUnit.Count, value=3)
    metrics.add_metric(name="DistributionBacklogCount", unit=MetricUnit.Count, value=4)
    metrics.add_metric(name="DistributionOldestAgeSeconds", unit=MetricUnit.Seconds, value=1.5)
    document = metrics.serialize_metric_set()
    metrics.clear_metrics()
    return json.dumps(document)


def test_a_powertools_document_becomes_metric_data() -> None:
    logs = "START RequestId: x\n" + _powertools_line() + "\nEND RequestId: x\n"

    data = {d.name: d for d in lambda_emf.metrics_in(logs)}

    count = data["DistributionBacklogCount"]
    assert count.namespace == "S3Aggregator"
    assert count.unit == "Count"
    assert count.values == (3.0, 4.0)
    assert count.dimensions == (("service", "s3-aggregator-local-monitor"),)
    assert abs((datetime.now(UTC) - count.timestamp).total_seconds()) < 60
    assert data["DistributionOldestAgeSeconds"].values == (1.5,)


def _document(**changes: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "_aws": {
            "Timestamp": 1_700_000_000_000,
            "CloudWatchMetrics": [
                {
                    "Namespace": "N",
                    "Dimensions": [["service"], ["service", "stage"]],
                    "Metrics": [{"Name": "M", "Unit": "Milliseconds", "StorageResolution": 1}],
                }
            ],
        },
        "service": "svc",
        "stage": "local",
        "M": 7,
    }
    document.update(changes)
    return document


def test_each_dimension_set_gives_one_metric() -> None:
    data = lambda_emf.parse_document(json.dumps(_document()))
    assert [d.dimensions for d in data] == [
        (("service", "svc"),),
        (("service", "svc"), ("stage", "local")),
    ]
    assert {d.storage_resolution for d in data} == {1}
    assert data[0].timestamp == datetime.fromtimestamp(1_700_000_000, UTC)
    call = data[0].to_api()
    assert call["Values"] == [7.0]
    assert call["Unit"] == "Milliseconds"


@pytest.mark.parametrize(
    "broken",
    [
        {"M": "seven"},  # value not a number
        {"M": True},
        {"M": [1] * 101},  # over 100 values
        {"service": 5},  # dimension value not a string
        {"_aws": {"CloudWatchMetrics": []}},  # no timestamp
        {"_aws": {"Timestamp": 1, "CloudWatchMetrics": [{"Namespace": "N", "Metrics": []}]}},
        {
            "_aws": {
                "Timestamp": 1,
                "CloudWatchMetrics": [
                    {"Namespace": "N", "Dimensions": [], "Metrics": [{"Name": "M", "Unit": "Bad"}]}
                ],
            }
        },
        {  # a dimension name that is not a string (a list: unhashable)
            "_aws": {
                "Timestamp": 1,
                "CloudWatchMetrics": [
                    {"Namespace": "N", "Dimensions": [[["service"]]], "Metrics": []}
                ],
            }
        },
        {  # a unit that is not a string
            "_aws": {
                "Timestamp": 1,
                "CloudWatchMetrics": [
                    {"Namespace": "N", "Dimensions": [], "Metrics": [{"Name": "M", "Unit": []}]}
                ],
            }
        },
    ],
)
def test_invalid_documents_yield_nothing(broken: dict[str, Any]) -> None:
    assert lambda_emf.parse_document(json.dumps(_document(**broken))) == []


def test_ordinary_log_lines_are_not_metrics() -> None:
    logs = '{"level":"INFO","message":"hello"}\nnot json {"_aws"\n[1, 2]\n'
    assert lambda_emf.metrics_in(logs) == []


def test_calls_group_by_namespace_within_the_put_metric_data_limit() -> None:
    data = lambda_emf.parse_document(json.dumps(_document())) * 600
    calls = list(lambda_emf.calls(data))
    assert [(namespace, len(items)) for namespace, items in calls] == [
        ("N", 1000),
        ("N", 200),
    ]
