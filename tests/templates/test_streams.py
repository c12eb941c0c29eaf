"""N delivery streams (issue 15): config, resources, IAM, alarms, dashboard and outputs."""

from __future__ import annotations

import json
from typing import Any

import pytest

from templates.config import MAX_STREAMS, ConfigError, parse_config
from templates.stack import build_template, render
from tests.environments import filled_config, filled_data
from tests.templates.variants import SCALED_OUT_STREAMS, stream_variants

NAMES = ["s3-aggregator-prod", "s3-aggregator-prod-2", "s3-aggregator-prod-3"]
STREAM_IDS = ["DeliveryStream", "DeliveryStreamStream2", "DeliveryStreamStream3"]
#: the alarms every stream has, by logical id of the first stream's
PER_STREAM_ALARMS = (
    "DataFreshnessAlarm",
    "ProcessorSuccessAlarm",
    "DeliverySuccessAlarm",
    "FirehoseThrottledRecordsAlarm",
    "FirehoseQuotaBytesAlarm",
    "FirehoseQuotaRecordsAlarm",
    "FirehoseQuotaPutRequestsAlarm",
    "IncomingRecordsAnomalyAlarm",
)


@pytest.fixture(scope="module")
def scaled() -> dict[str, Any]:
    [config] = stream_variants().values()
    assert config.firehose.streams == SCALED_OUT_STREAMS == len(NAMES)
    parsed: dict[str, Any] = json.loads(render(build_template(config)))
    return parsed


def _of_type(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}


def _stream_dimension(alarm: dict[str, Any]) -> set[str]:
    properties = alarm["Properties"]
    dimensions = list(properties.get("Dimensions", []))
    for query in properties.get("Metrics", []):
        dimensions += query.get("MetricStat", {}).get("Metric", {}).get("Dimensions", [])
    return {d["Value"] for d in dimensions if d["Name"] == "DeliveryStreamName"}


def test_streams_default_to_one_and_are_bounded() -> None:
    assert filled_config("prod").firehose.streams == 1
    data = filled_data("prod")
    del data["firehose"]["streams"]
    assert parse_config("prod", data, source="prod.toml").firehose.streams == 1
    for bad in (0, MAX_STREAMS + 1, "2", 1.5, True):
        data["firehose"]["streams"] = bad
        with pytest.raises(ConfigError) as raised:
            parse_config("prod", data, source="prod.toml")
        message = str(raised.value)
        assert f"firehose.streams = {bad!r} is not allowed" in message
        assert "raise the per-stream DirectPut quota (docs/capacity.md#how-to-scale)" in message


def test_every_stream_shares_the_processor_bucket_and_prefixes(scaled: dict[str, Any]) -> None:
    streams = _of_type(scaled, "AWS::KinesisFirehose::DeliveryStream")
    assert sorted(streams) == sorted(STREAM_IDS)
    first = streams["DeliveryStream"]["Properties"]["ExtendedS3DestinationConfiguration"]
    log_groups = set()
    for logical_id, name in zip(STREAM_IDS, NAMES, strict=True):
        properties = streams[logical_id]["Properties"]
        assert properties["DeliveryStreamName"] == name
        destination = properties["ExtendedS3DestinationConfiguration"]
        for same in ("BucketARN", "RoleARN", "Prefix", "ErrorOutputPrefix", "BufferingHints"):
            assert destination[same] == first[same]
        assert destination["ProcessingConfiguration"] == first["ProcessingConfiguration"]
        logging = destination["CloudWatchLoggingOptions"]
        assert logging["LogGroupName"] == f"/aws/kinesisfirehose/{name}"
        log_groups.add(logging["LogGroupName"])
    groups = _of_type(scaled, "AWS::Logs::LogGroup").values()
    declared = {g["Properties"]["LogGroupName"] for g in groups}
    assert log_groups <= declared


def test_the_first_stream_keeps_the_one_stream_names(scaled: dict[str, Any]) -> None:
    """Scaling 1 -> N adds streams; it never renames (replaces) the one holding records."""
    single = json.loads(render(build_template(filled_config("prod"))))
    assert single["Resources"]["DeliveryStream"] == scaled["Resources"]["DeliveryStream"]
    for alarm in PER_STREAM_ALARMS:
        assert alarm in single["Resources"]


