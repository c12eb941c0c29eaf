"""A CloudWatch dashboard with the pipeline's health at a glance."""

from __future__ import annotations

import json
from typing import Any

from troposphere import Sub, Template
from troposphere.cloudwatch import Dashboard

from templates import names
from templates.config import EnvironmentConfig

WIDTH = 12
HEIGHT = 6


def _widget(
    title: str, metrics: list[list[Any]], *, stat: str = "Sum", period: int = 60
) -> dict[str, Any]:
    return {
        "type": "metric",
        "width": WIDTH,
        "height": HEIGHT,
        "properties": {
            "title": title,
            "region": "${AWS::Region}",
            "stat": stat,
            "period": period,
            "view": "timeSeries",
            "metrics": metrics,
        },
    }


def widgets(config: EnvironmentConfig) -> list[dict[str, Any]]:
    stream = ["DeliveryStreamName", names.delivery_stream_name(config)]
    functions = {f: names.function_name(config, f) for f in names.FUNCTION_IDS}

    def custom(function: str, *metrics: str) -> list[list[Any]]:
        return [[names.METRICS_NAMESPACE, m, "service", functions[function]] for m in metrics]

    return [
        _widget("Incoming references (Firehose)", [["AWS/Firehose", "IncomingRecords", *stream]]),
        _widget(
            "Data freshness, seconds (SLO 120 s / 180 s)",
            [["AWS/Firehose", "DeliveryToS3.DataFreshness", *stream]],
            stat="Maximum",
        ),
        _widget(
            "Processor and delivery success",
            [
                ["AWS/Firehose", "ExecuteProcessing.Success", *stream],
                ["AWS/Firehose", "DeliveryToS3.Success", *stream],
            ],
            stat="Average",
            period=300,
        ),
        _widget(
            "Transform: files by path",
            custom("transform", "FilesInlined", "FilesDirect", "FilesDeferred", "ObjectsMissing"),
        ),
        _widget(
            "Distribution backlog (bundles)",
            custom("monitor", "DistributionBacklogCount"),
            stat="Maximum",
        ),
        _widget(
            "Oldest bundle in Distribution, seconds",
            custom("monitor", "DistributionOldestAgeSeconds"),
            stat="Maximum",
        ),
        _widget("Bundles staged", custom("copier", "BundlesStaged")),
        _widget(
            "Lambda errors and throttles",
            [
                ["AWS/Lambda", metric, "FunctionName", name]
                for name in functions.values()
                for metric in ("Errors", "Throttles")
            ],
        ),
        _widget(
            "Lambda duration (p99), ms",
            [["AWS/Lambda", "Duration", "FunctionName", name] for name in functions.values()],
            stat="p99",
        ),
        _widget(
            "Failure queues (messages visible)",
            [
                [
                    "AWS/SQS",
                    "ApproximateNumberOfMessagesVisible",
                    "QueueName",
                    f"${{{queue}.QueueName}}",
                ]
                for queue in names.DLQ_IDS.values()
            ],
            stat="Maximum",
        ),
    ]


def add_dashboard(template: Template, config: EnvironmentConfig) -> None:
    if not config.alarms.dashboard:
        return
    body = json.dumps({"widgets": widgets(config)}, sort_keys=True, separators=(",", ":"))
    template.add_resource(
        Dashboard("PipelineDashboard", DashboardName=config.stack_name, DashboardBody=Sub(body))
    )
