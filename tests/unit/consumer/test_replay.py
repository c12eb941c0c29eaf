from __future__ import annotations

import argparse
import hashlib
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from pipeline.copier.staging import CopyPlan, stage_bundle
from scripts import replay
from scripts.consumer.drain import drain
from scripts.consumer.ledger import Ledger
from scripts.replay import COPIER_PLAN, ReplayTarget, hour_prefixes, replay_one, restore_state
from tests.unit.consumer.bundles import SourceFile, build_bundle, files_on_disk
from tests.unit.consumer.conftest import BUCKET as DISTRIBUTION

ARCHIVE = "archive"
TARGET = ReplayTarget(ARCHIVE, DISTRIBUTION)
KEY = "bundles/2026/01/31/08/stream-1-2026-01-31-08-00-00-abc.gz"


@pytest.fixture
def archive(s3: Any) -> Any:
    s3.create_bucket(Bucket=ARCHIVE, CreateBucketConfiguration={"LocationConstraint": "eu-west-2"})
    s3.put_bucket_versioning(Bucket=ARCHIVE, VersioningConfiguration={"Status": "Enabled"})
    return s3


def _archive(s3: Any, key: str, bundle: bytes, storage_class: str, sha: str | None = None) -> None:
    recorded = sha if sha is not None else hashlib.sha256(bundle).hexdigest()
    s3.put_object(
        Bucket=ARCHIVE,
        Key=key,
        Body=bundle,
        StorageClass=storage_class,
        Metadata={"content-sha256": recorded},
    )


def test_hour_prefixes_cover_the_range_inclusively() -> None:
    since = datetime(2026, 1, 31, 22, 30, tzinfo=UTC)
    until = datetime(2026, 2, 1, 0, 5, tzinfo=UTC)
    assert hour_prefixes(since, until) == [
        "bundles/2026/01/31/22/",
        "bundles/2026/01/31/23/",
        "bundles/2026/02/01/00/",
    ]
    with pytest.raises(ValueError, match="before"):
        hour_prefixes(until, since)


@pytest.mark.parametrize(
    ("storage_class", "header", "state"),
    [
        ("STANDARD", None, "readable"),
        ("DEEP_ARCHIVE", None, "archived"),
        ("DEEP_ARCHIVE", 'ongoing-request="true"', "restoring"),
        (
            "GLACIER",
            'ongoing-request="false", expiry-date="Fri, 23 Dec 2026 00:00:00 GMT"',
            "readable",
        ),
    ],
)
def test_restore_state(storage_class: str, header: str | None, state: str) -> None:
    assert restore_state(storage_class, header) == state


def test_deep_archive_bundle_is_restored_then_staged_then_left_alone(
    archive: Any, tmp_path: Path
) -> None:
    files = [SourceFile("dr/a", b"a" * 100), SourceFile("dr/b", b"b" * 100)]
    _archive(archive, KEY, build_bundle(files), "DEEP_ARCHIVE")

    dry = replay_one(archive, TARGET, KEY, "Bulk", 3, dry_run=True)
    assert dry.action == "request-restore"
    assert "Restore" not in archive.head_object(Bucket=ARCHIVE, Key=KEY)

    first = replay_one(archive, TARGET, KEY, "Bulk", 3, dry_run=False)
    assert first.action == "restore-requested"
    # moto completes restores at once; on AWS the next runs report "restoring" for hours
    second = replay_one(archive, TARGET, KEY, "Bulk", 3, dry_run=False)
    assert second.action == "staged"
    staged = archive.head_object(Bucket=DISTRIBUTION, Key=KEY)
    assert staged["Metadata"]["content-sha256"] == hashlib.sha256(build_bundle(files)).hexdigest()
    third = replay_one(archive, TARGET, KEY, "Bulk", 3, dry_run=False)
    assert third.action == "already-staged"


def test_a_bundle_whose_content_does_not_match_the_record_is_not_staged(archive: Any) -> None:
    _archive(archive, KEY, build_bundle([SourceFile("t", b"t")]), "STANDARD", sha="1" * 64)

    item = replay_one(archive, TARGET, KEY, "Standard", 1, dry_run=False)

    assert item.action == "failed"
    assert "SHA-256 mismatch" in item.detail
    assert archive.list_objects_v2(Bucket=DISTRIBUTION).get("KeyCount", 0) == 0


