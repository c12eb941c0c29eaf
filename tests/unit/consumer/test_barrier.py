"""The writer's batch barrier: two ``syncfs`` calls per batch instead of one ``fsync`` per file.

The order is the guarantee: temporary files written, ``syncfs`` (their data durable), renamed
into place, ``syncfs`` (the entries durable), and only then are the targets returned and
recorded. A barrier that fails (``EIO``) forgets the batch: nothing of it is returned or recorded,
and what reached the output folder is adopted by SHA-256 on the next run. The barrier is
:data:`scripts.consumer.writer.SYNCFS`, wrapped here to observe (or fail) each call.
"""

from __future__ import annotations

import errno
import os
import platform
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from scripts.consumer import writer as writer_module
from scripts.consumer.drain import DrainOptions, drain, list_bundles
from scripts.consumer.hostfaults import FaultKind, HostFaultError
from scripts.consumer.ledger import Ledger
from scripts.consumer.writer import DurableWriter, _load_syncfs
from tests.unit.consumer.bundles import SourceFile, build_bundle, files_on_disk, stage
from tests.unit.consumer.conftest import BUCKET

STAGING = "state/tmp"
REAL_SYNCFS = writer_module.SYNCFS
needs_syncfs = pytest.mark.skipif(REAL_SYNCFS is None, reason="needs Linux syncfs(2) (5.8+)")


def _barrier(before: Callable[[int], None]) -> Callable[[int], None]:
    """The real ``syncfs``, with ``before`` called first (it may raise, as the kernel would)."""
    assert REAL_SYNCFS is not None

    def syncfs(fd: int) -> None:
        before(fd)
        REAL_SYNCFS(fd)

    return syncfs


def _eio() -> OSError:
    return OSError(errno.EIO, os.strerror(errno.EIO))


def _targets(out: Path) -> set[str]:
    return {p.name for p in out.glob("d/*")}


@needs_syncfs
def test_targets_are_renamed_after_the_data_barrier_and_returned_after_the_entry_barrier(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    seen: list[tuple[set[str], int]] = []  # at each barrier: targets in place, temporary files
    monkeypatch.setattr(
        writer_module,
        "SYNCFS",
        _barrier(lambda _fd: seen.append((_targets(out), len(list((out / STAGING).iterdir()))))),
    )
    with DurableWriter(out, STAGING, threads=4) as writer:
        assert writer.barrier == "syncfs"
        for index in range(20):
            writer.submit(f"d/f{index}", bytes([index]) * 100)
        writer.write_stream("d/big", iter([b"x" * 10, b"y" * 10]))
        durable = writer.flush()

    names = {f"f{index}" for index in range(20)} | {"big"}
    assert seen == [(set(), 21), (names, 0)]
    assert durable == {f"d/{name}" for name in names}
    assert (out / "d" / "big").read_bytes() == b"x" * 10 + b"y" * 10


@needs_syncfs
@pytest.mark.parametrize("failing_call", [1, 2], ids=["data barrier", "entry barrier"])
def test_a_failed_barrier_forgets_the_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failing_call: int
) -> None:
    out = tmp_path / "out"
    calls: list[int] = []

    def fail_once(_fd: int) -> None:
        calls.append(1)
        if len(calls) == failing_call:
            raise _eio()

    monkeypatch.setattr(writer_module, "SYNCFS", _barrier(fail_once))
    with DurableWriter(out, STAGING, threads=4) as writer:
        for index in range(5):
            writer.submit(f"d/f{index}", b"first")
        with pytest.raises(HostFaultError) as raised:
            writer.flush()
        assert raised.value.kind is FaultKind.IO_ERROR
        # the data barrier failed: nothing was renamed; the entry barrier: the complete files are
        # in place, but not confirmed durable, so not returned (the next run adopts them)
        assert len(_targets(out)) == (0 if failing_call == 1 else 5)
        assert list((out / STAGING).iterdir()) == []
        writer.submit("d/g", b"second")
        assert writer.flush() == {"d/g"}  # the failed batch is never returned later


