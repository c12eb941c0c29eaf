"""The alarms an SRE expects: the SLO percentiles, M-of-N error rates, capacity, runbook links."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from templates.alarms import RUNBOOK, operator_alarms
from templates.config import EnvironmentConfig

Template = dict[str, Any]
ROOT = Path(__file__).resolve().parents[2]


def _alarms(template: Template) -> dict[str, dict[str, Any]]:
    return {
        name: resource["Properties"]
        for name, resource in template["Resources"].items()
        if resource["Type"] == "AWS::CloudWatch::Alarm"
    }


def _anchors() -> set[str]:
    text = (ROOT / RUNBOOK).read_text(encoding="utf-8")
    headings = re.findall(r"^#+ (.+)$", text, flags=re.MULTILINE)
    return {re.sub(r"[^a-z0-9 -]", "", h.lower()).replace(" ", "-") for h in headings}


def test_slo_alarms_watch_the_file_age_percentiles(template: Template) -> None:
    alarms = _alarms(template)
    p95, p999 = alarms["FileAgeP95Alarm"], alarms["FileAgeP999Alarm"]
    assert (p95["MetricName"], p95["ExtendedStatistic"], p95["Threshold"]) == (
        "FileAgeSeconds",
        "p95",
        120,
    )
    assert (p999["ExtendedStatistic"], p999["Threshold"]) == ("p99.9", 180)
    assert p95["Namespace"] == "S3Aggregator"
    assert p95["Dimensions"][0]["Value"].endswith("-copier")


def test_errors_page_as_a_rate_in_m_of_n(template: Template) -> None:
    alarms = _alarms(template)
    assert not any(a.get("MetricName") == "Errors" for a in alarms.values())
    rate = alarms["CopierFunctionErrorRateAlarm"]
    assert (rate["DatapointsToAlarm"], rate["EvaluationPeriods"]) == (3, 5)
    expression = next(q for q in rate["Metrics"] if "Expression" in q)["Expression"]
    assert "errors / MAX([invocations, 1])" in expression


def test_capacity_alarms(template: Template, config: EnvironmentConfig) -> None:
    alarms = _alarms(template)
    assert alarms["FirehoseThrottledRecordsAlarm"]["MetricName"] == "ThrottledRecords"
    for label, limit in (
        ("Bytes", "BytesPerSecondLimit"),
        ("Records", "RecordsPerSecondLimit"),
        ("PutRequests", "PutRequestsPerSecondLimit"),
    ):
        quota = alarms[f"FirehoseQuota{label}Alarm"]
        names = {
            q["MetricStat"]["Metric"]["MetricName"] for q in quota["Metrics"] if "MetricStat" in q
        }
        assert limit in names and quota["Threshold"] == 0.8
    copier = alarms["CopierFunctionDurationAlarm"]
    assert copier["Threshold"] == config.functions.copier.timeout_seconds * 1000 * 0.8
    for function in ("Ingest", "Copier"):
        assert alarms[f"{function}FunctionAsyncEventAgeAlarm"]["MetricName"] == "AsyncEventAge"
        failures = alarms[f"{function}FunctionDestinationFailuresAlarm"]
        assert failures["MetricName"] == "DestinationDeliveryFailures"


def test_every_new_alarm_links_an_existing_runbook(config: EnvironmentConfig) -> None:
    anchors = _anchors()
    for alarm in operator_alarms(config):
        description = alarm.properties["AlarmDescription"]
        match = re.search(rf"Runbook: {re.escape(RUNBOOK)}#([a-z0-9-]+)$", description)
        assert match, f"{alarm.title}: no runbook link"
        assert match.group(1) in anchors, f"{alarm.title}: no section #{match.group(1)}"


def test_dashboard_shows_alarm_states_and_the_slo_lines(template: Template) -> None:
    import json

    dashboards = [
        r for r in template["Resources"].values() if r["Type"] == "AWS::CloudWatch::Dashboard"
    ]
    if not dashboards:
        return
    body = json.loads(dashboards[0]["Properties"]["DashboardBody"]["Fn::Sub"])
    alarm_widget = next(w for w in body["widgets"] if w["type"] == "alarm")
    listed = {
        arn.removeprefix("${").removesuffix(".Arn}") for arn in alarm_widget["properties"]["alarms"]
    }
    assert listed == set(_alarms(template))
    slo = next(
        w
        for w in body["widgets"]
        if "SLO" in w["properties"].get("title", "") and "age" in w["properties"]["title"]
    )
    lines = {a["value"] for a in slo["properties"]["annotations"]["horizontal"]}
    assert lines == {120, 180}
