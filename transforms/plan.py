"""Pure batch planning: which references go inline, which by the direct path, which wait.

The plan is made from the references alone (their sizes are in the S3 events) before anything is
fetched, so it is a deterministic function of the batch: a Firehose retry of the same batch makes
the same plan. Every record starts at the cost of its smallest possible entry; inline references
are then admitted in order while the estimated response stays within its budget (sizes and the
budget: :mod:`transforms.response`).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence

from pipeline.bundle import MemberMetadata
from pipeline.references import ObjectReference
from transforms.records import InputRecord
from transforms.response import ResponseBudget, inline_entry_size

#: placeholder digest: the real one has the same length, so header sizes are exact
_DIGEST_PLACEHOLDER = "0" * 64


class Route(enum.Enum):
    INLINE = "inline"  # fetched and returned as an Ok bundle member
    DIRECT = "direct"  # too large: streamed into a direct bundle in Archive (result Dropped)
    DEFER = "defer"  # does not fit this response: Dropped and re-put into the stream
    FAIL = "fail"  # unreadable reference: ProcessingFailed (error output)


def estimated_metadata(reference: ObjectReference) -> MemberMetadata:
    """The member metadata the reference will produce, with a placeholder digest."""
    return MemberMetadata(
        key=reference.key,
        version_id=reference.version_id,
        etag=reference.etag.strip('"'),
        event_time=reference.event_time,
        sequencer=reference.sequencer,
        bucket=reference.bucket,
        size=reference.size,
        sha256=_DIGEST_PLACEHOLDER,
    )


def route_of(record: InputRecord, inline_max_bytes: int) -> Route:
    """Where a record goes before the budget is considered."""
    if record.reference is None:
        return Route.FAIL
    if record.reference.size > inline_max_bytes:
        return Route.DIRECT
    return Route.INLINE


def plan_batch(
    records: Sequence[InputRecord], *, inline_max_bytes: int, budget_bytes: int
) -> tuple[Route, ...]:
    """One route per record, in input order: inline files while the response fits."""
    budget = ResponseBudget(records, budget_bytes)
    routes: list[Route] = []
    for index, record in enumerate(records):
        route = route_of(record, inline_max_bytes)
        if route is Route.INLINE:
            assert record.reference is not None
            size = inline_entry_size(record.record_id, estimated_metadata(record.reference))
            if budget.fits(index, size):
                budget.charge(index, size)
            else:
                route = Route.DEFER
        routes.append(route)
    return tuple(routes)


def group_direct(sizes: Sequence[int], max_bytes: int) -> tuple[tuple[int, ...], ...]:
    """The direct files' bundles: positions into ``sizes``, in order, in consecutive groups whose
    referenced sizes add up to at most ``max_bytes``; a file larger than that is a group alone.

    Pure and order-preserving, so a retried batch groups (and names) its bundles the same way.
    """
    groups: list[tuple[int, ...]] = []
    current: list[int] = []
    total = 0
    for position, size in enumerate(sizes):
        if current and total + size > max_bytes:
            groups.append(tuple(current))
            current, total = [], 0
        current.append(position)
        total += size
    if current:
        groups.append(tuple(current))
    return tuple(groups)
