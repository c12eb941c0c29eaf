"""The optional canary (issue 22) in the configuration and the template: `[canary]` validated once,
the CanaryMissing alarm only when the canary is on, its window from the SLO, its runbook."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest

from pipeline.contract.slo import SLO_P999_SECONDS
from templates.alarms import RUNBOOK, canary_alarm_period_seconds, canary_alarms
from templates.config import Canary, ConfigError, parse_config
from templates.stack import build_template
from tests.environments import filled_config, filled_data

ROOT = Path(__file__).resolve().parents[2]
BASE: dict[str, Any] = filled_data("prod")


def _config(canary: dict[str, Any] | None) -> Any:
    data = copy.deepcopy(BASE)
    data.pop("canary", None)
    if canary is not None:
        data["canary"] = canary
    return parse_config("prod", data, source="prod.toml")


def _resources(canary: dict[str, Any] | None) -> dict[str, Any]:
    resources: dict[str, Any] = build_template(_config(canary)).to_dict()["Resources"]
    return resources


def test_without_a_canary_section_the_canary_is_off_and_nothing_is_deployed() -> None:
    assert _config(None).canary == Canary(interval_minutes=0, scheduled=True)
    resources = _resources(None)
    assert not [name for name in resources if name.startswith("Canary")]
    assert _resources({"interval_minutes": 0}).keys() == resources.keys()


def test_prod_ships_with_the_canary_on_dev_off_local_deployed_but_not_scheduled() -> None:
    assert filled_config("prod").canary == Canary(interval_minutes=5, scheduled=True)
    assert not filled_config("dev").canary.enabled
    assert filled_config("local").canary == Canary(interval_minutes=60, scheduled=False)


@pytest.mark.parametrize(
    ("canary", "shown"),
    [
        ({"interval_minutes": 61}, "61"),
        ({"interval_minutes": -5}, "-5"),
        ({"interval_minutes": "5"}, "'5'"),
        ({"interval_minutes": 5, "scheduled": "yes"}, "'yes'"),
    ],
)
def test_bad_canary_values_are_refused_naming_key_value_and_range(
    canary: dict[str, Any], shown: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        _config(canary)
    message = str(caught.value)
    assert "canary." in message and shown in message


def test_the_interval_refusal_says_what_is_allowed() -> None:
    with pytest.raises(ConfigError) as caught:
        _config({"interval_minutes": 90})
    assert "0 (off) or the minutes between canary puts, 1 to 60" in str(caught.value)


def test_an_unknown_canary_key_is_refused() -> None:
    with pytest.raises(ConfigError) as caught:
        _config({"interval_minute": 5})
    assert "interval_minute" in str(caught.value) and "did you mean" in str(caught.value)


@pytest.mark.parametrize(
    ("interval", "period"),
    [(1, 240), (5, 480), (10, 780), (60, 3780)],
)
def test_the_alarm_window_is_one_interval_plus_the_slo(interval: int, period: int) -> None:
    assert canary_alarm_period_seconds(interval) == period
    assert period >= interval * 60 + SLO_P999_SECONDS
    assert period % 60 == 0 and period <= 86_400  # CloudWatch: whole minutes, at most a day


def test_canary_missing_exists_only_when_the_canary_is_on() -> None:
    assert "CanaryMissingAlarm" not in _resources({"interval_minutes": 0})
    alarm = _resources({"interval_minutes": 5})["CanaryMissingAlarm"]["Properties"]
    assert (alarm["Namespace"], alarm["MetricName"], alarm["Statistic"]) == (
        "S3Aggregator",
        "CanariesDelivered",
        "Sum",
    )
    assert alarm["Dimensions"] == [{"Name": "service", "Value": "s3-aggregator-prod-copier"}]
    assert (alarm["Period"], alarm["EvaluationPeriods"]) == (480, 1)
    assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("LessThanThreshold", 1)
    # no canary is no data: "broken, not idle" must treat it as breaching
    assert alarm["TreatMissingData"] == "breaching"
    assert alarm["AlarmActions"] == alarm["OKActions"] == [{"Ref": "AlarmTopic"}]


def test_canary_missing_links_an_existing_runbook() -> None:
    text = (ROOT / RUNBOOK).read_text(encoding="utf-8")
    headings = re.findall(r"^#+ (.+)$", text, flags=re.MULTILINE)
    anchors = {re.sub(r"[^a-z0-9 -]", "", h.lower()).replace(" ", "-") for h in headings}
    (alarm,) = canary_alarms(filled_config("prod"))
    match = re.search(
        rf"Runbook: {re.escape(RUNBOOK)}#([a-z0-9-]+)$", alarm.properties["AlarmDescription"]
    )
    assert match and match.group(1) in anchors


def test_the_canary_function_is_small_and_names_landing_and_its_interval() -> None:
    resources = _resources({"interval_minutes": 10})
    function = resources["CanaryFunction"]["Properties"]
    assert function["Handler"] == "pipeline.canary.handler.lambda_handler"
    assert function["Role"] == {"Fn::GetAtt": ["CanaryRole", "Arn"]}
    assert (function["MemorySize"], function["Timeout"]) == (128, 60)
    variables = function["Environment"]["Variables"]
    assert variables["CANARY_INTERVAL_MINUTES"] == "10"
    assert variables["LANDING_BUCKET"] == {
        "Fn::Sub": "s3-aggregator-prod-landing-${AWS::AccountId}-${AWS::Region}"
    }
    assert resources["CanaryFunctionLogs"]["Properties"]["LogGroupName"] == (
        "/aws/lambda/s3-aggregator-prod-canary"
    )
    assert resources["CanarySchedule"]["Properties"]["ScheduleExpression"] == "rate(10 minutes)"
    one = _resources({"interval_minutes": 1})["CanarySchedule"]["Properties"]
    assert one["ScheduleExpression"] == "rate(1 minute)"  # EventBridge refuses "1 minutes"
