from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from scripts.status import Clients, collect_status, render
from tests.unit.consumer.conftest import BUCKET as DISTRIBUTION

REGION = "eu-west-2"
ARCHIVE = "archive"


@pytest.fixture
def stack(s3: Any) -> tuple[Clients, dict[str, str]]:
    s3.create_bucket(Bucket=ARCHIVE, CreateBucketConfiguration={"LocationConstraint": REGION})
    sqs = boto3.client("sqs", region_name=REGION)
    firehose = boto3.client("firehose", region_name=REGION)
    cloudwatch = boto3.client("cloudwatch", region_name=REGION)
    sns = boto3.client("sns", region_name=REGION)
    topic = sns.create_topic(Name="alarms")["TopicArn"]
    firehose.create_delivery_stream(
        DeliveryStreamName="stream",
        DeliveryStreamType="DirectPut",
        ExtendedS3DestinationConfiguration={
            "RoleARN": "arn:aws:iam::123456789012:role/firehose",
            "BucketARN": f"arn:aws:s3:::{ARCHIVE}",
            "BufferingHints": {"SizeInMBs": 64, "IntervalInSeconds": 60},
            "ProcessingConfiguration": {
                "Enabled": True,
                "Processors": [
                    {
                        "Type": "Lambda",
                        "Parameters": [
                            {"ParameterName": "LambdaArn", "ParameterValue": "arn:aws:lambda:x"},
                            {"ParameterName": "BufferSizeInMBs", "ParameterValue": "1"},
                            {"ParameterName": "BufferIntervalInSeconds", "ParameterValue": "60"},
                        ],
                    }
                ],
            },
        },
    )
    ingest_dlq = sqs.create_queue(QueueName="ingest-dlq")["QueueUrl"]
    copier_dlq = sqs.create_queue(QueueName="copier-dlq")["QueueUrl"]
    outputs = {
        "ArchiveBucketName": ARCHIVE,
        "DistributionBucketName": DISTRIBUTION,
        "DeliveryStreamName": "stream",
        "IngestDLQUrl": ingest_dlq,
        "CopierDLQUrl": copier_dlq,
        "AlarmTopicArn": topic,
    }
    return Clients(s3=s3, firehose=firehose, sqs=sqs, cloudwatch=cloudwatch), outputs


def test_a_quiet_pipeline_is_healthy(stack: tuple[Clients, dict[str, str]]) -> None:
    clients, outputs = stack

    report = collect_status(clients, outputs, "unit")

    assert report.problems == ()
    [stream] = report.streams
    assert (stream.buffer_mb, stream.buffer_seconds) == (64, 60)
    assert (stream.processor_buffer_mb, stream.processor_buffer_seconds) == (1.0, 60)
    assert report.backlog is not None
    assert report.backlog.count == 0
    assert report.dlq_depths == {"IngestDLQ": 0, "CopierDLQ": 0}
    assert report.healthy
    assert "health        OK" in render(report)


def test_backlog_dlq_errors_and_alarms_are_reported(
    stack: tuple[Clients, dict[str, str]],
) -> None:
    clients, outputs = stack
    now = datetime.now(UTC)
    clients.s3.put_object(Bucket=DISTRIBUTION, Key="bundles/x/1.gz", Body=b"12345")
    clients.s3.put_object(Bucket=DISTRIBUTION, Key="bundles/x/2.gz", Body=b"1")
    clients.s3.put_object(Bucket=ARCHIVE, Key=f"bundles/{now:%Y/%m/%d/%H}/b.gz", Body=b"b")
    clients.s3.put_object(Bucket=ARCHIVE, Key="errors/processing-failed/2026/x", Body=b"e")
    clients.sqs.send_message(QueueUrl=outputs["CopierDLQUrl"], MessageBody="{}")
    clients.cloudwatch.put_metric_alarm(
        AlarmName="s3-aggregator-unit-backlog-age",
        MetricName="DistributionOldestAgeSeconds",
        Namespace="S3Aggregator",
        Statistic="Maximum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=3600,
        ComparisonOperator="GreaterThanThreshold",
        AlarmActions=[outputs["AlarmTopicArn"]],
    )
    clients.cloudwatch.put_metric_alarm(
        AlarmName="someone-elses-alarm",
        MetricName="Other",
        Namespace="Other",
        Statistic="Maximum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanThreshold",
    )
    for name in ("s3-aggregator-unit-backlog-age", "someone-elses-alarm"):
        clients.cloudwatch.set_alarm_state(
            AlarmName=name, StateValue="ALARM", StateReason="backlog older than 1 h"
        )

    report = collect_status(clients, outputs, "unit", now=now + timedelta(seconds=5))

    # moto has no DescribeAlarmHistory: that one section reports itself, the rest is there
    assert all(problem.startswith("alarm history:") for problem in report.problems)
    assert report.backlog is not None
    assert (report.backlog.count, report.backlog.bytes) == (2, 6)
    assert report.backlog.oldest_age_seconds is not None
    assert report.backlog.oldest_age_seconds >= 4
    assert report.last_bundle_time is not None
    assert report.dlq_depths["CopierDLQ"] == 1
    assert report.error_output is not None
    assert report.error_output.count == 1
    assert [a.name for a in report.alarms_firing] == ["s3-aggregator-unit-backlog-age"]
    assert not report.healthy
    screen = render(report)
    assert "2 bundle(s) waiting" in screen
    assert "ALARM  s3-aggregator-unit-backlog-age" in screen


