"""CloudFormation's ``DeletionPolicy: RetainExceptOnCreate``, as AWS applies it.

AWS keeps a resource with this policy when the stack is deleted or an update removes it, and
deletes it only when the creation of its stack fails and is rolled back. LocalStack's v2 engine
honours only ``Retain`` and deletes ``RetainExceptOnCreate`` resources on every deletion, so a
destroyed stack took its buckets (and their data) with it. :func:`install` makes its executor see
``Retain`` for such resources except while a CREATE change set is rolled back.
"""

from __future__ import annotations

from typing import Any

RETAIN_EXCEPT_ON_CREATE = "RetainExceptOnCreate"


def retained(policy: object, stack_status: str, change_set_type: str) -> bool:
    """Whether a resource with ``policy`` must be kept in this operation (see the module)."""
    if policy == "Retain":
        return True
    if policy != RETAIN_EXCEPT_ON_CREATE:
        return False
    failed_creation = change_set_type == "CREATE" and stack_status != "DELETE_IN_PROGRESS"
    return not failed_creation


def install() -> None:
    from localstack.services.cloudformation.engine.v2 import change_set_model_executor as executor
    from localstack.services.cloudformation.engine.v2.change_set_model_preproc import (
        DeletionPolicy,
    )

    original = executor.ChangeSetModelExecutor.visit_node_resource

    def visit_node_resource(self: Any, node_resource: Any) -> Any:
        delta = original(self, node_resource)
        before: Any = delta.before
        policy = getattr(before, "deletion_policy", None)
        if policy == RETAIN_EXCEPT_ON_CREATE:
            change_set = self._change_set
            if retained(policy, str(change_set.stack.status), str(change_set.change_set_type)):
                before.deletion_policy = DeletionPolicy.Retain
        return delta

    setattr(executor.ChangeSetModelExecutor, "visit_node_resource", visit_node_resource)  # noqa: B010
