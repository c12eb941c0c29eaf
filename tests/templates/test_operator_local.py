"""Operator commands against the embedded LocalStack: review, diff, --no-execute, logs, destroy."""

from __future__ import annotations

import io
import json
import time
import uuid
from typing import Any

import pytest

from scripts import cli
from scripts.changeset import Decision, TemplateSource, apply_stack, stack_status
from scripts.deploy import deploy, discarding_review, terminal_review
from scripts.session import EnvSession
from tests.e2e.pipeline import delete_bucket
from tests.integration.conftest import localstack  # noqa: F401 - the session fixture

pytestmark = pytest.mark.integration

DEADLINE_SECONDS = 60.0


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _bucket_template(bucket: str) -> TemplateSource:
    return TemplateSource(
        body=json.dumps(
            {
                "Resources": {
                    "Store": {
                        "Type": "AWS::S3::Bucket",
                        "DeletionPolicy": "Delete",
                        "Properties": {"BucketName": bucket},
                    }
                }
            }
        )
    )


def _physical_bucket(cloudformation: Any, stack: str) -> str:
    resources = cloudformation.describe_stack_resources(StackName=stack)["StackResources"]
    return str(resources[0]["PhysicalResourceId"])


def test_review_of_a_bucket_replacement_then_yes_no_and_no_execute(
    localstack: str,  # noqa: F811
) -> None:
    cloudformation = EnvSession.for_env("local", localstack).client("cloudformation")
    suffix = uuid.uuid4().hex[:8]
    stack = f"review-{suffix}"
    first, second = f"review-a-{suffix}", f"review-b-{suffix}"
    apply_stack(cloudformation, stack, _bucket_template(first), show_progress=False)

    # diff: the pending replacement is shown, flagged, and nothing is left behind
    out = io.StringIO()
    shown = apply_stack(
        cloudformation, stack, _bucket_template(second), review=discarding_review(out)
    )
    assert shown.decision is Decision.DISCARD
    assert [(c.logical_id, c.replacement, c.dangerous) for c in shown.changes] == [
        ("Store", "True", True)
    ]
    assert "Store" in out.getvalue() and "REPLACED" in out.getvalue()
    assert _physical_bucket(cloudformation, stack) == first
    assert cloudformation.list_change_sets(StackName=stack)["Summaries"] == []

    # the operator answers no: nothing changes
    said_no = apply_stack(
        cloudformation,
        stack,
        _bucket_template(second),
        review=terminal_review(
            FakeTerminal("n\n"), io.StringIO(), assume_yes=False, no_execute=False
        ),
    )
    assert said_no.decision is Decision.DISCARD
    assert _physical_bucket(cloudformation, stack) == first

    # --no-execute: the change set stays for review, the stack is unchanged
    kept = apply_stack(
        cloudformation,
        stack,
        _bucket_template(second),
        review=terminal_review(FakeTerminal(""), io.StringIO(), assume_yes=False, no_execute=True),
    )
    assert kept.decision is Decision.KEEP and kept.change_set_id
    summaries = cloudformation.list_change_sets(StackName=stack)["Summaries"]
    assert [s["ChangeSetId"] for s in summaries] == [kept.change_set_id]
    cloudformation.delete_change_set(ChangeSetName=kept.change_set_id)

    # the operator answers yes: the replacement is executed
    said_yes = apply_stack(
        cloudformation,
        stack,
        _bucket_template(second),
        review=terminal_review(
            FakeTerminal("y\n"), io.StringIO(), assume_yes=False, no_execute=False
        ),
        show_progress=False,
    )
    assert said_yes.decision is Decision.APPLY and said_yes.changed
    s3 = EnvSession.for_env("local", localstack).client("s3")
    s3.head_bucket(Bucket=second)  # the replacement exists ...
    names = {bucket["Name"] for bucket in s3.list_buckets()["Buckets"]}
    assert first not in names  # ... and the replaced bucket is gone (DeletionPolicy Delete here)
    cloudformation.delete_stack(StackName=stack)


def _poll_logs(argv: list[str], capsys: pytest.CaptureFixture[str], wanted: str) -> list[Any]:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while True:
        assert cli.main(argv) == 0
        lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        if any(wanted in line["message"] for line in lines) or time.monotonic() > deadline:
            return lines
        time.sleep(1.0)  # poll interval: Lambda logs reach CloudWatch Logs after the invocation


def test_pipeline_diff_logs_and_destroy_keeping_the_buckets(
    localstack: str,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    outputs = deploy("local", localstack)
    session = EnvSession.for_env("local", localstack)
    s3 = session.client("s3")
    cloudformation = session.client("cloudformation")
    target = ["--env", "local", "--endpoint-url", localstack]
    capsys.readouterr()

    # diff on an up-to-date stack: exit 0, no change sets left
    assert cli.main(["diff", *target, "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["account"] == "000000000000" and plan["region"] == "eu-west-2"
    assert [stack["changed"] for stack in plan["stacks"]] == [False, False]
    assert cloudformation.list_change_sets(StackName="s3-aggregator-local")["Summaries"] == []

    # logs: an uploaded file shows up in the ingest function's log, found by its key
    key = f"logs-test/{uuid.uuid4().hex}.txt"
    s3.put_object(Bucket=outputs["LandingBucketName"], Key=key, Body=b"hello")
    lines = _poll_logs(
        ["logs", "ingest", *target, "--since", "5m", "--filter", key, "--json"], capsys, key
    )
    assert lines and all(key in line["message"] for line in lines)

    # destroy: the stack goes, the buckets and their objects stay
    s3.put_object(Bucket=outputs["ArchiveBucketName"], Key="kept/dr-copy", Body=b"dr")
    assert cli.main(["destroy", *target, "--yes", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    retained = {
        outputs[k] for k in ("LandingBucketName", "ArchiveBucketName", "DistributionBucketName")
    }
    assert set(report["retained_buckets"]) == retained
    assert stack_status(cloudformation, "s3-aggregator-local") in (None, "DELETE_COMPLETE")
    body = s3.get_object(Bucket=outputs["ArchiveBucketName"], Key="kept/dr-copy")["Body"].read()
    assert body == b"dr"
    for bucket in retained:  # as an operator would, so later tests can deploy under the same names
        delete_bucket(s3, bucket)
