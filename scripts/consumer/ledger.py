"""The consumer's ledger: an SQLite record of delivered files and of bundles being unpacked.

* ``files``: one row per delivered ``(key, version_id)`` with its SHA-256, size and on-disk path.
  A row is written only after the file is durably on disk, so a row means "delivered".
* ``bundles``: one row per bundle *content* (its SHA-256), ``in_progress`` while it is unpacked and
  ``done`` once every member is recorded. The same bundle staged twice, or replayed under another
  key, has the same SHA-256, so it is recognised whatever its key.
* ``rejected``: bundles that failed verification, by key and ETag, so a poll loop does not
  download the same damaged object again and again (it is still reported every pass).

SQLite runs in WAL mode with ``synchronous=FULL``: a committed transaction survives a crash or
power loss. Every SQLite error (a full disk, an I/O error, a file that is not a database or is
malformed, a lock held by another process) leaves this module as a classified
:class:`~scripts.consumer.hostfaults.HostFaultError` naming the ledger file; a transaction that
fails is rolled back, so the ledger never holds half a batch.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipeline.bundle import NULL_VERSION, version_identity
from scripts.consumer.hostfaults import host_operation

#: how long a statement waits for a lock another process holds on the ledger before it fails
DEFAULT_BUSY_SECONDS = 30.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    key TEXT NOT NULL,
    version TEXT NOT NULL,          -- 'null' for an object without a version id (as S3 says)
    sha256 TEXT NOT NULL,
    size INTEGER NOT NULL,
    path TEXT NOT NULL,             -- relative to the output directory
    bundle_key TEXT NOT NULL,       -- the bundle that delivered it first
    delivered_at TEXT NOT NULL,
    PRIMARY KEY (key, version)
);
CREATE TABLE IF NOT EXISTS bundles (
    sha256 TEXT PRIMARY KEY,
    bundle_key TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('in_progress', 'done')),
    files_written INTEGER NOT NULL DEFAULT 0,
    files_duplicate INTEGER NOT NULL DEFAULT 0,
    started_at TEXT NOT NULL,
    finished_at TEXT
);
CREATE TABLE IF NOT EXISTS rejected (
    bundle_key TEXT NOT NULL,
    etag TEXT NOT NULL,
    reason TEXT NOT NULL,
    first_seen TEXT NOT NULL,
    PRIMARY KEY (bundle_key, etag)
);
"""


@dataclass(frozen=True, slots=True)
class DeliveredFile:
    """One file version the ledger says is durably on disk."""

    key: str
    version_id: str | None
    sha256: str
    size: int
    path: str
    bundle_key: str


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _version(version_id: str | None) -> str:
    return version_identity(version_id)


class Ledger:
    """Exactly-once bookkeeping for the consumer (one writer process at a time)."""

    def __init__(self, path: Path, busy_seconds: float | None = None) -> None:
        self.path = path
        timeout = DEFAULT_BUSY_SECONDS if busy_seconds is None else busy_seconds
        with host_operation(path):
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, isolation_level=None, timeout=timeout)
            try:
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=FULL")
                self._db.executescript(_SCHEMA)
                self._adopt_null_versions()
            except BaseException:
                self._db.close()
                raise

    def close(self) -> None:
        with host_operation(self.path):
            self._db.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # ---------------------------------------------------------------------------------- files

    def delivered(self, key: str, version_id: str | None) -> DeliveredFile | None:
        row = self._query(
            "SELECT sha256, size, path, bundle_key FROM files WHERE key = ? AND version = ?",
            (key, _version(version_id)),
        )
        if row is None:
            return None
        return DeliveredFile(key, version_id, row[0], row[1], row[2], row[3])

    def record_files(self, files: Iterable[DeliveredFile]) -> None:
        """Record durably written files, all in one transaction."""
        now = _now()
        rows = [
            (f.key, _version(f.version_id), f.sha256, f.size, f.path, f.bundle_key, now)
            for f in files
        ]
        with self._transaction():
            self._db.executemany(
                "INSERT OR IGNORE INTO files"
                " (key, version, sha256, size, path, bundle_key, delivered_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                rows,
            )

    # -------------------------------------------------------------------------------- bundles

    def bundle_state(self, sha256: str) -> str | None:
        row = self._query("SELECT state FROM bundles WHERE sha256 = ?", (sha256,))
        return None if row is None else str(row[0])

    def begin_bundle(self, sha256: str, bundle_key: str) -> None:
        with self._transaction():
            self._db.execute(
                "INSERT INTO bundles (sha256, bundle_key, state, started_at)"
                " VALUES (?, ?, 'in_progress', ?) ON CONFLICT (sha256) DO NOTHING",
                (sha256, bundle_key, _now()),
            )

    def finish_bundle(self, sha256: str, files_written: int, files_duplicate: int) -> None:
        with self._transaction():
            self._db.execute(
                "UPDATE bundles SET state = 'done', finished_at = ?,"
                " files_written = files_written + ?, files_duplicate = files_duplicate + ?"
                " WHERE sha256 = ?",
                (_now(), files_written, files_duplicate, sha256),
            )

    # ------------------------------------------------------------------------------- rejected

    def rejection(self, bundle_key: str, etag: str) -> str | None:
        row = self._query(
            "SELECT reason FROM rejected WHERE bundle_key = ? AND etag = ?", (bundle_key, etag)
        )
        return None if row is None else str(row[0])

    def reject(self, bundle_key: str, etag: str, reason: str) -> None:
        with self._transaction():
            self._db.execute(
                "INSERT INTO rejected (bundle_key, etag, reason, first_seen) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (bundle_key, etag) DO NOTHING",
                (bundle_key, etag, reason, _now()),
            )

    def forget_rejections(self) -> int:
        """Forget every rejection so the next pass verifies those bundles again."""
        with self._transaction():
            return self._db.execute("DELETE FROM rejected").rowcount

    # ------------------------------------------------------------------------------ internals

    def _adopt_null_versions(self) -> None:
        """Ledgers written before absent and ``"null"`` version ids were one identity stored
        the absent one as ``''``: store it as ``'null'`` (same file name, one identity)."""
        with self._transaction():
            self._db.execute(
                "UPDATE OR IGNORE files SET version = ? WHERE version = ''", (NULL_VERSION,)
            )
            self._db.execute("DELETE FROM files WHERE version = ''")

    def _query(self, sql: str, parameters: tuple[str, ...]) -> tuple[Any, ...] | None:
        with host_operation(self.path):
            row: tuple[Any, ...] | None = self._db.execute(sql, parameters).fetchone()
            return row

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        """One ``BEGIN IMMEDIATE`` … ``COMMIT``; rolled back on any error (the error is raised,
        classified). A failed ``COMMIT`` is rolled back too: nothing of it stays."""
        with host_operation(self.path):
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:
                    with contextlib.suppress(sqlite3.Error):
                        self._db.execute("ROLLBACK")
                raise
