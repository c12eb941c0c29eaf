"""The consumer's pre-flight check: can this host take files at all, before anything is touched?

Run at the start of every pass: the output folder, the consumer's staging folder inside it and the
ledger's folder must be writable (a probe file is created, ``fsync``'d and removed, which is what
the kernel really answers, whatever the mode bits say), the staging folder must be on the output's
file system (files are renamed from one into the other), and the file systems must have free
bytes and free inodes. The first problem is raised as a classified
:class:`~scripts.consumer.hostfaults.HostFaultError`; nothing has been downloaded or recorded.
"""

from __future__ import annotations

import errno
import os
import uuid
from pathlib import Path

from scripts.consumer.hostfaults import FaultKind, HostFaultError, host_operation

#: below this many free bytes a file system is treated as full (the ledger's WAL needs room too)
MIN_FREE_BYTES = 1024 * 1024
#: below this many free inodes a file system is treated as out of inodes
MIN_FREE_INODES = 16


def check(output_dir: Path, staging_dir: Path, ledger_path: Path) -> None:
    """Raise the first host fault that would stop a pass; return quietly when there is none."""
    for folder in (output_dir, staging_dir, ledger_path.parent):
        with host_operation(folder):
            folder.mkdir(parents=True, exist_ok=True)
        probe_write(folder)
        check_room(folder)
    if staging_dir.stat().st_dev != output_dir.stat().st_dev:
        raise HostFaultError(
            FaultKind.CROSS_DEVICE,
            staging_dir,
            f"{errno.errorcode[errno.EXDEV]}: not on the file system of {output_dir}",
        )


def probe_write(folder: Path) -> None:
    """Create, ``fsync`` and remove a small file in ``folder``; a host fault is raised."""
    probe = folder / f".probe-{uuid.uuid4().hex}"
    with host_operation(folder):
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            os.write(fd, b"probe")
            os.fsync(fd)
        finally:
            os.close(fd)
            probe.unlink(missing_ok=True)


def check_room(folder: Path) -> None:
    """Raise when the file system of ``folder`` has (almost) no free bytes or inodes left."""
    with host_operation(folder):
        info = os.statvfs(folder)
    free = info.f_bavail * info.f_frsize
    if free < MIN_FREE_BYTES:
        raise HostFaultError(
            FaultKind.NO_SPACE, folder, f"{free:,} bytes free, at least {MIN_FREE_BYTES:,} needed"
        )
    # f_files == 0: the file system does not count inodes (btrfs, some network file systems)
    if info.f_files > 0 and info.f_favail < MIN_FREE_INODES:
        raise HostFaultError(
            FaultKind.NO_INODES,
            folder,
            f"{info.f_favail} inodes free, at least {MIN_FREE_INODES} needed",
        )
