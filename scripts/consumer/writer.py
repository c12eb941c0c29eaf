"""Atomic, durable, link-safe file writes: a file is either absent or complete and on disk.

Each file is written to a temporary file in the consumer's staging directory (on the same
filesystem as the output, so ``rename(2)`` is atomic), ``fsync``'d, renamed into place, and the
directories whose entries changed are ``fsync``'d before :meth:`DurableWriter.flush` returns. Only
after ``flush`` may the caller record the files as delivered, and only those ``flush`` returns:
it answers with the targets it made durable in this batch, or raises (a
:class:`~scripts.consumer.hostfaults.HostFaultError` for a host fault) and forgets the whole
batch, so nothing of a failed batch can be recorded by a later call.

**The host is untrusted.** Every local ``OSError`` with a host cause (no space, no inodes,
read-only, permission, cross-device, I/O) leaves this module as a classified
:class:`~scripts.consumer.hostfaults.HostFaultError` naming the path.

**Link-safe.** Every path is walked relative to an open descriptor of the output directory, one
component at a time, with ``O_NOFOLLOW``: directories are created with ``mkdir(dir_fd=...)`` and
opened with ``O_DIRECTORY | O_NOFOLLOW``, and files are renamed with ``src_dir_fd``/``dst_dir_fd``.
A symbolic link (or a file) where a folder should be raises :class:`LinkInTheWayError`, whoever
put it there; a link that appears after the walk changes nothing, since the writer holds the
descriptor of the real folder, and ``rename`` replaces a link at the leaf instead of following it.

Small files are written by a thread pool: ext4/xfs commit concurrent ``fsync`` calls together, so
a batch of small files costs a few journal commits instead of one per file. Large files stream from
the caller's thread with bounded memory.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import threading
import uuid
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from scripts.consumer.hostfaults import FaultKind, HostFaultError, host_operation
from scripts.consumer.paths import UnsafePathError

_FILE_MODE = 0o644
_DIR_MODE = 0o755
DEFAULT_THREADS = 16
DEFAULT_MAX_INFLIGHT_BYTES = 64 * 1024 * 1024
_UNIT_BYTES = 64 * 1024  # granularity of the in-flight memory budget
_INODES_PER_FILE = 2  # the temporary file and, for a new folder, its directory
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_NEW_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


class LinkInTheWayError(UnsafePathError):
    """A symbolic link or a non-folder sits where the output needs a folder (or a file)."""


class DurableWriter:
    """Writes files under ``output_dir`` atomically and durably; :meth:`flush` is the barrier.

    Targets are ``/``-separated paths relative to ``output_dir`` (see :mod:`.paths`).
    """

    def __init__(
        self,
        output_dir: Path,
        staging: str,
        threads: int = DEFAULT_THREADS,
        max_inflight_bytes: int = DEFAULT_MAX_INFLIGHT_BYTES,
    ) -> None:
        self._output_dir = output_dir
        self._staging_path = output_dir / staging
        with host_operation(output_dir):
            output_dir.mkdir(parents=True, exist_ok=True)
            self._root_fd = os.open(output_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        self._dirs: dict[str, int] = {}  # folder (relative) -> open descriptor, until flush
        with host_operation(self._staging_path):
            self._staging_fd = self._open_dir(staging)
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="writer")
        self._budget_units = max(1, max_inflight_bytes // _UNIT_BYTES)
        self._inflight = threading.BoundedSemaphore(self._budget_units)
        self._futures: list[Future[None]] = []
        self._targets: list[str] = []  # written (or adopted) in this batch, durable after flush
        self._unflushed_bytes = 0

    @property
    def output_dir(self) -> Path:
        return self._output_dir

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self._close_dirs()
        os.close(self._staging_fd)
        os.close(self._root_fd)

    def __enter__(self) -> DurableWriter:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def discard_staging(self) -> int:
        """Delete temporary files left by an interrupted run; returns how many were removed."""
        removed = 0
        with host_operation(self._staging_path):
            for name in os.listdir(self._staging_fd):  # noqa: PTH208 - a descriptor, not a path
                info = os.stat(name, dir_fd=self._staging_fd, follow_symlinks=False)
                if not stat.S_ISDIR(info.st_mode):
                    os.unlink(name, dir_fd=self._staging_fd)
                    removed += 1
        return removed

    def free_bytes(self) -> int:
        """Free space of the output file system, less what is written but not yet flushed."""
        info = os.fstatvfs(self._staging_fd)
        return info.f_bavail * info.f_frsize - self._unflushed_bytes

    def ensure_room(self, name: str, size: int) -> None:
        """Raise a :class:`HostFaultError` unless a file of ``size`` bytes fits: free bytes
        (less what is written but not flushed) and a free inode, on the output file system."""
        free = self.free_bytes()
        if size > free:
            raise HostFaultError(
                FaultKind.NO_SPACE,
                self._output_dir,
                f"member {name!r} needs {size:,} bytes but the output file system has "
                f"{max(free, 0):,} free; the bundle is kept",
            )
        info = os.fstatvfs(self._staging_fd)
        if info.f_files > 0 and info.f_favail < _INODES_PER_FILE:
            raise HostFaultError(
                FaultKind.NO_INODES,
                self._output_dir,
                f"member {name!r} needs an inode but the output file system has "
                f"{info.f_favail} free; the bundle is kept",
            )

    def existing(self, relative: str) -> int | None:
        """Size of the regular file at ``relative``, None if absent; a link there is refused."""
        with host_operation(self._output_dir / relative):
            parent, leaf = self._parent(relative)
            try:
                info = os.stat(leaf, dir_fd=parent, follow_symlinks=False)
            except FileNotFoundError:
                return None
        if not stat.S_ISREG(info.st_mode):
            raise LinkInTheWayError(
                f"{relative} in the output folder is a symbolic link or not a regular file: "
                "refusing to write through it (move it away, then run the consumer again)"
            )
        return info.st_size

    def open_existing(self, relative: str) -> int:
        """A read descriptor of the regular file at ``relative`` (never through a link)."""
        with host_operation(self._output_dir / relative):
            parent, leaf = self._parent(relative)
            try:
                return os.open(leaf, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent)
            except OSError as error:
                if error.errno == errno.ELOOP:
                    raise LinkInTheWayError(f"{relative} in the output folder is a link") from error
                raise

    def adopt(self, relative: str) -> None:
        """Take the file already at ``relative`` into this batch: it is ``fsync``'d, and its
        folder with the batch's, so it is as durable as a written one once :meth:`flush` returns."""
        with host_operation(self._output_dir / relative):
            fd = self.open_existing(relative)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        self._targets.append(relative)

    def submit(self, relative: str, content: bytes) -> None:
        """Queue ``content`` to be written to ``relative`` (durable only after :meth:`flush`)."""
        with host_operation(self._output_dir / relative):
            parent, leaf = self._parent(relative)
        units = self._units(len(content))
        for _ in range(units):
            self._inflight.acquire()
        self._unflushed_bytes += len(content)
        future = self._pool.submit(self._write_bytes, parent, leaf, content)
        future.add_done_callback(lambda _f: self._release(units))
        self._futures.append(future)
        self._targets.append(relative)

    def write_stream(self, relative: str, chunks: Iterable[bytes]) -> None:
        """Write ``chunks`` to ``relative`` now, in this thread (durable only after :meth:`flush`).

        If ``chunks`` raises (e.g. a failed checksum), the temporary file is removed and the
        target is left untouched.
        """
        with host_operation(self._output_dir / relative):
            parent, leaf = self._parent(relative)
            temp = self._temp_name()
            fd = os.open(temp, _NEW_FILE_FLAGS, _FILE_MODE, dir_fd=self._staging_fd)
            try:
                with os.fdopen(fd, "wb", closefd=True) as handle:
                    for chunk in chunks:
                        handle.write(chunk)
                        self._unflushed_bytes += len(chunk)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.rename(temp, leaf, src_dir_fd=self._staging_fd, dst_dir_fd=parent)
            except BaseException:
                _unlink_quietly(temp, self._staging_fd)
                raise
        self._targets.append(relative)

    def flush(self) -> frozenset[str]:
        """Wait for queued writes, make every changed directory durable, and return the targets
        made durable in this batch. On any failure the whole batch is forgotten (its targets are
        never returned, by this call or a later one) and the error is raised."""
        futures, self._futures = self._futures, []
        targets, self._targets = self._targets, []
        try:
            errors = [error for error in (f.exception() for f in futures) if error is not None]
            with host_operation(self._output_dir):
                if errors:
                    raise errors[0]
                for fd in self._dirs.values():
                    os.fsync(fd)
        finally:
            self._close_dirs()
            self._unflushed_bytes = 0
        return frozenset(targets)

    def abandon(self) -> None:
        """Forget the batch without recording anything: wait for queued writes (whatever they
        did), drop their targets. What they put on disk is adopted by the next run."""
        futures, self._futures, self._targets = self._futures, [], []
        for future in futures:
            future.exception()
        self._close_dirs()
        self._unflushed_bytes = 0

    # ------------------------------------------------------------------------------- internals

    def _parent(self, relative: str) -> tuple[int, str]:
        folder, _, leaf = relative.rpartition("/")
        fd = self._dirs.get(folder)
        if fd is None:
            fd = self._open_dir(folder)
            self._dirs[folder] = fd
        return fd, leaf

    def _open_dir(self, relative: str) -> int:
        """Open (creating as needed) the folder ``relative``, never following a link."""
        fd = os.dup(self._root_fd)
        walked: list[str] = []
        for part in relative.split("/") if relative else ():
            walked.append(part)
            try:
                child = _open_child_dir(fd, part)
            except OSError as error:
                os.close(fd)
                if error.errno in (errno.ELOOP, errno.ENOTDIR, errno.EEXIST):
                    raise LinkInTheWayError(
                        f"{'/'.join(walked)} in the output folder is a symbolic link or not a "
                        "folder: refusing to write through it (move it away, then run the "
                        "consumer again)"
                    ) from error
                raise
            os.close(fd)
            fd = child
        return fd

    def _write_bytes(self, parent: int, leaf: str, content: bytes) -> None:
        temp = self._temp_name()
        fd = os.open(temp, _NEW_FILE_FLAGS, _FILE_MODE, dir_fd=self._staging_fd)
        try:
            view = memoryview(content)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        except BaseException:
            os.close(fd)
            _unlink_quietly(temp, self._staging_fd)
            raise
        os.close(fd)
        try:
            os.rename(temp, leaf, src_dir_fd=self._staging_fd, dst_dir_fd=parent)
        except BaseException:
            _unlink_quietly(temp, self._staging_fd)
            raise

    def _close_dirs(self) -> None:
        for fd in self._dirs.values():
            with contextlib.suppress(OSError):
                os.close(fd)
        self._dirs.clear()

    @staticmethod
    def _temp_name() -> str:
        return f"{uuid.uuid4().hex}.part"

    def _units(self, size: int) -> int:
        return min(self._budget_units, max(1, size // _UNIT_BYTES))

    def _release(self, units: int) -> None:
        for _ in range(units):
            self._inflight.release()


def _open_child_dir(parent: int, name: str) -> int:
    try:
        return os.open(name, _DIR_FLAGS, dir_fd=parent)
    except FileNotFoundError:
        pass
    try:
        os.mkdir(name, _DIR_MODE, dir_fd=parent)
    except FileExistsError:
        pass  # created meanwhile (or a link appeared: the open below refuses it)
    else:
        os.fsync(parent)  # the new entry is durable before anything is recorded under it
    return os.open(name, _DIR_FLAGS, dir_fd=parent)


def _unlink_quietly(name: str, dir_fd: int) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(name, dir_fd=dir_fd)
