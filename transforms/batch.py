"""One Firehose batch, end to end: plan, fetch, pack, defer, answer within the limits.

The handler is a thin shell around :func:`process_batch`, which takes its clients, deadline and
clock as arguments so tests drive it against moto with any time. The steps:

1. decode and plan (:mod:`transforms.plan`): every record is reserved its ProcessingFailed entry,
   so any record can later be deferred or failed without exceeding the budget;
2. fetch and pack: inline files in parallel; large files by the direct path, streamed into one
   bundle per batch (more only past ``direct_bundle_max_bytes``);
3. shrink to the budget (a guard), re-put what was deferred (as reference v2, ``attempt`` + 1),
   and finish as ProcessingFailed what could not be put back or was deferred too often/too long.
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger

from pipeline.aws import CALL_ALLOWANCE_SECONDS
from pipeline.bundle import BLOCK_SIZE, encode_member, member_header
from pipeline.deadline import Deadline
from pipeline.firehose import put_records
from pipeline.references import ObjectReference, age_seconds
from transforms.config import TransformConfig
from transforms.direct import Bundled, direct_bundle_key, write_direct_bundle
from transforms.fetch import (
    Denied,
    Failed,
    Fetched,
    Fetcher,
    FetchResult,
    Missing,
    OutOfTime,
    SizeMismatch,
)
from transforms.outcomes import FailureReason
from transforms.plan import Route, group_direct, plan_batch
from transforms.records import (
    Entry,
    InputRecord,
    decode_records,
    dropped_entry,
    failed_entry,
    ok_entry,
    source_stream,
)
from transforms.response import ResponseBudget, cost, ok_entry_size, response, serialized_size

if TYPE_CHECKING:
    from mypy_boto3_firehose import FirehoseClient
    from mypy_boto3_s3 import S3Client

logger = Logger(child=True)


@dataclass(frozen=True, slots=True)
class BatchSummary:
    """Counts for metrics and the summary log line."""

    records: int
    inlined: int
    direct: int
    deferred: int
    missing: int
    failed: int
    fetch_retries: int
    response_bytes: int
    #: ProcessingFailed records per reason class (FailureReason values)
    failures: dict[str, int] = field(default_factory=dict)
    #: now - S3 event time of the oldest reference packed; None when nothing was packed
    oldest_reference_age_seconds: float | None = None
    #: references whose object size disagreed with the reference (re-planned)
    resized: int = 0
    #: direct bundles committed, and their bytes (gzip'd)
    direct_bundles: int = 0
    direct_bundle_bytes: int = 0


@dataclass(slots=True)
class _State:
    records: Sequence[InputRecord]
    settings: TransformConfig
    now: datetime
    #: what every record's entry costs, against the response budget (the one place it is kept)
    budget: ResponseBudget
    entries: list[Entry | None]
    #: the stream that invoked: deferred references go back to it, direct bundles carry its name
    stream: str = ""
    #: index -> the record to re-put (the reference with attempt + 1)
    deferred: dict[int, bytes] = field(default_factory=dict)
    failures: collections.Counter[FailureReason] = field(default_factory=collections.Counter)
    packed_ages: list[float] = field(default_factory=list)
    direct: int = 0
    direct_bundles: int = 0
    direct_bundle_bytes: int = 0
    resized: int = 0
    retries: int = 0
    #: set once the deferred records were re-put: no more deferring after that
    reput_done: bool = False

    def set(self, index: int, entry: Entry, size: int = -1) -> None:
        """Record ``index``'s entry is now ``entry`` (its cost ``size``, computed if not given)."""
        self.budget.charge(index, cost(entry) if size < 0 else size)
        self.entries[index] = entry
        if entry.result != "Dropped":
            self.deferred.pop(index, None)

    def packed(self, index: int) -> None:
        reference = self.records[index].reference
        age = age_seconds(reference.event_time, self.now) if reference else None
        if age is not None:
            self.packed_ages.append(age)

    def defer(self, index: int, why: str = "", reference: ObjectReference | None = None) -> None:
        """Put the record back into the stream, unless it was deferred too often or too long."""
        record = self.records[index]
        current = reference or record.reference
        assert current is not None
        again = current.deferred()
        age = age_seconds(again.first_seen_or_event, self.now)
        if again.attempt > self.settings.max_deferrals:
            self.fail(
                index,
                FailureReason.TOO_MANY_DEFERRALS,
                f"deferred {current.attempt} times (max_deferrals={self.settings.max_deferrals})"
                f"{': ' + why if why else ''}",
            )
            return
        if age is not None and age > self.settings.max_reference_age_seconds:
            self.fail(
                index,
                FailureReason.TOO_OLD,
                f"first seen {age:.0f} s ago (max_reference_age="
                f"{self.settings.max_reference_age_seconds} s){': ' + why if why else ''}",
            )
            return
        if why:
            logger.info(
                "record deferred",
                extra={"key": current.key, "attempt": again.attempt, "reason": why},
            )
        self.set(index, dropped_entry(record.record_id))
        self.deferred[index] = again.to_record()

    def fail(self, index: int, reason: FailureReason, detail: str) -> None:
        """Finish the record as ProcessingFailed; the reason goes to the log and the metrics."""
        record = self.records[index]
        reference = record.reference
        logger.warning(
            "record reported as ProcessingFailed",
            extra={
                "reason": reason.value,
                "detail": detail,
                "record_id": record.record_id,
                "bucket": reference.bucket if reference else None,
                "key": reference.key if reference else None,
                "version_id": reference.version_id if reference else None,
                "attempt": reference.attempt if reference else None,
            },
        )
        self.failures[reason] += 1
        self.set(index, failed_entry(record))
        self._make_room(index)

    def _make_room(self, keep: int) -> None:
        """A failed entry echoes its record, larger than Dropped: if the response no longer fits,
        demote Ok entries, last first: deferred before the re-put, failed after it (rare, only
        when Firehose kept rejecting re-puts). Nothing is ever blanked."""
        index = len(self.entries) - 1
        while self.budget.over() and index >= 0:
            entry = self.entries[index]
            if index != keep and entry is not None and entry.result == "Ok":
                if self.reput_done:
                    self.fail(
                        index,
                        FailureReason.REPUT_FAILED,
                        "no room left in the response after re-puts failed",
                    )
                else:
                    self.defer(index, "no room left in the response for a failed record")
            index -= 1


