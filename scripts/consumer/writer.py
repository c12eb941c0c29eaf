"""Atomic, durable, link-safe file writes: a file is either absent or complete and on disk.

Each file is written to a temporary file in the consumer's staging directory (on the same
filesystem as the output, so ``rename(2)`` is atomic), made durable, renamed into place, and the
directory entries are made durable before :meth:`DurableWriter.flush` returns. Only after
``flush`` may the caller record the files as delivered, and only those ``flush`` returns: it
answers with the targets it made durable in this batch, or raises (a
:class:`~scripts.consumer.hostfaults.HostFaultError` for a host fault) and forgets the whole
batch, so nothing of a failed batch can be recorded by a later call.

**Two barriers, one guarantee.** Where Linux ``syncfs(2)`` is available and reports write-back
errors (kernel 5.8 or later), a batch costs two file-system barriers instead of one ``fsync``
per file: the batch's temporary files are written (not ``fsync``'d), one ``syncfs`` makes their
data durable, they are renamed into place, and a second ``syncfs`` makes the new directory
entries (and any new folder) durable. ``syncfs`` writes back every dirty page and inode of the
file system and commits its journal (ext4, xfs; what this relies on), so after it returns every
file written before it is durable. The rename still comes after the data is durable, so a file
in the output folder is complete even after a power loss. Elsewhere (or with
``barrier="fsync"``), each file is ``fsync``'d before its rename and each changed folder is
``fsync``'d in :meth:`flush`, as before.

**The host is untrusted.** Every local ``OSError`` with a host cause (no space, no inodes,
read-only, permission, cross-device, I/O) leaves this module as a classified
:class:`~scripts.consumer.hostfaults.HostFaultError` naming the path.

**Link-safe.** Every path is walked relative to an open descriptor of the output directory, one
component at a time, with ``O_NOFOLLOW``: directories are created with ``mkdir(dir_fd=...)`` and
opened with ``O_DIRECTORY | O_NOFOLLOW``, and files are renamed with ``src_dir_fd``/``dst_dir_fd``.
A symbolic link (or a file) where a folder should be raises :class:`LinkInTheWayError`, whoever
put it there; a link that appears after the walk changes nothing, since the writer holds the
descriptor of the real folder, and ``rename`` replaces a link at the leaf instead of following it.

Small files are written by a thread pool (per-file ``fsync``: ext4/xfs commit concurrent
``fsync`` calls together, so a batch costs a few journal commits instead of one per file; with
the ``syncfs`` barrier the pool takes them in groups of :data:`GROUP_FILES` and overlaps the file
creation with the unpacking thread). Large files stream from the caller's thread with bounded
memory. Queued contents are bounded by ``max_inflight_bytes``.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import itertools
import os
import platform
import stat
import sys
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Literal

from scripts.consumer.hostfaults import FaultKind, HostFaultError, host_operation
from scripts.consumer.paths import UnsafePathError

_FILE_MODE = 0o644
_DIR_MODE = 0o755
DEFAULT_THREADS = 16
DEFAULT_MAX_INFLIGHT_BYTES = 64 * 1024 * 1024
#: while a writer is open, the interpreter hands the GIL over at least this often (default 5 ms):
#: the unpacking thread gets it back soon after each of its own system calls instead of waiting
#: behind the pool's threads (measured: +17 % files/s on the 2-core machine, see performance.md)
SWITCH_INTERVAL_SECONDS = 0.0005
#: with syncfs, small files go to the pool in groups (fewer hand-overs between threads)
GROUP_FILES = 8
GROUP_BYTES = 1024 * 1024
_INODES_PER_FILE = 2  # the temporary file and, for a new folder, its directory
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_NEW_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_SYNCFS_REPORTS_ERRORS = (5, 8)  # before Linux 5.8, syncfs(2) returned 0 after a write-back error

Barrier = Literal["syncfs", "fsync"]


def _load_syncfs() -> Callable[[int], None] | None:
    """Linux ``syncfs(2)`` through libc, or None where it is missing or does not report errors."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        major, minor = (int(part) for part in platform.release().split(".")[:2])
        function = ctypes.CDLL(None, use_errno=True).syncfs
    except (ValueError, OSError, AttributeError):
        return None
    if (major, minor) < _SYNCFS_REPORTS_ERRORS:
        return None
    function.argtypes = [ctypes.c_int]
    function.restype = ctypes.c_int

    def syncfs(fd: int) -> None:
        if function(fd) != 0:  # ctypes releases the GIL for the call
            number = ctypes.get_errno()
            raise OSError(number, os.strerror(number))

    return syncfs


