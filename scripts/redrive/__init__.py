"""`aggregator redrive`: bring back what the pipeline parked for an operator.

* ``aggregator redrive errors`` — references in Firehose's error output (``errors/…`` in Archive)
  are checked against Landing and put back into the delivery stream; see
  :mod:`scripts.redrive.errors`.
* ``aggregator redrive dlq --function ingest|copier`` — events in a function's on-failure queue are
  re-invoked; see :mod:`scripts.redrive.dlq`.

Exit codes: 0 everything redriven (or nothing to do); 1 something could not be redriven (listed);
2 bad arguments; a stack that cannot be reached or found exits as for every command (cli.py's
table), with the same ``aggregator redrive:`` prefix.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from pipeline.errors import UsageError
from scripts.cli import fail, iso_timestamp

if TYPE_CHECKING:
    from scripts.redrive.errors import ErrorsTarget, ObjectOutcome
    from scripts.session import EnvSession

HELP = "redrive what the pipeline parked: Firehose error output, or a function's DLQ"

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
FUNCTIONS = ("ingest", "copier")
DLQ_OUTPUTS = {"ingest": "IngestDLQUrl", "copier": "CopierDLQUrl"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="what", metavar="WHAT", required=True)
    errors = sub.add_parser(
        "errors",
        help="re-put the references in Firehose's error output",
        description="Re-put the object references Firehose wrote to its error output.",
    )
    _common(errors)
    errors.add_argument("--since", type=iso_timestamp, help="ISO time, e.g. 2026-01-31T08:00Z")
    errors.add_argument("--until", type=iso_timestamp, help="ISO time (default: now)")
    errors.add_argument(
        "--key", action="append", default=[], help="error-output object key (repeatable)"
    )
    errors.add_argument("--archive-bucket", help="default: the stack's ArchiveBucketName")
    errors.add_argument(
        "--stream",
        help="put every reference into this delivery stream (default: each into the stream its "
        "key hashes to, among the stack's DeliveryStreamNames, as the ingest routes it)",
    )
    errors.add_argument(
        "--error-prefix", help="default: the literal part of the stream's ErrorOutputPrefix"
    )
    errors.add_argument("--concurrency", type=int, default=16, help="parallel HeadObject checks")
    dlq = sub.add_parser(
        "dlq",
        help="re-invoke a function with the events in its DLQ",
        description="Re-invoke a function (asynchronously) with the events its DLQ kept.",
    )
    _common(dlq)
    dlq.add_argument("--function", choices=FUNCTIONS, required=True, help="whose DLQ")
    dlq.add_argument("--max", type=int, help="handle at most N messages")
    dlq.add_argument("--queue-url", help="default: the stack's IngestDLQUrl / CopierDLQUrl")
    dlq.add_argument("--function-name", help="default: s3-aggregator-<env>-<function>")


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--env", default="local", help="environment whose stack to read (local)")
    parser.add_argument("--endpoint-url", help="AWS endpoint (default: the environment's)")
    parser.add_argument("--dry-run", action="store_true", help="report only, change nothing")
    parser.add_argument("--json", action="store_true", help="JSON lines on stdout")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    if args.what == "errors":
        return _run_errors(args)
    return _run_dlq(args)


# ------------------------------------------------------------------------------------ errors


def _run_errors(args: argparse.Namespace) -> int:
    from scripts.redrive.errors import (
        Redriver,
        RedriveSettings,
        list_error_objects,
        redrive_all,
        select_objects,
    )
    from scripts.redrive.report import (
        Progress,
        errors_summary,
        errors_summary_record,
        print_errors,
    )

    if args.key and (args.since or args.until):
        return _fail("give either --since [--until] or --key, not both", EXIT_USAGE, args)
    if args.until and not args.since:
        return _fail("--until needs --since", EXIT_USAGE, args)
    if args.concurrency < 1:
        return _fail("--concurrency must be at least 1", EXIT_USAGE, args)
    # failures to reach the stack are reported by cli.py's one table, as for every command
    session = _session(args)
    s3, firehose = session.client("s3"), session.client("firehose")
    target = _errors_target(session, firehose, args)
    found = list_error_objects(s3, target.archive_bucket, target.error_root)
    objects = select_objects(found, args.since, args.until, args.key)
    unknown = sorted(set(args.key) - {o.key for o in objects})
    for key in unknown:
        fail("redrive", f"errors: no object {key!r} under {target.error_root}", EXIT_FAILED)
    settings = RedriveSettings(dry_run=args.dry_run, head_concurrency=args.concurrency)
    redriver = Redriver(s3, firehose, target, settings)
    progress = Progress(len(objects), "object", enabled=not args.no_progress)
    totals = {"put": 0, "problems": 0}

    def advance(outcome: ObjectOutcome) -> None:
        totals["put"] += outcome.put
        totals["problems"] += len(outcome.problems)
        progress.advance(totals)

    try:
        outcomes = list(redrive_all(redriver, objects, advance))
    finally:
        progress.close()
    print_errors(outcomes, args.json, args.dry_run, sys.stdout)
    if args.json:
        print(json.dumps(errors_summary_record(outcomes, args.dry_run)))
    print(errors_summary(outcomes, args.dry_run), file=sys.stderr)
    return EXIT_FAILED if unknown or any(o.failed for o in outcomes) else EXIT_OK


def _errors_target(session: EnvSession, firehose: Any, args: argparse.Namespace) -> ErrorsTarget:
    from scripts.redrive.errors import ErrorsTarget
    from scripts.session import delivery_stream_names, stack_outputs

    archive = args.archive_bucket
    streams: tuple[str, ...] = (args.stream,) if args.stream else ()
    if not archive or not streams:
        outputs = stack_outputs(session)
        archive = archive or outputs["ArchiveBucketName"]
        streams = streams or delivery_stream_names(outputs)
    # every stream has the same ErrorOutputPrefix: the first one's is the root
    root = args.error_prefix or _error_root(firehose, streams[0])
    if not root:
        raise UsageError(
            "the stream's ErrorOutputPrefix starts with an expression, so its literal part is "
            "empty: pass --error-prefix (e.g. errors/) to avoid listing the whole bucket"
        )
    return ErrorsTarget(archive_bucket=archive, error_root=root, stream_names=streams)


def _error_root(firehose: Any, stream: str) -> str:
    """The literal part of the stream's ErrorOutputPrefix (``errors/`` in our template)."""
    from pipeline.contract.prefixes import static_prefix
    from scripts.redrive.errors import DEFAULT_ERROR_ROOT

    description = firehose.describe_delivery_stream(DeliveryStreamName=stream)
    destinations = description["DeliveryStreamDescription"].get("Destinations") or [{}]
    s3 = destinations[0].get("ExtendedS3DestinationDescription", {})
    prefix = str(s3.get("ErrorOutputPrefix") or "")
    return static_prefix(prefix) if prefix else DEFAULT_ERROR_ROOT


