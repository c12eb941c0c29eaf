"""The canary (issue 22): its file, its configuration, its handler on moto, and the copier's
canary metrics for a bundle that holds one."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from pipeline.canary import handler as canary_handler
from pipeline.canary.config import CanaryConfig, ConfigError
from pipeline.canary.payload import FORMAT, CanaryBodyError, CanaryPut, parse_body
from pipeline.contract.prefixes import is_canary_key
from pipeline.copier import freshness
from pipeline.copier import handler as copier_handler
from tests.emf import emf_values
from tests.unit.conftest import LambdaContextStub, PipelineAws
from tests.unit.pipeline.bundles import timed_bundle
from tests.unit.pipeline.s3_events import s3_event, s3_record

PUT_AT = datetime(2026, 12, 8, 0, 5, 7, 250_000, tzinfo=UTC)
RUN_ID = "0f1e2d3c-aaaa-bbbb-cccc-000000000001"
BUNDLE_KEY = "bundles/2026/12/08/00/test-stream-1-2026-12-08-00-05-00-canary.gz"


# --- the canary file -----------------------------------------------------------------------------


def test_the_key_is_under_the_reserved_prefix_and_names_time_and_run() -> None:
    put = CanaryPut(RUN_ID, PUT_AT, 5)
    assert put.key == f"_canary/2026/12/08/000507Z-{RUN_ID}.json"
    assert is_canary_key(put.key)


def test_the_body_round_trips_and_says_what_it_is() -> None:
    put = CanaryPut(RUN_ID, PUT_AT, 5)
    document = json.loads(put.body)
    assert document == {
        "format": FORMAT,
        "run_id": RUN_ID,
        "put_at": "2026-12-08T00:05:07.250+00:00",
        "interval_minutes": 5,
    }
    assert parse_body(put.body) == put


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"\xff\xfe",
        b"[]",
        b'{"format": "something-else/1"}',
        json.dumps({"format": FORMAT, "run_id": RUN_ID, "put_at": "2026-12-08T00:05:07"}).encode(),
        json.dumps(
            {"format": FORMAT, "run_id": RUN_ID, "put_at": "yesterday", "interval_minutes": 5}
        ).encode(),
        json.dumps(
            {"format": FORMAT, "run_id": "a b", "put_at": PUT_AT.isoformat(), "interval_minutes": 5}
        ).encode(),
        json.dumps(
            {
                "format": FORMAT,
                "run_id": RUN_ID,
                "put_at": PUT_AT.isoformat(),
                "interval_minutes": "5",
            }
        ).encode(),
        json.dumps(  # a naive time is not the canary's
            {
                "format": FORMAT,
                "run_id": RUN_ID,
                "put_at": "2026-12-08T00:05:07",
                "interval_minutes": 5,
            }
        ).encode(),
    ],
)
def test_a_body_that_is_not_a_canary_body_is_refused(body: bytes) -> None:
    with pytest.raises(CanaryBodyError):
        parse_body(body)


def test_a_put_needs_an_aware_time_and_a_plain_run_id() -> None:
    with pytest.raises(ValueError, match="timezone"):
        CanaryPut(RUN_ID, PUT_AT.replace(tzinfo=None), 5)
    with pytest.raises(ValueError, match="run id"):
        CanaryPut("../x", PUT_AT, 5)


# --- configuration -------------------------------------------------------------------------------


def test_config_reads_the_landing_bucket_and_the_interval() -> None:
    env = {"LANDING_BUCKET": " landing ", "CANARY_INTERVAL_MINUTES": "10"}
    assert CanaryConfig.from_env(env) == CanaryConfig(landing_bucket="landing", interval_minutes=10)
    assert CanaryConfig.from_env({"LANDING_BUCKET": "landing"}).interval_minutes == 5


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({}, "LANDING_BUCKET"),
        ({"LANDING_BUCKET": "  "}, "LANDING_BUCKET"),
        ({"LANDING_BUCKET": "l", "CANARY_INTERVAL_MINUTES": "0"}, "CANARY_INTERVAL_MINUTES"),
        ({"LANDING_BUCKET": "l", "CANARY_INTERVAL_MINUTES": "61"}, "CANARY_INTERVAL_MINUTES"),
        ({"LANDING_BUCKET": "l", "CANARY_INTERVAL_MINUTES": "five"}, "CANARY_INTERVAL_MINUTES"),
    ],
)
def test_config_refuses_what_the_template_never_writes(env: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        CanaryConfig.from_env(env)


# --- the handler ---------------------------------------------------------------------------------


def test_the_handler_puts_one_canary_file_into_landing(
    pipeline_aws: PipelineAws,
    lambda_context: LambdaContextStub,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("LANDING_BUCKET", pipeline_aws.landing)
    monkeypatch.setenv("CANARY_INTERVAL_MINUTES", "5")
    canary_handler.config.cache_clear()
    before = datetime.now(UTC)

    result = canary_handler.lambda_handler({"source": "aws.events"}, lambda_context)

    listed = pipeline_aws.s3.list_objects_v2(Bucket=pipeline_aws.landing)["Contents"]
    assert [item["Key"] for item in listed] == [result["key"]]
    assert is_canary_key(result["key"]) and lambda_context.aws_request_id in result["key"]
    stored = pipeline_aws.s3.get_object(Bucket=pipeline_aws.landing, Key=result["key"])
    assert stored["VersionId"] == result["version_id"]
    assert stored["ContentType"] == "application/json"
    put = parse_body(stored["Body"].read())
    assert put.run_id == lambda_context.aws_request_id and put.interval_minutes == 5
    assert before - timedelta(seconds=1) <= put.put_at <= datetime.now(UTC)
    assert emf_values(capsys.readouterr().out)["CanariesPut"] == [1.0]


@pytest.mark.filterwarnings("ignore:No application metrics to publish")
def test_a_failed_put_fails_the_invocation(
    pipeline_aws: PipelineAws,
    lambda_context: LambdaContextStub,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LANDING_BUCKET", "no-such-landing-bucket")
    canary_handler.config.cache_clear()
    with pytest.raises(Exception, match="NoSuchBucket"):
        canary_handler.lambda_handler({}, lambda_context)


# --- the copier's canary metrics -----------------------------------------------------------------


def _stage(aws: PipelineAws, body: bytes, context: LambdaContextStub) -> None:
    version = aws.s3.put_object(Bucket=aws.archive, Key=BUNDLE_KEY, Body=body)["VersionId"]
    event = s3_event(s3_record(aws.archive, BUNDLE_KEY, version_id=version, size=1))
    assert copier_handler.lambda_handler(event, context) == {"staged": 1, "skipped": 0}


@pytest.fixture
def copier_env(monkeypatch: pytest.MonkeyPatch, pipeline_aws: PipelineAws) -> PipelineAws:
    monkeypatch.setenv("DISTRIBUTION_BUCKET", pipeline_aws.distribution)
    copier_handler.config.cache_clear()
    return pipeline_aws


def test_a_bundle_with_a_canary_counts_it_and_its_age(
    copier_env: PipelineAws,
    lambda_context: LambdaContextStub,
    capsys: pytest.CaptureFixture[str],
) -> None:
    now = datetime.now(UTC)
    body = timed_bundle(
        [
            ("in/a.txt", now - timedelta(seconds=50)),
            (f"_canary/2026/12/08/000507Z-{RUN_ID}.json", now - timedelta(seconds=80)),
            ("in/_canary/not-a-canary.txt", now - timedelta(seconds=10)),
        ]
    )
    _stage(copier_env, body, lambda_context)
    emitted = emf_values(capsys.readouterr().out)
    assert emitted["CanariesDelivered"] == [1.0]
    (age,) = emitted["CanaryAgeSeconds"]
    assert 80 <= age < 80 + 15
    assert len(emitted["FileAgeSeconds"]) == 3  # the canary counts in the SLO like any file


def test_a_bundle_without_a_canary_publishes_no_canary_metric(
    copier_env: PipelineAws,
    lambda_context: LambdaContextStub,
    capsys: pytest.CaptureFixture[str],
) -> None:
    now = datetime.now(UTC)
    _stage(copier_env, timed_bundle([("in/a.txt", now), ("in/b.txt", now)]), lambda_context)
    emitted = emf_values(capsys.readouterr().out)
    assert "CanariesDelivered" not in emitted and "CanaryAgeSeconds" not in emitted
    assert len(emitted["FileAgeSeconds"]) == 2


def test_canary_ages_are_the_canary_members_ages() -> None:
    staged = datetime(2026, 12, 8, 0, 7, tzinfo=UTC)
    members = [
        ("_canary/x.json", "2026-12-08T00:05:00Z"),
        ("in/y", "2026-12-08T00:06:00Z"),
        ("_canary/z.json", "2026-12-08T00:06:30Z"),
    ]
    ages = freshness.measured_ages(members, staged, sampled=False)
    assert ages.ages == (120.0, 60.0, 30.0)
    assert ages.canary_ages == (120.0, 30.0)
