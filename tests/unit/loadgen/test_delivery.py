"""The delivery tracker on moto S3: matching, latency, integrity, deadlines."""

from __future__ import annotations

import gzip
import hashlib
import threading
import time
from collections.abc import Sequence
from typing import Any

import pytest

from pipeline.bundle import MemberMetadata, encode_member
from scripts.delivery import BundleSeen, DeliveryTracker, Sighting, match, percentile, summarize
from scripts.loadgen import FileKind, FileSpec, UploadRecord, upload_all
from scripts.loadgen.content import content_bytes
from tests.unit.loadgen.conftest import make_bucket


def _record(key: str, *, completed_at: float = 100.0, sha: str | None = None) -> UploadRecord:
    spec = FileSpec(key, FileKind.TEXT, 10, seed=1)
    return UploadRecord(
        spec=spec,
        version_id="v1",
        etag='"e"',
        sha256=sha or hashlib.sha256(content_bytes(spec)).hexdigest(),
        started_at=completed_at - 0.1,
        completed_at=completed_at,
    )


def _sighting(
    record: UploadRecord, *, seen_at: float, bundle: str = "b1", sha: str = ""
) -> Sighting:
    return Sighting(
        key=record.key,
        version_id=record.version_id,
        sha256=sha or record.sha256,
        size=record.size,
        bundle_key=bundle,
        seen_at=seen_at,
        archived_at=seen_at - 1.0,
    )


# --------------------------------------------------------------------------- pure parts


def test_percentiles_are_nearest_rank() -> None:
    values = [float(n) for n in range(1, 101)]
    assert percentile(values, 0.5) == 50.0
    assert percentile(values, 0.95) == 95.0
    assert percentile(values, 0.99) == 99.0
    assert percentile([3.0], 0.99) == 3.0
    summary = summarize([5.0, 1.0, 3.0])
    assert (summary.p50, summary.max, summary.count) == (3.0, 5.0, 3)
    assert summarize([]).count == 0
    with pytest.raises(ValueError, match="no values"):
        percentile([], 0.5)


def test_match_reports_missing_corrupt_duplicates_and_latency() -> None:
    ok = _record("ok", completed_at=100.0)
    late = _record("late", completed_at=100.0)
    gone = _record("gone")
    bad = _record("bad")
    sightings = [
        _sighting(ok, seen_at=102.0),
        _sighting(ok, seen_at=109.0, bundle="b2"),  # duplicate delivery: first one counts
        _sighting(late, seen_at=110.0, bundle="b2"),
        _sighting(bad, seen_at=103.0, sha="0" * 64),
    ]
    bundles = {"b1": BundleSeen("b1", 1000, 2, 102.0), "b2": BundleSeen("b2", 500, 2, 109.0)}
    report = match([ok, late, gone, bad], sightings, bundles)
    assert [d.record.key for d in report.delivered] == ["ok", "late"]
    assert [r.key for r in report.missing] == ["gone"]
    assert [r.key for (r, _) in report.corrupt] == ["bad"]
    assert report.duplicates == 1
    assert report.bundles == 2 and report.bytes_out == 1500
    assert report.latency.p50 == 2.0 and report.latency.max == 10.0
    # archived one second before it was seen: upstream share = (1 + 9) / (2 + 10)
    assert report.upstream_share == pytest.approx(10 / 12)
    assert not report.complete


# ---------------------------------------------------------------------- against moto S3


@pytest.fixture
def buckets(s3: Any) -> tuple[str, str, str]:
    return make_bucket(s3, "landing"), make_bucket(s3, "archive"), make_bucket(s3, "dist")


def _stage_bundle(
    s3: Any,
    records: Sequence[UploadRecord],
    key: str,
    *,
    archive: str = "archive",
    dist: str = "dist",
    tamper: bool = False,
) -> bytes:
    members = []
    for record in records:
        meta = MemberMetadata(
            key=record.key,
            version_id=record.version_id,
            etag=record.etag,
            event_time="2026-01-01T00:00:00.000Z",
            sequencer="00",
            bucket="landing",
            size=record.size,
            sha256=record.sha256,
        )
        members.append(encode_member(meta, content_bytes(record.spec)))
    bundle = gzip.compress(b"".join(members))
    digest = hashlib.sha256(bundle).hexdigest()
    metadata = {"content-sha256": "f" * 64 if tamper else digest}
    s3.put_object(Bucket=archive, Key=key, Body=bundle, Metadata=metadata)
    s3.put_object(Bucket=dist, Key=key, Body=bundle, Metadata=metadata)
    return bundle


