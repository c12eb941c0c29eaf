"""The host is untrusted: real file-system and ledger faults are classified, lose nothing.

Each scenario runs the consumer on a real file system with the fault in place (a tmpfs with a
size or inode limit, a read-only mount, a damaged or locked ledger), then checks the promise of
docs/operations.md "What the consumer guarantees": every ledger row is a file on disk with the
recorded bytes, the bundle is kept in Distribution, the outcome is one classified line (no
traceback) with the exit code of the one table; then the fault is removed and the next run
delivers every member exactly once and deletes the bundle.
"""

from __future__ import annotations

import errno
import hashlib
import os
import signal
import sqlite3
from pathlib import Path
from typing import Any, BinaryIO, cast

import pytest

from scripts import consume
from scripts.cli import EXIT_OK, EXIT_PROBLEM, EXIT_TEMPORARY
from scripts.consumer import ledger as ledger_module
from scripts.consumer.drain import DrainOptions, DrainSummary, drain, list_bundles, state_dir
from scripts.consumer.hostfaults import FaultKind, HostFaultError
from scripts.consumer.ledger import DeliveredFile, Ledger
from tests.unit.consumer import hostfs
from tests.unit.consumer.bundles import SourceFile, build_bundle, files_on_disk, stage
from tests.unit.consumer.conftest import BUCKET, consume_args

needs_mount = pytest.mark.skipif(not hostfs.can_mount(), reason="needs root and mount(2)")
KEY = "bundles/2026/01/01/00/big.gz"


def _sources(count: int, size: int = 16, folder: str = "f") -> list[SourceFile]:
    return [
        SourceFile(f"{folder}/{i:05d}", (f"{i:05d}".encode() * size)[:size]) for i in range(count)
    ]


def _rows(ledger_path: Path) -> dict[str, str]:
    """Every file the ledger says is delivered: path -> sha256 (read with a second connection)."""
    with sqlite3.connect(ledger_path) as db:
        return dict(db.execute("SELECT path, sha256 FROM files").fetchall())


def assert_rows_are_on_disk(output: Path, ledger_path: Path) -> dict[str, str]:
    """The promise: a ledger row means the file is on disk with exactly those bytes."""
    rows = _rows(ledger_path)
    for path, sha256 in rows.items():
        target = output / path
        assert target.is_file(), f"ledger row {path} has no file on disk"
        assert hashlib.sha256(target.read_bytes()).hexdigest() == sha256, path
    return rows


def _drain(s3: Any, output: Path, ledger_path: Path, batch_files: int = 512) -> DrainSummary:
    with Ledger(ledger_path) as ledger:
        return drain(s3, BUCKET, output, ledger, DrainOptions(batch_files=batch_files))


def _recover_and_check(s3: Any, output: Path, ledger_path: Path, sources: list[SourceFile]) -> None:
    """After the fault is removed: everything delivered exactly once, the bundle deleted."""
    summary = _drain(s3, output, ledger_path)
    assert summary.ok, summary
    expected = {f"{s.key}~v1": s.content for s in sources}
    assert files_on_disk(output) == expected
    assert set(assert_rows_are_on_disk(output, ledger_path)) == set(expected)
    assert list_bundles(s3, BUCKET) == []


def _assert_kept(s3: Any) -> None:
    assert [b.key for b in list_bundles(s3, BUCKET)] == [KEY]


# ------------------------------------------------------------------ faults in the middle of a batch


def test_a_folder_that_refuses_writes_mid_batch_records_nothing_of_that_batch(
    s3: Any, tmp_path: Path
) -> None:
    """A read-only subfolder (bind mount; as non-root: no write permission) inside the output."""
    output, ledger_path = tmp_path / "out", tmp_path / "ledger.db"
    sources = _sources(600, folder="a") + _sources(500, folder="ro")
    stage(s3, BUCKET, KEY, build_bundle(sources))
    if hostfs.can_mount():
        with hostfs.read_only_bind(tmp_path / "elsewhere", output / "ro"):
            summary = _drain(s3, output, ledger_path)
        expected_kinds = {"cross_device", "read_only"}
    else:
        (output / "ro").mkdir(parents=True)
        (output / "ro").chmod(0o555)
        summary = _drain(s3, output, ledger_path)
        (output / "ro").chmod(0o755)
        expected_kinds = {"permission"}

    assert summary.host_fault is not None
    assert summary.host_fault.kind in expected_kinds
    assert not summary.host_fault.transient
    assert str(output) in summary.host_fault.path
    rows = assert_rows_are_on_disk(output, ledger_path)
    assert not any(path.startswith("ro/") for path in rows)
    _assert_kept(s3)
    _recover_and_check(s3, output, ledger_path, sources)


