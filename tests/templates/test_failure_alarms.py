"""The failure paths' alarms: on the transform's own metrics, each with a runbook that exists."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from templates import names
from templates.config import EnvironmentConfig
from transforms.outcomes import DEFERRED_METRIC, OLDEST_REFERENCE_AGE_METRIC, FailureReason

RELIABILITY = Path(__file__).resolve().parents[2] / "docs" / "reliability.md"


def test_deferral_age_access_and_give_up_alarms(
    template: dict[str, Any], config: EnvironmentConfig
) -> None:
    alarms = {
        key: value["Properties"]
        for key, value in template["Resources"].items()
        if value["Type"] == "AWS::CloudWatch::Alarm"
    }
    by_metric = {a.get("MetricName"): a for a in alarms.values()}
    wanted = {
        DEFERRED_METRIC,
        OLDEST_REFERENCE_AGE_METRIC,
        FailureReason.ACCESS_DENIED.metric,
        FailureReason.TOO_MANY_DEFERRALS.metric,
        FailureReason.TOO_OLD.metric,
    }
    assert wanted <= set(by_metric)
    headings = {
        line.removeprefix("### ").strip().lower()
        for line in RELIABILITY.read_text().splitlines()
        if line.startswith("### ")
    }
    for metric in wanted:
        alarm = by_metric[metric]
        assert alarm["Namespace"] == names.METRICS_NAMESPACE
        assert alarm["Dimensions"] == [
            {"Name": "service", "Value": names.function_name(config, "transform")}
        ]
        anchor = re.search(r"docs/reliability\.md#(\w+)", alarm["AlarmDescription"])
        assert anchor is not None and anchor.group(1) in headings