def _upload(s3: Any, count: int, prefix: str = "f") -> list[UploadRecord]:
    specs = [FileSpec(f"{prefix}/{n} +%ü", FileKind.BINARY, 100 + n, seed=n) for n in range(count)]
    specs.append(FileSpec(f"{prefix}/empty", FileKind.EMPTY, 0, seed=0))
    return upload_all(s3, "landing", specs, progress=False)


def test_tracker_sees_every_file_of_new_bundles(s3: Any, buckets: tuple[str, ...]) -> None:
    old = _upload(s3, 2, prefix="old")
    _stage_bundle(s3, old, "bundles/old.gz")
    tracker = DeliveryTracker(s3, "dist", archive_bucket="archive", poll_interval=0.05)
    assert tracker.baseline() == 1
    records = _upload(s3, 6)
    first = _stage_bundle(s3, records[:4], "bundles/2026/01/01/00/a.gz")
    second = _stage_bundle(s3, records[4:], "bundles/2026/01/01/00/b.gz")
    report = tracker.wait_for(records, timeout=10)
    assert report.complete, report
    assert report.uploaded == len(records) == len(report.delivered)
    assert report.bundles == 2
    assert report.bytes_out == len(first) + len(second)
    assert report.bytes_in == sum(r.size for r in records)
    assert report.latency.count == len(records)
    assert all(d.latency >= 0 for d in report.delivered)
    # the baseline bundle was not read: its files are not reported as delivered
    assert tracker.report(old).missing == tuple(old)
    # nothing was deleted
    assert len(s3.list_objects_v2(Bucket="dist")["Contents"]) == 3


def test_tampered_bundle_is_reported_not_delivered(s3: Any, buckets: tuple[str, ...]) -> None:
    tracker = DeliveryTracker(s3, "dist", poll_interval=0.05)
    tracker.baseline()
    records = _upload(s3, 3)
    _stage_bundle(s3, records, "bundles/t.gz", tamper=True)
    report = tracker.wait_for(records, timeout=0.3)
    assert report.bad_bundles == ("bundles/t.gz",)
    assert len(report.missing) == len(records)
    assert "SHA-256 mismatch" in tracker.bad_bundles["bundles/t.gz"]


def test_member_whose_sha_differs_from_the_upload_is_corrupt(
    s3: Any, buckets: tuple[str, ...]
) -> None:
    tracker = DeliveryTracker(s3, "dist", poll_interval=0.05)
    records = _upload(s3, 2)
    _stage_bundle(s3, records, "bundles/c.gz")
    claimed = [records[0], _record_with_sha(records[1], "a" * 64)]
    report = tracker.wait_for(claimed, timeout=5)
    assert [r.key for (r, _) in report.corrupt] == [records[1].key]


def _record_with_sha(record: UploadRecord, sha: str) -> UploadRecord:
    return UploadRecord(
        record.spec, record.version_id, record.etag, sha, record.started_at, record.completed_at
    )


def test_wait_returns_at_the_deadline_with_the_missing_files(
    s3: Any, buckets: tuple[str, ...]
) -> None:
    tracker = DeliveryTracker(s3, "dist", poll_interval=0.05)
    records = _upload(s3, 3)
    _stage_bundle(s3, records[:-1], "bundles/partial.gz")
    start = time.monotonic()
    report = tracker.wait_for(records, timeout=0.5)
    assert 0.5 <= time.monotonic() - start < 3
    assert [r.key for r in report.missing] == [records[-1].key]
    assert len(report.delivered) == len(records) - 1


def test_background_poller_measures_while_bundles_arrive(s3: Any, buckets: tuple[str, ...]) -> None:
    records = _upload(s3, 4)
    staged = threading.Event()
    with DeliveryTracker(s3, "dist", poll_interval=0.02) as tracker:
        tracker.baseline()

        def stage_later() -> None:
            _stage_bundle(s3, records, "bundles/late.gz")
            staged.set()

        timer = threading.Timer(0.2, stage_later)
        timer.start()
        report = tracker.wait_for(records, timeout=10)
        timer.join()
    assert staged.is_set()
    assert report.complete
    assert report.latency.p50 >= 0.2 - 0.05


def test_invalid_poll_interval_is_refused(s3: Any) -> None:
    with pytest.raises(ValueError, match="poll interval"):
        DeliveryTracker(s3, "dist", poll_interval=0)
