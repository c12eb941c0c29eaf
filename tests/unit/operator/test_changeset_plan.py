"""The planning half of `apply_stack`: what to do with a stack, from its status alone."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from scripts.changeset import DeployError, StackPlan, outcome_error, plan_stack


@pytest.mark.parametrize(
    ("status", "plan"),
    [
        (None, StackPlan("CREATE")),
        ("REVIEW_IN_PROGRESS", StackPlan("CREATE")),
        ("ROLLBACK_COMPLETE", StackPlan("CREATE", delete_failed_first=True)),
        ("CREATE_COMPLETE", StackPlan("UPDATE")),
        ("UPDATE_ROLLBACK_COMPLETE", StackPlan("UPDATE")),
    ],
)
def test_the_status_decides_create_or_update(status: str | None, plan: StackPlan) -> None:
    assert plan_stack("s3-aggregator-local", status) == plan


def test_a_busy_stack_is_refused_with_what_to_do() -> None:
    with pytest.raises(DeployError, match=r"busy \(UPDATE_IN_PROGRESS\): wait for it to finish"):
        plan_stack("s3-aggregator-local", "UPDATE_IN_PROGRESS")


def test_a_failed_stack_reports_every_failed_resource() -> None:
    assert outcome_error("stack", "UPDATE_COMPLETE", []) is None
    event = {
        "LogicalResourceId": "ArchiveBucket",
        "ResourceType": "AWS::S3::Bucket",
        "ResourceStatus": "CREATE_FAILED",
        "ResourceStatusReason": "bucket name taken",
        "Timestamp": datetime(2026, 1, 1, tzinfo=UTC),
    }
    error = outcome_error("stack", "ROLLBACK_COMPLETE", [event])
    assert error is not None
    assert str(error) == (
        "stack ended in ROLLBACK_COMPLETE; failed resources:\n"
        "  ArchiveBucket (AWS::S3::Bucket): CREATE_FAILED: bucket name taken"
    )
    silent = outcome_error("stack", "UPDATE_ROLLBACK_COMPLETE", [])
    assert silent is not None and "no resource reported a reason" in str(silent)