def test_an_unreachable_section_is_reported_not_fatal(
    stack: tuple[Clients, dict[str, str]],
) -> None:
    clients, outputs = stack

    report = collect_status(clients, {**outputs, "DeliveryStreamName": "missing"}, "unit")

    assert report.streams == ()
    assert any(problem.startswith("stream missing:") for problem in report.problems)
    assert report.backlog is not None
    assert not report.healthy


def test_every_stream_is_shown_and_a_missing_one_is_a_problem(
    stack: tuple[Clients, dict[str, str]],
) -> None:
    clients, outputs = stack

    report = collect_status(clients, {**outputs, "DeliveryStreamNames": "stream,stream-2"}, "unit")

    assert [s.name for s in report.streams] == ["stream"]
    assert any(problem.startswith("stream stream-2:") for problem in report.problems)
    assert "stream        stream: " in render(report)
    assert not report.healthy


NO_DATAPOINTS = (
    "Threshold Crossed: no datapoints were received for 5 periods and 5 missing datapoints were "
    "treated as [Breaching]."
)


def _dead_man_alarm(
    clients: Clients, outputs: dict[str, str], points: list[float], missing: str = "breaching"
) -> None:
    """A backlog alarm as the template defines it (missing data breaching), in ALARM."""
    clients.cloudwatch.put_metric_alarm(
        AlarmName="s3-aggregator-unit-backlog-count",
        MetricName="DistributionBacklogCount",
        Namespace="S3Aggregator",
        Statistic="Maximum",
        Period=60,
        EvaluationPeriods=5,
        Threshold=100,
        ComparisonOperator="GreaterThanThreshold",
        TreatMissingData=missing,
        AlarmActions=[outputs["AlarmTopicArn"]],
    )
    clients.cloudwatch.set_alarm_state(
        AlarmName="s3-aggregator-unit-backlog-count",
        StateValue="ALARM",
        StateReason=NO_DATAPOINTS if not points else "Threshold Crossed: 5 datapoints",
        StateReasonData=json.dumps({"version": "1.0", "recentDatapoints": points}),
    )


@pytest.mark.parametrize(
    ("deployed_ago", "points", "warming"),
    [
        (timedelta(seconds=90), [], True),  # the monitor has not published yet: warming up
        (timedelta(seconds=359), [], True),  # window 5 x 60 s + one evaluation
        (timedelta(seconds=361), [], False),  # still no data after the window: broken
        (timedelta(seconds=30), [500.0], False),  # a real breach is never warming up
        (None, [], False),  # deployment time unknown: judged as it is
    ],
)
def test_a_dead_man_alarm_without_data_on_a_new_stack_is_warming_up_not_firing(
    stack: tuple[Clients, dict[str, str]],
    deployed_ago: timedelta | None,
    points: list[float],
    warming: bool,
) -> None:
    clients, outputs = stack
    _dead_man_alarm(clients, outputs, points)
    now = datetime.now(UTC)
    deployed = None if deployed_ago is None else now - deployed_ago

    report = collect_status(clients, outputs, "unit", now=now, deployed=deployed)

    names = ["s3-aggregator-unit-backlog-count"]
    assert [a.name for a in report.alarms_warming_up] == (names if warming else [])
    assert [a.name for a in report.alarms_firing] == ([] if warming else names)
    # moto has no DescribeAlarmHistory (a problem line of its own): health without it
    assert all(problem.startswith("alarm history:") for problem in report.problems)
    assert dataclasses.replace(report, problems=()).healthy is warming
    screen = render(report)
    assert ("WARMING UP  s3-aggregator-unit-backlog-count" in screen) is warming
    assert ("1 warming up" in screen) is warming


def test_an_alarm_treating_missing_data_otherwise_is_never_warming_up(
    stack: tuple[Clients, dict[str, str]],
) -> None:
    clients, outputs = stack
    _dead_man_alarm(clients, outputs, [], missing="notBreaching")
    now = datetime.now(UTC)

    report = collect_status(clients, outputs, "unit", now=now, deployed=now)

    assert [a.name for a in report.alarms_firing] == ["s3-aggregator-unit-backlog-count"]
    assert report.alarms_warming_up == ()
