"""Create or update one CloudFormation stack through a change set, showing its events as they come.

`apply_stack` returns the stack's outputs; "no changes" is a success. On failure it raises
:class:`DeployError` listing every failed resource with CloudFormation's reason.

Before executing, the change set is described as a table (action, logical id, type, replacement)
and handed to a ``review`` callback, which approves it, rejects it or keeps it for later
(`aggregator deploy` asks the operator; `--yes`, `--no-execute` and `aggregator diff` choose
without asking). A replacement of a bucket is shown in red: it would empty the bucket.
"""

from __future__ import annotations

import enum
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

from botocore.exceptions import ClientError
from tqdm import tqdm

from pipeline.errors import AggregatorError, UsageError

CAPABILITIES = ["CAPABILITY_IAM"]
BUCKET_TYPE = "AWS::S3::Bucket"
RED, BOLD, RESET = "\033[31m", "\033[1m", "\033[0m"
NO_CHANGE_MARKERS = ("didn't contain changes", "No updates are to be performed")
CHANGE_SET_DEADLINE_SECONDS = 600.0
STACK_DEADLINE_SECONDS = 3600.0
POLL_SECONDS = 2.0
SUCCESS = frozenset({"CREATE_COMPLETE", "UPDATE_COMPLETE", "IMPORT_COMPLETE"})


class DeployError(AggregatorError, RuntimeError):
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
    #: the reviewed changes (empty when nothing changed)
    changes: tuple[Change, ...] = ()
    #: what the review decided (APPLY when no review was asked for)
    decision: Decision | None = None
    #: the change set left for review (``--no-execute``)
    change_set_id: str | None = None


@dataclass(frozen=True)
class Change:
    """One row of a change set: what CloudFormation will do to one resource."""

    action: str  # Add | Modify | Remove | Import | Dynamic
    logical_id: str
    resource_type: str
    replacement: str  # True | False | Conditional | "" (not applicable)

    @property
    def dangerous(self) -> bool:
        """A bucket that would be replaced or removed: its objects would go with it."""
        replaced = self.replacement in ("True", "Conditional")
        return self.resource_type == BUCKET_TYPE and (replaced or self.action == "Remove")

    def to_dict(self) -> dict[str, str | bool]:
        return {
            "action": self.action,
            "logical_id": self.logical_id,
            "type": self.resource_type,
            "replacement": self.replacement,
            "dangerous": self.dangerous,
        }


class Decision(enum.Enum):
    """What to do with a reviewed change set."""

    APPLY = "apply"  # execute it
    KEEP = "keep"  # leave it in CloudFormation for review (--no-execute)
    DISCARD = "discard"  # delete it (aggregator diff, or the operator said no)


Review = Callable[[str, Sequence[Change]], Decision]


def parse_changes(described: dict[str, Any]) -> list[Change]:
    """The rows of a ``DescribeChangeSet`` response."""
    rows = []
    for change in described.get("Changes", []):
        resource = change.get("ResourceChange", {})
        rows.append(
            Change(
                action=str(resource.get("Action", "?")),
                logical_id=str(resource.get("LogicalResourceId", "?")),
                resource_type=str(resource.get("ResourceType", "?")),
                replacement=str(resource.get("Replacement", "")),
            )
        )
    return rows


def render_changes(changes: Sequence[Change], color: bool = False) -> str:
    """The change set as a table; a bucket replaced or removed in red when ``color``."""
    if not changes:
        return "  (no resource changes)"
    header = ("ACTION", "LOGICAL ID", "TYPE", "REPLACEMENT")
    rows = [(c.action, c.logical_id, c.resource_type, c.replacement or "-") for c in changes]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(4)]

    def line(cells: Sequence[str]) -> str:
        return "  " + "  ".join(
            cell.ljust(width) for cell, width in zip(cells, widths, strict=True)
        )

    out = [line(header).rstrip()]
    for change, row in zip(changes, rows, strict=True):
        text = line(row).rstrip()
        if change.dangerous:
            what = "removed" if change.action == "Remove" else "REPLACED"
            text = f"{text}  <- bucket {what}: its objects are lost"
            if color:
                text = f"{RED}{BOLD}{text}{RESET}"
        out.append(text)
    return "\n".join(out)


def ask(
    question: str, stdin: TextIO, stdout: TextIO, expected: tuple[str, ...] = ("y", "yes")
) -> bool:
    """Ask on a terminal; only an answer in ``expected`` is a yes. No terminal: a usage error."""
    if not stdin.isatty():
        raise ConfirmationError(
            "no terminal to ask for confirmation: review with `aggregator diff`, then pass --yes"
        )
    stdout.write(question)
    stdout.flush()
    answer = stdin.readline().strip()
    return answer.lower() in expected or answer in expected