def process_batch(
    event: dict[str, Any],
    settings: TransformConfig,
    deadline: Deadline,
    s3: S3Client,
    firehose: FirehoseClient,
    now: datetime | None = None,
    *,
    fetcher: Fetcher,
) -> tuple[dict[str, list[dict[str, str]]], BatchSummary]:
    """The processor response for one Firehose event, and what happened.

    Inline files are read by ``fetcher`` (the function passes the native one,
    :mod:`transforms.crt_fetch`).
    """
    state, routes = _plan(event, settings, now or datetime.now(UTC))
    work_deadline = Deadline(deadline.expires_at - settings.reput_reserve_seconds, deadline.clock)
    _fetch_and_pack(state, routes, work_deadline, s3, fetcher)
    _shrink_to_budget(state, lambda index: state.defer(index))
    _reput_deferred(state, deadline, firehose)
    entries = _answer(state)
    return response(entries), _summary(state, entries)


def _plan(
    event: dict[str, Any], settings: TransformConfig, now: datetime
) -> tuple[_State, tuple[Route, ...]]:
    records = decode_records(event)
    routes = plan_batch(
        records,
        inline_max_bytes=settings.inline_max_bytes,
        budget_bytes=settings.response_budget_bytes,
    )
    state = _State(
        records=records,
        settings=settings,
        now=now,
        budget=ResponseBudget(records, settings.response_budget_bytes),
        entries=[None] * len(records),
        stream=source_stream(event, settings.delivery_stream_names),
    )
    for index, route in enumerate(routes):
        if route is Route.FAIL:
            state.fail(index, FailureReason.UNREADABLE_REFERENCE, str(records[index].error))
        elif route is Route.DEFER:
            state.defer(index)
    return state, routes


def _answer(state: _State) -> list[Entry]:
    entries = [entry for entry in state.entries if entry is not None]
    if len(entries) != len(state.records):  # every record has exactly one entry: a bug otherwise
        raise AssertionError("a record was left without a response entry")
    size = serialized_size(entries)  # counted again from the entries, not from the budget
    if size > state.budget.limit:  # failures make room by demoting Ok entries: a bug otherwise
        raise AssertionError(f"processor response of {size} bytes exceeds {state.budget.limit}")
    return entries


def _summary(state: _State, entries: Sequence[Entry]) -> BatchSummary:
    return BatchSummary(
        records=len(state.records),
        inlined=sum(1 for e in entries if e.result == "Ok"),
        direct=state.direct,
        deferred=len(state.deferred),
        missing=state.failures[FailureReason.MISSING],
        failed=sum(1 for e in entries if e.result == "ProcessingFailed"),
        fetch_retries=state.retries,
        response_bytes=serialized_size(entries),
        failures={reason.value: count for reason, count in state.failures.items()},
        oldest_reference_age_seconds=max(state.packed_ages, default=None),
        resized=state.resized,
        direct_bundles=state.direct_bundles,
        direct_bundle_bytes=state.direct_bundle_bytes,
    )


def _fetch_and_pack(
    state: _State, routes: Sequence[Route], deadline: Deadline, s3: S3Client, fetcher: Fetcher
) -> None:
    inline = [index for index, route in enumerate(routes) if route is Route.INLINE]
    direct = [index for index, route in enumerate(routes) if route is Route.DIRECT]
    references = [_reference(state, index) for index in inline]
    concurrency = state.settings.fetch_concurrency
    with fetcher.fetching(references, deadline, concurrency) as results:
        if direct:
            # small direct files are fetched ahead of their turn on a pool of their own
            workers = max(1, min(concurrency, len(direct)))
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="direct") as pool:
                sizes = [_reference(state, index).size for index in direct]
                for group in group_direct(sizes, state.settings.direct_bundle_max_bytes):
                    _deliver_direct(state, [direct[p] for p in group], deadline, s3, pool)
        for index, result in zip(inline, results, strict=True):
            _pack_inline(state, index, result)