#: ``syncfs(fd)``: flush the whole file system holding ``fd``; None where it is not available.
#: Module-level so that tests can fail it like any other call of the writer.
SYNCFS: Callable[[int], None] | None = _load_syncfs()


class LinkInTheWayError(UnsafePathError):
    """A symbolic link or a non-folder sits where the output needs a folder (or a file)."""


class DurableWriter:
    """Writes files under ``output_dir`` atomically and durably; :meth:`flush` is the barrier.

    Targets are ``/``-separated paths relative to ``output_dir`` (see :mod:`.paths`).
    ``barrier``: ``"syncfs"`` (two file-system barriers per batch) or ``"fsync"`` (one per file
    and one per changed folder); by default ``syncfs`` where :data:`SYNCFS` is available.
    """

    def __init__(
        self,
        output_dir: Path,
        staging: str,
        threads: int = DEFAULT_THREADS,
        max_inflight_bytes: int = DEFAULT_MAX_INFLIGHT_BYTES,
        barrier: Barrier | None = None,
    ) -> None:
        self._output_dir = output_dir
        self._staging_path = output_dir / staging
        syncfs = SYNCFS
        if barrier == "syncfs" and syncfs is None:
            raise ValueError("syncfs(2) is not available here (Linux 5.8 or later)")
        self._syncfs = syncfs if barrier != "fsync" else None
        with host_operation(output_dir):
            output_dir.mkdir(parents=True, exist_ok=True)
            self._root_fd = os.open(output_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        self._dirs: dict[str, int] = {}  # folder (relative) -> open descriptor, until flush
        with host_operation(self._staging_path):
            self._staging_fd = self._open_dir(staging)
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="writer")
        self._max_inflight_bytes = max_inflight_bytes
        self._inflight: deque[tuple[Future[None], int]] = deque()  # oldest first, with its size
        self._inflight_bytes = 0
        self._futures: list[Future[None]] = []
        self._targets: list[str] = []  # written (or adopted) in this batch, durable after flush
        self._renames: list[tuple[str, int, str]] = []  # syncfs: (temp, parent fd, leaf) to rename
        self._group: list[tuple[str, bytes]] = []  # syncfs: temporary files not yet handed over
        self._group_bytes = 0
        self._unflushed_bytes = 0
        self._room = (0, 0)  # bytes and inodes known free without asking the file system again
        self._temp_prefix = f"{uuid.uuid4().hex}-"
        self._temp_counter = itertools.count()
        self._switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(min(self._switch_interval, SWITCH_INTERVAL_SECONDS))

    @property
    def output_dir(self) -> Path:
        return self._output_dir

    @property
    def barrier(self) -> Barrier:
        """How a batch is made durable: ``"syncfs"`` or ``"fsync"`` (see the module's doc)."""
        return "fsync" if self._syncfs is None else "syncfs"

    def close(self) -> None:
        try:
            self._pool.shutdown(wait=True)
            self._discard_renames()
            self._close_dirs()
            os.close(self._staging_fd)
            os.close(self._root_fd)
        finally:
            sys.setswitchinterval(self._switch_interval)

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
        (less what is written but not flushed) and a free inode, on the output file system.

        The file system is asked once per batch and again whenever half of the room it reported
        is used up, so near a full disk every member is checked against a fresh answer."""
        room_bytes, room_inodes = self._room
        if size <= room_bytes and room_inodes >= _INODES_PER_FILE:
            self._room = (room_bytes - size, room_inodes - _INODES_PER_FILE)
            return
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
        inodes = info.f_favail if info.f_files > 0 else sys.maxsize
        self._room = ((free - size) // 2, (inodes - _INODES_PER_FILE) // 2)

    def existing(self, relative: str) -> int | None:
        """Size of the regular file at ``relative``, None if absent; a link there is refused."""
        with host_operation(f"{self._output_dir}/{relative}"):
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
        with host_operation(f"{self._output_dir}/{relative}"):
            parent, leaf = self._parent(relative)
            try:
                return os.open(leaf, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent)
            except OSError as error:
                if error.errno == errno.ELOOP:
                    raise LinkInTheWayError(f"{relative} in the output folder is a link") from error
                raise

    def adopt(self, relative: str) -> None:
        """Take the file already at ``relative`` into this batch: it is made durable with the
        batch (``fsync``'d now, and its folder with the batch's; or by the batch's ``syncfs``),
        so it is as durable as a written one once :meth:`flush` returns."""
        with host_operation(f"{self._output_dir}/{relative}"):
            fd = self.open_existing(relative)
            try:
                if self._syncfs is None:
                    os.fsync(fd)
            finally:
                os.close(fd)
        self._targets.append(relative)

    def submit(self, relative: str, content: bytes) -> None:
        """Queue ``content`` to be written to ``relative`` (durable only after :meth:`flush`)."""
        with host_operation(f"{self._output_dir}/{relative}"):
            parent, leaf = self._parent(relative)
        size = len(content)
        self._unflushed_bytes += size
        self._targets.append(relative)
        if self._syncfs is None:
            self._wait_for_room(size)
            self._queue(self._pool.submit(self._write_bytes, parent, leaf, content), size)
            return
        temp = self._temp_name()
        self._renames.append((temp, parent, leaf))
        self._group.append((temp, content))
        self._group_bytes += size
        if len(self._group) >= GROUP_FILES or self._group_bytes >= GROUP_BYTES:
            self._hand_over()

    def write_stream(self, relative: str, chunks: Iterable[bytes]) -> None:
        """Write ``chunks`` to ``relative`` now, in this thread (durable only after :meth:`flush`).

        If ``chunks`` raises (e.g. a failed checksum), the temporary file is removed and the
        target is left untouched.
        """
        with host_operation(f"{self._output_dir}/{relative}"):
            parent, leaf = self._parent(relative)
            temp = self._temp_name()
            fd = os.open(temp, _NEW_FILE_FLAGS, _FILE_MODE, dir_fd=self._staging_fd)
            try:
                with os.fdopen(fd, "wb", closefd=True) as handle:
                    for chunk in chunks:
                        handle.write(chunk)
                        self._unflushed_bytes += len(chunk)
                    handle.flush()
                    if self._syncfs is None:
                        os.fsync(handle.fileno())
                if self._syncfs is None:
                    os.rename(temp, leaf, src_dir_fd=self._staging_fd, dst_dir_fd=parent)
            except BaseException:
                _unlink_quietly(temp, self._staging_fd)
                raise
        if self._syncfs is not None:
            self._renames.append((temp, parent, leaf))
        self._targets.append(relative)

    def flush(self) -> frozenset[str]:
        """Wait for queued writes, make the batch durable (files, their renames and every changed
        directory), and return the targets made durable in this batch. On any failure the whole
        batch is forgotten (its targets are never returned, by this call or a later one) and the
        error is raised."""
        self._hand_over()
        futures, self._futures = self._futures, []
        targets, self._targets = self._targets, []
        try:
            errors = [error for error in (f.exception() for f in futures) if error is not None]
            with host_operation(self._output_dir):
                if errors:
                    raise errors[0]
                if self._syncfs is None:
                    for fd in self._dirs.values():
                        os.fsync(fd)
                elif targets:
                    self._syncfs(self._root_fd)  # the data of every temporary file
                    self._rename_all()
                    self._syncfs(self._root_fd)  # the new entries, and any new folder
        finally:
            self._end_batch()
        return frozenset(targets)

    def abandon(self) -> None:
        """Forget the batch without recording anything: wait for queued writes (whatever they
        did), drop their targets. What they put on disk is adopted by the next run."""
        self._group, self._group_bytes = [], 0
        futures, self._futures, self._targets = self._futures, [], []
        for future in futures:
            future.exception()
        self._end_batch()

    # ------------------------------------------------------------------------------- internals

    def _end_batch(self) -> None:
        """After a batch's writes have all finished: drop its state, whatever the outcome."""
        self._discard_renames()
        self._close_dirs()
        self._inflight.clear()
        self._inflight_bytes = 0
        self._unflushed_bytes = 0
        self._room = (0, 0)

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
                child = _open_child_dir(fd, part, sync_parent=self._syncfs is None)
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
            _write_all(fd, content)
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

    def _write_temps(self, group: list[tuple[str, bytes]]) -> None:
        """The ``syncfs`` path: the temporary files only; :meth:`flush` syncs and renames them."""
        staging = self._staging_fd
        for temp, content in group:
            fd = os.open(temp, _NEW_FILE_FLAGS, _FILE_MODE, dir_fd=staging)
            try:
                _write_all(fd, content)
            finally:
                os.close(fd)

    def _rename_all(self) -> None:
        renames, self._renames = self._renames, []
        for position, (temp, parent, leaf) in enumerate(renames):
            try:
                os.rename(temp, leaf, src_dir_fd=self._staging_fd, dst_dir_fd=parent)
            except BaseException:
                self._renames = renames[position:]  # removed by _discard_renames
                raise

    def _discard_renames(self) -> None:
        """Remove the temporary files of a batch that will not be renamed (best effort: the
        next run's :meth:`discard_staging` removes whatever is left)."""
        renames, self._renames = self._renames, []
        for temp, _parent, _leaf in renames:
            with contextlib.suppress(OSError):
                os.unlink(temp, dir_fd=self._staging_fd)

    def _close_dirs(self) -> None:
        for fd in self._dirs.values():
            with contextlib.suppress(OSError):
                os.close(fd)
        self._dirs.clear()

    def _temp_name(self) -> str:
        return f"{self._temp_prefix}{next(self._temp_counter)}.part"

    def _hand_over(self) -> None:
        """Give the pool the group of temporary files collected so far (the ``syncfs`` path)."""
        group, size = self._group, self._group_bytes
        if not group:
            return
        self._group, self._group_bytes = [], 0
        self._wait_for_room(size)
        self._queue(self._pool.submit(self._write_temps, group), size)

    def _queue(self, future: Future[None], size: int) -> None:
        self._inflight.append((future, size))
        self._inflight_bytes += size
        self._futures.append(future)

    def _wait_for_room(self, size: int) -> None:
        """Bound the memory of queued contents: forget finished writes, and wait for the oldest
        ones while ``size`` more would exceed the budget (one file alone may exceed it)."""
        inflight = self._inflight
        while inflight and (
            inflight[0][0].done() or self._inflight_bytes + size > self._max_inflight_bytes
        ):
            future, queued = inflight.popleft()
            future.exception()  # waits; its error (if any) is raised by flush
            self._inflight_bytes -= queued


def _write_all(fd: int, content: bytes) -> None:
    view = memoryview(content)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _open_child_dir(parent: int, name: str, *, sync_parent: bool) -> int:
    try:
        return os.open(name, _DIR_FLAGS, dir_fd=parent)
    except FileNotFoundError:
        pass
    try:
        os.mkdir(name, _DIR_MODE, dir_fd=parent)
    except FileExistsError:
        pass  # created meanwhile (or a link appeared: the open below refuses it)
    else:
        if sync_parent:  # the new entry is durable before anything is recorded under it
            os.fsync(parent)  # (with syncfs: the batch's second barrier makes it durable)
    return os.open(name, _DIR_FLAGS, dir_fd=parent)


def _unlink_quietly(name: str, dir_fd: int) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(name, dir_fd=dir_fd)
