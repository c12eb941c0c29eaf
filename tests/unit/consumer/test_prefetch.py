"""The next bundle downloads while the current one is unpacked; a stop abandons it cleanly."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from scripts.consumer.drain import drain, list_bundles, state_dir
from scripts.consumer.ledger import Ledger
from scripts.consumer.prefetch import Prefetcher
from tests.unit.consumer.bundles import SourceFile, build_bundle, files_on_disk, stage
from tests.unit.consumer.conftest import BUCKET

FIRST = "bundles/2026/01/01/00/a.gz"
SECOND = "bundles/2026/01/01/00/b.gz"


def _stage_two(s3: Any) -> None:
    stage(s3, BUCKET, FIRST, build_bundle([SourceFile("k/one", b"1" * 5000)]))
    stage(s3, BUCKET, SECOND, build_bundle([SourceFile("k/two", b"2" * 5000)]))


def test_the_next_download_starts_before_the_current_bundle_is_finished(
    s3: Any, output: Path, ledger: Ledger
) -> None:
    _stage_two(s3)
    downloads: list[str] = []
    seen_before_first_delete: list[bool] = []
    second_requested = threading.Event()

    def on_get(params: dict[str, Any], **_: Any) -> None:
        downloads.append(params["Key"])
        if params["Key"] == SECOND:
            second_requested.set()

    def on_delete(params: dict[str, Any], **_: Any) -> None:
        if params["Key"] == FIRST:  # the first bundle is unpacked and recorded by now
            seen_before_first_delete.append(second_requested.wait(timeout=10))

    s3.meta.events.register("before-parameter-build.s3.GetObject", on_get)
    s3.meta.events.register("before-parameter-build.s3.DeleteObject", on_delete)

    summary = drain(s3, BUCKET, output, ledger)

    assert summary.ok and summary.bundles_delivered == 2
    assert downloads == [FIRST, SECOND]  # oldest first, each once
    assert seen_before_first_delete == [True], "the second bundle was not fetched ahead"


def test_a_stop_abandons_the_prefetched_bundle_and_leaves_no_temporary_file(
    s3: Any, output: Path, ledger: Ledger
) -> None:
    _stage_two(s3)
    calls = 0

    def stop_after_first() -> bool:
        nonlocal calls
        calls += 1
        return calls > 1

    summary = drain(s3, BUCKET, output, ledger, should_stop=stop_after_first)

    assert (summary.bundles_delivered, summary.files_written) == (1, 1)
    assert [b.key for b in list_bundles(s3, BUCKET)] == [SECOND]  # kept for the next pass
    assert list(files_on_disk(output).values()) == [b"1" * 5000]
    assert list((state_dir(output) / "tmp").iterdir()) == []


def test_a_known_rejection_is_not_downloaded_and_close_removes_unused_downloads(
    s3: Any, tmp_path: Path
) -> None:
    _stage_two(s3)
    tmp_dir = tmp_path / "tmp"
    tmp_dir.mkdir()
    with Prefetcher(s3, BUCKET, tmp_dir) as prefetcher:
        rejected = prefetcher.fetch(FIRST, rejection="SHA-256 mismatch")
        unused = prefetcher.fetch(SECOND)
        assert rejected.future is None and not rejected.temp.exists()
        assert unused.future is not None
        deadline = time.monotonic() + 30
        while not unused.future.done() and time.monotonic() < deadline:
            time.sleep(0.01)  # polling with a deadline
        assert unused.result().key == SECOND and unused.temp.exists()
    assert list(tmp_dir.iterdir()) == []


def test_a_failed_background_download_fails_only_its_bundle(
    s3: Any, output: Path, ledger: Ledger
) -> None:
    _stage_two(s3)

    def throttle_second(params: dict[str, Any], **_: Any) -> None:
        if params["Key"] == SECOND:  # raised in the prefetch thread, surfaced to the drain
            raise ClientError({"Error": {"Code": "SlowDown", "Message": "slow"}}, "GetObject")

    s3.meta.events.register("before-parameter-build.s3.GetObject", throttle_second)

    summary = drain(s3, BUCKET, output, ledger)

    assert summary.bundles_delivered == 1 and summary.files_written == 1
    assert [problem.key for problem in summary.failed] == [SECOND]
    assert summary.failed[0].reason.startswith("SlowDown")
    assert [b.key for b in list_bundles(s3, BUCKET)] == [SECOND]  # kept for the next pass
    assert list((state_dir(output) / "tmp").iterdir()) == []
