"""One Firehose batch, end to end: plan, fetch, pack, defer, answer within the limits.

The handler is a thin shell around :func:`process_batch`, which takes its clients and deadline as
arguments so tests drive it against moto with any clock.
"""

from __future__ import annotations

import collections
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger

from pipeline.bundle import BLOCK_SIZE, MemberMetadata, encode_member, member_header
from pipeline.deadline import Deadline
from pipeline.firehose import put_records
from transforms.config import RESPONSE_LIMIT_BYTES, TransformConfig
from transforms.direct import Delivered, deliver_direct, direct_bundle_key
from transforms.fetch import Failed, Fetched, FetchResult, Missing, OutOfTime, fetch_object
from transforms.plan import Route, minimal_entry_size, plan_batch
from transforms.records import (
    Entry,
    InputRecord,
    base64_length,
    decode_records,
    dropped_entry,
    entry_size,
    failed_entry,
    ok_entry,
    response,
    response_size,
    serialized_size,
)

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


@dataclass(slots=True)
class _State:
    records: Sequence[InputRecord]
    entries: list[Entry | None]
    sizes: list[int]
    deferred: list[int]
    missing: int = 0
    direct: int = 0
    retries: int = 0
    _total: int = -1

    def total(self) -> int:
        if self._total < 0:
            self._total = response_size(self.sizes)
        return self._total

    def set(self, index: int, entry: Entry, size: int = -1) -> None:
        if size < 0:
            size = entry_size(entry.record_id, entry.result, len(entry.data))
        self._total = self.total() + size - self.sizes[index]
        self.entries[index] = entry
        self.sizes[index] = size

    def defer(self, index: int) -> None:
        self.deferred.append(index)
        self.set(index, dropped_entry(self.records[index].record_id))

    def fail(self, index: int, message: str) -> None:
        record = self.records[index]
        reference = record.reference
        logger.warning(
            "record reported as ProcessingFailed",
            extra={
                "reason": message,
                "key": reference.key if reference else None,
                "version_id": reference.version_id if reference else None,
                "bucket": reference.bucket if reference else None,
            },
        )
        self.set(index, failed_entry(record, message))


def process_batch(
    event: dict[str, Any],
    settings: TransformConfig,
    deadline: Deadline,
    s3: S3Client,
    firehose: FirehoseClient,
) -> tuple[dict[str, list[dict[str, str]]], BatchSummary]:
    """The processor response for one Firehose event, and what happened."""
    records = decode_records(event)
    routes = plan_batch(
        records,
        inline_max_bytes=settings.inline_max_bytes,
        budget_bytes=settings.response_budget_bytes,
    )
    state = _State(
        records=records,
        entries=[None] * len(records),
        sizes=[minimal_entry_size(record) for record in records],
        deferred=[],
    )
    for index, route in enumerate(routes):
        if route is Route.FAIL:
            state.fail(index, f"unreadable reference: {records[index].error}")
        elif route is Route.DEFER:
            state.defer(index)
    work_deadline = Deadline(deadline.expires_at - settings.reput_reserve_seconds, deadline.clock)
    _fetch_and_pack(state, routes, settings, work_deadline, s3)
    budget = min(settings.response_budget_bytes, RESPONSE_LIMIT_BYTES)
    _shrink_to_budget(state, budget, lambda index: state.defer(index))
    _reput_deferred(state, settings, deadline, firehose)
    _shrink_to_budget(
        state, budget, lambda index: state.fail(index, "response budget exceeded after re-put")
    )
    entries = [entry for entry in state.entries if entry is not None]
    if len(entries) != len(records):  # every record has exactly one entry: a bug otherwise
        raise AssertionError("a record was left without a response entry")
    if serialized_size(entries) > budget:
        entries = [
            Entry(e.record_id, e.result, "") if e.result == "ProcessingFailed" else e
            for e in entries
        ]
    size = serialized_size(entries)
    if size > budget:
        raise AssertionError(f"processor response of {size} bytes exceeds {budget}")
    summary = BatchSummary(
        records=len(records),
        inlined=sum(1 for e in entries if e.result == "Ok"),
        direct=state.direct,
        deferred=sum(1 for i in state.deferred if entries[i].result == "Dropped"),
        missing=state.missing,
        failed=sum(1 for e in entries if e.result == "ProcessingFailed"),
        fetch_retries=state.retries,
        response_bytes=size,
    )
    return response(entries), summary


