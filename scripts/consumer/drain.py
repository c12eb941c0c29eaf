"""One pass over Distribution: download, verify, unpack, record, delete — oldest bundle first.

Only ``.gz`` keys under the bundle prefix are bundles; other keys are skipped and counted, never
downloaded or deleted. Per bundle, in this order (each step is crash-safe, see docs/operations.md):

1. stream the bundle to a temporary file and verify its SHA-256 (:mod:`.download`; the next
   bundle downloads while this one is unpacked, :mod:`.prefetch`); a bundle that fails is
   *rejected*: reported, remembered, never unpacked, never deleted;
2. if the ledger already has this bundle content as ``done`` (a duplicate or replayed bundle),
   skip to 5;
3. mark it ``in_progress``; unpack with :func:`pipeline.bundle.read_bundle`, verifying every
   member's size and SHA-256; a ``(key, version)`` already in the ledger is a duplicate and is not
   written again; a file found on disk but not in the ledger (the run before was killed between
   rename and record) is adopted if its SHA-256 matches; any damage, an empty bundle or a link in
   the output folder rejects the bundle (the members verified before it stay recorded);
4. after each batch: flush (files and directories fsync'd), then record in the ledger exactly
   the files the writer confirmed durable in that batch; a batch whose flush fails is forgotten
   whole and never recorded (its files on disk are adopted by a later run); when all members are
   recorded, mark the bundle ``done``;
5. delete the bundle from Distribution.

A host fault (no space, no inodes, read-only, permission, cross-device, I/O error, a damaged or
locked ledger; :mod:`.hostfaults`) stops the pass at once: the bundle is kept, nothing of the
failed step is recorded, and the summary carries the classified fault. A pre-flight check
(:mod:`.preflight`) runs before anything is listed or downloaded.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from pipeline.bundle import (
    BundleIntegrityError,
    BundleMember,
    MemberMetadata,
    read_bundle,
    version_identity,
)
from pipeline.errors import NOT_FOUND_CODES
from scripts.consumer import preflight
from scripts.consumer.canary import CanaryFolder, is_canary_key
from scripts.consumer.download import BundleRejectedError
from scripts.consumer.faults import crash_point
from scripts.consumer.hostfaults import HostFaultError, from_os_error, host_operation
from scripts.consumer.ledger import DeliveredFile, Ledger
from scripts.consumer.paths import UnsafePathError, relative_name
from scripts.consumer.prefetch import Fetch, Prefetcher
from scripts.consumer.writer import DurableWriter
from scripts.session import error_code
from templates.config import BUNDLE_ROOT

LOG = logging.getLogger("aggregator.consumer")

STATE_DIR_NAME = ".~consumer"  # '~' never appears in a member name's folders: no key collides
#: the writer's temporary files, inside the state folder (so on the output's file system)
STAGING = f"{STATE_DIR_NAME}/tmp"  # noqa: S108 - a folder of ours inside the output
#: where bundles live in Distribution (the copier stages them there)
BUNDLE_PREFIX = BUNDLE_ROOT
#: only keys with this suffix are bundles; anything else under the prefix is skipped and counted
BUNDLE_SUFFIX = ".gz"
_HASH_CHUNK = 1024 * 1024


@dataclass(frozen=True, slots=True)
class DrainOptions:
    prefix: str = BUNDLE_PREFIX
    batch_files: int = 512
    batch_bytes: int = 64 * 1024 * 1024
    small_file_max: int = 1024 * 1024  # written by the thread pool; larger files stream
    threads: int = 16
    #: canary members (:mod:`.canary`) are kept here; None: verified and recorded, not kept
    canary_dir: Path | None = None


@dataclass(frozen=True, slots=True)
class ListedBundle:
    key: str
    etag: str
    size: int
    last_modified: float  # epoch seconds


@dataclass(frozen=True, slots=True)
class BundleProblem:
    key: str
    reason: str
    #: a rejection's class (the error that rejected it, e.g. ``bundle_integrity``; see
    #: :func:`rejection_kind`), the ``reason`` label of the rejected-bundles metric
    kind: str = ""


@dataclass(frozen=True, slots=True)
class HostProblem:
    """The host fault that stopped a pass (see :mod:`.hostfaults`)."""

    kind: str
    path: str
    message: str
    transient: bool

    @classmethod
    def of(cls, fault: HostFaultError) -> HostProblem:
        return cls(fault.kind.name.lower(), fault.path, str(fault), fault.transient)


@dataclass(frozen=True, slots=True)
class DrainSummary:
    bundles_listed: int = 0
    bundles_delivered: int = 0
    bundles_duplicate: int = 0
    bundles_skipped: int = 0  # objects under the prefix that are not bundles (never downloaded)
    files_written: int = 0
    files_duplicate: int = 0
    files_adopted: int = 0
    bytes_written: int = 0
    files_canary: int = 0  # canary members verified and recorded (never in the output folder)
    rejected: tuple[BundleProblem, ...] = ()
    failed: tuple[BundleProblem, ...] = ()
    undeleted: tuple[BundleProblem, ...] = ()  # delivered, but the delete was refused or failed
    host_fault: HostProblem | None = None  # the host fault that stopped this pass, if any
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """True when every bundle was delivered and deleted (none rejected, failed, left over)
        and no host fault stopped the pass."""
        return (
            not self.rejected and not self.failed and not self.undeleted and self.host_fault is None
        )

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["ok"] = self.ok
        data["counts"] = {
            "delivered": self.bundles_delivered,
            "duplicates": self.bundles_duplicate,
            "rejected": len(self.rejected),
            "skipped": self.bundles_skipped,
            "failed": len(self.failed),
        }
        return data


class Progress(Protocol):
    def start(self, bundles: int, total_bytes: int) -> None: ...
    def advance(self, bundles: int, files: int, size: int) -> None: ...


@dataclass(frozen=True, slots=True)
class DurableMember:
    """One member made durable and recorded (a canary: verified and recorded) in this pass."""

    delivered: DeliveredFile
    event_time: str  # the landing event time, from the member's metadata
    canary: bool = False


class DrainObserver(Protocol):
    """What a pass tells its observer (the metrics, :mod:`.metrics`); it never decides anything."""

    def listed(self, bundles: Sequence[ListedBundle]) -> None: ...
    def durable(self, members: Sequence[DurableMember], now: float) -> None: ...
    def rejected(self, problem: BundleProblem) -> None: ...


class Handoff(Protocol):
    """Told when every file of a bundle is durable and recorded, before the bundle is marked
    done and deleted (the manifests, :mod:`.manifest`); a host fault it raises stops the pass."""

    def bundle_durable(
        self, listed: ListedBundle, bundle_sha256: str, members: Sequence[DurableMember]
    ) -> object: ...


class _NoObserver:
    def listed(self, bundles: Sequence[ListedBundle]) -> None:
        pass

    def durable(self, members: Sequence[DurableMember], now: float) -> None:
        pass

    def rejected(self, problem: BundleProblem) -> None:
        pass


class ConflictError(Exception):
    """A (key, version) already delivered with different content: an upstream anomaly."""


@dataclass
class _Counters:
    delivered: int = 0
    duplicate_bundles: int = 0
    written: int = 0
    duplicate_files: int = 0
    adopted: int = 0
    size: int = 0
    canary: int = 0
    rejected: list[BundleProblem] = field(default_factory=list)
    failed: list[BundleProblem] = field(default_factory=list)
    host_fault: HostProblem | None = None
    undeleted: list[BundleProblem] = field(default_factory=list)
    observer: DrainObserver = field(default_factory=_NoObserver)
    handoff: Handoff | None = None


def state_dir(output_dir: Path) -> Path:
    """Where the consumer keeps its ledger and temporary files, inside the output directory."""
    return output_dir / STATE_DIR_NAME


def list_bundles(
    client: Any, bucket: str, prefix: str = "", page_size: int = 1000
) -> list[ListedBundle]:
    """Every object in Distribution under ``prefix``, oldest first (then by key)."""
    bundles, _skipped = list_candidates(client, bucket, prefix, page_size, suffix="")
    return bundles


def list_candidates(
    client: Any,
    bucket: str,
    prefix: str = BUNDLE_PREFIX,
    page_size: int = 1000,
    suffix: str = BUNDLE_SUFFIX,
) -> tuple[list[ListedBundle], int]:
    """The bundles under ``prefix`` ending in ``suffix``, oldest first, and how many other
    objects were skipped (never downloaded, never deleted)."""
    bundles: list[ListedBundle] = []
    skipped = 0
    paginator = client.get_paginator("list_objects_v2")
    pages = paginator.paginate(
        Bucket=bucket, Prefix=prefix, PaginationConfig={"PageSize": page_size}
    )
    for page in pages:
        for item in page.get("Contents", []):
            key = str(item["Key"])
            if key.endswith("/"):
                continue
            if not key.endswith(suffix):
                skipped += 1
                continue
            bundles.append(
                ListedBundle(
                    key=key,
                    etag=str(item.get("ETag", "")),
                    size=int(item.get("Size", 0)),
                    last_modified=item["LastModified"].timestamp(),
                )
            )
    return oldest_first(bundles), skipped


def oldest_first(bundles: list[ListedBundle]) -> list[ListedBundle]:
    """Oldest ``LastModified`` first; keys (which embed the timestamp) break ties."""
    return sorted(bundles, key=lambda b: (b.last_modified, b.key))


def drain(
    client: Any,
    bucket: str,
    output_dir: Path,
    ledger: Ledger,
    options: DrainOptions | None = None,
    progress: Progress | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    observer: DrainObserver | None = None,
    handoff: Handoff | None = None,
) -> DrainSummary:
    """Deliver every bundle currently in ``bucket`` into ``output_dir``, exactly once per file.

    A host fault (pre-flight or mid-pass) ends the pass; it is in the summary's ``host_fault``.
    ``observer`` hears what was listed, made durable and rejected (the metrics); ``handoff`` is
    given each delivered bundle's files (the manifests).
    """
    options = options or DrainOptions()
    started = time.monotonic()
    output_dir = output_dir.absolute()
    counters = _Counters(observer=observer or _NoObserver(), handoff=handoff)
    bundles: list[ListedBundle] = []
    skipped = 0
    try:
        preflight.check(output_dir, output_dir / STAGING, ledger.path)
        bundles, skipped = list_candidates(client, bucket, options.prefix)
        counters.observer.listed(bundles)
        _deliver_all(
            client, bucket, output_dir, bundles, ledger, options, progress, should_stop, counters
        )
    except HostFaultError as fault:
        counters.host_fault = HostProblem.of(fault)
        LOG.error(  # noqa: TRY400 - a classified outcome: the reason is the message, no traceback
            "host fault: pass stopped, the bundle in hand is kept in Distribution",
            extra={"kind": counters.host_fault.kind, "path": fault.path, "reason": str(fault)},
        )
    return DrainSummary(
        bundles_listed=len(bundles),
        bundles_delivered=counters.delivered,
        bundles_duplicate=counters.duplicate_bundles,
        bundles_skipped=skipped,
        files_written=counters.written,
        files_duplicate=counters.duplicate_files,
        files_adopted=counters.adopted,
        bytes_written=counters.size,
        files_canary=counters.canary,
        rejected=tuple(counters.rejected),
        failed=tuple(counters.failed),
        undeleted=tuple(counters.undeleted),
        host_fault=counters.host_fault,
        seconds=round(time.monotonic() - started, 3),
    )


def _deliver_all(
    client: Any,
    bucket: str,
    output_dir: Path,
    bundles: list[ListedBundle],
    ledger: Ledger,
    options: DrainOptions,
    progress: Progress | None,
    should_stop: Callable[[], bool],
    counters: _Counters,
) -> None:
    """The bundles in order, the next one downloading while this one unpacks; a host fault or a
    stop request ends the loop (raised, or a clean break)."""
    if progress is not None:
        progress.start(len(bundles), sum(b.size for b in bundles))
    tmp_dir = state_dir(output_dir) / "tmp"
    with DurableWriter(output_dir, STAGING, threads=options.threads) as writer:
        leftovers = writer.discard_staging()  # before any download writes into tmp_dir
        if leftovers:
            LOG.info("removed temporary files of an interrupted run", extra={"count": leftovers})
        with Prefetcher(client, bucket, tmp_dir) as prefetcher:
            for listed, fetch in _one_ahead(bundles, prefetcher, ledger):
                if should_stop():
                    break
                files_before = counters.written + counters.duplicate_files + counters.adopted
                try:
                    _deliver_one(
                        client,
                        bucket,
                        listed,
                        fetch,
                        ledger,
                        writer,
                        options,
                        counters,
                        should_stop,
                    )
                except StopRequestedError:
                    LOG.info("stopping: bundle left for the next run", extra={"bundle": listed.key})
                    break
                finally:
                    prefetcher.done_with(fetch)
                if progress is not None:
                    files_after = counters.written + counters.duplicate_files + counters.adopted
                    progress.advance(1, files_after - files_before, listed.size)


def _one_ahead(
    bundles: list[ListedBundle], prefetcher: Prefetcher, ledger: Ledger
) -> Iterator[tuple[ListedBundle, Fetch]]:
    """Each bundle with its download; the next bundle's download is already under way."""

    def start(listed: ListedBundle) -> Fetch:
        return prefetcher.fetch(listed.key, ledger.rejection(listed.key, listed.etag))

    upcoming = start(bundles[0]) if bundles else None
    for position, listed in enumerate(bundles):
        assert upcoming is not None
        current = upcoming
        upcoming = start(bundles[position + 1]) if position + 1 < len(bundles) else None
        yield listed, current


