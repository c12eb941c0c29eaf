"""Copier: hashing, metadata on Archive and Distribution, multipart copy, no self-trigger."""

from __future__ import annotations

import base64
import hashlib
import os

import boto3
import pytest
from botocore.config import Config

from pipeline.copier import handler
from pipeline.copier.events import EMPTY_OBJECT, select_bundles
from pipeline.copier.staging import StagingError, stage_bundle
from tests.unit.conftest import LambdaContextStub, PipelineAws
from tests.unit.pipeline.s3_events import TEST_EVENT, s3_event, s3_record

KEY = "bundles/2026/01/02/03/test-stream-1-2026-01-02-03-04-05-abc.gz"
MIB = 1024 * 1024


@pytest.fixture(autouse=True)
def _copier_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISTRIBUTION_BUCKET", "test-distribution")
    handler.config.cache_clear()


def _put_bundle(aws: PipelineAws, body: bytes, key: str = KEY) -> str:
    version: str = aws.s3.put_object(
        Bucket=aws.archive, Key=key, Body=body, ContentType="application/gzip"
    )["VersionId"]
    return version


def _versions(aws: PipelineAws, key: str = KEY) -> int:
    listing = aws.s3.list_object_versions(Bucket=aws.archive, Prefix=key)
    return len(listing.get("Versions", []))


def _event(aws: PipelineAws, version: str, name: str = "ObjectCreated:Put") -> dict[str, object]:
    return s3_event(s3_record(aws.archive, KEY, event_name=name, version_id=version, size=1))


def test_bundle_is_hashed_and_staged_with_metadata(
    pipeline_aws: PipelineAws, lambda_context: LambdaContextStub
) -> None:
    body = os.urandom(300_000)
    version = _put_bundle(pipeline_aws, body)

    result = handler.lambda_handler(_event(pipeline_aws, version), lambda_context)

    assert result == {"staged": 1, "skipped": 0}
    digest = hashlib.sha256(body).hexdigest()
    archived = pipeline_aws.s3.head_object(Bucket=pipeline_aws.archive, Key=KEY)
    assert archived["Metadata"]["content-sha256"] == digest
    assert archived["ContentType"] == "application/gzip"
    staged = pipeline_aws.s3.head_object(
        Bucket=pipeline_aws.distribution, Key=KEY, ChecksumMode="ENABLED"
    )
    assert staged["Metadata"]["content-sha256"] == digest
    assert staged["ContentType"] == "application/gzip"
    assert staged["ChecksumSHA256"] == base64.b64encode(hashlib.sha256(body).digest()).decode()
    copy = pipeline_aws.s3.get_object(Bucket=pipeline_aws.distribution, Key=KEY)
    assert copy["Body"].read() == body


def test_rerun_and_own_copy_events_are_harmless(
    pipeline_aws: PipelineAws, lambda_context: LambdaContextStub
) -> None:
    version = _put_bundle(pipeline_aws, b"bundle bytes" * 1000)
    handler.lambda_handler(_event(pipeline_aws, version), lambda_context)
    assert _versions(pipeline_aws) == 2  # original + the metadata rewrite

    # the metadata rewrite emits ObjectCreated:Copy: ignored, nothing written
    latest = pipeline_aws.s3.head_object(Bucket=pipeline_aws.archive, Key=KEY)["VersionId"]
    own = handler.lambda_handler(_event(pipeline_aws, latest, "ObjectCreated:Copy"), lambda_context)
    assert own == {"staged": 0, "skipped": 1}
    assert _versions(pipeline_aws) == 2

    # a duplicate delivery of the original event: the hash is reused, no further rewrite
    again = stage_bundle(
        pipeline_aws.s3,
        bucket=pipeline_aws.archive,
        key=KEY,
        version_id=latest,
        distribution_bucket=pipeline_aws.distribution,
        multipart_threshold=5 * 1024**3,
        part_size=5 * MIB,
    )
    assert not again.hashed
    assert _versions(pipeline_aws) == 2
    staged = pipeline_aws.s3.get_object(Bucket=pipeline_aws.distribution, Key=KEY)
    assert staged["Body"].read() == b"bundle bytes" * 1000


