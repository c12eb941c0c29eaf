"""Property: whatever writer or ledger call fails, and however, nothing is lost or delivered twice.

For any failure point in the sequence of the writer's ``os`` calls (and its ``syncfs`` batch
barrier, where the writer uses one) and the ledger's SQLite statements (the n-th call fails —
once, or with every call after it until the fault is removed — with a host errno or SQLite's
"disk is full"; in the writer only, the ledger only, or both; with the writer's ``syncfs`` barrier
or its per-file ``fsync`` fallback), the consumer's promise holds:

* after the faulted run, every ledger row is a file on disk with the recorded bytes;
* no bundle is deleted before every one of its members is recorded and on disk (checked at the
  moment of each ``DeleteObject``);
* after the fault is removed, every member of every bundle is on disk exactly once, and a file
  that was already on disk after the faulted run was not written again (same inode).

``FUZZ_EXAMPLES=500`` runs longer.
"""

from __future__ import annotations

import errno
import hashlib
import os
import sqlite3
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scripts.consumer import writer as writer_module
from scripts.consumer.drain import DrainOptions, drain, list_bundles
from scripts.consumer.ledger import Ledger
from tests.unit.consumer.bundles import SourceFile, build_bundle, stage
from tests.unit.consumer.conftest import BUCKET

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "30"))
_HOST_ERRNOS = (errno.ENOSPC, errno.EIO, errno.EROFS, errno.EACCES, errno.EXDEV, errno.EDQUOT)
_FAILING_OS_CALLS = frozenset({"open", "write", "fsync", "rename", "mkdir"})
_OPTIONS = DrainOptions(batch_files=3, small_file_max=64)
#: the writer's batch barriers: syncfs(2) where this machine has it, and the per-file fsync path
_BARRIERS = ("fsync", "syncfs") if writer_module.SYNCFS is not None else ("fsync",)

BUNDLES: dict[str, list[SourceFile]] = {
    "bundles/1.gz": [SourceFile(f"a/{i}", bytes([65 + i]) * (10 + 40 * i)) for i in range(9)],
    "bundles/2.gz": [
        SourceFile("a/1", bytes([66]) * 50),  # a duplicate of a member of bundle 1
        *(SourceFile(f"b/{i}", bytes([97 + i]) * (5 + 30 * i)) for i in range(6)),
    ],
}
EXPECTED = {f"{s.key}~v1": s.content for files in BUNDLES.values() for s in files}


@dataclass
class Fault:
    """Fails the ``at``-th counted call of ``scope`` (and every later one if ``persistent``)
    while ``armed``."""

    at: int
    error_number: int
    scope: str  # "os", "sqlite" or "both"
    persistent: bool
    calls: int = 0
    armed: bool = True
    fired: bool = False

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    def check(self, what: str) -> None:
        with self._lock:
            if not self.armed or self.scope not in ("both", "sqlite" if what == "sqlite" else "os"):
                return
            self.calls += 1
            if self.calls <= self.at or (self.fired and not self.persistent):
                return
            self.fired = True
        if what == "sqlite":
            raise sqlite3.OperationalError("database or disk is full")
        raise OSError(self.error_number, os.strerror(self.error_number))


class _FaultyOs(ModuleType):
    """``os`` as the writer sees it, with the fault in front of its file-system calls."""

    def __init__(self, fault: Fault) -> None:
        super().__init__("os")
        self._fault = fault

    def __getattr__(self, name: str) -> Any:
        real = getattr(os, name)
        if name not in _FAILING_OS_CALLS:
            return real

        def call(*args: Any, **kwargs: Any) -> Any:
            self._fault.check(name)
            return real(*args, **kwargs)

        return call


def _faulty_syncfs(fault: Fault) -> Any:
    """The writer's ``syncfs`` barrier with the fault in front of it, counted as an ``os`` call."""
    real = writer_module.SYNCFS
    assert real is not None

    def syncfs(fd: int) -> None:
        fault.check("syncfs")
        real(fd)

    return syncfs