class ConfirmationError(UsageError, DeployError):
    """Confirmation was needed but could not be asked (no terminal and no --yes)."""


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
    tags: dict[str, str] | None = None,
) -> tuple[str, list[Change]] | None:
    """Create the change set; returns (its id, its changes), or None when nothing changes."""
    change_set_name = f"aggregator-{datetime.now(UTC):%Y%m%d%H%M%S%f}"
    response = cloudformation.create_change_set(
        StackName=name,
        ChangeSetName=change_set_name,
        ChangeSetType=change_set_type,
        Capabilities=CAPABILITIES,
        Tags=[{"Key": k, "Value": v} for k, v in sorted((tags or {}).items())],
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
    return change_set_id, parse_changes(described)


@dataclass(frozen=True)
class StackPlan:
    """What to do with a stack, decided from its current status alone."""

    change_set_type: str  # CREATE | UPDATE
    #: a previous creation failed (ROLLBACK_COMPLETE): delete that stack first
    delete_failed_first: bool = False


def plan_stack(name: str, status: str | None) -> StackPlan:
    """Decide from ``status`` (None: no stack) how to apply a template; a busy stack is refused."""
    if status == "ROLLBACK_COMPLETE":
        return StackPlan("CREATE", delete_failed_first=True)
    if status is not None and status.endswith("_IN_PROGRESS") and status != "REVIEW_IN_PROGRESS":
        raise DeployError(f"{name} is busy ({status}): wait for it to finish, then deploy again")
    return StackPlan("CREATE" if status in (None, "REVIEW_IN_PROGRESS") else "UPDATE")


def outcome_error(name: str, final: str, events: Sequence[dict[str, Any]]) -> DeployError | None:
    """The error for a stack that ended in ``final`` (None: it succeeded), with every reason."""
    if final in SUCCESS:
        return None
    reasons = _failures(list(events)) or ["  (no resource reported a reason; see the console)"]
    return DeployError(f"{name} ended in {final}; failed resources:\n" + "\n".join(reasons))


def apply_stack(
    cloudformation: Any,
    name: str,
    template: TemplateSource,
    parameters: dict[str, str] | None = None,
    *,
    show_progress: bool = True,
    tags: dict[str, str] | None = None,
    review: Review | None = None,
    termination_protection: bool = False,
) -> StackResult:
    """Create or update ``name`` from ``template``; returns the outputs once the stack is stable.

    ``review`` sees the change set first and decides (:class:`Decision`); without one it is
    applied. A discarded change set of a new stack also removes the empty stack it created, as
    does a review that fails (no terminal to ask on, Ctrl-C at the question).
    """
    started = time.monotonic()
    say = tqdm.write
    plan = plan_stack(name, stack_status(cloudformation, name))
    if plan.delete_failed_first:
        _delete_failed_creation(cloudformation, name, say)
    created = _create_change_set(
        cloudformation, name, template, parameters or {}, plan.change_set_type, tags
    )
    if created is None:
        say(f"{name}: no changes")
        _protect(cloudformation, name, termination_protection)
        return StackResult(name, False, _outputs(cloudformation, name), time.monotonic() - started)
    change_set_id, rows = created
    try:
        decision = review(name, rows) if review else Decision.APPLY
    except BaseException:  # no terminal to ask, Ctrl-C at the question: leave nothing behind
        _discard(cloudformation, name, change_set_id, plan.change_set_type)
        raise
    if decision is not Decision.APPLY:
        return _not_applied(cloudformation, name, plan, change_set_id, rows, decision, started)
    say(f"{name}: {plan.change_set_type.lower()} with {len(rows)} resource change(s)")
    final, events = _execute(
        cloudformation, name, change_set_id, plan, len(rows), show_progress=show_progress
    )
    error = outcome_error(name, final, events)
    if error is not None:
        raise error
    _protect(cloudformation, name, termination_protection)
    seconds = time.monotonic() - started
    say(f"{name}: {final} in {seconds:.1f} s")
    return StackResult(
        name, True, _outputs(cloudformation, name), seconds, tuple(rows), Decision.APPLY
    )


def _not_applied(
    cloudformation: Any,
    name: str,
    plan: StackPlan,
    change_set_id: str,
    rows: Sequence[Change],
    decision: Decision,
    started: float,
) -> StackResult:
    """The review kept or discarded the change set: carry that out, report the stack as it is."""
    kept = decision is Decision.KEEP
    if not kept:
        _discard(cloudformation, name, change_set_id, plan.change_set_type)
    current = _outputs(cloudformation, name) if plan.change_set_type == "UPDATE" else {}
    return StackResult(
        name,
        False,
        current,
        time.monotonic() - started,
        tuple(rows),
        decision,
        change_set_id if kept else None,
    )


def _execute(
    cloudformation: Any,
    name: str,
    change_set_id: str,
    plan: StackPlan,
    changes: int,
    *,
    show_progress: bool,
) -> tuple[str, list[dict[str, Any]]]:
    """Execute the change set, showing its events until the stack is stable.

    Returns the stack's final status and every event of this deploy.
    """
    # tolerate clock skew: look back a little, but never show events from before this deploy
    since = datetime.now(UTC) - timedelta(seconds=120)
    seen: set[str] = set()
    if plan.change_set_type == "UPDATE":
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
    return stack_status(cloudformation, name) or "DELETE_COMPLETE", all_events


def _protect(cloudformation: Any, name: str, enabled: bool) -> None:
    """Turn termination protection on (never off: `aggregator destroy` does that, asked)."""
    if enabled:
        cloudformation.update_termination_protection(
            EnableTerminationProtection=True, StackName=name
        )


def _discard(cloudformation: Any, name: str, change_set_id: str, change_set_type: str) -> None:
    """Delete a change set nobody will execute, and the empty stack a CREATE one made."""
    cloudformation.delete_change_set(ChangeSetName=change_set_id)
    if change_set_type == "CREATE" and stack_status(cloudformation, name) == "REVIEW_IN_PROGRESS":
        cloudformation.delete_stack(StackName=name)


def _outputs(cloudformation: Any, name: str) -> dict[str, str]:
    stack = cloudformation.describe_stacks(StackName=name)["Stacks"][0]
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
