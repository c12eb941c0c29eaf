"""The refusals of `aggregator acceptance`: prod, an unhealthy stack, a Distribution it cannot own.

The Distribution checks run against moto's S3 and CloudWatch (the same calls the command makes on
AWS); prod and ``--faults`` off the local stack are refused before any AWS call.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Final

import boto3
import pytest
from moto import mock_aws

from pipeline.contract.metrics import BUNDLES_STAGED, NAMESPACE
from scripts.acceptance.preconditions import (
    RefusedError,
    check_distribution_owned,
    check_healthy,
    distribution_state,
    health_problems,
)
from scripts.cli import main as cli_main
from scripts.status import Alarm, StatusReport, StreamStatus

REGION: Final = "eu-west-2"
BUCKET = "dev-distribution"


def test_prod_is_refused_with_the_canary_named(capsys: pytest.CaptureFixture[str]) -> None:
    code = cli_main(["acceptance", "--env", "prod"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("aggregator acceptance: refusing env prod:")
    assert "canary" in err and "dev" in err


def test_faults_are_refused_off_the_local_stack(capsys: pytest.CaptureFixture[str]) -> None:
    code = cli_main(["acceptance", "--env", "dev", "--faults", "5", "--json"])
    captured = capsys.readouterr()
    assert code == 2
    assert "--faults is for the local stack only" in captured.err
    assert captured.out.strip().startswith('{"error"')  # --json: the error as JSON too


@pytest.fixture
def aws() -> Any:
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        yield s3, boto3.client("cloudwatch", region_name=REGION)


def test_a_non_empty_distribution_is_refused(aws: Any) -> None:
    s3, cloudwatch = aws
    s3.put_object(Bucket=BUCKET, Key="bundles/2026/01/31/08/b-1.gz", Body=b"x")
    state = distribution_state(s3, cloudwatch, BUCKET)
    assert state.objects == 1
    with pytest.raises(RefusedError, match=r"is not empty .*bundles/2026/01/31/08/b-1\.gz"):
        check_distribution_owned(state, "dev", BUCKET)


def test_an_empty_distribution_that_bundles_keep_leaving_means_a_draining_consumer(
    aws: Any,
) -> None:
    s3, cloudwatch = aws
    cloudwatch.put_metric_data(
        Namespace=NAMESPACE,
        MetricData=[
            {
                "MetricName": BUNDLES_STAGED,
                "Dimensions": [{"Name": "service", "Value": "s3-aggregator-dev-copier"}],
                "Timestamp": datetime.now(UTC) - timedelta(minutes=4),
                "Values": [1, 1, 1],
            }
        ],
    )
    state = distribution_state(s3, cloudwatch, BUCKET)
    assert (state.objects, state.staged_recently) == (0, 3.0)
    with pytest.raises(RefusedError, match="a consumer is draining Distribution"):
        check_distribution_owned(state, "dev", BUCKET)


def test_an_empty_quiet_distribution_is_accepted(aws: Any) -> None:
    s3, cloudwatch = aws
    state = distribution_state(s3, cloudwatch, BUCKET)
    check_distribution_owned(state, "dev", BUCKET)  # no refusal


def _status(environment: str, **changes: Any) -> StatusReport:
    stream = StreamStatus("s", "ACTIVE", 1, 60, 1.0, 60)
    return StatusReport(environment, "2026-01-31T08:00:00+00:00", streams=(stream,), **changes)


def test_health_refusals_name_what_is_wrong() -> None:
    firing = (Alarm("s3-aggregator-dev-CopierDLQDepthAlarm", "ALARM", "r", "t"),)
    status = _status("dev", dlq_depths={"CopierDLQ": 2}, alarms_firing=firing)
    assert health_problems(status) == [
        "alarm s3-aggregator-dev-CopierDLQDepthAlarm is in ALARM",
        "CopierDLQ holds 2 message(s)",
    ]
    with pytest.raises(RefusedError, match="dev stack is not healthy"):
        check_healthy(status)
    check_healthy(_status("dev"))  # healthy: no refusal


def test_the_shared_local_stack_is_refused_only_for_what_makes_a_run_unreadable() -> None:
    firing = (Alarm("s3-aggregator-local-BacklogAgeAlarm", "ALARM", "r", "t"),)
    check_healthy(_status("local", alarms_firing=firing, dlq_depths={"IngestDLQ": 1}))
    with pytest.raises(RefusedError, match="cannot read backlog"):
        check_healthy(_status("local", problems=("backlog: ClientError: boom",)))
