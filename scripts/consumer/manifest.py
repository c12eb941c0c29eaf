"""Hand-off to the downstream system: one manifest per delivered bundle, written atomically.

A manifest is a JSON-lines file, one line per file the bundle made durable in the output folder
(path relative to the output folder, size, SHA-256, source key, version id, landing event time).
It is written *after* the bundle's files are durable and recorded, and *before* the bundle is
marked done and deleted from Distribution, so a crash anywhere leaves either no manifest (the
bundle is still in Distribution: the next run writes it) or a complete one.

Its name, ``<staged UTC time>-<bundle SHA-256 prefix>.jsonl``, sorts in staging order and is the
same when the same bundle is delivered again after a crash (same Distribution object: same staging
time, same content), so a re-run replaces it with identical content and never adds a second one.

Every file here is written by :func:`write_atomically`: a temporary file in the same folder,
``fsync``, ``rename``, ``fsync`` of the folder. A reader never sees a partial manifest; temporary
files start with ``.`` and end in ``.tmp`` (downstream jobs skip them: they take ``*.jsonl``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from scripts.consumer.faults import crash_point
from scripts.consumer.hostfaults import host_operation

if TYPE_CHECKING:
    from scripts.consumer.drain import DurableMember, ListedBundle
    from scripts.consumer.hook import HookRunner

LOG = logging.getLogger("aggregator.consumer")

MANIFEST_SUFFIX = ".jsonl"
#: how much of the bundle's SHA-256 the name carries (64 bits: unique among bundles in practice)
_SHA_PREFIX = 16


@dataclass(frozen=True, slots=True)
class ManifestEntry:
    """One durable file of a bundle, as the downstream system reads it."""

    path: str  # relative to the output folder, ``/``-separated
    size: int
    sha256: str
    key: str  # the source (Landing) key
    version_id: str | None
    event_time: str  # the landing event time (ISO 8601), from the bundle member's metadata

    def to_json(self) -> str:
        return json.dumps(
            {
                "path": self.path,
                "size": self.size,
                "sha256": self.sha256,
                "key": self.key,
                "version_id": self.version_id,
                "event_time": self.event_time,
            },
            ensure_ascii=False,
            separators=(",", ":"),
        )


def manifest_name(staged_at: float, bundle_sha256: str) -> str:
    """``20260101T000000Z-0123456789abcdef.jsonl``: sortable, and the same for a re-run."""
    stamp = datetime.fromtimestamp(staged_at, UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{bundle_sha256[:_SHA_PREFIX]}{MANIFEST_SUFFIX}"


def render(entries: Sequence[ManifestEntry]) -> bytes:
    """The manifest's bytes: one JSON object per line, in bundle order."""
    return "".join(entry.to_json() + "\n" for entry in entries).encode("utf-8")


def write_manifest(
    folder: Path, staged_at: float, bundle_sha256: str, entries: Sequence[ManifestEntry]
) -> Path:
    """Write the bundle's manifest atomically into ``folder``; returns its path."""
    path = folder / manifest_name(staged_at, bundle_sha256)
    write_atomically(path, render(entries), crash_step="manifest-synced")
    return path


def write_atomically(path: Path, data: bytes, crash_step: str = "") -> None:
    """``path`` holds ``data`` entirely or is left as it was: temporary file in the same folder,
    ``fsync``, ``rename``, ``fsync`` of the folder (a host fault is raised classified)."""
    folder = path.parent
    temp = folder / f".{path.name}.{uuid.uuid4().hex}.tmp"
    with host_operation(path):
        folder.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
            finally:
                os.close(fd)
            if crash_step:
                crash_point(crash_step)  # the crash tests: written and synced, not yet renamed
            temp.replace(path)
        except BaseException:
            with contextlib.suppress(OSError):
                temp.unlink()
            raise
        _fsync_dir(folder)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class ManifestObserver(Protocol):
    def manifest_written(self) -> None: ...


class ManifestHandoff:
    """The drain's hand-off (:class:`scripts.consumer.drain.Handoff`): the manifest of each
    delivered bundle into ``folder``, then the ``--on-bundle`` hook, if any."""

    def __init__(
        self,
        folder: Path,
        hook: HookRunner | None = None,
        observer: ManifestObserver | None = None,
    ) -> None:
        self.folder, self._hook, self._observer = folder, hook, observer

    def pass_started(self) -> None:
        """Retry the hooks that failed before (in an earlier pass or an earlier process)."""
        if self._hook is not None:
            self._hook.retry_pending()

    def bundle_durable(
        self, listed: ListedBundle, bundle_sha256: str, members: Sequence[DurableMember]
    ) -> Path | None:
        """Write the manifest of a bundle whose files are all durable and recorded (none for a
        bundle that delivered no file of its own); then run the hook."""
        entries = [entry_of(member) for member in members if not member.canary]
        if not entries:
            return None
        path = self.folder / manifest_name(listed.last_modified, bundle_sha256)
        if self._hook is not None:
            self._hook.prepare(path)  # first: a crash after the manifest still runs the hook
        write_atomically(path, render(entries), crash_step="manifest-synced")
        if self._observer is not None:
            self._observer.manifest_written()
        LOG.info("manifest written", extra={"manifest": str(path), "files": len(entries)})
        if self._hook is not None:
            self._hook.run(path)  # a failure is reported and stays pending; delivery goes on
        return path


def entry_of(member: DurableMember) -> ManifestEntry:
    delivered = member.delivered
    return ManifestEntry(
        path=delivered.path,
        size=delivered.size,
        sha256=delivered.sha256,
        key=delivered.key,
        version_id=delivered.version_id,
        event_time=member.event_time,
    )
