"""Create or update one CloudFormation stack through a change set, showing its events as they come.

`apply_stack` returns the stack's outputs; "no changes" is a success. On failure it raises
:class:`DeployError` listing every failed resource with CloudFormation's reason.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError
from tqdm import tqdm

CAPABILITIES = ["CAPABILITY_IAM"]
NO_CHANGE_MARKERS = ("didn't contain changes", "No updates are to be performed")
CHANGE_SET_DEADLINE_SECONDS = 600.0
STACK_DEADLINE_SECONDS = 3600.0
POLL_SECONDS = 2.0
SUCCESS = frozenset({"CREATE_COMPLETE", "UPDATE_COMPLETE", "IMPORT_COMPLETE"})


class DeployError(RuntimeError):
    """The stack could not be created or updated; the message holds the reasons."""


@dataclass(frozen=True)
class TemplateSource:
    """Either an inline body or the S3 URL of an uploaded template."""

    body: str | None = None
    url: str | None = None

    def arguments(self) -> dict[str, str]:
        if self.url:
            return {"TemplateURL": self.url}
        assert self.body is not None
        return {"TemplateBody": self.body}


@dataclass(frozen=True)
class StackResult:
    name: str
    changed: bool
    outputs: dict[str, str]
    seconds: float


def stack_status(cloudformation: Any, name: str) -> str | None:
    try:
        stacks = cloudformation.describe_stacks(StackName=name)["Stacks"]
    except ClientError as error:
        if "does not exist" in str(error):
            return None
        raise
    return str(stacks[0]["StackStatus"]) if stacks else None


def _poll(
    check: Callable[[], bool], deadline_seconds: float, what: str, interval: float = POLL_SECONDS
) -> None:
    deadline = time.monotonic() + deadline_seconds
    while not check():
        if time.monotonic() > deadline:
            raise DeployError(f"timed out after {deadline_seconds:.0f} s waiting for {what}")
        time.sleep(interval)


def _delete_failed_creation(cloudformation: Any, name: str, say: Callable[[str], None]) -> None:
    say(f"{name}: a previous creation failed (ROLLBACK_COMPLETE); deleting it before retrying")
    cloudformation.delete_stack(StackName=name)
    _poll(lambda: stack_status(cloudformation, name) in (None, "DELETE_COMPLETE"),
          STACK_DEADLINE_SECONDS, f"deletion of {name}")  # fmt: skip


def _events(cloudformation: Any, name: str) -> Iterator[dict[str, Any]]:
    """Stack events, newest first."""
    paginator = cloudformation.get_paginator("describe_stack_events")
    for page in paginator.paginate(StackName=name):
        yield from page["StackEvents"]


def _new_events(
    cloudformation: Any, name: str, since: datetime, seen: set[str]
) -> list[dict[str, Any]]:
    fresh = []
    for event in _events(cloudformation, name):
        if event["Timestamp"] < since:
            break
        if event["EventId"] not in seen:
            seen.add(event["EventId"])
            fresh.append(event)
    return sorted(fresh, key=lambda event: event["Timestamp"])


def _format_event(event: dict[str, Any]) -> str:
    reason = event.get("ResourceStatusReason") or ""
    when = event["Timestamp"].strftime("%H:%M:%S")
    line = f"{when} {event['LogicalResourceId']:<40} {event['ResourceStatus']:<22}"
    return f"{line} {reason}".rstrip()


def _failures(events: list[dict[str, Any]]) -> list[str]:
    failed = []
    for event in events:
        status = event["ResourceStatus"]
        if status.endswith("_FAILED") and event.get("ResourceStatusReason"):
            failed.append(
                f"  {event['LogicalResourceId']} ({event.get('ResourceType', '?')}): "
                f"{status}: {event['ResourceStatusReason']}"
            )
    return failed


def _create_change_set(
    cloudformation: Any,
    name: str,
    template: TemplateSource,
    parameters: dict[str, str],
    change_set_type: str,
) -> tuple[str, int] | None:
    """Create the change set; returns (its id, number of changes), or None when nothing changes."""
    change_set_name = f"aggregator-{datetime.now(UTC):%Y%m%d%H%M%S%f}"
    response = cloudformation.create_change_set(
        StackName=name,
        ChangeSetName=change_set_name,
        ChangeSetType=change_set_type,
        Capabilities=CAPABILITIES,
        Parameters=[
            {"ParameterKey": k, "ParameterValue": v} for k, v in sorted(parameters.items())
        ],
        **template.arguments(),
    )
    change_set_id = str(response["Id"])
    described: dict[str, Any] = {}

    def ready() -> bool:
        described.update(cloudformation.describe_change_set(ChangeSetName=change_set_id))
        return described["Status"] in ("CREATE_COMPLETE", "FAILED", "DELETE_COMPLETE")

    _poll(ready, CHANGE_SET_DEADLINE_SECONDS, f"change set {change_set_name}", interval=1.0)
    if described["Status"] != "CREATE_COMPLETE":
        reason = str(described.get("StatusReason", ""))
        if any(marker in reason for marker in NO_CHANGE_MARKERS):
            cloudformation.delete_change_set(ChangeSetName=change_set_id)
            return None
        raise DeployError(f"{name}: change set {change_set_name} failed: {reason}")
    return change_set_id, len(described.get("Changes", []))


def apply_stack(
    cloudformation: Any,
    name: str,
    template: TemplateSource,
    parameters: dict[str, str] | None = None,
    *,
    show_progress: bool = True,
) -> StackResult:
    """Create or update ``name`` from ``template``; returns the outputs once the stack is stable."""
    started = time.monotonic()
    say = tqdm.write
    status = stack_status(cloudformation, name)
    if status == "ROLLBACK_COMPLETE":
        _delete_failed_creation(cloudformation, name, say)
        status = None
    if status is not None and status.endswith("_IN_PROGRESS") and status != "REVIEW_IN_PROGRESS":
        raise DeployError(f"{name} is busy ({status}): wait for it to finish, then deploy again")
    change_set_type = "CREATE" if status in (None, "REVIEW_IN_PROGRESS") else "UPDATE"
    created = _create_change_set(cloudformation, name, template, parameters or {}, change_set_type)
    if created is None:
        say(f"{name}: no changes")
        return StackResult(name, False, _outputs(cloudformation, name), time.monotonic() - started)
    change_set_id, changes = created
    say(f"{name}: {change_set_type.lower()} with {changes} resource change(s)")
    # tolerate clock skew: look back a little, but never show events from before this deploy
    since = datetime.now(UTC) - timedelta(seconds=120)
    seen: set[str] = set()
    if change_set_type == "UPDATE":
        _new_events(cloudformation, name, since, seen)  # mark earlier events as seen
    all_events: list[dict[str, Any]] = []
    cloudformation.execute_change_set(ChangeSetName=change_set_id)
    interactive = show_progress and sys.stderr.isatty()  # a bar only on a terminal
    with tqdm(total=changes, unit="resource", disable=not interactive, leave=False) as bar:

        def finished() -> bool:
            for event in _new_events(cloudformation, name, since, seen):
                all_events.append(event)
                bar.write(_format_event(event))
                is_resource = event["LogicalResourceId"] != name
                if is_resource and event["ResourceStatus"].endswith(("_COMPLETE", "_FAILED")):
                    bar.update(1)
            current = stack_status(cloudformation, name) or "DELETE_COMPLETE"
            return not current.endswith("_IN_PROGRESS")

        _poll(finished, STACK_DEADLINE_SECONDS, f"stack {name}")
        for event in _new_events(cloudformation, name, since, seen):  # the last few events
            all_events.append(event)
            bar.write(_format_event(event))
    final = stack_status(cloudformation, name) or "DELETE_COMPLETE"
    if final not in SUCCESS:
        reasons = _failures(all_events) or ["  (no resource reported a reason; see the console)"]
        raise DeployError(f"{name} ended in {final}; failed resources:\n" + "\n".join(reasons))
    seconds = time.monotonic() - started
    say(f"{name}: {final} in {seconds:.1f} s")
    return StackResult(name, True, _outputs(cloudformation, name), seconds)


def _outputs(cloudformation: Any, name: str) -> dict[str, str]:
    stack = cloudformation.describe_stacks(StackName=name)["Stacks"][0]
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
