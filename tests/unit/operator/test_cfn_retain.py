"""The LocalStack patch for ``DeletionPolicy: RetainExceptOnCreate`` decides as AWS does."""

from __future__ import annotations

import pytest

from localstack_plugins.cfn_retain import retained


@pytest.mark.parametrize(
    ("policy", "stack_status", "change_set_type", "kept"),
    [
        ("RetainExceptOnCreate", "DELETE_IN_PROGRESS", "UPDATE", True),  # aggregator destroy
        ("RetainExceptOnCreate", "DELETE_IN_PROGRESS", "CREATE", True),  # destroy of a new stack
        ("RetainExceptOnCreate", "UPDATE_IN_PROGRESS", "UPDATE", True),  # removed by an update
        ("RetainExceptOnCreate", "ROLLBACK_IN_PROGRESS", "CREATE", False),  # failed creation
        ("Retain", "ROLLBACK_IN_PROGRESS", "CREATE", True),
        ("Delete", "DELETE_IN_PROGRESS", "UPDATE", False),
        (None, "DELETE_IN_PROGRESS", "UPDATE", False),
    ],
)
def test_retention_decision(
    policy: str | None, stack_status: str, change_set_type: str, kept: bool
) -> None:
    assert retained(policy, stack_status, change_set_type) is kept
