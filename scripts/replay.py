"""`aggregator replay`: copy chosen Archive bundles back into Distribution (disaster recovery).

Selection: ``--since/--until`` (by the bundle's hour folder ``bundles/yyyy/MM/dd/HH/``) or one or
more ``--key`` (bundle keys, as printed by the consumer, the copier's logs or ``aws s3 ls``).

Per bundle (the state lives in S3, so re-running the same command simply continues):

* in Glacier / Deep Archive and not restored: request a restore (``--tier``, ``--restore-days``)
  and report ``restore-requested``; a restore under way is reported as ``restoring``;
* readable: stream it and check its SHA-256 against the recorded ``content-sha256`` metadata;
  a mismatch (or no recorded hash) is reported and the bundle is **not** staged;
* verified: staged by the copier's own code (``pipeline.copier.staging.copy_to_distribution``:
  a server-side copy pinned to the verified version and ETag, metadata kept, a multipart copy
  above 5 GB, S3 computing a SHA-256 that is checked again) to the **same key** in Distribution —
  exactly the object the copier would have staged, so every consumer picks it up with no change; the
  consumer's ledger recognises files it already delivered and never writes them twice;
* already in Distribution with the same ``content-sha256``: ``already-staged`` (nothing done).

Exit codes: 0 everything staged; 75 restores still pending (run the same command later, or pass
``--wait``); 1 a bundle failed verification or could not be staged; 2 bad arguments.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from botocore.exceptions import ClientError

from pipeline.contract.prefixes import BUNDLE_ROOT
from pipeline.copier.staging import ArchiveBundle, CopyPlan, StagingError, copy_to_distribution
from pipeline.errors import NOT_FOUND_CODES
from pipeline.hashing import SHA256_METADATA, recorded_sha256, verify_body
from scripts import cli
from scripts.cli import classify, fail, iso_timestamp
from scripts.session import error_code

HELP = "replay Archive bundles into Distribution (restoring from Deep Archive when needed)"

BUNDLE_PREFIX = BUNDLE_ROOT
COLD_CLASSES = frozenset({"GLACIER", "DEEP_ARCHIVE"})
TIERS = ("Standard", "Bulk", "Expedited")
#: replay's exit codes are the CLI table's (scripts/cli.py)
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_PENDING = (
    cli.EXIT_OK,
    cli.EXIT_PROBLEM,
    cli.EXIT_USAGE,
    cli.EXIT_TEMPORARY,
)
#: the copier's copy plan (its defaults: a multipart copy above 5 GB)
COPIER_PLAN = CopyPlan()

Action = Literal[
    "stage",
    "staged",
    "already-staged",
    "request-restore",
    "restore-requested",
    "restoring",
    "failed",
]


@dataclass(frozen=True, slots=True)
class ReplayItem:
    key: str
    action: Action
    storage_class: str
    size: int
    detail: str = ""


_ItemFactory = Callable[[Action, str], "ReplayItem"]


@dataclass(frozen=True, slots=True)
class ReplayTarget:
    archive_bucket: str
    distribution_bucket: str


# --------------------------------------------------------------------------------- selection


def hour_prefixes(since: datetime, until: datetime) -> list[str]:
    """Every ``bundles/yyyy/MM/dd/HH/`` folder from ``since``'s hour through ``until``'s."""
    if until < since:
        raise ValueError("--until is before --since")
    hour = since.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    end = until.astimezone(UTC)
    prefixes = []
    while hour <= end:
        prefixes.append(f"{BUNDLE_PREFIX}{hour:%Y/%m/%d/%H}/")
        hour += timedelta(hours=1)
    return prefixes


def select_keys(client: Any, bucket: str, since: datetime, until: datetime) -> Iterator[str]:
    """Bundle keys in Archive whose hour folder lies in the time range, oldest first."""
    paginator = client.get_paginator("list_objects_v2")
    for prefix in hour_prefixes(since, until):
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                yield str(item["Key"])


# ------------------------------------------------------------------------------ restore state

_ONGOING = re.compile(r'ongoing-request="(true|false)"')


def restore_state(storage_class: str, restore_header: str | None) -> str:
    """``readable``, ``restoring`` or ``archived`` for an object's class and ``Restore`` header."""
    if storage_class not in COLD_CLASSES:
        return "readable"
    match = _ONGOING.search(restore_header or "")
    if match is None:
        return "archived"
    return "restoring" if match.group(1) == "true" else "readable"


