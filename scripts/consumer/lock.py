"""One consumer per output folder: an advisory lock held for the life of the process.

``fcntl.flock`` on a file in the consumer's state folder (and one next to a ``--ledger`` kept
elsewhere). The kernel releases the lock when the process ends, however it ends, so a crash never
leaves a stale lock; a second consumer on the same folder gets :class:`ConsumerLockedError` at
once and touches nothing.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from scripts.consumer.hostfaults import host_operation


class ConsumerLockedError(Exception):
    """Another consumer holds the lock of this output folder (or ledger)."""


@contextlib.contextmanager
def exclusive(paths: list[Path]) -> Iterator[None]:
    """Hold an exclusive lock on each of ``paths`` (created if needed) until the block ends."""
    with contextlib.ExitStack() as stack:
        for path in dict.fromkeys(paths):  # one lock file once, order kept
            stack.enter_context(_locked(path))
        yield


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with host_operation(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode("ascii", "replace").strip() or "unknown"
            raise ConsumerLockedError(
                f"another consumer (pid {holder}) is running on {path.parent}: "
                "let it finish, or stop it first"
            ) from None
        with host_operation(path):
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        yield
    finally:
        os.close(fd)