# --------------------------------------------------------------------------------------- dlq


def _run_dlq(args: argparse.Namespace) -> int:
    from scripts.redrive.dlq import DlqSettings, DlqTarget, redrive_queue
    from scripts.redrive.report import Progress, dlq_summary, dlq_summary_record, print_dlq
    from scripts.session import stack_name, stack_outputs

    if args.max is not None and args.max < 1:
        return _fail("--max must be at least 1", EXIT_USAGE, args)
    session = _session(args)
    queue_url = args.queue_url or stack_outputs(session)[DLQ_OUTPUTS[args.function]]
    function_name = args.function_name or f"{stack_name(args.env)}-{args.function}"
    sqs, lambda_client = session.client("sqs"), session.client("lambda")
    target = DlqTarget(queue_url=queue_url, function_name=function_name)
    settings = DlqSettings(dry_run=args.dry_run, max_messages=args.max)
    depth = _queue_depth(sqs, queue_url)
    progress = Progress(
        depth if args.max is None else min(depth, args.max), "message", enabled=not args.no_progress
    )
    try:
        outcomes = redrive_queue(sqs, lambda_client, target, settings, lambda _: progress.advance())
    finally:
        progress.close()
    print_dlq(outcomes, args.json, args.dry_run, sys.stdout)
    if args.json:
        print(json.dumps(dlq_summary_record(outcomes, function_name, args.dry_run)))
    print(dlq_summary(outcomes, function_name), file=sys.stderr)
    return EXIT_FAILED if any(o.failed for o in outcomes) else EXIT_OK


def _queue_depth(sqs: Any, queue_url: str) -> int:
    """Approximate visible messages (for the progress bar only)."""
    try:
        attributes = sqs.get_queue_attributes(
            QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]
    except Exception:  # noqa: BLE001 - only the progress bar needs it
        return 0
    return int(attributes.get("ApproximateNumberOfMessages", 0))


# ----------------------------------------------------------------------------------- shared


def _fail(message: str, code: int, args: argparse.Namespace) -> int:
    """``aggregator redrive: <message>`` on stderr, the way every command reports (cli.py)."""
    return fail("redrive", f"{args.what}: {message}", code, args.json)


def _session(args: argparse.Namespace) -> EnvSession:
    from scripts.session import EnvSession

    return EnvSession.from_args(args)