# ----------------------------------------------------------------------------------- replay


def replay_one(
    client: Any,
    target: ReplayTarget,
    key: str,
    tier: str,
    restore_days: int,
    dry_run: bool,
    plan: CopyPlan = COPIER_PLAN,
) -> ReplayItem:
    """Advance one bundle as far as it can go now; never raises for a per-bundle problem.

    ``plan`` is the copier's (multipart copy above 5 GB): tests lower its threshold.
    """
    try:
        head = client.head_object(Bucket=target.archive_bucket, Key=key)
    except ClientError as error:
        return ReplayItem(key, "failed", "?", 0, f"not found in Archive: {error_code(error)}")
    storage_class = str(head.get("StorageClass", "STANDARD"))
    size = int(head.get("ContentLength", 0))
    recorded = recorded_sha256(head.get("Metadata"))

    def item(action: Action, detail: str = "") -> ReplayItem:
        return ReplayItem(key, action, storage_class, size, detail)

    if recorded is None:
        return item("failed", f"no {SHA256_METADATA} metadata in Archive: cannot verify")
    if _already_staged(client, target.distribution_bucket, key, recorded):
        return item("already-staged")
    state = restore_state(storage_class, head.get("Restore"))
    if state == "restoring":
        return item("restoring", str(head.get("Restore")))
    if state == "archived":
        if dry_run:
            return item("request-restore", f"tier {tier}, {restore_days} day(s)")
        return _request_restore(client, target.archive_bucket, key, tier, restore_days, item)
    if dry_run:
        return item("stage")
    return _stage(
        client, target, ArchiveBundle.from_head(target.archive_bucket, key, head), plan, item
    )


def _already_staged(client: Any, bucket: str, key: str, recorded: str) -> bool:
    try:
        head = client.head_object(Bucket=bucket, Key=key)
    except ClientError as error:
        if error_code(error) in NOT_FOUND_CODES:
            return False
        raise
    return recorded_sha256(head.get("Metadata")) == recorded


def _request_restore(
    client: Any, bucket: str, key: str, tier: str, days: int, item: _ItemFactory
) -> ReplayItem:
    try:
        client.restore_object(
            Bucket=bucket,
            Key=key,
            RestoreRequest={"Days": days, "GlacierJobParameters": {"Tier": tier}},
        )
    except ClientError as error:
        if error_code(error) == "RestoreAlreadyInProgress":
            return item("restoring", "restore already in progress")
        return item("failed", f"restore request failed: {error_code(error)}")
    return item("restore-requested", f"tier {tier}, {days} day(s)")


def _stage(
    client: Any, target: ReplayTarget, bundle: ArchiveBundle, plan: CopyPlan, item: _ItemFactory
) -> ReplayItem:
    """Verify the readable Archive version, then stage it exactly as the copier does."""
    version = {"VersionId": bundle.version_id} if bundle.version_id else {}
    found = verify_body(client.get_object(Bucket=bundle.bucket, Key=bundle.key, **version))
    if found.problem is not None:
        return item("failed", found.problem)
    try:
        multipart = copy_to_distribution(
            client, bundle, target.distribution_bucket, plan, pin_etag=True
        )
    except ClientError as error:
        return item("failed", f"copy failed: {error_code(error)}")
    except StagingError as error:
        return item("failed", str(error))
    return item("staged", "multipart copy" if multipart else "")


