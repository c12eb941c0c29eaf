"""A CloudWatch dashboard with the pipeline's health at a glance."""

from __future__ import annotations

import json
from typing import Any

from troposphere import Sub, Template
from troposphere.cloudwatch import Alarm, Dashboard

from pipeline.contract import metrics as m
from pipeline.contract.slo import SLO_P95_SECONDS, SLO_P999_SECONDS
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
    streams = [["DeliveryStreamName", each.name] for each in names.delivery_streams(config)]
    functions = {f: names.function_name(config, f) for f in names.FUNCTION_IDS}

    def custom(function: str, *metrics: str) -> list[list[Any]]:
        return [[names.METRICS_NAMESPACE, m, "service", functions[function]] for m in metrics]

    return [
        _widget(
            "Incoming references (Firehose)",
            [["AWS/Firehose", "IncomingRecords", *stream] for stream in streams],
        ),
        _widget(
            f"Data freshness, seconds (SLO {SLO_P95_SECONDS} s / {SLO_P999_SECONDS} s)",
            [["AWS/Firehose", "DeliveryToS3.DataFreshness", *stream] for stream in streams],
            stat="Maximum",
        ),
        _widget(
            "Processor and delivery success",
            [
                ["AWS/Firehose", metric, *stream]
                for stream in streams
                for metric in ("ExecuteProcessing.Success", "DeliveryToS3.Success")
            ],
            stat="Average",
            period=300,
        ),
        _widget(
            "Transform: files by path",
            custom(
                "transform", m.FILES_INLINED, m.FILES_DIRECT, m.FILES_DEFERRED, m.OBJECTS_MISSING
            ),
        ),
        _widget(
            "Distribution backlog (bundles)",
            custom("monitor", m.DISTRIBUTION_BACKLOG_COUNT),
            stat="Maximum",
        ),
        _widget(
            "Oldest bundle in Distribution, seconds",
            custom("monitor", m.DISTRIBUTION_OLDEST_AGE_SECONDS),
            stat="Maximum",
        ),
        _widget("Bundles staged", custom("copier", m.BUNDLES_STAGED)),
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


#: an alarm widget shows at most 100 alarms
ALARM_WIDGET_LIMIT = 100


def slo_widget(config: EnvironmentConfig) -> dict[str, Any]:
    """Files' landing-to-Distribution age (copier's FileAgeSeconds) against the SLO lines."""
    copier = ["service", names.function_name(config, "copier")]
    widget = _widget(
        f"End-to-end file age, seconds (SLO: p95 {SLO_P95_SECONDS} s, p99.9 {SLO_P999_SECONDS} s)",
        [
            [m.NAMESPACE, m.FILE_AGE_SECONDS, *copier, {"stat": "p95", "label": "p95"}],
            [
                m.NAMESPACE,
                m.FILE_AGE_SECONDS,
                *copier,
                {"stat": "p99.9", "label": "p99.9"},
            ],
            [
                m.NAMESPACE,
                m.BUNDLE_MAX_FILE_AGE_SECONDS,
                *copier,
                {"stat": "Maximum", "label": "oldest file of a bundle"},
            ],
        ],
        stat="p95",
        period=300,
    )
    widget["properties"]["annotations"] = {
        "horizontal": [
            {
                "label": f"SLO p95 ({SLO_P95_SECONDS} s)",
                "value": SLO_P95_SECONDS,
                "color": "#ff7f0e",
            },
            {
                "label": f"SLO p99.9 ({SLO_P999_SECONDS} s)",
                "value": SLO_P999_SECONDS,
                "color": "#d62728",
            },
        ]
    }
    return widget


def alarm_status_widgets(template: Template) -> list[dict[str, Any]]:
    """Every alarm of the stack with its current state (one widget per 100 alarms)."""
    alarms = sorted(
        title for title, resource in template.resources.items() if isinstance(resource, Alarm)
    )
    chunks = [
        alarms[start : start + ALARM_WIDGET_LIMIT]
        for start in range(0, len(alarms), ALARM_WIDGET_LIMIT)
    ]
    return [
        {
            "type": "alarm",
            "width": 2 * WIDTH,
            "height": HEIGHT,
            "properties": {
                "title": "Alarms" if len(chunks) == 1 else f"Alarms ({number}/{len(chunks)})",
                "alarms": [f"${{{title}.Arn}}" for title in chunk],
                "sortBy": "stateUpdatedTimestamp",
            },
        }
        for number, chunk in enumerate(chunks, start=1)
    ]


def add_dashboard(template: Template, config: EnvironmentConfig) -> None:
    if not config.alarms.dashboard:
        return
    every = [*alarm_status_widgets(template), slo_widget(config), *widgets(config)]
    body = json.dumps({"widgets": every}, sort_keys=True, separators=(",", ":"))
    template.add_resource(
        Dashboard("PipelineDashboard", DashboardName=config.stack_name, DashboardBody=Sub(body))
    )
