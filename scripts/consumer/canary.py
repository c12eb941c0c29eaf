"""Canary members: files the scheduled canary put (issue 22) under the reserved Landing prefix.

A member whose key satisfies :func:`pipeline.contract.prefixes.is_canary_key` is verified like any
other (size and SHA-256), recorded in the ledger (so it is never handled twice) and counted apart,
with its end-to-end latency (landing event time to handled), but it is **not** written to the
output folder the downstream reads. With ``--canary-dir DIR`` it is kept in ``DIR`` instead, under
the same relative name it would have had in the output folder, written atomically (temporary file
in its folder, ``fsync``, ``rename``, ``fsync`` of the folder; never through a link).
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterable
from pathlib import Path

from pipeline.contract.prefixes import is_canary_key
from scripts.consumer.hostfaults import host_operation

__all__ = ["CanaryFolder", "is_canary_key"]

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC


class CanaryFolder:
    """Where canary files are kept (``--canary-dir``)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def keep(self, relative: str, chunks: Iterable[bytes]) -> None:
        """Write ``chunks`` to ``root/relative`` atomically and durably; if ``chunks`` raises (a
        failed checksum) nothing is left behind."""
        target = self.root / relative
        folder = target.parent
        temp = f".{target.name}.{uuid.uuid4().hex}.tmp"
        with host_operation(target):
            folder.mkdir(parents=True, exist_ok=True)
            dir_fd = os.open(folder, _DIR_FLAGS)
            try:
                flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
                fd = os.open(temp, flags, 0o644, dir_fd=dir_fd)
                try:
                    with os.fdopen(fd, "wb", closefd=True) as handle:
                        for chunk in chunks:
                            handle.write(chunk)
                        handle.flush()
                        os.fsync(handle.fileno())
                    os.rename(temp, target.name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
                except BaseException:
                    with contextlib.suppress(OSError):
                        os.unlink(temp, dir_fd=dir_fd)
                    raise
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
