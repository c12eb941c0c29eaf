"""`aggregator destroy --env ENV`: delete the environment's pipeline stack, keeping the data.

The Landing, Archive and Distribution buckets carry ``DeletionPolicy``/``UpdateReplacePolicy:
RetainExceptOnCreate``: the stack goes, they stay (with every object and version) and are listed at
the end, as are the artifacts stack and bucket, which this command leaves alone. Asks first: on a
terminal the operator types the stack name; ``--yes`` skips that (CI). Termination protection
(every environment but ``local``) is lifted only after that confirmation.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any, TextIO

from scripts.changeset import ConfirmationError, DeployError, ask, stack_status
from scripts.session import EnvSession, stack_name, stack_outputs
from scripts.target import Target, add_target_arguments
from templates.names import artifacts_stack_name

HELP = "delete the pipeline stack after confirmation; the buckets and their data are retained"
RETAINED_OUTPUTS = ("LandingBucketName", "ArchiveBucketName", "DistributionBucketName")
DELETE_DEADLINE_SECONDS = 1800.0
POLL_SECONDS = 2.0


def destroy(
    session: EnvSession,
    poll_seconds: float = POLL_SECONDS,
    deadline: float = DELETE_DEADLINE_SECONDS,
) -> list[str]:
    """Delete the stack of ``session``'s environment; returns the retained bucket names."""
    name = stack_name(session.env_name)
    outputs = stack_outputs(session)
    retained = [outputs[key] for key in RETAINED_OUTPUTS if key in outputs]
    cloudformation = session.client("cloudformation")
    cloudformation.update_termination_protection(EnableTerminationProtection=False, StackName=name)
    cloudformation.delete_stack(StackName=name)
    ends = time.monotonic() + deadline
    status = stack_status(cloudformation, name)
    while status not in (None, "DELETE_COMPLETE"):
        if status == "DELETE_FAILED":
            raise DeployError(f"{name} ended in DELETE_FAILED: see its events in the console")
        if time.monotonic() > ends:
            raise DeployError(f"timed out after {deadline:.0f} s waiting for {name} to go")
        time.sleep(poll_seconds)
        status = stack_status(cloudformation, name)
    return retained


def confirmed(session: EnvSession, account: str, stdin: TextIO, out: TextIO) -> bool:
    name = stack_name(session.env_name)
    out.write(
        f"about to delete stack {name} in account {account}, region {session.region}"
        f"{', endpoint ' + session.endpoint_url if session.endpoint_url else ''}.\n"
        "The buckets and their objects are retained; functions, stream, queues, alarms and "
        "roles are deleted.\n"
    )
    return ask(f"type the stack name ({name}) to confirm: ", stdin, out, expected=(name,))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_target_arguments(parser)
    parser.add_argument("--yes", action="store_true", help="delete without asking (CI)")
    parser.add_argument("--json", action="store_true", help="the result as JSON")


def run(args: argparse.Namespace, stdin: TextIO | None = None, out: TextIO | None = None) -> int:
    stdin = stdin or sys.stdin
    out = out or sys.stdout
    target = Target.from_args(args, interactive=True)
    if args.yes:  # without --yes, the question names the target
        where = f"{target.session.where}, account {target.account}"
        print(
            f"deleting stack {stack_name(args.env)} at {where}",
            file=sys.stderr if args.json else out,
        )
    if not args.yes and not stdin.isatty():
        raise ConfirmationError(
            "no terminal to type the stack name on, so nothing was deleted: pass --yes to delete "
            f"{stack_name(args.env)} without asking"
        )
    if not args.yes and not confirmed(target.session, target.account, stdin, out):
        out.write("destroy cancelled: nothing deleted\n")
        return 1
    retained = destroy(target.session)
    report: dict[str, Any] = {
        "stack": stack_name(args.env),
        "deleted": True,
        "retained_buckets": retained,
        "artifacts_stack": artifacts_stack_name(args.env),
    }
    if args.json:
        print(json.dumps(report), file=out)
        return 0
    out.write(f"{report['stack']}: deleted\n")
    out.write("retained (delete by hand once no longer needed, see docs/operations.md):\n")
    for bucket in retained:
        out.write(f"  bucket {bucket}\n")
    out.write(f"  stack {report['artifacts_stack']} (the Lambda packages)\n")
    return 0