def _unfinished(state: _State, index: int, result: Missing | Denied | Failed | OutOfTime) -> None:
    """The outcome of a read that did not produce the file (shared by both paths)."""
    reference = state.records[index].reference
    assert reference is not None
    where = f"s3://{reference.bucket}/{reference.key} version {reference.version_id}"
    if isinstance(result, Missing):
        state.fail(index, FailureReason.MISSING, f"object missing: {where}: {result.reason}")
    elif isinstance(result, Denied):
        state.fail(index, FailureReason.ACCESS_DENIED, f"access denied: {where}: {result.reason}")
    elif isinstance(result, Failed):
        state.fail(index, FailureReason.READ_FAILED, f"could not be read: {result.reason}")
    else:
        state.defer(index, f"out of time: {result.reason}")


def _pack_inline(state: _State, index: int, result: FetchResult) -> None:
    record = state.records[index]
    reference = record.reference
    assert reference is not None
    state.retries += result.retries
    if isinstance(result, SizeMismatch):
        state.resized += 1
        resized = replace(reference, size=result.actual_size)
        state.defer(index, f"size {result.actual_size} != referenced {reference.size}", resized)
        return
    if not isinstance(result, Fetched):
        _unfinished(state, index, result)
        return
    metadata = result.metadata(reference)
    header = member_header(metadata)
    member_size = len(header) + metadata.size + (-metadata.size % BLOCK_SIZE)
    size = ok_entry_size(record.record_id, member_size)
    if not state.budget.fits(index, size):
        state.defer(index)  # the header grew past the estimate (a long version id): later
        return
    member = encode_member(metadata, result.content, header=header)
    state.set(index, ok_entry(record.record_id, member), size)
    state.packed(index)


def _reference(state: _State, index: int) -> ObjectReference:
    reference = state.records[index].reference
    assert reference is not None
    return reference


def _deliver_direct(
    state: _State, indexes: Sequence[int], deadline: Deadline, s3: S3Client, pool: Executor
) -> None:
    """One direct bundle for the records at ``indexes``; each record's outcome as its own."""
    settings = state.settings
    references = [_reference(state, index) for index in indexes]
    key = direct_bundle_key(
        settings.bundle_prefix_expression,
        state.stream,
        references,
        min(state.records[index].arrival_ms for index in indexes),
    )
    bundle = write_direct_bundle(
        s3,
        references,
        archive_bucket=settings.archive_bucket,
        bundle_key=key,
        deadline=deadline,
        pool=pool,
    )
    state.retries += bundle.write_retries
    for index, result in zip(indexes, bundle.results, strict=True):
        state.retries += result.retries
        if not isinstance(result, Bundled):
            _unfinished(state, index, result)
            continue
        state.direct += 1
        state.set(index, dropped_entry(state.records[index].record_id))
        state.packed(index)
    if bundle.bundle_bytes:
        state.direct_bundles += 1
        state.direct_bundle_bytes += bundle.bundle_bytes
    logger.info(
        "direct bundle written" if bundle.bundle_bytes else "direct bundle not written",
        extra={
            "bundle": key,
            "files": len(indexes),
            "members": bundle.members,
            "content_bytes": sum(
                result.metadata.size for result in bundle.results if isinstance(result, Bundled)
            ),
            "bundle_bytes": bundle.bundle_bytes,
            "write_retries": bundle.write_retries,
        },
    )


def _shrink_to_budget(state: _State, demote: Callable[[int], None]) -> None:
    """Demote Ok entries, last first, until the response fits (a guard: the plan should fit)."""
    index = len(state.entries) - 1
    while state.budget.over() and index >= 0:
        entry = state.entries[index]
        if entry is not None and entry.result == "Ok":
            demote(index)
        index -= 1


def _reput_deferred(state: _State, deadline: Deadline, firehose: FirehoseClient) -> None:
    state.reput_done = True
    if not state.deferred:
        return
    stream = state.stream
    records = list(state.deferred.values())
    outcome = put_records(
        firehose, stream, records, deadline, call_allowance=CALL_ALLOWANCE_SECONDS
    )
    if not outcome.failed:
        return
    still_failed = collections.Counter(outcome.failed)
    for index, data in list(state.deferred.items()):
        if still_failed[data] > 0:
            still_failed[data] -= 1
            state.fail(
                index,
                FailureReason.REPUT_FAILED,
                f"could not be put back into stream {stream!r} after {outcome.retries} "
                "retries; redrive it from the error output",
            )