def test_a_replayed_bundle_is_delivered_exactly_once(
    archive: Any, tmp_path: Path, ledger: Ledger
) -> None:
    files = [SourceFile(f"once/{n}", bytes([n]) * 64) for n in range(4)]
    bundle = build_bundle(files)
    _archive(archive, KEY, bundle, "STANDARD")
    archive.put_object(
        Bucket=DISTRIBUTION,
        Key=KEY,
        Body=bundle,
        Metadata={"content-sha256": hashlib.sha256(bundle).hexdigest()},
    )
    output = tmp_path / "out"
    assert drain(archive, DISTRIBUTION, output, ledger).files_written == 4

    assert replay_one(archive, TARGET, KEY, "Standard", 1, dry_run=False).action == "staged"
    again = drain(archive, DISTRIBUTION, output, ledger)

    assert (again.files_written, again.bundles_duplicate) == (0, 1)
    assert len(files_on_disk(output)) == 4
    assert archive.list_objects_v2(Bucket=DISTRIBUTION).get("KeyCount", 0) == 0


def test_cli_selects_by_time_range_and_reports(
    archive: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    inside = build_bundle([SourceFile("in", b"in")])
    _archive(archive, "bundles/2026/01/31/08/in.gz", inside, "STANDARD")
    _archive(
        archive, "bundles/2026/01/31/10/out.gz", build_bundle([SourceFile("o", b"o")]), "STANDARD"
    )
    parser = argparse.ArgumentParser()
    replay.add_arguments(parser)
    args = parser.parse_args(
        [
            "--env", "unit", "--archive-bucket", ARCHIVE, "--distribution-bucket", DISTRIBUTION,
            "--since", "2026-01-31T08:00Z", "--until", "2026-01-31T09:59Z", "--json",
        ]
    )  # fmt: skip

    code = replay.run(args)

    assert code == replay.EXIT_OK
    out = capsys.readouterr().out
    assert '"action": "staged"' in out
    assert "in.gz" in out
    assert "out.gz" not in out
    keys = [o["Key"] for o in archive.list_objects_v2(Bucket=DISTRIBUTION)["Contents"]]
    assert keys == ["bundles/2026/01/31/08/in.gz"]


def test_cli_pending_restore_exits_75(archive: Any) -> None:
    _archive(archive, KEY, build_bundle([SourceFile("p", b"p")]), "DEEP_ARCHIVE")
    parser = argparse.ArgumentParser()
    replay.add_arguments(parser)
    args = parser.parse_args(
        ["--env", "unit", "--archive-bucket", ARCHIVE, "--distribution-bucket", DISTRIBUTION,
         "--key", KEY, "--tier", "Bulk"]
    )  # fmt: skip

    assert replay.run(args) == replay.EXIT_PENDING
    assert replay.run(args) == replay.EXIT_OK


MIB = 1024 * 1024


def test_replay_stages_a_bundle_over_the_copy_limit_as_the_copier_does(archive: Any) -> None:
    """Above the threshold (5 GB in production, 6 MiB here) replay takes the copier's
    multipart branch, and the object it stages equals the copier's: bytes, ETag, metadata."""
    plan = CopyPlan(multipart_threshold=6 * MIB, part_size=5 * MIB)
    assert COPIER_PLAN.multipart(5 * 1024**3 + 1)  # the production plan: multipart above 5 GB
    body = os.urandom(12 * MIB)
    archive.put_object(Bucket=ARCHIVE, Key=KEY, Body=body, ContentType="application/gzip")
    copier_distribution = "copier-distribution"
    archive.create_bucket(
        Bucket=copier_distribution,
        CreateBucketConfiguration={"LocationConstraint": "eu-west-2"},
    )
    by_copier = stage_bundle(
        archive,
        bucket=ARCHIVE,
        key=KEY,
        version_id=None,
        distribution_bucket=copier_distribution,
        multipart_threshold=plan.multipart_threshold,
        part_size=plan.part_size,
    )
    assert by_copier.multipart

    item = replay_one(archive, TARGET, KEY, "Standard", 1, dry_run=False, plan=plan)

    assert (item.action, item.detail) == ("staged", "multipart copy")
    # moto reports a multipart object's composite SHA-256 without the "-<parts>" suffix, which
    # botocore would then validate as a full-object checksum: read without response validation
    reader = boto3.client(
        "s3", region_name="eu-west-2", config=Config(response_checksum_validation="when_required")
    )
    copier_copy = reader.get_object(Bucket=copier_distribution, Key=KEY)
    replay_copy = reader.get_object(Bucket=DISTRIBUTION, Key=KEY)
    assert replay_copy["ETag"].endswith('-3"')  # three parts: a multipart copy
    for field in ("ETag", "ContentLength", "ContentType", "Metadata"):
        assert replay_copy[field] == copier_copy[field], field
    assert replay_copy["Metadata"]["content-sha256"] == hashlib.sha256(body).hexdigest()
    assert replay_copy["Body"].read() == copier_copy["Body"].read() == body
