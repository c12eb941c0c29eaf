"""Watch Distribution and record when each uploaded file first became available there.

The tracker polls the Distribution bucket, reads every new bundle with the project's bundle reader
(without deleting anything), and records, per ``(key, version id)``, the first time it was seen,
the bundle it came in and the SHA-256 the reader verified. Matched against the loader's
:class:`~scripts.loadgen.UploadRecord` list, that gives delivered / missing / corrupt files and
the latency figures. It waits by polling with a deadline; the poll interval bounds the latency
resolution.
"""

from __future__ import annotations

import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING

from botocore.exceptions import ClientError

from pipeline.bundle import BundleIntegrityError, read_bundle
from pipeline.contract.prefixes import BUNDLE_ROOT
from pipeline.errors import NOT_FOUND_CODES
from pipeline.hashing import BodyDigest, verify_body
from scripts.delivery.stats import LatencySummary, summarize
from scripts.loadgen.upload import UploadRecord

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

_SPOOL_BYTES = 8 << 20


@dataclass(frozen=True, slots=True)
class Sighting:
    """One member of one bundle, as read from Distribution."""

    key: str
    version_id: str | None
    sha256: str  # recorded in the member and verified against its content by the reader
    size: int
    bundle_key: str
    seen_at: float  # epoch seconds: the poll that found the bundle
    archived_at: float | None  # epoch seconds: LastModified of the bundle in Archive


@dataclass(frozen=True, slots=True)
class BundleSeen:
    key: str
    size: int
    members: int
    seen_at: float


@dataclass(frozen=True, slots=True)
class Delivery:
    """An uploaded file and its first sighting in Distribution."""

    record: UploadRecord
    sighting: Sighting

    @property
    def latency(self) -> float:
        """Seconds from the end of the upload to the first poll that saw it in Distribution."""
        return max(0.0, self.sighting.seen_at - self.record.completed_at)

    @property
    def upstream_wait(self) -> float:
        """Seconds until its bundle existed in Archive (ingest + Firehose buffering + transform)."""
        if self.sighting.archived_at is None:
            return 0.0
        return min(self.latency, max(0.0, self.sighting.archived_at - self.record.completed_at))


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    """Uploads matched against what reached Distribution."""

    uploaded: int
    delivered: tuple[Delivery, ...]
    missing: tuple[UploadRecord, ...]
    corrupt: tuple[tuple[UploadRecord, Sighting], ...]  # delivered with another SHA-256
    duplicates: int  # extra sightings of an already delivered (key, version id)
    bundles: int  # bundles that carried at least one of the uploads
    bytes_in: int  # bytes uploaded
    bytes_out: int  # bytes of those bundles
    latency: LatencySummary
    upstream_share: float  # share of the total latency spent before the bundle was in Archive
    bad_bundles: tuple[str, ...]  # bundles whose SHA-256 or format did not verify

    @property
    def complete(self) -> bool:
        return not self.missing and not self.corrupt and not self.bad_bundles


def match(
    records: Iterable[UploadRecord],
    sightings: Iterable[Sighting],
    bundles: dict[str, BundleSeen],
    bad_bundles: Iterable[str] = (),
) -> DeliveryReport:
    """Pure matching of uploads against sightings (first sighting of each file wins)."""
    first: dict[tuple[str, str | None], Sighting] = {}
    counts: dict[tuple[str, str | None], int] = {}
    for seen in sorted(sightings, key=lambda s: s.seen_at):
        identity = (seen.key, seen.version_id)
        first.setdefault(identity, seen)
        counts[identity] = counts.get(identity, 0) + 1
    records = list(records)
    delivered: list[Delivery] = []
    missing: list[UploadRecord] = []
    corrupt: list[tuple[UploadRecord, Sighting]] = []
    duplicates = 0
    bundle_keys: set[str] = set()
    for record in records:
        sighting = first.get(record.identity)
        if sighting is None:
            missing.append(record)
            continue
        duplicates += counts[record.identity] - 1
        bundle_keys.add(sighting.bundle_key)
        if sighting.sha256 != record.sha256:
            corrupt.append((record, sighting))
        else:
            delivered.append(Delivery(record, sighting))
    total_latency = sum(d.latency for d in delivered)
    upstream = sum(d.upstream_wait for d in delivered)
    return DeliveryReport(
        uploaded=len(records),
        delivered=tuple(delivered),
        missing=tuple(missing),
        corrupt=tuple(corrupt),
        duplicates=duplicates,
        bundles=len(bundle_keys),
        bytes_in=sum(r.size for r in records),
        bytes_out=sum(bundles[k].size for k in bundle_keys if k in bundles),
        latency=summarize([d.latency for d in delivered]),
        upstream_share=upstream / total_latency if total_latency > 0 else 0.0,
        bad_bundles=tuple(sorted(bad_bundles)),
    )