def _deliver_one(
    client: Any,
    bucket: str,
    listed: ListedBundle,
    fetch: Fetch,
    ledger: Ledger,
    writer: DurableWriter,
    options: DrainOptions,
    counters: _Counters,
    should_stop: Callable[[], bool],
) -> None:
    if fetch.rejection is not None:
        counters.rejected.append(BundleProblem(listed.key, fetch.rejection))
        LOG.error("bundle still rejected", extra={"bundle": listed.key, "reason": fetch.rejection})
        return
    try:
        try:
            bundle = fetch.result()  # downloaded (and verified) while the previous one unpacked
        except BundleRejectedError as error:
            _reject(ledger, listed, error, counters)
            return
        except OSError as error:  # writing the temporary copy: a host fault stops the pass
            fault = from_os_error(error, state_dir(writer.output_dir) / "tmp")
            if fault is not None:
                raise fault from error
            raise
        crash_point("verified")
        if ledger.bundle_state(bundle.sha256) != "done":
            ledger.begin_bundle(bundle.sha256, listed.key)
            crash_point("begun")
            unpack = _Unpack(listed.key, ledger, writer, options, counters, should_stop)
            try:
                with bundle.path.open("rb") as handle:
                    unpack.run(handle)
            except (BundleIntegrityError, ConflictError, UnsafePathError) as error:
                fault = _host_cause(error, bundle.path)
                if fault is not None:  # the local copy could not be read: not the bundle's fault
                    raise fault from error
                _reject(ledger, listed, error, counters)
                return
            if counters.handoff is not None:
                counters.handoff.bundle_durable(listed, bundle.sha256, unpack.announced())
            crash_point("unpacked")
            ledger.finish_bundle(bundle.sha256, unpack.written, unpack.duplicates)
            crash_point("finished")
            counters.delivered += 1
            LOG.info(
                "bundle delivered",
                extra={
                    "bundle": listed.key,
                    "files_written": unpack.written,
                    "duplicates": unpack.duplicates,
                },
            )
        else:
            counters.duplicate_bundles += 1
            LOG.info("bundle already delivered; deleting the copy", extra={"bundle": listed.key})
        _delete(client, bucket, listed, counters)
        crash_point("deleted")
    except ClientError as error:
        code = error_code(error)
        if code in NOT_FOUND_CODES:
            LOG.info("bundle vanished before it was read", extra={"bundle": listed.key})
            return
        _fail(listed, f"{code}: {error}", counters)
    except (BotoCoreError, OSError) as error:
        _fail(listed, f"{type(error).__name__}: {error}", counters)


