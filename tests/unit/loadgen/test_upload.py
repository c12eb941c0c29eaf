"""Uploads on moto S3: versions, multipart streaming, rate, concurrency bound, errors."""

from __future__ import annotations

import hashlib
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from scripts.loadgen import (
    FileKind,
    FileSpec,
    MixConfig,
    UploadError,
    hostile_keys,
    plan_mix,
    read_manifest,
    upload_all,
    upload_file,
    write_manifest,
)
from scripts.loadgen import upload as upload_module
from scripts.loadgen.content import content_bytes
from tests.unit.loadgen.conftest import make_bucket

MIB = 1 << 20


def _stored(s3: Any, bucket: str, key: str, version_id: str | None) -> bytes:
    extra = {"VersionId": version_id} if version_id else {}
    body: bytes = s3.get_object(Bucket=bucket, Key=key, **extra)["Body"].read()
    return body


def test_upload_records_what_s3_stored(s3: Any) -> None:
    bucket = make_bucket(s3, "landing")
    specs = plan_mix(MixConfig(count=25, seed=3, large_size=None))
    records = upload_all(s3, bucket, specs, concurrency=4, progress=False)
    assert [r.spec for r in records] == specs
    for record in records:
        data = _stored(s3, bucket, record.key, record.version_id)
        assert data == content_bytes(record.spec)
        assert hashlib.sha256(data).hexdigest() == record.sha256
        assert record.version_id
        assert record.started_at <= record.completed_at


def test_hostile_keys_are_stored_verbatim(s3: Any) -> None:
    bucket = make_bucket(s3, "landing")
    specs = [FileSpec(key, FileKind.TEXT, 100, seed=n) for n, key in enumerate(hostile_keys("t"))]
    records = upload_all(s3, bucket, specs, progress=False)
    listed = {item["Key"] for item in s3.list_objects_v2(Bucket=bucket)["Contents"]}
    assert listed == {spec.key for spec in specs}
    assert all(_stored(s3, bucket, r.key, r.version_id) == content_bytes(r.spec) for r in records)


def test_overwrite_gives_two_versions_both_readable(s3: Any) -> None:
    bucket = make_bucket(s3, "landing")
    first = upload_file(s3, bucket, FileSpec("same/key.txt", FileKind.TEXT, 500, seed=1))
    second = upload_file(s3, bucket, FileSpec("same/key.txt", FileKind.TEXT, 700, seed=2))
    assert first.version_id != second.version_id
    assert _stored(s3, bucket, first.key, first.version_id) == content_bytes(first.spec)
    assert _stored(s3, bucket, second.key, second.version_id) == content_bytes(second.spec)


def test_large_file_goes_in_parts_with_bounded_part_size(
    s3: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(upload_module, "MULTIPART_THRESHOLD", 5 * MIB)
    monkeypatch.setattr(upload_module, "PART_SIZE", 5 * MIB)
    bucket = make_bucket(s3, "landing")
    parts: list[int] = []
    s3.meta.events.register(
        "provide-client-params.s3.UploadPart", lambda params, **_: parts.append(len(params["Body"]))
    )
    spec = FileSpec("big.bin", FileKind.LARGE, 12 * MIB + 3, seed=8)
    record = upload_file(s3, bucket, spec)
    assert parts == [5 * MIB, 5 * MIB, 2 * MIB + 3]
    data = _stored(s3, bucket, spec.key, record.version_id)
    assert data == content_bytes(spec)
    assert record.sha256 == hashlib.sha256(data).hexdigest()


def test_failed_multipart_upload_is_aborted(s3: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(upload_module, "MULTIPART_THRESHOLD", 5 * MIB)
    monkeypatch.setattr(upload_module, "PART_SIZE", 5 * MIB)
    bucket = make_bucket(s3, "landing")

    def fail(params: dict[str, Any], **_: Any) -> None:
        if params.get("PartNumber") == 2:
            raise RuntimeError("network gone")

    s3.meta.events.register("provide-client-params.s3.UploadPart", fail)
    with pytest.raises(UploadError, match=r"big\.bin.*network gone"):
        upload_file(s3, bucket, FileSpec("big.bin", FileKind.LARGE, 11 * MIB, seed=1))
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_rate_is_respected(s3: Any) -> None:
    bucket = make_bucket(s3, "landing")
    specs = [FileSpec(f"r/{n}", FileKind.TEXT, 10, seed=n) for n in range(21)]
    start = time.monotonic()
    records = upload_all(s3, bucket, specs, rate=40.0, concurrency=4, progress=False)
    elapsed = time.monotonic() - start
    assert elapsed >= 20 / 40 * 0.95
    assert records[-1].started_at - records[0].started_at >= 20 / 40 * 0.95


def test_concurrency_is_bounded(s3: Any) -> None:
    bucket = make_bucket(s3, "landing")
    in_flight = 0
    peak = 0
    lock = threading.Lock()

    def before(**_: Any) -> None:
        nonlocal in_flight, peak
        with lock:
            in_flight += 1
            peak = max(peak, in_flight)
        time.sleep(0.01)  # hold the slot so that overlaps are visible (simulated latency)

    def after(**_: Any) -> None:
        nonlocal in_flight
        with lock:
            in_flight -= 1

    s3.meta.events.register("before-call.s3.PutObject", before)
    s3.meta.events.register("after-call.s3.PutObject", after)
    specs = [FileSpec(f"c/{n}", FileKind.TEXT, 10, seed=n) for n in range(40)]
    upload_all(s3, bucket, specs, concurrency=3, progress=False)
    assert 2 <= peak <= 3


def test_upload_error_names_the_key_and_stops_the_run(s3: Any) -> None:
    specs = [FileSpec(f"e/{n}", FileKind.TEXT, 10, seed=n) for n in range(5)]
    with pytest.raises(UploadError, match=r"'e/0'.*no-such-bucket"):
        upload_all(s3, "no-such-bucket", specs, concurrency=1, progress=False)


def test_invalid_arguments_are_refused(s3: Any) -> None:
    with pytest.raises(ValueError, match="concurrency"):
        upload_all(s3, "b", [], concurrency=0, progress=False)
    with pytest.raises(ValueError, match="rate"):
        upload_all(s3, "b", [], rate=0, progress=False)


def test_manifest_round_trip(s3: Any, tmp_path: Path) -> None:
    bucket = make_bucket(s3, "landing")
    specs = [FileSpec("m/ünï code+1.txt", FileKind.TEXT, 10, seed=1)]
    specs.append(FileSpec("m/empty", FileKind.EMPTY, 0, seed=2))
    records = upload_all(s3, bucket, specs, progress=False)
    path = tmp_path / "manifest.jsonl"
    write_manifest(path, records)
    assert read_manifest(path) == records
