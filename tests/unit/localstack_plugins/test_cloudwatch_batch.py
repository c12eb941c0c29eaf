"""The metric batcher: sums per metric and dimension set, StatisticValues, request size limit."""

from __future__ import annotations

from typing import Any

from localstack_plugins.cloudwatch_batch import MAX_ITEMS_PER_REQUEST, MetricBatcher, MetricKey
from localstack_plugins.firehose.usage import PutUsage, record_usage
from pipeline.contract.quotas import DirectPutQuota

Published = list[tuple[str, str, str, list[dict[str, Any]]]]


def _batcher() -> tuple[MetricBatcher, Published]:
    published: Published = []
    return MetricBatcher(lambda *call: published.append(call)), published


def _key(name: str, value: str = "f", account: str = "1") -> MetricKey:
    return MetricKey(account, "eu-west-2", "AWS/Lambda", name, (("FunctionName", value),), "Count")


def test_points_of_one_metric_are_summed_into_statistic_values() -> None:
    batcher, published = _batcher()
    batcher.add(_key("Invocations"), 1)
    batcher.add(_key("Invocations"), 1, count=3)
    batcher.add(_key("Duration"), 5.0)
    batcher.add(_key("Duration"), 2.0)
    batcher.flush()

    ((account, region, namespace, items),) = published
    assert (account, region, namespace) == ("1", "eu-west-2", "AWS/Lambda")
    by_name = {item["MetricName"]: item for item in items}
    assert by_name["Invocations"]["StatisticValues"] == {
        "SampleCount": 4,
        "Sum": 4,
        "Minimum": 1,
        "Maximum": 1,
    }
    assert by_name["Duration"]["StatisticValues"] == {
        "SampleCount": 2,
        "Sum": 7.0,
        "Minimum": 2.0,
        "Maximum": 5.0,
    }
    assert by_name["Invocations"]["Dimensions"] == [{"Name": "FunctionName", "Value": "f"}]
    assert by_name["Invocations"]["Unit"] == "Count"


def test_a_flush_starts_afresh_and_sends_nothing_when_idle() -> None:
    batcher, published = _batcher()
    batcher.add(_key("Invocations"), 1)
    batcher.flush()
    batcher.flush()
    assert len(published) == 1


def test_each_account_gets_its_own_requests_of_at_most_a_thousand_items() -> None:
    batcher, published = _batcher()
    for n in range(MAX_ITEMS_PER_REQUEST + 1):
        batcher.add(_key("Invocations", value=f"f{n}"), 1)
    batcher.add(_key("Invocations", account="2"), 1)
    batcher.flush()
    sizes = sorted((call[0], len(call[3])) for call in published)
    assert sizes == [("1", 1), ("1", MAX_ITEMS_PER_REQUEST), ("2", 1)]


def test_a_failing_publish_loses_only_that_request() -> None:
    calls: list[str] = []

    def publish(account: str, region: str, namespace: str, items: list[dict[str, Any]]) -> None:
        calls.append(account)
        if account == "1":
            raise RuntimeError("CloudWatch is down")

    batcher = MetricBatcher(publish)
    batcher.add(_key("Invocations", account="1"), 1)
    batcher.add(_key("Invocations", account="2"), 1)
    batcher.flush()
    assert sorted(calls) == ["1", "2"]


def _usage(usage: PutUsage, quota: DirectPutQuota) -> dict[str, dict[str, float]]:
    batcher, published = _batcher()
    record_usage(batcher, "1", "eu-west-2", "stream-a", quota, usage)
    batcher.flush()
    ((_, _, namespace, items),) = published
    assert namespace == "AWS/Firehose"
    assert all(
        item["Dimensions"] == [{"Name": "DeliveryStreamName", "Value": "stream-a"}]
        for item in items
    )
    return {item["MetricName"]: item["StatisticValues"] for item in items}


def test_an_admitted_call_reports_what_was_ingested_throttled_and_the_limits() -> None:
    metrics = _usage(PutUsage(True, 3, 900, 2), DirectPutQuota(1024.0, 10.0, 0.0))
    assert {name: values["Sum"] for name, values in metrics.items()} == {
        "IncomingPutRequests": 1,
        "IncomingRecords": 3,
        "IncomingBytes": 900,
        "ThrottledRecords": 2,
        "PutRequestsPerSecondLimit": 10.0,
        "BytesPerSecondLimit": 1024.0,  # RecordsPerSecondLimit: switched off, not published
    }


def test_a_call_refused_for_the_request_rate_throttles_all_its_records() -> None:
    metrics = _usage(PutUsage(False, 0, 0, 4), DirectPutQuota(1024.0, 10.0, 100.0))
    assert {name: values["Sum"] for name, values in metrics.items()} == {
        "ThrottledRecords": 4,
        "PutRequestsPerSecondLimit": 10.0,
        "RecordsPerSecondLimit": 100.0,
        "BytesPerSecondLimit": 1024.0,
    }