class StopRequestedError(Exception):
    """The consumer was asked to stop: the files so far are recorded, the bundle is kept."""


class _Unpack:
    """One bundle's unpack: decides per member (duplicate, adopt, write) and records in batches.

    A member is recorded in the ledger only after its batch is durable, and only if the writer
    confirmed it durable in that very batch (:meth:`flush`). When the bundle turns out damaged,
    the members verified before the damage stay written and recorded (they are correct files; the
    rejected bundle keeps them only as duplicates). When anything else fails — a host fault, a
    failed flush — nothing more is recorded: the batch in hand is abandoned.
    """

    def __init__(
        self,
        bundle_key: str,
        ledger: Ledger,
        writer: DurableWriter,
        options: DrainOptions,
        counters: _Counters,
        should_stop: Callable[[], bool],
    ) -> None:
        self._bundle_key = bundle_key
        self._ledger = ledger
        self._writer = writer
        self._options = options
        self._counters = counters
        self._should_stop = should_stop
        self._batch: list[DeliveredFile] = []
        self._canaries: list[DurableMember] = []  # verified (kept), recorded with the batch
        self._canary_folder = (
            None if options.canary_dir is None else CanaryFolder(options.canary_dir)
        )
        self._event_times: dict[str, str] = {}  # path -> landing event time, for the batch
        #: the bundle's own files (the manifest's lines) by identity, in bundle order; a slot is
        #: taken when a member is written and filled once its batch is durable and recorded
        self._announced: dict[tuple[str, str], DurableMember | None] = {}
        self._pending: dict[tuple[str, str], str] = {}  # identity -> sha256, not yet recorded
        self._batch_bytes = 0
        self.written = 0
        self.duplicates = 0

    def run(self, handle: BinaryIO) -> None:
        try:
            self._unpack(handle)
        except _KEEP_VERIFIED:
            self.flush()  # the members verified so far are good: keep them recorded
            raise
        except BaseException:
            self._writer.abandon()  # a failure of ours or of the host: record nothing more
            self._batch, self._batch_bytes = [], 0
            self._event_times.clear()
            self._canaries.clear()
            self._pending.clear()
            raise
        self.flush()

    def _unpack(self, handle: BinaryIO) -> None:
        members = 0
        for member in read_bundle(handle):
            if members and self._should_stop():
                raise StopRequestedError("stop requested")
            members += 1
            self._one(member)
        if members == 0:
            raise BundleIntegrityError("bundle holds no member (an empty bundle is rejected)")

    def _one(self, member: BundleMember) -> None:
        meta = member.metadata
        if self._is_duplicate(member):
            self.duplicates += 1
            self._counters.duplicate_files += 1
            self._announce_earlier(meta)
            return
        relative = relative_name(meta.key, meta.version_id)
        if is_canary_key(meta.key):
            self._canary(member, relative)
            return
        if self._writer.existing(relative) is not None:
            self._adopt(member, relative)
        else:
            self._write(member, relative)
        self._add_to_batch(meta, relative)

    def _is_duplicate(self, member: BundleMember) -> bool:
        """A ``(key, version)`` already delivered (or earlier in this batch) is not written."""
        meta = member.metadata
        previous = self._pending.get((meta.key, version_identity(meta.version_id)))
        if previous is None:
            delivered = self._ledger.delivered(meta.key, meta.version_id)
            previous = None if delivered is None else delivered.sha256
        if previous is None:
            return False
        _verify_only(member)
        _check_same_delivery(meta, previous)
        return True

    def _canary(self, member: BundleMember, relative: str) -> None:
        """Verify a canary member (keep it in the canary folder, if any, never in the output);
        it is recorded with the batch, like a written file."""
        meta = member.metadata
        if self._canary_folder is None:
            _verify_only(member)
        else:
            self._canary_folder.keep(relative, member.chunks())
        self._pending[(meta.key, version_identity(meta.version_id))] = meta.sha256
        delivered = DeliveredFile(
            meta.key, meta.version_id, meta.sha256, meta.size, relative, self._bundle_key
        )
        self._canaries.append(DurableMember(delivered, meta.event_time, canary=True))

    def announced(self) -> list[DurableMember]:
        """Every file this bundle delivered, in bundle order: in this run, or (recorded under
        this bundle's key) by an earlier run killed before the bundle was done."""
        return [member for member in self._announced.values() if member is not None]

    def _announce_earlier(self, meta: MemberMetadata) -> None:
        identity = (meta.key, version_identity(meta.version_id))
        if identity in self._announced:
            return
        if is_canary_key(meta.key):
            return  # a canary is never handed off
        delivered = self._ledger.delivered(meta.key, meta.version_id)
        if delivered is not None and delivered.bundle_key == self._bundle_key:
            self._announced[identity] = DurableMember(delivered, meta.event_time)

    def _adopt(self, member: BundleMember, relative: str) -> None:
        """A file on disk but not in the ledger (a run killed before recording): keep it."""
        _verify_only(member)
        meta = member.metadata
        with host_operation(self._writer.output_dir / relative):
            on_disk = _file_sha256(self._writer.open_existing(relative))
        if on_disk != meta.sha256:
            raise ConflictError(
                f"{relative} exists in the output folder with other content than key "
                f"{meta.key!r}: move it away, then run the consumer again"
            )
        self._writer.adopt(relative)
        self._counters.adopted += 1
        LOG.info("file already on disk; recorded", extra={"key": meta.key})

    def _write(self, member: BundleMember, relative: str) -> None:
        meta = member.metadata
        self._writer.ensure_room(member.name, meta.size)
        if meta.size <= self._options.small_file_max:
            self._writer.submit(relative, member.read())
        else:
            self._writer.write_stream(relative, member.chunks())
        self.written += 1
        self._counters.written += 1
        self._counters.size += meta.size
        if LOG.isEnabledFor(logging.DEBUG):
            LOG.debug("file written", extra={"key": meta.key, "size": meta.size, "path": relative})

    def _add_to_batch(self, meta: MemberMetadata, relative: str) -> None:
        identity = (meta.key, version_identity(meta.version_id))
        self._pending[identity] = meta.sha256
        self._announced.setdefault(identity, None)
        self._event_times[relative] = meta.event_time
        self._batch.append(
            DeliveredFile(
                key=meta.key,
                version_id=meta.version_id,
                sha256=meta.sha256,
                size=meta.size,
                path=relative,
                bundle_key=self._bundle_key,
            )
        )
        self._batch_bytes += meta.size
        if (
            len(self._batch) >= self._options.batch_files
            or self._batch_bytes >= self._options.batch_bytes
        ):
            self.flush()

    def flush(self) -> None:
        """Make the batch durable, then record what the writer confirmed durable in it.

        The batch is taken out first: if the flush fails, it is gone, and no later call can
        record it."""
        batch, self._batch, self._batch_bytes = self._batch, [], 0
        event_times, self._event_times = self._event_times, {}
        canaries, self._canaries = self._canaries, []
        self._pending.clear()
        durable = self._writer.flush()
        durable_at = time.time()  # the moment the batch is durable: the files' latency ends here
        confirmed = [delivered for delivered in batch if delivered.path in durable]
        if len(confirmed) != len(batch):  # a bug, never a host fault: refuse to record it
            missing = sorted({d.path for d in batch} - durable)
            raise RuntimeError(f"writer did not confirm {len(missing)} file(s): {missing[:3]}")
        if confirmed or canaries:
            crash_point("renamed")
            self._ledger.record_files([*confirmed, *(c.delivered for c in canaries)])
            crash_point("recorded")
            self._counters.canary += len(canaries)
            members = [DurableMember(d, event_times[d.path]) for d in confirmed]
            for durable_member in members:
                done = durable_member.delivered
                self._announced[(done.key, version_identity(done.version_id))] = durable_member
            self._counters.observer.durable([*members, *canaries], durable_at)