@needs_syncfs
def test_ledger_rows_are_written_only_after_their_batch_barrier_returned(
    s3: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    output, ledger_path = tmp_path / "out", tmp_path / "ledger.db"
    sources = [SourceFile(f"k/{i}", bytes([65 + i]) * (20 + i)) for i in range(7)]
    stage(s3, BUCKET, "bundles/1.gz", build_bundle(sources))
    rows_at_barrier: list[int] = []

    def count_rows(_fd: int) -> None:
        with sqlite3.connect(ledger_path) as db:
            rows_at_barrier.append(db.execute("SELECT COUNT(*) FROM files").fetchone()[0])

    monkeypatch.setattr(writer_module, "SYNCFS", _barrier(count_rows))
    with Ledger(ledger_path) as ledger:
        summary = drain(s3, BUCKET, output, ledger, DrainOptions(batch_files=3))

    assert summary.ok, summary
    # batches of 3, 3, 1: each batch's rows appear only after both of its barriers
    assert rows_at_barrier == [0, 0, 3, 3, 6, 6]
    assert files_on_disk(output) == {f"{s.key}~v1": s.content for s in sources}


@needs_syncfs
def test_an_io_error_at_a_barrier_records_nothing_of_the_batch_and_the_next_run_adopts_it(
    s3: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    output, ledger_path = tmp_path / "out", tmp_path / "ledger.db"
    sources = [SourceFile(f"k/{i}", bytes([65 + i]) * (20 + i)) for i in range(7)]
    stage(s3, BUCKET, "bundles/1.gz", build_bundle(sources))
    calls: list[int] = []

    def fail_fourth(_fd: int) -> None:  # the entry barrier of the second batch
        calls.append(1)
        if len(calls) == 4:
            raise _eio()

    options = DrainOptions(batch_files=3)
    monkeypatch.setattr(writer_module, "SYNCFS", _barrier(fail_fourth))
    with Ledger(ledger_path) as ledger:
        faulted = drain(s3, BUCKET, output, ledger, options)
    assert faulted.host_fault is not None
    assert (faulted.host_fault.kind, faulted.host_fault.transient) == ("io_error", False)
    with sqlite3.connect(ledger_path) as db:
        rows = {path for (path,) in db.execute("SELECT path FROM files")}
    assert rows == {f"k/{i}~v1" for i in range(3)}  # the first batch only
    on_disk = files_on_disk(output)
    assert set(on_disk) == {f"k/{i}~v1" for i in range(6)}  # the second batch is in place
    inodes = {name: (output / name).stat().st_ino for name in on_disk}
    assert [b.key for b in list_bundles(s3, BUCKET)] == ["bundles/1.gz"]

    monkeypatch.setattr(writer_module, "SYNCFS", REAL_SYNCFS)
    with Ledger(ledger_path) as ledger:
        recovered = drain(s3, BUCKET, output, ledger, options)

    assert recovered.ok, recovered
    assert (recovered.files_adopted, recovered.files_written) == (3, 1)
    assert files_on_disk(output) == {f"{s.key}~v1": s.content for s in sources}
    assert {name: (output / name).stat().st_ino for name in inodes} == inodes  # not rewritten
    assert list_bundles(s3, BUCKET) == []


def test_the_fsync_fallback_never_calls_syncfs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(_fd: int) -> None:
        raise AssertionError("syncfs called on the fsync path")

    monkeypatch.setattr(writer_module, "SYNCFS", refuse)
    out = tmp_path / "out"
    with DurableWriter(out, STAGING, barrier="fsync") as writer:
        assert writer.barrier == "fsync"
        writer.submit("d/a", b"a")
        writer.write_stream("d/b", iter([b"b"]))
        assert writer.flush() == {"d/a", "d/b"}
    assert (out / "d" / "a").read_bytes() == b"a"


def test_without_syncfs_the_writer_falls_back_to_fsync(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writer_module, "SYNCFS", None)
    with DurableWriter(tmp_path / "out", STAGING) as writer:
        assert writer.barrier == "fsync"
    with pytest.raises(ValueError, match="syncfs"):
        DurableWriter(tmp_path / "out", STAGING, barrier="syncfs")


@pytest.mark.parametrize(
    ("system", "release"),
    [("linux", "5.4.0-150-generic"), ("linux", "5.7.19"), ("darwin", "23.1.0"), ("linux", "x")],
)
def test_syncfs_is_not_used_where_it_would_not_report_write_back_errors(
    monkeypatch: pytest.MonkeyPatch, system: str, release: str
) -> None:
    monkeypatch.setattr(sys, "platform", system)
    monkeypatch.setattr(platform, "release", lambda: release)
    assert _load_syncfs() is None


@needs_syncfs
def test_syncfs_reports_the_kernel_error(tmp_path: Path) -> None:
    syncfs = _load_syncfs()
    assert syncfs is not None
    fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        syncfs(fd)  # a real file system: returns
    finally:
        os.close(fd)
    with pytest.raises(OSError) as raised:
        syncfs(fd)  # closed: EBADF, raised as an OSError like any os call
    assert raised.value.errno == errno.EBADF
