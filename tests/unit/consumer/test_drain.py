from __future__ import annotations

import gzip
import hashlib
from pathlib import Path
from typing import Any

from pipeline.bundle import encode_member
from scripts.consumer.drain import DrainOptions, ListedBundle, drain, list_bundles, oldest_first
from scripts.consumer.ledger import Ledger
from scripts.consumer.paths import destination
from tests.unit.consumer.bundles import (
    SourceFile,
    build_bundle,
    files_on_disk,
    ledger_file_count,
    meta_for,
    stage,
)
from tests.unit.consumer.conftest import BUCKET


def _keys(client: Any) -> list[str]:
    return [b.key for b in list_bundles(client, BUCKET)]


def test_delivers_every_file_byte_for_byte_and_deletes_the_bundle(
    s3: Any, output: Path, ledger: Ledger
) -> None:
    files = [
        SourceFile("data/a.csv", b"alpha" * 1000),
        SourceFile("data/empty", b""),
        SourceFile("../escape/attempt", b"contained"),
        SourceFile("odd\nname/ü", b"odd bytes"),
    ]
    stage(s3, BUCKET, "bundles/2026/01/01/00/s-1-x.gz", build_bundle(files))

    summary = drain(s3, BUCKET, output, ledger)

    assert summary.ok
    assert (summary.bundles_delivered, summary.files_written) == (1, 4)
    for source in files:
        assert destination(output, source.key, source.version_id).read_bytes() == source.content
    assert len(files_on_disk(output)) == 4
    assert _keys(s3) == []
    assert ledger_file_count(ledger) == 4


def test_duplicate_member_and_duplicate_bundle_write_each_file_once(
    s3: Any, output: Path, ledger: Ledger
) -> None:
    one = SourceFile("k/one", b"1" * 100)
    two = SourceFile("k/two", b"2" * 100)
    bundle = build_bundle([one, two, one])  # Firehose at-least-once: a member twice
    stage(s3, BUCKET, "bundles/2026/01/01/00/a.gz", bundle)
    stage(s3, BUCKET, "bundles/2026/01/01/00/b.gz", bundle)  # the same bundle staged twice

    summary = drain(s3, BUCKET, output, ledger)

    assert summary.ok
    assert summary.files_written == 2
    assert summary.files_duplicate == 1
    assert (summary.bundles_delivered, summary.bundles_duplicate) == (1, 1)
    assert _keys(s3) == []


def test_a_replayed_bundle_after_delivery_writes_nothing(
    s3: Any, output: Path, ledger: Ledger
) -> None:
    files = [SourceFile(f"r/{n}", bytes([n]) * 50) for n in range(5)]
    bundle = build_bundle(files)
    stage(s3, BUCKET, "bundles/2026/01/01/00/r.gz", bundle)
    drain(s3, BUCKET, output, ledger)
    inodes = {p: p.stat().st_ino for p in output.rglob("r/*")}

    stage(s3, BUCKET, "bundles/2026/01/01/00/r.gz", bundle)  # replay under the same key
    again = drain(s3, BUCKET, output, ledger)

    assert again.ok
    assert (again.bundles_duplicate, again.files_written) == (1, 0)
    assert {p: p.stat().st_ino for p in output.rglob("r/*")} == inodes
    assert _keys(s3) == []


def test_a_rebuilt_bundle_with_known_members_only_writes_the_new_one(
    s3: Any, output: Path, ledger: Ledger
) -> None:
    old = SourceFile("x/old", b"old")
    stage(s3, BUCKET, "bundles/2026/01/01/00/1.gz", build_bundle([old]))
    drain(s3, BUCKET, output, ledger)
    new = SourceFile("x/new", b"new")
    stage(s3, BUCKET, "bundles/2026/01/01/00/2.gz", build_bundle([old, new]))

    summary = drain(s3, BUCKET, output, ledger)

    assert (summary.files_written, summary.files_duplicate) == (1, 1)


def test_a_new_version_of_a_key_is_delivered_as_a_second_file(
    s3: Any, output: Path, ledger: Ledger
) -> None:
    first = SourceFile("doc/report.csv", b"first", "ver1")
    second = SourceFile("doc/report.csv", b"second", "ver2")
    stage(s3, BUCKET, "bundles/2026/01/01/00/1.gz", build_bundle([first]))
    stage(s3, BUCKET, "bundles/2026/01/01/01/2.gz", build_bundle([second]))

    drain(s3, BUCKET, output, ledger)

    assert files_on_disk(output) == {
        "doc/report.csv~ver1": b"first",
        "doc/report.csv~ver2": b"second",
    }


