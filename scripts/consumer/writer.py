"""Atomic, durable file writes: a file is either absent or complete and on disk, never partial.

Each file is written to a temporary file in the consumer's staging directory (on the same
filesystem as the output, so ``rename(2)`` is atomic), ``fsync``'d, renamed into place, and the
directories whose entries changed are ``fsync``'d before :meth:`DurableWriter.flush` returns. Only
after ``flush`` may the caller record the files as delivered.

Small files are written by a thread pool: ext4/xfs commit concurrent ``fsync`` calls together, so
a batch of small files costs a few journal commits instead of one per file. Large files stream from
the caller's thread with bounded memory.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

_FILE_MODE = 0o644
DEFAULT_THREADS = 16
DEFAULT_MAX_INFLIGHT_BYTES = 64 * 1024 * 1024
_UNIT_BYTES = 64 * 1024  # granularity of the in-flight memory budget


def fsync_dir(directory: Path) -> None:
    """Make ``directory``'s entries (creations, renames) durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class DurableWriter:
    """Writes files atomically and durably; :meth:`flush` is the durability barrier."""

    def __init__(
        self,
        staging_dir: Path,
        threads: int = DEFAULT_THREADS,
        max_inflight_bytes: int = DEFAULT_MAX_INFLIGHT_BYTES,
    ) -> None:
        self._staging = staging_dir
        self._staging.mkdir(parents=True, exist_ok=True)
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="writer")
        self._budget_units = max(1, max_inflight_bytes // _UNIT_BYTES)
        self._inflight = threading.BoundedSemaphore(self._budget_units)
        self._futures: list[Future[None]] = []
        self._dirty_dirs: set[Path] = set()
        self._known_dirs: set[Path] = set()  # directories seen to exist (saves a stat per file)

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    def __enter__(self) -> DurableWriter:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def discard_staging(self) -> int:
        """Delete temporary files left by an interrupted run; returns how many were removed."""
        removed = 0
        for leftover in self._staging.iterdir():
            if leftover.is_file():
                leftover.unlink()
                removed += 1
        return removed

    def submit(self, target: Path, content: bytes) -> None:
        """Queue ``content`` to be written to ``target`` (durable only after :meth:`flush`)."""
        self._prepare_parent(target)
        units = self._units(len(content))
        for _ in range(units):
            self._inflight.acquire()
        future = self._pool.submit(self._write_bytes, target, content)
        future.add_done_callback(lambda _f: self._release(units))
        self._futures.append(future)

    def write_stream(self, target: Path, chunks: Iterable[bytes]) -> None:
        """Write ``chunks`` to ``target`` now, in this thread (durable only after :meth:`flush`).

        If ``chunks`` raises (e.g. a failed checksum), the temporary file is removed and
        ``target`` is left untouched.
        """
        self._prepare_parent(target)
        temp = self._temp_path()
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _FILE_MODE)
        try:
            with os.fdopen(fd, "wb", closefd=True) as handle:
                for chunk in chunks:
                    handle.write(chunk)
                handle.flush()
                os.fsync(handle.fileno())
            temp.replace(target)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise

    def flush(self) -> None:
        """Wait for queued writes, then make every changed directory durable."""
        futures, self._futures = self._futures, []
        errors = [error for error in (f.exception() for f in futures) if error is not None]
        if errors:
            raise errors[0]
        for directory in sorted(self._dirty_dirs, key=lambda p: len(p.parts), reverse=True):
            fsync_dir(directory)
        self._dirty_dirs.clear()

    # ------------------------------------------------------------------------------- internals

    def _prepare_parent(self, target: Path) -> None:
        parent = target.parent
        self._dirty_dirs.add(parent)
        if parent in self._known_dirs:
            return
        self._known_dirs.add(parent)
        if parent.is_dir():
            return
        missing: list[Path] = []
        cursor = parent
        while not cursor.exists():
            missing.append(cursor)
            cursor = cursor.parent
        for directory in reversed(missing):
            directory.mkdir(exist_ok=True)
            self._dirty_dirs.add(directory.parent)

    def _write_bytes(self, target: Path, content: bytes) -> None:
        temp = self._temp_path()
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _FILE_MODE)
        try:
            view = memoryview(content)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        except BaseException:
            os.close(fd)
            temp.unlink(missing_ok=True)
            raise
        os.close(fd)
        temp.replace(target)

    def _temp_path(self) -> Path:
        return self._staging / f"{uuid.uuid4().hex}.part"

    def _units(self, size: int) -> int:
        return min(self._budget_units, max(1, size // _UNIT_BYTES))

    def _release(self, units: int) -> None:
        for _ in range(units):
            self._inflight.release()
