"""Pure batch planning: which references go inline, which by the direct path, which wait.

The plan is made from the references alone (their sizes are in the S3 events) before anything is
fetched, so it is a deterministic function of the batch: a Firehose retry of the same batch makes
the same plan. Every record starts at the cost of its smallest possible entry; inline references
are then admitted in order while the estimated serialized response stays within the budget.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence

from pipeline.bundle import MemberMetadata, encoded_member_size
from pipeline.references import ObjectReference
from transforms.records import (
    InputRecord,
    base64_length,
    entry_size,
    failed_entry_size,
    response_size,
)

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


def inline_entry_size(record_id: str, metadata: MemberMetadata) -> int:
    """Serialized size of the Ok entry for a member with ``metadata``."""
    return entry_size(record_id, "Ok", base64_length(encoded_member_size(metadata)))


def minimal_entry_size(record: InputRecord) -> int:
    """What a record costs in the response at the least: an unreadable one is ProcessingFailed
    (the record echoed), a reference Dropped. A reference that fails later echoes its record
    too; the batch makes room for it by demoting an Ok entry (transforms/batch.py)."""
    if record.reference is None:
        return failed_entry_size(record)
    return entry_size(record.record_id, "Dropped", 0)


def plan_batch(
    records: Sequence[InputRecord], *, inline_max_bytes: int, budget_bytes: int
) -> tuple[Route, ...]:
    """One route per record, in input order."""
    baseline = [minimal_entry_size(record) for record in records]
    total = response_size(baseline)
    routes: list[Route] = []
    for record, minimal in zip(records, baseline, strict=True):
        reference = record.reference
        if reference is None:
            routes.append(Route.FAIL)
        elif reference.size > inline_max_bytes:
            routes.append(Route.DIRECT)
        else:
            extra = inline_entry_size(record.record_id, estimated_metadata(reference)) - minimal
            if total + extra <= budget_bytes:
                total += extra
                routes.append(Route.INLINE)
            else:
                routes.append(Route.DEFER)
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
