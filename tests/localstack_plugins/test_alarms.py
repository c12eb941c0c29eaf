"""Metric alarms are evaluated as often as on AWS, and their history is queryable by date."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from localstack_plugins.cloudwatch_alarms import evaluation_interval
from tests.localstack_plugins.support import client, unique, wait_for


def test_evaluation_interval_follows_cloudwatch() -> None:
    assert evaluation_interval(10) == 10
    assert evaluation_interval(30) == 10
    assert evaluation_interval(60) == 60
    assert evaluation_interval(300) == 60


def test_an_alarm_recovers_within_one_evaluation_interval(localstack: str) -> None:
    """5 periods of 10 s: LocalStack alone would look again only after 50 s."""
    cloudwatch = client("cloudwatch", localstack)
    namespace, name = unique("AlarmTest"), unique("alarm")
    cloudwatch.put_metric_alarm(
        AlarmName=name,
        Namespace=namespace,
        MetricName="Level",
        Statistic="Maximum",
        Period=10,
        EvaluationPeriods=5,
        Threshold=5,
        ComparisonOperator="GreaterThanThreshold",
        TreatMissingData="breaching",
    )

    def state() -> str:
        return str(cloudwatch.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]["StateValue"])

    wait_for(lambda: state() == "ALARM", timeout=15, what="ALARM without data")
    cloudwatch.put_metric_data(
        Namespace=namespace,
        MetricData=[
            {
                "MetricName": "Level",
                "Value": 0,
                "Timestamp": datetime.now(UTC),
                "StorageResolution": 1,
            }
        ],
    )
    wait_for(lambda: state() == "OK", timeout=25, what="OK once a datapoint below the threshold")

    # two state changes: the history still answers a query by date, newest transition last
    history = cloudwatch.describe_alarm_history(
        AlarmName=name, StartDate=datetime.now(UTC) - timedelta(hours=1)
    )["AlarmHistoryItems"]
    summaries = [h["HistorySummary"] for h in sorted(history, key=lambda h: h["Timestamp"])]
    assert summaries[-2:] == [
        "Alarm updated from INSUFFICIENT_DATA to ALARM",
        "Alarm updated from ALARM to OK",
    ]
    alarm = cloudwatch.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]
    assert max(h["Timestamp"] for h in history) == alarm["StateUpdatedTimestamp"]
