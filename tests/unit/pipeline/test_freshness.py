"""The SLO metric: the copier emits each staged file's end-to-end age, and the bundle's maximum."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pipeline.copier import freshness, handler
from tests.emf import emf_values
from tests.unit.conftest import LambdaContextStub, PipelineAws
from tests.unit.pipeline.bundles import timed_bundle
from tests.unit.pipeline.s3_events import s3_event, s3_record

KEY = "bundles/2026/12/01/12/test-stream-1-2026-12-01-12-00-00-fresh.gz"
AGES = (100.0, 30.0, 5.0)
SLACK_SECONDS = 15.0


@pytest.fixture(autouse=True)
def _copier_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISTRIBUTION_BUCKET", "test-distribution")
    handler.config.cache_clear()


def _bundle(event_times: list[datetime]) -> bytes:
    return timed_bundle([(f"in/{index}.txt", when) for index, when in enumerate(event_times)])


def _stage(aws: PipelineAws, body: bytes, context: LambdaContextStub) -> dict[str, int]:
    version = aws.s3.put_object(Bucket=aws.archive, Key=KEY, Body=body)["VersionId"]
    event = s3_event(s3_record(aws.archive, KEY, version_id=version, size=1))
    result: dict[str, int] = handler.lambda_handler(event, context)
    return result


def test_ages_are_seconds_from_landing_to_staging() -> None:
    staged = datetime(2026, 12, 1, 12, 2, tzinfo=UTC)
    times = ["2026-12-01T12:00:00.000Z", "2026-12-01T12:01:30.500Z", "2026-12-01T12:02:01Z"]
    assert freshness.ages_at(times, staged) == (120.0, 29.5, 0.0)  # a clock ahead counts as 0


def test_copier_emits_every_file_age_and_the_bundle_maximum(
    pipeline_aws: PipelineAws,
    lambda_context: LambdaContextStub,
    capsys: pytest.CaptureFixture[str],
) -> None:
    now = datetime.now(UTC)
    body = _bundle([now - timedelta(seconds=age) for age in AGES])
    assert _stage(pipeline_aws, body, lambda_context) == {"staged": 1, "skipped": 0}

    emitted = emf_values(capsys.readouterr().out)
    ages = emitted[freshness.FILE_AGE_METRIC]
    assert len(ages) == len(AGES)
    for measured, expected in zip(ages, AGES, strict=True):
        assert expected <= measured < expected + SLACK_SECONDS
    (maximum,) = emitted[freshness.BUNDLE_MAX_AGE_METRIC]
    assert maximum == max(ages)
    assert freshness.UNMEASURED_METRIC not in emitted


def test_large_bundles_are_sampled_by_their_first_member(
    pipeline_aws: PipelineAws,
    lambda_context: LambdaContextStub,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(freshness, "SAMPLE_ABOVE_BYTES", 0)
    now = datetime.now(UTC)
    _stage(pipeline_aws, _bundle([now - timedelta(seconds=age) for age in AGES]), lambda_context)
    ages = emf_values(capsys.readouterr().out)[freshness.FILE_AGE_METRIC]
    assert len(ages) == 1 and AGES[0] <= ages[0] < AGES[0] + SLACK_SECONDS


def test_an_unreadable_bundle_is_staged_and_counted_as_unmeasured(
    pipeline_aws: PipelineAws,
    lambda_context: LambdaContextStub,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert _stage(pipeline_aws, b"not a bundle", lambda_context)["staged"] == 1
    emitted = emf_values(capsys.readouterr().out)
    assert emitted[freshness.UNMEASURED_METRIC] == [1.0]
    assert freshness.FILE_AGE_METRIC not in emitted