@needs_mount
def test_no_inodes_left_mid_bundle_is_transient_and_loses_nothing(s3: Any, tmp_path: Path) -> None:
    sources = _sources(3000, size=4)
    stage(s3, BUCKET, KEY, build_bundle(sources))
    with hostfs.tmpfs(tmp_path / "out", size="64m", nr_inodes=300) as output:
        ledger_path = state_dir(output) / "ledger.db"
        summary = _drain(s3, output, ledger_path, batch_files=100)

        assert summary.host_fault is not None
        assert (summary.host_fault.kind, summary.host_fault.transient) == ("no_inodes", True)
        assert 0 < len(assert_rows_are_on_disk(output, ledger_path)) < len(sources)
        _assert_kept(s3)

        hostfs.remount(output, "nr_inodes=10000")
        _recover_and_check(s3, output, ledger_path, sources)


@needs_mount
def test_no_space_left_mid_bundle_is_transient_and_loses_nothing(s3: Any, tmp_path: Path) -> None:
    sources = _sources(3000, size=1000)  # each takes a 4 KiB page of tmpfs: 12 MB > 4 MiB
    stage(s3, BUCKET, KEY, build_bundle(sources))
    with hostfs.tmpfs(tmp_path / "out", size="4m") as output:
        ledger_path = state_dir(output) / "ledger.db"
        summary = _drain(s3, output, ledger_path)

        assert summary.host_fault is not None
        assert (summary.host_fault.kind, summary.host_fault.transient) == ("no_space", True)
        assert len(assert_rows_are_on_disk(output, ledger_path)) < len(sources)
        _assert_kept(s3)

        hostfs.remount(output, "size=64m")
        _recover_and_check(s3, output, ledger_path, sources)


@needs_mount
def test_a_ledger_commit_on_a_full_disk_is_classified_and_rolled_back(tmp_path: Path) -> None:
    with hostfs.tmpfs(tmp_path / "ledger", size="1m") as folder:
        path = folder / "ledger.db"
        rows = [DeliveredFile(f"k{i}", "v1", "0" * 64, 1, f"k{i}~v1", KEY) for i in range(5000)]
        with Ledger(path) as ledger:
            hostfs.fill(folder)
            with pytest.raises(HostFaultError) as raised:
                ledger.record_files(rows)
            assert raised.value.kind is FaultKind.NO_SPACE
            assert str(path) in str(raised.value)
            assert ledger.delivered("k0", "v1") is None  # the transaction was rolled back
            (folder / "filler").unlink()
            ledger.record_files(rows)
            assert ledger.delivered("k4999", "v1") is not None


# ----------------------------------------------------------- the CLI: one line, the table's code


def _one_clean_line(capsys: pytest.CaptureFixture[str], *phrases: str) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("aggregator consume: HOST FAULT")]
    assert len(lines) == 1, err
    for phrase in phrases:
        assert phrase in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize(
    "content",
    [b"this is not an SQLite database at all " * 200, b"SQLite format 3\x00" + b"\xff" * 8000],
    ids=["not-a-database", "malformed"],
)
def test_a_damaged_ledger_stops_with_the_fix_named(
    cli: None, s3: Any, tmp_path: Path, content: bytes, capsys: pytest.CaptureFixture[str]
) -> None:
    stage(s3, BUCKET, KEY, build_bundle(_sources(3)))
    ledger_path = tmp_path / "ledger.db"
    ledger_path.write_bytes(content)
    output = tmp_path / "out"

    code = consume.run(consume_args(output, "--once", "--ledger", str(ledger_path)))

    assert code == EXIT_PROBLEM
    _one_clean_line(capsys, str(ledger_path), FaultKind.LEDGER_CORRUPT.value, "backup")
    _assert_kept(s3)
    assert files_on_disk(output) == {}