def _fetch_and_pack(
    state: _State,
    routes: Sequence[Route],
    settings: TransformConfig,
    deadline: Deadline,
    s3: S3Client,
) -> None:
    inline = [index for index, route in enumerate(routes) if route is Route.INLINE]
    direct = [index for index, route in enumerate(routes) if route is Route.DIRECT]
    workers = max(1, min(settings.fetch_concurrency, len(inline)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fetch") as pool:
        futures: dict[int, Future[FetchResult]] = {}
        for index in inline:
            reference = state.records[index].reference
            assert reference is not None
            futures[index] = pool.submit(fetch_object, s3, reference, deadline)
        for index in direct:
            _deliver_direct(state, index, settings, deadline, s3)
        for index in inline:
            _pack_inline(state, index, futures[index].result(), settings)


def _pack_inline(state: _State, index: int, result: FetchResult, settings: TransformConfig) -> None:
    record = state.records[index]
    reference = record.reference
    assert reference is not None
    state.retries += result.retries
    if isinstance(result, Missing):
        state.missing += 1
        state.fail(
            index,
            f"object missing: s3://{reference.bucket}/{reference.key} "
            f"version {reference.version_id}: {result.reason}",
        )
        return
    if isinstance(result, Failed):
        state.fail(index, f"object could not be read: {result.reason}")
        return
    if isinstance(result, OutOfTime):
        logger.info("fetch deferred", extra={"key": reference.key, "reason": result.reason})
        state.defer(index)
        return
    assert isinstance(result, Fetched)
    metadata = MemberMetadata(
        key=reference.key,
        version_id=result.version_id,
        etag=result.etag,
        event_time=reference.event_time,
        sequencer=reference.sequencer,
        bucket=reference.bucket,
        size=len(result.content),
        sha256=result.sha256,
    )
    header = member_header(metadata)
    member_size = len(header) + metadata.size + (-metadata.size % BLOCK_SIZE)
    size = entry_size(record.record_id, "Ok", base64_length(member_size))
    if state.total() + size - state.sizes[index] > settings.response_budget_bytes:
        state.defer(index)  # an unversioned object grew since its event: try it later
        return
    member = encode_member(metadata, result.content, header=header)
    state.set(index, ok_entry(record.record_id, member), size)


def _deliver_direct(
    state: _State, index: int, settings: TransformConfig, deadline: Deadline, s3: S3Client
) -> None:
    record = state.records[index]
    reference = record.reference
    assert reference is not None
    key = direct_bundle_key(
        settings.bundle_prefix, settings.delivery_stream_name, reference, record.arrival_ms
    )
    result = deliver_direct(
        s3, reference, archive_bucket=settings.archive_bucket, bundle_key=key, deadline=deadline
    )
    state.retries += result.retries
    if isinstance(result, Delivered):
        state.direct += 1
        logger.info(
            "large file bundled directly",
            extra={"key": reference.key, "bundle": key, "size": result.metadata.size},
        )
        state.set(index, dropped_entry(record.record_id))
    elif isinstance(result, Missing):
        state.missing += 1
        state.fail(
            index,
            f"object missing: s3://{reference.bucket}/{reference.key} "
            f"version {reference.version_id}: {result.reason}",
        )
    elif isinstance(result, Failed):
        state.fail(index, f"object could not be read: {result.reason}")
    else:
        logger.info("direct bundle deferred", extra={"key": reference.key, "reason": result.reason})
        state.defer(index)


def _shrink_to_budget(state: _State, budget: int, demote: Any) -> None:
    """Demote Ok entries, last first, until the response fits (a guard: the plan should fit)."""
    index = len(state.entries) - 1
    while state.total() > budget and index >= 0:
        entry = state.entries[index]
        if entry is not None and entry.result == "Ok":
            demote(index)
        index -= 1


def _reput_deferred(
    state: _State, settings: TransformConfig, deadline: Deadline, firehose: FirehoseClient
) -> None:
    if not state.deferred:
        return
    data = [state.records[index].data for index in state.deferred]
    outcome = put_records(firehose, settings.delivery_stream_name, data, deadline)
    if not outcome.failed:
        return
    still_failed = collections.Counter(outcome.failed)
    for index in state.deferred:
        record_data = state.records[index].data
        if still_failed[record_data] > 0:
            still_failed[record_data] -= 1
            state.fail(
                index,
                f"could not be put back into stream {settings.delivery_stream_name!r} "
                f"after {outcome.retries} retries; replay it from the error output",
            )
