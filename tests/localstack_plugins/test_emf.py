"""EMF lines a function prints become CloudWatch metrics, as CloudWatch Logs does on AWS."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.localstack_plugins.support import client, create_function, unique, wait_for

# Prints one EMF document per invocation (what Powertools' Metrics writes), then a plain line.
EMITTER = """
import json, time

def handler(event, context):
    print(json.dumps({
        "_aws": {
            "Timestamp": int(time.time() * 1000),
            "CloudWatchMetrics": [{
                "Namespace": event["namespace"],
                "Dimensions": [["service"]],
                "Metrics": [{"Name": "Staged", "Unit": "Count"}],
            }],
        },
        "service": "emf-test",
        "Staged": event["values"],
    }))
    print("an ordinary log line")
    return "ok"
"""


def test_emf_log_lines_are_published_as_metrics(localstack: str) -> None:
    arn = create_function(localstack, EMITTER, name="emf")
    namespace = unique("EmfTest")
    lam = client("lambda", localstack)
    for values in ([1, 2], [3]):
        payload = json.dumps({"namespace": namespace, "values": values})
        lam.invoke(FunctionName=arn, Payload=payload)
    cloudwatch = client("cloudwatch", localstack)
    now = datetime.now(UTC)

    def statistics() -> dict[str, Any] | None:
        points = cloudwatch.get_metric_statistics(
            Namespace=namespace,
            MetricName="Staged",
            Dimensions=[{"Name": "service", "Value": "emf-test"}],
            StartTime=now - timedelta(minutes=5),
            EndTime=now + timedelta(minutes=5),
            Period=600,
            Statistics=["Sum", "SampleCount", "Maximum"],
        )["Datapoints"]
        point: dict[str, Any] | None = points[0] if points else None
        return point if point and point["SampleCount"] >= 3 else None

    point = wait_for(statistics, timeout=30, what="the EMF metric in CloudWatch")
    assert point["Sum"] == 6.0
    assert point["SampleCount"] == 3.0
    assert point["Maximum"] == 3.0
    assert point["Unit"] == "Count"