def test_large_bundles_use_multipart_copy_and_stop_after_one_rewrite(
    pipeline_aws: PipelineAws,
) -> None:
    body = os.urandom(12 * MIB)
    version = _put_bundle(pipeline_aws, body)
    options = {
        "bucket": pipeline_aws.archive,
        "key": KEY,
        "distribution_bucket": pipeline_aws.distribution,
        "multipart_threshold": 6 * MIB,
        "part_size": 5 * MIB,
    }

    first = stage_bundle(pipeline_aws.s3, version_id=version, **options)  # type: ignore[arg-type]

    assert first.multipart and first.hashed
    assert first.sha256 == hashlib.sha256(body).hexdigest()
    # moto reports a multipart object's composite SHA-256 without the "-<parts>" suffix, which
    # botocore would then validate as a full-object checksum: read without response validation
    reader = boto3.client("s3", config=Config(response_checksum_validation="when_required"))
    staged = reader.get_object(Bucket=pipeline_aws.distribution, Key=KEY)
    assert staged["Metadata"]["content-sha256"] == first.sha256
    assert staged["Body"].read() == body
    # the multipart self-copy notifies CompleteMultipartUpload: the re-run reuses the hash
    latest = pipeline_aws.s3.head_object(Bucket=pipeline_aws.archive, Key=KEY)["VersionId"]
    second = stage_bundle(pipeline_aws.s3, version_id=latest, **options)  # type: ignore[arg-type]
    assert not second.hashed
    assert _versions(pipeline_aws) == 2


def test_only_new_bundles_are_selected() -> None:
    event = s3_event(
        s3_record("archive", KEY, size=20),
        s3_record("archive", KEY, event_name="ObjectCreated:CompleteMultipartUpload", size=20),
        s3_record("archive", KEY, event_name="ObjectCreated:Copy", size=20),
        s3_record("archive", "errors/processing-failed/2026/01/02/03/x.gz", size=20),
        s3_record("archive", "bundles/2026/readme.txt", size=20),
        s3_record("archive", KEY, event_name="ObjectRemoved:Delete"),
        s3_record("archive", KEY, event_name="ObjectCreated:CompleteMultipartUpload", size=0),
    )
    bundles, skipped = select_bundles(event, "bundles/")
    assert [b.key for b in bundles] == [KEY, KEY]
    assert len(skipped) == 5
    assert skipped[-1].reason == EMPTY_OBJECT  # never staged for the consumer to reject
    assert select_bundles(TEST_EVENT, "bundles/")[0] == []


def test_missing_bundle_fails_the_invocation(
    pipeline_aws: PipelineAws, lambda_context: LambdaContextStub
) -> None:
    with pytest.raises(handler.BundlesNotStagedError, match="1 of 1 bundles"):
        handler.lambda_handler(_event(pipeline_aws, "nope"), lambda_context)


def test_a_copy_whose_s3_checksum_differs_from_the_record_is_deleted_and_fails(
    pipeline_aws: PipelineAws,
) -> None:
    """The reuse path trusts an existing content-sha256; S3's SHA-256 of the copy checks it."""
    version = pipeline_aws.s3.put_object(
        Bucket=pipeline_aws.archive,
        Key=KEY,
        Body=b"bundle bytes",
        Metadata={"content-sha256": "0" * 64},  # well-formed, wrong
    )["VersionId"]

    with pytest.raises(StagingError, match="stage the bundle again"):
        stage_bundle(
            pipeline_aws.s3,
            bucket=pipeline_aws.archive,
            key=KEY,
            version_id=version,
            distribution_bucket=pipeline_aws.distribution,
            multipart_threshold=5 * 1024**3,
            part_size=5 * MIB,
        )

    listing = pipeline_aws.s3.list_objects_v2(Bucket=pipeline_aws.distribution)
    assert listing.get("KeyCount", 0) == 0
