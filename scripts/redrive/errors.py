"""`aggregator redrive errors`: put the references Firehose parked in its error output back in.

Per error-output object (oldest first):

1. already tagged ``aggregator-redrive=done`` by an earlier run → ``already-redriven`` (skipped);
2. in Glacier / Deep Archive and not restored → ``archived`` (reported, not read);
3. read it (gzip'd or plain JSON lines: the documents Firehose writes, ``rawData`` the original
   record), decode every ``rawData`` back to an :class:`~pipeline.references.ObjectReference`;
4. ``HeadObject`` each referenced Landing object version — why it failed is found there, not in
   the document: those that no longer exist are reported as ``missing`` (they cannot be
   recovered: listed, never hidden, never re-put), those S3 refuses to show as
   ``access-denied`` (fix the role, run again), the rest are present and recoverable;
5. re-put the recoverable references with ``PutRecordBatch`` (≤ 500 records / 4 MiB per call,
   only rejected records retried, with backoff), each with a fresh deferral budget (``attempt``
   0, first seen now) — the pipeline then bundles them as usual;
6. when nothing transient is left (every reference re-put, or permanently missing/unreadable),
   tag the object ``aggregator-redrive=done`` so a re-run skips it. The object stays where
   Firehose wrote it: the evidence is kept, and no delete permission is needed.

A reference that appears in several documents is re-put once per run. Delivery stays
at-least-once: after a crash between the re-put and the tag, a re-run puts the same references
again, and the consumer's ledger drops the duplicate files.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Collection, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from botocore.exceptions import BotoCoreError, ClientError

from pipeline.contract.prefixes import ERROR_ROOT
from pipeline.deadline import Backoff, Deadline
from pipeline.errors import ACCESS_DENIED_CODES, NOT_FOUND_CODES
from pipeline.firehose import put_records
from pipeline.references import ObjectReference, iso_now
from pipeline.routing import stream_for
from scripts.redrive.documents import FailedReference, UnreadableLine, parse_error_object
from scripts.replay import restore_state
from scripts.session import error_code, error_reason

#: the error prefix of docs/architecture.md, used when the stream cannot be described
DEFAULT_ERROR_ROOT = ERROR_ROOT
MARKER_TAG = "aggregator-redrive"
MARKER_DONE = "done"
REDRIVEN_AT_TAG = "aggregator-redriven-at"
COUNTS_TAG = "aggregator-redrive-counts"
#: Firehose object names: <stream>-<version>-<yyyy-MM-dd-HH-mm-ss>-<uuid>[.gz]
_NAME_TIME = re.compile(r"-(\d{4})-(\d{2})-(\d{2})-(\d{2})-(\d{2})-(\d{2})-[0-9a-fA-F]{8}-")

ObjectStatus = Literal[
    "redriven",  # every recoverable reference re-put; object tagged
    "would-redrive",  # --dry-run
    "already-redriven",  # tagged by an earlier run; skipped
    "incomplete",  # some references could not be checked or put now: run again
    "not-marked",  # references re-put but the tag could not be written
    "archived",  # in Glacier / Deep Archive, not restored
    "unreadable-object",  # the object itself could not be read
]
ProblemKind = Literal["missing", "access-denied", "unreadable", "check-failed", "put-failed"]
#: problems a later run can fix (the object is not tagged while one remains)
TRANSIENT: frozenset[str] = frozenset({"access-denied", "check-failed", "put-failed"})


@dataclass(frozen=True, slots=True)
class ErrorObject:
    """One object under the error prefix, as listed."""

    key: str
    last_modified: datetime
    size: int
    storage_class: str


@dataclass(frozen=True, slots=True)
class Problem:
    """A reference (or line) that was not re-put, and why."""

    kind: ProblemKind
    line: int
    detail: str
    reference: ObjectReference | None = None


@dataclass(frozen=True, slots=True)
class ObjectOutcome:
    """What happened to one error-output object."""

    key: str
    status: ObjectStatus
    references: int = 0
    put: int = 0
    duplicates: int = 0
    problems: tuple[Problem, ...] = ()
    detail: str = ""

    @property
    def failed(self) -> bool:
        """Something in it could not be redriven (by this run or at all)."""
        return bool(self.problems) or self.status in (
            "incomplete",
            "not-marked",
            "archived",
            "unreadable-object",
        )


@dataclass(frozen=True, slots=True)
class ErrorsTarget:
    """Where the error output lives and where references go back to."""

    archive_bucket: str
    error_root: str
    #: the delivery streams in routing order: each reference goes to the stream its key hashes
    #: to, as the ingest put it (one name: everything goes there)
    stream_names: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RedriveSettings:
    dry_run: bool = False
    head_concurrency: int = 16
    put_timeout_seconds: float = 120.0
    backoff: Backoff = field(default_factory=Backoff)
    sleep: Callable[[float], None] | None = None


# --------------------------------------------------------------------------------- selection


def name_time(key: str) -> datetime | None:
    """The oldest-record time Firehose put into the object name, if the name has one."""
    match = _NAME_TIME.search(key.rsplit("/", 1)[-1])
    if match is None:
        return None
    year, month, day, hour, minute, second = (int(part) for part in match.groups())
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def in_hour_range(moment: datetime, since: datetime, until: datetime) -> bool:
    """``moment`` lies in the hours from ``since``'s hour through ``until``'s hour (UTC)."""
    start = since.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    end = until.astimezone(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    return start <= moment.astimezone(UTC) < end


def list_error_objects(s3: Any, bucket: str, root: str) -> list[ErrorObject]:
    """Every object under the error prefix, oldest first."""
    found: list[ErrorObject] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=root):
        for item in page.get("Contents", []):
            found.append(
                ErrorObject(
                    key=str(item["Key"]),
                    last_modified=item["LastModified"],
                    size=int(item.get("Size", 0)),
                    storage_class=str(item.get("StorageClass", "STANDARD")),
                )
            )
    found.sort(key=lambda o: (name_time(o.key) or o.last_modified, o.key))
    return found


def select_objects(
    objects: Iterable[ErrorObject],
    since: datetime | None = None,
    until: datetime | None = None,
    keys: Iterable[str] = (),
) -> list[ErrorObject]:
    """Filter by explicit keys, or by the hour range (the name's time, else LastModified)."""
    wanted = set(keys)
    if wanted:
        return [o for o in objects if o.key in wanted]
    if since is None:
        return list(objects)
    end = until or datetime.now(UTC)
    return [o for o in objects if in_hour_range(name_time(o.key) or o.last_modified, since, end)]


# ------------------------------------------------------------------------------------ planning


@dataclass(frozen=True, slots=True)
class ObjectPlan:
    """What one readable error object holds, decided before anything is re-put."""

    #: references found in the object (duplicates included)
    references: int
    #: references already re-put in this run or earlier in this object
    duplicates: int
    #: (line, reference) present in Landing: these are re-put
    recoverable: tuple[tuple[int, ObjectReference], ...]
    #: lines that are not references, and references whose check found a problem
    problems: tuple[Problem, ...]

    def outcome(self, key: str, rejected: Collection[bytes] = ()) -> ObjectOutcome:
        """The outcome once the recoverable references were put, status ``would-redrive``.

        ``rejected``: the records Firehose still refused after retries (none for a dry run).
        """
        problems = [
            *self.problems,
            *(
                Problem("put-failed", line, "rejected by Firehose after retries", ref)
                for line, ref in self.recoverable
                if ref.to_record() in rejected
            ),
        ]
        problems.sort(key=lambda p: p.line)
        put = len(self.recoverable) - len(rejected)
        return ObjectOutcome(
            key, "would-redrive", self.references, put, self.duplicates, tuple(problems)
        )


def plan_object(
    references: int,
    unreadable: Iterable[UnreadableLine],
    duplicates: int,
    checked: Iterable[tuple[int, ObjectReference, Problem | None]],
) -> ObjectPlan:
    """Sort an object's references into recoverable ones and problems (pure)."""
    checked = list(checked)
    return ObjectPlan(
        references=references,
        duplicates=duplicates,
        recoverable=tuple((line, ref) for line, ref, problem in checked if problem is None),
        problems=(
            *(Problem("unreadable", u.line, u.reason) for u in unreadable),
            *(problem for _, _, problem in checked if problem is not None),
        ),
    )


# ------------------------------------------------------------------------------------ redrive


class Redriver:
    """Redrives error objects one at a time; remembers what it re-put during this run."""

    def __init__(
        self, s3: Any, firehose: Any, target: ErrorsTarget, settings: RedriveSettings
    ) -> None:
        self._s3 = s3
        self._firehose = firehose
        self._target = target
        self._settings = settings
        self._put_this_run: set[bytes] = set()

    def redrive(self, item: ErrorObject) -> ObjectOutcome:
        """Advance one error object as far as it can go; never raises for a per-object problem."""
        tag_map, stopped = self._admit(item)
        if stopped is not None:
            return stopped
        body = self._read(item.key)
        if isinstance(body, ObjectOutcome):
            return body
        found, unreadable = parse_error_object(body)
        candidates, duplicates = self._new_references(found)
        plan = plan_object(len(found), unreadable, duplicates, self._check(candidates))
        if self._settings.dry_run:
            self._put_this_run.update(ref.identity() for _, ref in plan.recoverable)
            return plan.outcome(item.key)
        outcome = plan.outcome(item.key, self._put([ref for _, ref in plan.recoverable]))
        if any(p.kind in TRANSIENT for p in outcome.problems):
            return _replace(outcome, "incomplete", "run the same command again to retry")
        marked = self._mark(item.key, tag_map, outcome)
        if marked:
            return _replace(outcome, "not-marked", marked)
        return _replace(outcome, "redriven", "")

    def _admit(self, item: ErrorObject) -> tuple[dict[str, str], ObjectOutcome | None]:
        """The object's tags, and the outcome that stops it before reading (None: read it).

        Stops: tagged done by an earlier run, archived and not restored, tags unreadable.
        """
        tag_map, tag_error = self._tags(item.key)
        if tag_map.get(MARKER_TAG) == MARKER_DONE:
            counts = tag_map.get(COUNTS_TAG, "")
            when = tag_map.get(REDRIVEN_AT_TAG, "?")
            detail = f"at {when} {counts}".strip()
            return tag_map, ObjectOutcome(item.key, "already-redriven", detail=detail)
        archived = self._archived(item)
        if archived:
            return tag_map, ObjectOutcome(item.key, "archived", detail=archived)
        if tag_error:
            detail = f"GetObjectTagging: {tag_error}"
            return tag_map, ObjectOutcome(item.key, "unreadable-object", detail=detail)
        return tag_map, None

    def _read(self, key: str) -> bytes | ObjectOutcome:
        """The object's body, or its ``unreadable-object`` outcome."""
        bucket = self._target.archive_bucket
        try:
            body: bytes = self._s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        except (ClientError, BotoCoreError) as error:
            reason = error_reason(error)
            return ObjectOutcome(key, "unreadable-object", detail=f"GetObject: {reason}")
        return body

    def _tags(self, key: str) -> tuple[dict[str, str], str]:
        """The object's tags, or why they could not be read (some stores refuse archived ones)."""
        try:
            tags = self._s3.get_object_tagging(Bucket=self._target.archive_bucket, Key=key)
        except ClientError as error:
            return {}, error_code(error)
        return {str(t["Key"]): str(t["Value"]) for t in tags["TagSet"]}, ""

    def _archived(self, item: ErrorObject) -> str:
        if restore_state(item.storage_class, None) == "readable":
            return ""
        try:
            head = self._s3.head_object(Bucket=self._target.archive_bucket, Key=item.key)
        except ClientError as error:
            return f"in {item.storage_class}; HeadObject: {error_code(error)}"
        if restore_state(item.storage_class, head.get("Restore")) == "readable":
            return ""
        return (
            f"in {item.storage_class}: restore it first (aws s3api restore-object), then run "
            "again; its Landing objects have probably expired by now"
        )

    def _new_references(
        self, found: list[tuple[Any, FailedReference]]
    ) -> tuple[list[tuple[int, ObjectReference]], int]:
        """References not yet re-put in this run (nor earlier in this object)."""
        fresh: list[tuple[int, ObjectReference]] = []
        seen: set[bytes] = set()
        duplicates = 0
        for document, failed in found:
            record = failed.reference.identity()
            if record in self._put_this_run or record in seen:
                duplicates += 1
                continue
            seen.add(record)
            fresh.append((document.line, failed.reference))
        return fresh, duplicates

    def _check(
        self, candidates: list[tuple[int, ObjectReference]]
    ) -> list[tuple[int, ObjectReference, Problem | None]]:
        if not candidates:
            return []
        workers = max(1, min(self._settings.head_concurrency, len(candidates)))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(lambda c: self._exists(*c), candidates))
        return [
            (line, ref, problem) for (line, ref), problem in zip(candidates, results, strict=True)
        ]

    def _exists(self, line: int, ref: ObjectReference) -> Problem | None:
        extra = {"VersionId": ref.version_id} if ref.version_id else {}
        try:
            self._s3.head_object(Bucket=ref.bucket, Key=ref.key, **extra)
        except ClientError as error:
            code = error_code(error)
            where = f"s3://{ref.bucket}/{ref.key} version {ref.version_id or '-'}"
            if code in NOT_FOUND_CODES:
                return Problem("missing", line, f"{where} no longer exists ({code})", ref)
            if code in ACCESS_DENIED_CODES:
                return Problem(
                    "access-denied",
                    line,
                    f"HeadObject {where}: {code} (S3 answers 403 for a missing key without "
                    "s3:ListBucket: grant s3:GetObject, s3:GetObjectVersion and s3:ListBucket "
                    "on Landing, then run again)",
                    ref,
                )
            return Problem("check-failed", line, f"HeadObject {where}: {code}", ref)
        except BotoCoreError as error:
            return Problem("check-failed", line, f"HeadObject: {error}", ref)
        return None

    def _put(self, references: list[ObjectReference]) -> set[bytes]:
        """Re-put; returns the records Firehose still rejected."""
        if not references:
            return set()
        now = iso_now()
        records = [ref.restarted(now).to_record() for ref in references]
        routed: dict[str, list[bytes]] = {}
        for ref, record in zip(references, records, strict=True):
            stream = stream_for(ref.bucket, ref.key, self._target.stream_names)
            routed.setdefault(stream, []).append(record)
        deadline = Deadline.after(self._settings.put_timeout_seconds)
        failed: list[bytes] = []
        for stream, batch in routed.items():
            outcome = put_records(
                self._firehose,
                stream,
                batch,
                deadline,
                backoff=self._settings.backoff,
                sleep=self._settings.sleep,
            )
            failed.extend(outcome.failed)
        rejected = set(failed)
        self._put_this_run.update(
            ref.identity()
            for ref, record in zip(references, records, strict=True)
            if record not in rejected
        )
        return {
            ref.to_record()
            for ref, record in zip(references, records, strict=True)
            if record in rejected
        }

    def _mark(self, key: str, existing: dict[str, str], outcome: ObjectOutcome) -> str:
        """Tag the object as done (other tags kept); returns why it failed, or ''."""
        missing = sum(1 for p in outcome.problems if p.kind == "missing")
        unreadable = sum(1 for p in outcome.problems if p.kind == "unreadable")
        tags = {
            **existing,
            MARKER_TAG: MARKER_DONE,
            REDRIVEN_AT_TAG: datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            COUNTS_TAG: f"put={outcome.put} missing={missing} unreadable={unreadable}",
        }
        try:
            self._s3.put_object_tagging(
                Bucket=self._target.archive_bucket,
                Key=key,
                Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in tags.items()]},
            )
        except ClientError as error:
            return (
                f"PutObjectTagging: {error_code(error)}: grant s3:PutObjectTagging on the error "
                "prefix; until it is tagged a re-run re-puts these references (harmless "
                "duplicates)"
            )
        return ""


def _replace(outcome: ObjectOutcome, status: ObjectStatus, detail: str) -> ObjectOutcome:
    return dataclasses.replace(outcome, status=status, detail=detail)


def redrive_all(
    redriver: Redriver, objects: Iterable[ErrorObject], advance: Callable[[ObjectOutcome], None]
) -> Iterator[ObjectOutcome]:
    """Redrive each object in turn, reporting each outcome to ``advance`` (a progress bar)."""
    for item in objects:
        outcome = redriver.redrive(item)
        advance(outcome)
        yield outcome