# -------------------------------------------------------------------------------------- CLI


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--env", default="local", help="environment whose stack to read (local)")
    parser.add_argument("--endpoint-url", help="AWS endpoint (default: the environment's)")
    parser.add_argument("--archive-bucket", help="default: the stack's ArchiveBucketName")
    parser.add_argument("--distribution-bucket", help="default: the stack's DistributionBucketName")
    parser.add_argument("--since", type=iso_timestamp, help="ISO time, e.g. 2026-01-31T08:00Z")
    parser.add_argument("--until", type=iso_timestamp, help="ISO time (default: now)")
    parser.add_argument(
        "--key", action="append", default=[], help="bundle key in Archive (repeatable)"
    )
    parser.add_argument("--tier", choices=TIERS, default="Standard", help="Deep Archive tier")
    parser.add_argument("--restore-days", type=int, default=7, help="keep restored copies N days")
    parser.add_argument(
        "--dry-run", action="store_true", help="list what would happen, change nothing"
    )
    parser.add_argument("--wait", action="store_true", help="keep polling until restores finish")
    parser.add_argument("--poll-interval", type=float, default=900.0, help="seconds, with --wait")
    parser.add_argument("--json", action="store_true", help="JSON lines on stdout")


def run(args: argparse.Namespace) -> int:
    if bool(args.key) == bool(args.since):
        print("aggregator replay: give either --since [--until] or --key", file=sys.stderr)
        return EXIT_USAGE
    try:
        client, target = _resolve(args)
    except Exception as error:  # noqa: BLE001 - reported the same way whatever the cause
        code, message = classify(error) or (EXIT_USAGE, str(error))  # cli.py's one table
        return fail("replay", message, code, args.json)
    while True:
        items = list(_replay_all(client, target, args))
        _report(items, args)
        pending = any(i.action in ("restoring", "restore-requested") for i in items)
        if any(i.action == "failed" for i in items):
            return EXIT_FAILED
        if not pending or args.dry_run:
            return EXIT_OK
        if not args.wait:
            print("replay: restores pending; run the same command again later", file=sys.stderr)
            return EXIT_PENDING
        time.sleep(args.poll_interval)


def _replay_all(
    client: Any, target: ReplayTarget, args: argparse.Namespace
) -> Iterator[ReplayItem]:
    keys: Iterator[str] | list[str]
    if args.key:
        keys = args.key
    else:
        keys = select_keys(
            client, target.archive_bucket, args.since, args.until or datetime.now(UTC)
        )
    for key in keys:
        yield replay_one(client, target, key, args.tier, args.restore_days, args.dry_run)


def _resolve(args: argparse.Namespace) -> tuple[Any, ReplayTarget]:
    from scripts.session import EnvSession, stack_outputs

    session = EnvSession.from_args(args)
    archive, distribution = args.archive_bucket, args.distribution_bucket
    if not archive or not distribution:
        outputs = stack_outputs(session)
        archive = archive or outputs["ArchiveBucketName"]
        distribution = distribution or outputs["DistributionBucketName"]
    return session.client("s3"), ReplayTarget(archive, distribution)


def _report(items: list[ReplayItem], args: argparse.Namespace) -> None:
    if args.json:
        for item in items:
            print(json.dumps(asdict(item)))
    else:
        prefix = "DRY RUN: " if args.dry_run else ""
        for item in items:
            detail = f" ({item.detail})" if item.detail else ""
            print(f"{prefix}{item.action:<18} {item.storage_class:<13} {item.key}{detail}")
    counts: dict[str, int] = {}
    for item in items:
        counts[item.action] = counts.get(item.action, 0) + 1
    summary = ", ".join(f"{n} {action}" for action, n in sorted(counts.items())) or "no bundles"
    print(f"replay: {len(items)} bundle(s): {summary}", file=sys.stderr)
