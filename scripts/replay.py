"""`aggregator replay`: copy chosen Archive bundles back into Distribution (disaster recovery).

Selection: ``--since/--until`` (by the bundle's hour folder ``bundles/yyyy/MM/dd/HH/``) or one or
more ``--key`` (bundle keys, as printed by the consumer, the copier's logs or ``aws s3 ls``).

Per bundle (the state lives in S3, so re-running the same command simply continues):

* in Glacier / Deep Archive and not restored: request a restore (``--tier``, ``--restore-days``)
  and report ``restore-requested``; a restore under way is reported as ``restoring``;
* readable: stream it and check its SHA-256 against the recorded ``content-sha256`` metadata;
  a mismatch (or no recorded hash) is reported and the bundle is **not** staged;
* verified: server-side ``CopyObject`` (pinned to the verified version and ETag, metadata kept,
  S3 computing a SHA-256 that is checked again) to the **same key** in Distribution — exactly
  where the copier would have put it, so every consumer picks it up with no change; the
  consumer's ledger recognises files it already delivered and never writes them twice;
* already in Distribution with the same ``content-sha256``: ``already-staged`` (nothing done).

Exit codes: 0 everything staged; 75 restores still pending (run the same command later, or pass
``--wait``); 1 a bundle failed verification or could not be staged; 2 bad arguments.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import re
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from botocore.exceptions import ClientError

from pipeline.errors import NOT_FOUND_CODES
from pipeline.hashing import SHA256_METADATA
from scripts.cli import classify, fail, iso_timestamp
from scripts.session import error_code

HELP = "replay Archive bundles into Distribution (restoring from Deep Archive when needed)"

BUNDLE_PREFIX = "bundles/"
COLD_CLASSES = frozenset({"GLACIER", "DEEP_ARCHIVE"})
TIERS = ("Standard", "Bulk", "Expedited")
MAX_COPY_BYTES = 5 * 1024**3
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_PENDING = 0, 1, 2, 75
_CHUNK = 1024 * 1024

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
) -> ReplayItem:
    """Advance one bundle as far as it can go now; never raises for a per-bundle problem."""
    try:
        head = client.head_object(Bucket=target.archive_bucket, Key=key)
    except ClientError as error:
        return ReplayItem(key, "failed", "?", 0, f"not found in Archive: {error_code(error)}")
    storage_class = str(head.get("StorageClass", "STANDARD"))
    size = int(head.get("ContentLength", 0))
    recorded = str(head.get("Metadata", {}).get(SHA256_METADATA, "")).lower()

    def item(action: Action, detail: str = "") -> ReplayItem:
        return ReplayItem(key, action, storage_class, size, detail)

    if not recorded:
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
    if size > MAX_COPY_BYTES:
        return item("failed", "over 5 GB: copy it with a multipart copy by hand")
    version_id = head.get("VersionId")
    actual = _stream_sha256(client, target.archive_bucket, key, version_id)
    if actual != recorded:
        return item("failed", f"SHA-256 mismatch: content {actual}, recorded {recorded}")
    return _copy(client, target, key, version_id, str(head["ETag"]), recorded, item)


def _already_staged(client: Any, bucket: str, key: str, recorded: str) -> bool:
    try:
        head = client.head_object(Bucket=bucket, Key=key)
    except ClientError as error:
        if error_code(error) in NOT_FOUND_CODES:
            return False
        raise
    return str(head.get("Metadata", {}).get(SHA256_METADATA, "")).lower() == recorded


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


def _stream_sha256(client: Any, bucket: str, key: str, version_id: str | None) -> str:
    extra = {"VersionId": version_id} if version_id else {}
    body = client.get_object(Bucket=bucket, Key=key, **extra)["Body"]
    digest = hashlib.sha256()
    try:
        for chunk in body.iter_chunks(_CHUNK):
            digest.update(chunk)
    finally:
        body.close()
    return digest.hexdigest()


def _copy(
    client: Any,
    target: ReplayTarget,
    key: str,
    version_id: str | None,
    etag: str,
    recorded: str,
    item: _ItemFactory,
) -> ReplayItem:
    source: dict[str, str] = {"Bucket": target.archive_bucket, "Key": key}
    if version_id:
        source["VersionId"] = version_id
    try:
        result = client.copy_object(
            Bucket=target.distribution_bucket,
            Key=key,
            CopySource=source,
            CopySourceIfMatch=etag,
            MetadataDirective="COPY",
            ChecksumAlgorithm="SHA256",
        )
    except ClientError as error:
        return item("failed", f"copy failed: {error_code(error)}")
    checksum = result.get("CopyObjectResult", {}).get("ChecksumSHA256")
    expected = base64.b64encode(bytes.fromhex(recorded)).decode("ascii")
    if checksum and checksum != expected:
        client.delete_object(Bucket=target.distribution_bucket, Key=key)
        return item("failed", f"S3 checksum of the copy {checksum} != recorded {expected}")
    return item("staged", "")


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
