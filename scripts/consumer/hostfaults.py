"""The host is untrusted too: every file-system and ledger failure becomes one classified outcome.

A full disk, exhausted inodes, a folder that became read-only, a permission taken away, a rename
across file systems, an I/O error, a damaged or locked ledger: each is raised as one
:class:`HostFaultError` that names the path, the cause and what the operator does next, and says
whether it may clear by itself (*transient*: the daemon retries with backoff, ``--once`` exits
75) or needs a person (*permanent*: the consumer stops, exit 1). The bundle being unpacked is
kept in Distribution either way, and nothing is recorded in the ledger for a write that failed.

The one table of kinds is :data:`KINDS`; :func:`from_os_error` and :func:`from_sqlite_error`
map what the kernel and SQLite say onto it, and :func:`host_operation` wraps a block of local
file-system or ledger calls.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from pipeline.errors import AggregatorError


class FaultKind(StrEnum):
    NO_SPACE = "no space left"
    NO_INODES = "no inodes left"
    READ_ONLY = "read-only file system"
    PERMISSION = "permission denied"
    CROSS_DEVICE = "cross-device rename"
    IO_ERROR = "I/O error"
    LEDGER_CORRUPT = "ledger is not a valid SQLite database"
    LEDGER_LOCKED = "ledger is locked by another process"


@dataclass(frozen=True, slots=True)
class FaultRule:
    transient: bool
    fix: str


#: the one table: whether each kind may clear by itself, and what the operator does about it
KINDS: dict[FaultKind, FaultRule] = {
    FaultKind.NO_SPACE: FaultRule(
        True, "free space on that file system; the consumer retries and nothing is lost"
    ),
    FaultKind.NO_INODES: FaultRule(
        True,
        "delete or move away files on that file system (it has no inodes left); "
        "the consumer retries and nothing is lost",
    ),
    FaultKind.READ_ONLY: FaultRule(
        False, "remount it read-write (check the kernel log for why it became read-only)"
    ),
    FaultKind.PERMISSION: FaultRule(
        False, "give the consumer's user write access to it, or choose another --output/--ledger"
    ),
    FaultKind.CROSS_DEVICE: FaultRule(
        False,
        "keep the output folder and its .~consumer state folder on one file system "
        "(no mount point inside --output)",
    ),
    FaultKind.IO_ERROR: FaultRule(
        False, "check the disk (kernel log, SMART) before running the consumer again"
    ),
    FaultKind.LEDGER_CORRUPT: FaultRule(
        False,
        "restore the ledger from a backup, or move it away to start a new one (files on disk "
        "are then recognised by SHA-256; files your downstream already moved away would be "
        "delivered again)",
    ),
    FaultKind.LEDGER_LOCKED: FaultRule(
        True, "stop the other process that holds it open (sqlite3 shell, backup tool)"
    ),
}

_ERRNO_KINDS: dict[int, FaultKind] = {
    errno.ENOSPC: FaultKind.NO_SPACE,
    errno.EDQUOT: FaultKind.NO_SPACE,
    errno.EROFS: FaultKind.READ_ONLY,
    errno.EACCES: FaultKind.PERMISSION,
    errno.EPERM: FaultKind.PERMISSION,
    errno.EXDEV: FaultKind.CROSS_DEVICE,
    errno.EIO: FaultKind.IO_ERROR,
}

# SQLite primary result codes (the low byte of an extended code), from sqlite3.h
_SQLITE_PERM, _SQLITE_BUSY, _SQLITE_LOCKED, _SQLITE_READONLY = 3, 5, 6, 8
_SQLITE_IOERR, _SQLITE_CORRUPT, _SQLITE_FULL, _SQLITE_CANTOPEN, _SQLITE_NOTADB = 10, 11, 13, 14, 26
_SQLITE_KINDS: dict[int, FaultKind] = {
    _SQLITE_PERM: FaultKind.PERMISSION,
    _SQLITE_BUSY: FaultKind.LEDGER_LOCKED,
    _SQLITE_LOCKED: FaultKind.LEDGER_LOCKED,
    _SQLITE_READONLY: FaultKind.READ_ONLY,
    _SQLITE_IOERR: FaultKind.IO_ERROR,
    _SQLITE_CORRUPT: FaultKind.LEDGER_CORRUPT,
    _SQLITE_FULL: FaultKind.NO_SPACE,
    _SQLITE_CANTOPEN: FaultKind.PERMISSION,
    _SQLITE_NOTADB: FaultKind.LEDGER_CORRUPT,
}


class HostFaultError(AggregatorError):
    """A classified failure of the local host: the pass stops, the bundle stays in Distribution."""

    def __init__(self, kind: FaultKind, path: Path | str, detail: str) -> None:
        self.kind = kind
        self.path = str(path)
        self.detail = detail
        super().__init__(f"{self.path}: {kind.value} ({detail}): {self.rule.fix}")

    @property
    def rule(self) -> FaultRule:
        return KINDS[self.kind]

    @property
    def transient(self) -> bool:
        return self.rule.transient


def from_os_error(error: OSError, path: Path | str) -> HostFaultError | None:
    """The classified fault for ``error`` on ``path``; None when the errno is not a host fault."""
    kind = _ERRNO_KINDS.get(error.errno or 0)
    if kind is None:
        return None
    named = error.filename
    where = named if isinstance(named, str) and Path(named).is_absolute() else path
    if kind is FaultKind.NO_SPACE and _inodes_exhausted(where, path):
        kind = FaultKind.NO_INODES
    return HostFaultError(kind, where, f"{type(error).__name__}: {error.strerror or error}")


def from_sqlite_error(error: sqlite3.Error, path: Path | str) -> HostFaultError:
    """The classified fault for an SQLite error on the ledger at ``path`` (every one is a fault)."""
    code = getattr(error, "sqlite_errorcode", None)
    kind = _SQLITE_KINDS.get(code & 0xFF) if isinstance(code, int) else None
    if kind is None:
        kind = _kind_from_message(str(error))
    if kind is FaultKind.NO_SPACE and _inodes_exhausted(path, path):
        kind = FaultKind.NO_INODES
    return HostFaultError(kind, path, f"SQLite: {error}")


def _kind_from_message(message: str) -> FaultKind:
    """For errors raised without a result code (older SQLite, or the module's own checks)."""
    text = message.lower()
    if "locked" in text or "busy" in text:
        return FaultKind.LEDGER_LOCKED
    if "full" in text:
        return FaultKind.NO_SPACE
    if "readonly" in text or "read-only" in text:
        return FaultKind.READ_ONLY
    if "i/o" in text:
        return FaultKind.IO_ERROR
    return FaultKind.LEDGER_CORRUPT


def _inodes_exhausted(*candidates: Path | str) -> bool:
    """True when the file system of the first existing candidate has no free inodes left."""
    for candidate in candidates:
        probe = Path(candidate)
        while not probe.exists() and probe != probe.parent:
            probe = probe.parent
        with contextlib.suppress(OSError):
            info = os.statvfs(probe)
            return info.f_files > 0 and info.f_favail == 0
    return False


@contextlib.contextmanager
def host_operation(path: Path | str) -> Iterator[None]:
    """Turn host-fault ``OSError``s and every ``sqlite3.Error`` inside the block into a
    :class:`HostFaultError` about ``path``; other errors pass through unchanged."""
    try:
        yield
    except HostFaultError:
        raise
    except sqlite3.Error as error:
        raise from_sqlite_error(error, path) from error
    except OSError as error:
        fault = from_os_error(error, path)
        if fault is None:
            raise
        raise fault from error