def test_a_tampered_bundle_is_kept_reported_and_skipped(
    s3: Any, output: Path, ledger: Ledger
) -> None:
    good = SourceFile("good/file", b"good")
    bad = build_bundle([SourceFile("bad/file", b"bad")])
    stage(s3, BUCKET, "bundles/2026/01/01/00/bad.gz", bad, sha256="0" * 64)
    stage(s3, BUCKET, "bundles/2026/01/01/00/good.gz", build_bundle([good]))

    summary = drain(s3, BUCKET, output, ledger)

    assert not summary.ok
    assert [p.key for p in summary.rejected] == ["bundles/2026/01/01/00/bad.gz"]
    assert "SHA-256 mismatch" in summary.rejected[0].reason
    assert files_on_disk(output) == {"good/file~v1": b"good"}
    assert _keys(s3) == ["bundles/2026/01/01/00/bad.gz"]

    again = drain(s3, BUCKET, output, ledger)  # still reported on the next pass
    assert [p.key for p in again.rejected] == ["bundles/2026/01/01/00/bad.gz"]
    assert _keys(s3) == ["bundles/2026/01/01/00/bad.gz"]


def test_a_bundle_without_recorded_sha256_is_rejected(
    s3: Any, output: Path, ledger: Ledger
) -> None:
    stage(s3, BUCKET, "bundles/n.gz", build_bundle([SourceFile("n", b"n")]), sha256="")

    summary = drain(s3, BUCKET, output, ledger)

    assert "no content-sha256" in summary.rejected[0].reason
    assert files_on_disk(output) == {}
    assert _keys(s3) == ["bundles/n.gz"]


def test_a_damaged_member_is_not_written_and_the_bundle_is_kept(
    s3: Any, output: Path, ledger: Ledger
) -> None:
    intact = SourceFile("m/intact", b"intact")
    damaged = SourceFile("m/damaged", b"original content")
    member = encode_member(meta_for(damaged), damaged.content)
    corrupted = member.replace(b"original content", b"ORIGINAL content")
    raw = encode_member(meta_for(intact), intact.content) + corrupted
    bundle = gzip.compress(raw)  # the bundle hash is of the corrupt bytes: it passes
    stage(s3, BUCKET, "bundles/m.gz", bundle)

    summary = drain(s3, BUCKET, output, ledger)

    assert "does not match the recorded" in summary.rejected[0].reason
    assert files_on_disk(output) == {"m/intact~v1": b"intact"}
    assert _keys(s3) == ["bundles/m.gz"]


def test_same_version_with_other_content_is_a_conflict(
    s3: Any, output: Path, ledger: Ledger
) -> None:
    stage(s3, BUCKET, "bundles/1.gz", build_bundle([SourceFile("c", b"one", "v1")]))
    drain(s3, BUCKET, output, ledger)
    stage(s3, BUCKET, "bundles/2.gz", build_bundle([SourceFile("c", b"two", "v1")]))

    summary = drain(s3, BUCKET, output, ledger)

    assert "investigate the source" in summary.rejected[0].reason
    assert files_on_disk(output) == {"c~v1": b"one"}
    assert _keys(s3) == ["bundles/2.gz"]


def test_a_file_left_on_disk_by_a_killed_run_is_adopted_not_rewritten(
    s3: Any, output: Path, ledger: Ledger
) -> None:
    source = SourceFile("adopt/me", b"content")
    target = destination(output, source.key, source.version_id)
    target.parent.mkdir(parents=True)
    target.write_bytes(source.content)
    inode = target.stat().st_ino
    stage(s3, BUCKET, "bundles/a.gz", build_bundle([source]))

    summary = drain(s3, BUCKET, output, ledger)

    assert (summary.files_adopted, summary.files_written) == (1, 0)
    assert target.stat().st_ino == inode
    assert ledger.delivered(source.key, source.version_id) is not None


def test_large_members_stream_and_batches_flush(s3: Any, output: Path, ledger: Ledger) -> None:
    big = SourceFile("big/file", hashlib.sha256(b"seed").digest() * 40_000)  # 1.28 MB
    smalls = [SourceFile(f"small/{n}", bytes([n]) * n) for n in range(20)]
    stage(s3, BUCKET, "bundles/big.gz", build_bundle([*smalls[:10], big, *smalls[10:]]))

    summary = drain(
        s3, BUCKET, output, ledger, DrainOptions(batch_files=3, small_file_max=1024 * 1024)
    )

    assert summary.files_written == 21
    assert destination(output, big.key, "v1").read_bytes() == big.content
    assert ledger_file_count(ledger) == 21


def test_bundles_are_served_oldest_first() -> None:
    listed = [
        ListedBundle("bundles/2026/01/01/01/b.gz", '"1"', 1, 200.0),
        ListedBundle("bundles/2026/01/01/00/z.gz", '"2"', 1, 100.0),
        ListedBundle("bundles/2026/01/01/00/a.gz", '"3"', 1, 100.0),
    ]

    assert [b.key for b in oldest_first(listed)] == [
        "bundles/2026/01/01/00/a.gz",
        "bundles/2026/01/01/00/z.gz",
        "bundles/2026/01/01/01/b.gz",
    ]


def test_listing_sees_every_bundle_across_pages(s3: Any) -> None:
    for n in range(7):
        s3.put_object(Bucket=BUCKET, Key=f"bundles/{n:05d}.gz", Body=b"")

    assert len(list_bundles(s3, BUCKET, page_size=2)) == 7
