"""The production canary on the deployed local stack (issue 22): the scheduled rule exists and
targets the canary function; one canary put flows through the real path (Landing event -> ingest
-> Firehose -> transform -> Archive -> copier -> Distribution); the copier counts it in
``CanariesDelivered``; CanaryMissing is in ALARM while no canary was delivered and goes OK once one
is; the on-premise consumer (``aggregator consume``) verifies it, records it, times it and keeps it
out of the output folder.

``local.toml`` deploys the canary with a 60-minute interval and its rule DISABLED (LocalStack fires
rates on wall-clock minutes), so the test invokes the function itself and never waits for a clock.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from pipeline.bundle import read_bundle
from pipeline.canary.payload import CanaryPut, parse_body
from pipeline.contract.metrics import CANARIES_DELIVERED, CANARY_AGE_SECONDS, NAMESPACE
from pipeline.contract.prefixes import BUNDLE_ROOT, is_canary_key
from scripts import cli
from scripts.consumer.drain import STATE_DIR_NAME
from templates.names import function_name_of
from tests.e2e.pipeline import ENV_NAME, Pipeline
from tests.localstack_plugins.support import wait_for

pytestmark = pytest.mark.e2e

CANARY_FUNCTION = function_name_of(ENV_NAME, "canary")
COPIER_SERVICE = function_name_of(ENV_NAME, "copier")
#: the alarm plugin evaluates every minute: one evaluation after a change, with slack
ALARM_TIMEOUT_SECONDS = 150.0
DELIVERY_TIMEOUT_SECONDS = 120.0
POLL_SECONDS = 1.0


def _canary_alarm(cloudwatch: Any) -> dict[str, Any]:
    alarms = [
        alarm
        for page in cloudwatch.get_paginator("describe_alarms").paginate()
        for alarm in page["MetricAlarms"]
        if alarm.get("MetricName") == CANARIES_DELIVERED
    ]
    assert len(alarms) == 1, f"expected one CanaryMissing alarm, found {alarms}"
    return dict(alarms[0])


def _states_reached(cloudwatch: Any, name: str) -> list[tuple[str, str]]:
    history = cloudwatch.describe_alarm_history(AlarmName=name, HistoryItemType="StateUpdate")
    found = []
    for item in history["AlarmHistoryItems"]:
        new = json.loads(item["HistoryData"])["newState"]
        found.append((new["stateValue"], new.get("stateReason", "")))
    return found


def _bundles_holding(pipeline: Pipeline, key: str, known: set[str]) -> list[tuple[str, bytes]]:
    """(bundle key, member content) for each new Distribution bundle with ``key`` as a member."""
    found = []
    for page in pipeline.s3.get_paginator("list_objects_v2").paginate(
        Bucket=pipeline.distribution, Prefix=BUNDLE_ROOT
    ):
        for item in page.get("Contents", []):
            if item["Key"] in known:
                continue
            body = pipeline.s3.get_object(Bucket=pipeline.distribution, Key=item["Key"])["Body"]
            members = [(m.metadata.key, m.read()) for m in read_bundle(body)]  # SHA-256 verified
            known.add(item["Key"])
            found += [(item["Key"], content) for member, content in members if member == key]
    return found


def _sum(cloudwatch: Any, metric: str, statistic: str) -> float | None:
    now = datetime.now(UTC)
    points = cloudwatch.get_metric_statistics(
        Namespace=NAMESPACE,
        MetricName=metric,
        Dimensions=[{"Name": "service", "Value": COPIER_SERVICE}],
        StartTime=now - timedelta(minutes=30),
        EndTime=now + timedelta(minutes=1),
        Period=3600,
        Statistics=[statistic],
    )["Datapoints"]
    return sum(point[statistic] for point in points) if points else None


def test_the_schedule_rule_targets_the_canary_function(pipeline: Pipeline) -> None:
    events = pipeline.session.client("events")
    arn = pipeline.session.client("lambda").get_function(FunctionName=CANARY_FUNCTION)[
        "Configuration"
    ]["FunctionArn"]
    rules = events.list_rule_names_by_target(TargetArn=arn)["RuleNames"]
    assert len(rules) == 1, rules
    rule = events.describe_rule(Name=rules[0])
    assert rule["ScheduleExpression"] == "rate(60 minutes)"  # local.toml's interval
    assert rule["State"] == "DISABLED"  # local.toml: scheduled = false
    targets = events.list_targets_by_rule(Rule=rules[0])["Targets"]
    assert [target["Arn"] for target in targets] == [arn]


def test_a_canary_flows_to_distribution_and_clears_canary_missing(
    pipeline: Pipeline, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cloudwatch = pipeline.session.client("cloudwatch")
    alarm = _canary_alarm(cloudwatch)
    assert (alarm["TreatMissingData"], alarm["Period"]) == ("breaching", 3780)
    # With no canary delivered the alarm is in ALARM ("no datapoints ... [Breaching]"): evaluated
    # every minute since the deploy, so it got there before any canary of this session.
    broken: list[tuple[str, str]] = wait_for(
        lambda: [
            state
            for state in _states_reached(cloudwatch, alarm["AlarmName"])
            if state[0] == "ALARM" and "Breaching" in state[1]
        ],
        ALARM_TIMEOUT_SECONDS,
        POLL_SECONDS,
        "CanaryMissing in ALARM while no canary was delivered",
    )
    assert broken

    known = {
        item["Key"]
        for page in pipeline.s3.get_paginator("list_objects_v2").paginate(
            Bucket=pipeline.distribution, Prefix=BUNDLE_ROOT
        )
        for item in page.get("Contents", [])
    }
    response = pipeline.session.client("lambda").invoke(FunctionName=CANARY_FUNCTION, Payload=b"{}")
    assert "FunctionError" not in response, response["Payload"].read()
    put = json.loads(response["Payload"].read())
    assert put["bucket"] == pipeline.landing and is_canary_key(put["key"])
    landed = pipeline.s3.get_object(Bucket=pipeline.landing, Key=put["key"])["Body"].read()
    canary: CanaryPut = parse_body(landed)

    started = time.monotonic()
    holding: list[tuple[str, bytes]] = wait_for(
        lambda: _bundles_holding(pipeline, put["key"], known),
        DELIVERY_TIMEOUT_SECONDS,
        POLL_SECONDS,
        f"a Distribution bundle holding {put['key']}",
    )
    delivered_after = time.monotonic() - started
    (bundle_key, content), *_ = holding
    assert content == landed and parse_body(content) == canary

    delivered: float = wait_for(
        lambda: _sum(cloudwatch, CANARIES_DELIVERED, "Sum"),
        DELIVERY_TIMEOUT_SECONDS,
        POLL_SECONDS,
        f"{CANARIES_DELIVERED} from the copier",
    )
    assert delivered >= 1
    age: float = wait_for(
        lambda: _sum(cloudwatch, CANARY_AGE_SECONDS, "Maximum"),
        DELIVERY_TIMEOUT_SECONDS,
        POLL_SECONDS,
        f"{CANARY_AGE_SECONDS} from the copier",
    )
    assert 0 <= age < 180  # the SLO's 99.9 % bound, on the local stack's small buffers

    wait_for(
        lambda: _canary_alarm(cloudwatch)["StateValue"] == "OK",
        ALARM_TIMEOUT_SECONDS,
        POLL_SECONDS,
        "CanaryMissing to go OK after a canary was delivered",
    )
    print(  # the figure the report quotes (pytest -s)
        f"canary {put['key']}: in Distribution {delivered_after:.1f} s after the put "
        f"(bundle {bundle_key}); CanaryAgeSeconds max {age:.1f} s"
    )
    # The on-premise consumer takes it (later scenarios count the files they drain): verified,
    # recorded, timed, kept only in --canary-dir, never in the output folder.
    for key, _ in holding:
        summary, metrics = _consume(pipeline, key, tmp_path, capsys)
        assert summary["bundles_delivered"] == 1, summary
    assert summary["files_canary"] >= 1
    output = tmp_path / "output"
    assert [p for p in output.rglob("*") if p.is_file() and STATE_DIR_NAME not in p.parts] == []
    [kept] = [p for p in (tmp_path / "canaries").rglob("*") if p.is_file()]
    assert kept.read_bytes() == landed
    assert metrics["aggregator_consumer_canary_files"] >= 1
    assert metrics["aggregator_consumer_canary_latency_seconds"] >= 1  # the histogram's count
    assert not {key for key, _ in holding} & {
        item["Key"]
        for page in pipeline.s3.get_paginator("list_objects_v2").paginate(
            Bucket=pipeline.distribution, Prefix=BUNDLE_ROOT
        )
        for item in page.get("Contents", [])
    }


def _consume(
    pipeline: Pipeline, bundle_key: str, folder: Path, capsys: pytest.CaptureFixture[str]
) -> tuple[dict[str, Any], dict[str, float]]:
    """``aggregator consume --once`` of one bundle: its --json summary and the metrics file's
    counters and histogram counts, by family name."""
    metrics_file = folder / "consumer.prom"
    capsys.readouterr()
    code = cli.main(
        [
            *("consume", "--env", "local", "--endpoint-url", pipeline.endpoint_url),
            *("--bucket", pipeline.distribution, "--prefix", bundle_key, "--once", "--json"),
            *("--output", str(folder / "output"), "--canary-dir", str(folder / "canaries")),
            *("--metrics-file", str(metrics_file), "--no-progress"),
        ]
    )
    summary: dict[str, Any] = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 0, summary
    values: dict[str, float] = {}
    for family in text_string_to_metric_families(metrics_file.read_text()):
        for sample in family.samples:
            if sample.name in (f"{family.name}_total", f"{family.name}_count"):
                values[family.name] = sample.value
    return summary, values