class _FaultyDb:
    """The ledger's SQLite connection with the fault in front of every statement but ROLLBACK
    (SQLite itself rolls back a transaction whose write failed)."""

    def __init__(self, db: sqlite3.Connection, fault: Fault) -> None:
        self._db = db
        self._fault = fault

    def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:
        if sql != "ROLLBACK":
            self._fault.check("sqlite")
        return self._db.execute(sql, *args)

    def executemany(self, sql: str, *args: Any) -> sqlite3.Cursor:
        self._fault.check("sqlite")
        return self._db.executemany(sql, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._db, name)


def _ledger_rows(path: Path) -> dict[str, str]:
    with sqlite3.connect(path) as db:
        return dict(db.execute("SELECT path, sha256 FROM files").fetchall())


def _assert_rows_on_disk(output: Path, ledger_path: Path) -> None:
    for path, sha256 in _ledger_rows(ledger_path).items():
        target = output / path
        assert target.is_file(), f"ledger row {path} has no file on disk"
        assert hashlib.sha256(target.read_bytes()).hexdigest() == sha256


def _check_before_delete(output: Path, ledger_path: Path) -> Any:
    def before_delete(params: dict[str, Any], **_: Any) -> None:
        rows = _ledger_rows(ledger_path)
        for source in BUNDLES[params["Key"]]:
            name = f"{source.key}~v1"
            assert name in rows, f"{params['Key']} deleted before {name} was recorded"
            assert (output / name).read_bytes() == source.content

    return before_delete


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    at=st.integers(min_value=0, max_value=120),
    error_number=st.sampled_from(_HOST_ERRNOS),
    scope=st.sampled_from(["os", "sqlite", "both"]),
    persistent=st.booleans(),
    barrier=st.sampled_from(_BARRIERS),
)
def test_any_failure_point_loses_nothing_and_deletes_nothing_early(
    s3: Any,
    monkeypatch: pytest.MonkeyPatch,
    at: int,
    error_number: int,
    scope: str,
    persistent: bool,
    barrier: str,
) -> None:
    for listed in list_bundles(s3, BUCKET):
        s3.delete_object(Bucket=BUCKET, Key=listed.key)
    for key, files in BUNDLES.items():
        stage(s3, BUCKET, key, build_bundle(files))
    fault = Fault(at, error_number, scope, persistent)
    with tempfile.TemporaryDirectory() as scratch, monkeypatch.context() as patch:
        output, ledger_path = Path(scratch) / "out", Path(scratch) / "ledger.db"
        hook = _check_before_delete(output, ledger_path)
        s3.meta.events.register("before-parameter-build.s3.DeleteObject", hook)
        try:
            patch.setattr(writer_module, "os", _FaultyOs(fault))
            syncfs = _faulty_syncfs(fault) if barrier == "syncfs" else None
            patch.setattr(writer_module, "SYNCFS", syncfs)  # None: the per-file fsync path
            with Ledger(ledger_path) as ledger:
                real_db = ledger._db  # the fault goes in front of SQLite
                patch.setattr(ledger, "_db", _FaultyDb(real_db, fault))
                faulted = drain(s3, BUCKET, output, ledger, _OPTIONS)
                patch.setattr(ledger, "_db", real_db)
            if fault.fired:
                assert faulted.host_fault is not None, faulted
            _assert_rows_on_disk(output, ledger_path)
            survivors = {
                path: path.stat().st_ino for path in output.rglob("*~v1") if path.is_file()
            }

            fault.armed = False  # the operator removes the fault
            with Ledger(ledger_path) as ledger:
                recovered = drain(s3, BUCKET, output, ledger, _OPTIONS)
        finally:
            s3.meta.events.unregister("before-parameter-build.s3.DeleteObject", hook)

        assert recovered.ok, recovered
        on_disk = {
            str(path.relative_to(output)): path.read_bytes()
            for path in output.rglob("*~v1")
            if path.is_file()
        }
        assert on_disk == EXPECTED
        assert set(_ledger_rows(ledger_path)) == set(EXPECTED)
        assert {path: path.stat().st_ino for path in survivors} == survivors
        assert list_bundles(s3, BUCKET) == []