def test_a_ledger_locked_by_another_process_is_transient(
    cli: None,
    s3: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(ledger_module, "DEFAULT_BUSY_SECONDS", 0.2)
    stage(s3, BUCKET, KEY, build_bundle(_sources(3)))
    output = tmp_path / "out"
    ledger_path = state_dir(output) / "ledger.db"
    Ledger(ledger_path).close()
    holder = sqlite3.connect(ledger_path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        assert consume.run(consume_args(output, "--once")) == EXIT_TEMPORARY
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    _one_clean_line(capsys, str(ledger_path), FaultKind.LEDGER_LOCKED.value)
    _assert_kept(s3)
    assert consume.run(consume_args(output, "--once")) == EXIT_OK


@needs_mount
def test_an_output_folder_on_a_read_only_file_system_stops_at_start(
    cli: None, s3: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stage(s3, BUCKET, KEY, build_bundle(_sources(3)))
    with hostfs.tmpfs(tmp_path / "out", size="8m") as output:
        hostfs.remount(output, "ro")
        assert consume.run(consume_args(output, "--once")) == EXIT_PROBLEM
        _one_clean_line(capsys, str(output), FaultKind.READ_ONLY.value, "read-write")
        _assert_kept(s3)


@needs_mount
def test_a_full_ledger_disk_at_start_exits_temporary(
    cli: None, s3: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stage(s3, BUCKET, KEY, build_bundle(_sources(3)))
    with hostfs.tmpfs(tmp_path / "ledger", size="2m") as folder:
        Ledger(folder / "ledger.db").close()
        hostfs.fill(folder)
        args = consume_args(tmp_path / "out", "--once", "--ledger", str(folder / "ledger.db"))
        assert consume.run(args) == EXIT_TEMPORARY
        _one_clean_line(capsys, str(folder), FaultKind.NO_SPACE.value)
        _assert_kept(s3)


@needs_mount
def test_the_daemon_retries_a_full_disk_and_delivers_once_space_is_freed(
    cli: None,
    s3: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    sources = _sources(20)
    stage(s3, BUCKET, KEY, build_bundle(sources))
    faults: list[str] = []
    report = consume._host_fault

    def operator_frees_space(problem: Any, once: bool) -> int | None:
        faults.append(problem.kind)
        if len(faults) == 2:  # retried once with backoff, still full: the operator acts
            (output / "filler").unlink()
        return report(problem, once)

    def stop_after_delete(**_: Any) -> None:
        os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(consume, "_host_fault", operator_frees_space)
    s3.meta.events.register("after-call.s3.DeleteObject", stop_after_delete)
    with hostfs.tmpfs(tmp_path / "out", size="4m") as output:
        state_dir(output).mkdir()
        hostfs.fill(output)
        assert consume.run(consume_args(output, "--interval", "0.05")) == EXIT_OK
        assert faults == ["no_space", "no_space"]
        assert "retrying with backoff" in capsys.readouterr().err
        assert set(files_on_disk(output)) == {f"{s.key}~v1" for s in sources}
    assert list_bundles(s3, BUCKET) == []


def test_an_io_error_reading_the_local_copy_is_a_host_fault_not_a_rejection(
    s3: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reader turns every read error into a BundleIntegrityError; one caused by the disk
    (EIO on the downloaded copy) must not reject — and so remember — a good bundle."""
    from pipeline.bundle import read_bundle as real_reader
    from scripts.consumer import drain as drain_module

    class FailingDisk:
        def __init__(self, handle: Any) -> None:
            self._handle, self._read = handle, 0

        def read(self, size: int = -1) -> bytes:
            if self._read > 100:
                raise OSError(errno.EIO, os.strerror(errno.EIO))
            chunk: bytes = self._handle.read(size)
            self._read += len(chunk)
            return chunk

    monkeypatch.setattr(
        drain_module, "read_bundle", lambda h: real_reader(cast("BinaryIO", FailingDisk(h)))
    )
    output, ledger_path = tmp_path / "out", tmp_path / "ledger.db"
    sources = _sources(50, size=200)
    stage(s3, BUCKET, KEY, build_bundle(sources))

    summary = _drain(s3, output, ledger_path)

    assert summary.rejected == ()
    assert summary.host_fault is not None
    assert (summary.host_fault.kind, summary.host_fault.transient) == ("io_error", False)
    with Ledger(ledger_path) as ledger:
        assert ledger.rejection(KEY, list_bundles(s3, BUCKET)[0].etag) is None
    monkeypatch.setattr(drain_module, "read_bundle", real_reader)
    _recover_and_check(s3, output, ledger_path, sources)