def test_ingest_and_transform_may_put_into_every_stream_and_know_them_in_order(
    scaled: dict[str, Any],
) -> None:
    roles = _of_type(scaled, "AWS::IAM::Role")
    for role in ("IngestRole", "TransformRole"):
        statements = roles[role]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
        [put] = [s for s in statements if "firehose:PutRecordBatch" in s["Action"]]
        arns = [r["Fn::Sub"] for r in put["Resource"]]
        assert [arn.rsplit("/", 1)[1] for arn in arns] == NAMES
        assert all(":deliverystream/" in arn for arn in arns)
    for function in ("IngestFunction", "TransformFunction"):
        variables = scaled["Resources"][function]["Properties"]["Environment"]["Variables"]
        assert variables["DELIVERY_STREAM_NAMES"] == ",".join(NAMES)
    firehose = roles["FirehoseRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    [logs] = [s for s in firehose if s["Sid"] == "WriteDeliveryLogs"]
    assert len(logs["Resource"]) == len(NAMES)


def test_every_stream_has_its_alarms(scaled: dict[str, Any]) -> None:
    alarms = _of_type(scaled, "AWS::CloudWatch::Alarm")
    for index, name in enumerate(NAMES):
        suffix = "" if index == 0 else f"Stream{index + 1}"
        for alarm in PER_STREAM_ALARMS:
            logical_id = alarm + suffix
            assert logical_id in alarms, logical_id
            assert _stream_dimension(alarms[logical_id]) == {name}, logical_id
            if index:
                assert f"[stream {name}]" in alarms[logical_id]["Properties"]["AlarmDescription"]
    covered = set().union(*(_stream_dimension(a) for a in alarms.values()))
    assert covered == set(NAMES)
    detectors = _of_type(scaled, "AWS::CloudWatch::AnomalyDetector")
    assert len(detectors) == len(NAMES)


def test_dashboard_shows_every_stream_and_every_alarm(scaled: dict[str, Any]) -> None:
    [dashboard] = _of_type(scaled, "AWS::CloudWatch::Dashboard").values()
    body = json.loads(dashboard["Properties"]["DashboardBody"]["Fn::Sub"])
    metrics = [m for w in body["widgets"] for m in w["properties"].get("metrics", [])]
    for name in NAMES:
        assert ["AWS/Firehose", "IncomingRecords", "DeliveryStreamName", name] in metrics
        assert ["AWS/Firehose", "DeliveryToS3.DataFreshness", "DeliveryStreamName", name] in metrics
    shown = [a for w in body["widgets"] for a in w["properties"].get("alarms", [])]
    alarms = _of_type(scaled, "AWS::CloudWatch::Alarm")
    assert sorted(shown) == sorted(f"${{{a}.Arn}}" for a in alarms)


def test_the_largest_stack_stays_within_cloudformation_limits() -> None:
    data = filled_data("prod")
    data["firehose"]["streams"] = MAX_STREAMS
    template = build_template(parse_config("prod", data, source="prod.toml"))
    assert len(template.resources) <= 500  # CloudFormation's resources per template
    assert len(template.outputs) <= 200
    body = json.loads(render(template))
    [dashboard] = _of_type(body, "AWS::CloudWatch::Dashboard").values()
    widgets = json.loads(dashboard["Properties"]["DashboardBody"]["Fn::Sub"])["widgets"]
    assert all(len(w["properties"].get("alarms", [])) <= 100 for w in widgets)
    assert sum(len(w["properties"].get("alarms", [])) for w in widgets) > 100


def test_the_output_lists_the_streams_in_routing_order(scaled: dict[str, Any]) -> None:
    output = scaled["Outputs"]["DeliveryStreamNames"]["Value"]
    assert output == {"Fn::Join": [",", [{"Ref": logical_id} for logical_id in STREAM_IDS]]}
    assert scaled["Outputs"]["DeliveryStreamName"]["Value"] == {"Ref": "DeliveryStream"}
