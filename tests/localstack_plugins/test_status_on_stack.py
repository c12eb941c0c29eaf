"""`aggregator status --env local` on the deployed stack: exit 0 when idle, metrics move with load.

Uses the e2e session's deployed stack (``tests/e2e/conftest.py``): no stack of its own. The
service metrics the alarms rest on (``AWS/Firehose``, ``AWS/Lambda``, published by the emulator
itself) and the functions' EMF metrics that ``status`` shows must all move after a small load.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from scripts import cli
from scripts.loadgen import FileKind
from tests.e2e.conftest import pipeline
from tests.e2e.pipeline import Pipeline, specs
from tests.localstack_plugins.support import wait_for

__all__ = ["pipeline"]

pytestmark = pytest.mark.e2e


def _status(endpoint: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any]]:
    capsys.readouterr()
    code = cli.main(["status", "--env", "local", "--endpoint-url", endpoint, "--json"])
    report: dict[str, Any] = json.loads(capsys.readouterr().out)
    return code, report


def _service_sum(cloudwatch: Any, namespace: str, metric: str) -> float:
    now = datetime.now(UTC)
    total = 0.0
    for listed in cloudwatch.list_metrics(Namespace=namespace, MetricName=metric)["Metrics"]:
        points = cloudwatch.get_metric_statistics(
            Namespace=namespace,
            MetricName=metric,
            Dimensions=listed["Dimensions"],
            StartTime=now - timedelta(hours=1),
            EndTime=now + timedelta(minutes=1),
            Period=3600,
            Statistics=["Sum"],
        )["Datapoints"]
        total += sum(point["Sum"] for point in points)
    return total


def _metric_totals(report: dict[str, Any]) -> dict[str, float]:
    return {metric["name"]: float(metric["value"]) for metric in report["metrics"]}


def test_status_exits_0_on_a_freshly_deployed_idle_stack(
    pipeline: Pipeline, capsys: pytest.CaptureFixture[str]
) -> None:
    """Right after the deploy the backlog alarms (missing data breaching: the dead-man signal)
    have no datapoint yet: status shows them warming up, not firing, and exits 0; later they are
    OK (the warm-up rule itself: tests/unit/consumer/test_status.py)."""
    code, report = _status(pipeline.endpoint_url, capsys)
    assert (code, report["problems"], report["alarms_firing"]) == (0, [], []), json.dumps(report)
    assert report["healthy"] is True


def test_the_metrics_status_and_the_alarms_read_move_under_a_small_load(
    pipeline: Pipeline, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, before = _status(pipeline.endpoint_url, capsys)
    assert before["problems"] == [], json.dumps(before)
    cloudwatch = pipeline.session.client("cloudwatch")
    firehose_before = _service_sum(cloudwatch, "AWS/Firehose", "IncomingRecords")
    lambda_before = _service_sum(cloudwatch, "AWS/Lambda", "Invocations")

    scenario = pipeline.scenario("status", tmp_path)
    records = scenario.upload(specs(scenario.prefix, FileKind.TEXT, [27_000, 1_000, 5_000]))
    scenario.deliver(records, timeout=90)

    wait_for(
        lambda: _service_sum(cloudwatch, "AWS/Firehose", "IncomingRecords") > firehose_before,
        timeout=30,
        what="AWS/Firehose IncomingRecords to move",
    )
    wait_for(
        lambda: _service_sum(cloudwatch, "AWS/Lambda", "Invocations") > lambda_before,
        timeout=30,
        what="AWS/Lambda Invocations to move",
    )

    def moved() -> dict[str, Any] | None:
        _, after = _status(pipeline.endpoint_url, capsys)
        assert after["problems"] == [], json.dumps(after)
        totals, earlier = _metric_totals(after), _metric_totals(before)
        grown = any(value > earlier.get(name, 0.0) for name, value in totals.items())
        return after if grown else None

    wait_for(moved, timeout=30, interval=1.0, what="a metric that status shows to move")