def _host_cause(error: BaseException, path: Path) -> HostFaultError | None:
    """The host fault behind a reader error (an I/O error reading the local copy), if any: the
    reader turns every read error into a ``BundleIntegrityError``, which would reject the bundle."""
    cause = error.__cause__
    while cause is not None:
        if isinstance(cause, OSError):
            fault = from_os_error(cause, path)
            if fault is not None:
                return fault
        cause = cause.__cause__
    return None


#: failures after which the members verified so far are kept and recorded (a rejection or a stop)
_KEEP_VERIFIED = (BundleIntegrityError, ConflictError, UnsafePathError, StopRequestedError)


def _check_same_delivery(meta: MemberMetadata, delivered_sha256: str) -> None:
    if delivered_sha256 != meta.sha256:
        raise ConflictError(
            f"key {meta.key!r} version {meta.version_id!r} was delivered with SHA-256 "
            f"{delivered_sha256}, this bundle has {meta.sha256}: investigate the source"
        )


def _verify_only(member: BundleMember) -> None:
    for _ in member.chunks():
        pass


def _file_sha256(fd: int) -> str:
    digest = hashlib.sha256()
    with os.fdopen(fd, "rb", closefd=True) as handle:
        while chunk := handle.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _delete(client: Any, bucket: str, listed: ListedBundle, counters: _Counters) -> None:
    """Remove a delivered bundle from Distribution; a refusal loses nothing (the next pass
    recognises the bundle as delivered and tries the delete again)."""
    try:
        client.delete_object(Bucket=bucket, Key=listed.key)
    except ClientError as error:
        code = error_code(error)
        counters.undeleted.append(BundleProblem(listed.key, f"{code}: {error}"))
        LOG.warning(
            "bundle delivered but not deleted from Distribution; the next pass deletes it",
            extra={"bundle": listed.key, "code": code},
        )


def rejection_kind(error: BaseException) -> str:
    """The class of a rejection, from the error that rejected the bundle: ``bundle_rejected``
    (download verification), ``bundle_integrity`` (a damaged or empty bundle), ``conflict``
    (a delivered key and version with other content), ``unsafe_path``, ``link_in_the_way``."""
    name = type(error).__name__.removesuffix("Error")
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")


def _reject(
    ledger: Ledger, listed: ListedBundle, error: BaseException, counters: _Counters
) -> None:
    reason = str(error)
    ledger.reject(listed.key, listed.etag, reason)
    problem = BundleProblem(listed.key, reason, rejection_kind(error))
    counters.rejected.append(problem)
    counters.observer.rejected(problem)
    LOG.error(
        "bundle rejected: not unpacked, not deleted",
        extra={"bundle": listed.key, "etag": listed.etag, "reason": reason},
    )


def _fail(listed: ListedBundle, reason: str, counters: _Counters) -> None:
    counters.failed.append(BundleProblem(listed.key, reason))
    LOG.warning(
        "bundle not delivered this pass; will retry", extra={"bundle": listed.key, "reason": reason}
    )