class DeliveryTracker:
    """Polls Distribution (read-only) and remembers every member of every new bundle.

    Call :meth:`baseline` before uploading so bundles already there are not read, then either
    :meth:`wait_for` (polls in the calling thread) or :meth:`start` a background poller while
    uploads run (latency is then measured during the upload too) and :meth:`wait_for` at the end.
    """

    def __init__(
        self,
        s3: S3Client,
        distribution_bucket: str,
        *,
        archive_bucket: str | None = None,
        prefix: str = BUNDLE_ROOT,
        poll_interval: float = 0.5,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if poll_interval <= 0:
            raise ValueError(f"poll interval must be > 0 s, got {poll_interval}")
        self._s3 = s3
        self._distribution = distribution_bucket
        self._archive = archive_bucket
        self._prefix = prefix
        self.poll_interval = poll_interval
        self._clock = clock
        self._lock = threading.Lock()
        self._poll_lock = threading.Lock()
        self._known: set[str] = set()
        self._bundles: dict[str, BundleSeen] = {}
        self._sightings: list[Sighting] = []
        self._bad: dict[str, str] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._thread_error: BaseException | None = None

    # ---------------------------------------------------------------------------- polling

    def baseline(self) -> int:
        """Ignore the bundles already in Distribution; returns how many there were."""
        keys = self._list()
        with self._lock:
            self._known.update(keys)
        return len(keys)

    def poll_once(self) -> int:
        """Read every bundle not seen before; returns how many were read."""
        with self._poll_lock:
            seen_at = self._clock()
            new = [key for key in self._list() if key not in self._known]
            for key in new:
                self._read(key, seen_at)
                with self._lock:
                    self._known.add(key)
            return len(new)

    def wait_for(
        self,
        records: Iterable[UploadRecord],
        timeout: float,
        progress: Callable[[int, int], None] | None = None,
    ) -> DeliveryReport:
        """Poll until every record was seen (or ``timeout`` seconds passed); return the report."""
        records = list(records)
        wanted = {record.identity for record in records}
        deadline = time.monotonic() + timeout
        while True:
            if self._thread is None:
                self.poll_once()
            self._raise_thread_error()
            seen = self._seen_identities()
            found = len(wanted & seen)
            if progress is not None:
                progress(found, len(wanted))
            if found == len(wanted) or time.monotonic() >= deadline:
                return self.report(records)
            self._stop.wait(self.poll_interval)

    def report(self, records: Iterable[UploadRecord]) -> DeliveryReport:
        with self._lock:
            return match(records, list(self._sightings), dict(self._bundles), self._bad)

    @property
    def bad_bundles(self) -> dict[str, str]:
        """Bundle key -> why it did not verify."""
        with self._lock:
            return dict(self._bad)

    # ------------------------------------------------------------------ background poller

    def start(self) -> DeliveryTracker:
        if self._thread is not None:
            raise RuntimeError("tracker already started")
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="delivery-tracker", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self._stop.clear()
        self._raise_thread_error()

    def __enter__(self) -> DeliveryTracker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                self.poll_once()
                self._stop.wait(self.poll_interval)
        except BaseException as error:  # noqa: BLE001 - re-raised in the caller by wait_for/stop
            self._thread_error = error

    def _raise_thread_error(self) -> None:
        if self._thread_error is not None:
            error, self._thread_error = self._thread_error, None
            raise error

    # -------------------------------------------------------------------------- internals

    def _seen_identities(self) -> set[tuple[str, str | None]]:
        with self._lock:
            return {(s.key, s.version_id) for s in self._sightings}

    def _list(self) -> list[str]:
        paginator = self._s3.get_paginator("list_objects_v2")
        keys: list[str] = []
        for page in paginator.paginate(Bucket=self._distribution, Prefix=self._prefix):
            keys.extend(item["Key"] for item in page.get("Contents", []))
        return keys

    def _read(self, key: str, seen_at: float) -> None:
        with tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES) as spool:
            try:
                found = self._download(key, spool)
            except ClientError as error:
                if _is_missing(error):
                    return  # deleted (by a consumer) between list and get: nothing to read
                raise
            if found.problem is not None:
                self._mark_bad(key, found.problem)
                return
            spool.seek(0)
            archived_at = self._archived_at(key)
            sightings: list[Sighting] = []
            try:
                for member in read_bundle(spool):  # type: ignore[arg-type]
                    for _ in member.chunks():  # verifies size and SHA-256 as it reads
                        pass
                    meta = member.metadata
                    sightings.append(
                        Sighting(
                            key=meta.key,
                            version_id=meta.version_id,
                            sha256=meta.sha256,
                            size=meta.size,
                            bundle_key=key,
                            seen_at=seen_at,
                            archived_at=archived_at,
                        )
                    )
            except BundleIntegrityError as error:
                self._mark_bad(key, str(error))
                return
        with self._lock:
            self._sightings.extend(sightings)
            self._bundles[key] = BundleSeen(key, found.size, len(sightings), seen_at)

    def _download(self, key: str, spool: IO[bytes]) -> BodyDigest:
        """Stream the bundle into ``spool``, hashed and compared with its ``content-sha256``."""
        response = self._s3.get_object(Bucket=self._distribution, Key=key)
        return verify_body(response, sink=spool.write)

    def _archived_at(self, key: str) -> float | None:
        if self._archive is None:
            return None
        try:
            head = self._s3.head_object(Bucket=self._archive, Key=key)
        except ClientError:
            return None
        return head["LastModified"].timestamp()

    def _mark_bad(self, key: str, reason: str) -> None:
        with self._lock:
            self._bad[key] = reason


def _is_missing(error: ClientError) -> bool:
    code = error.response.get("Error", {}).get("Code", "")
    return code in NOT_FOUND_CODES
