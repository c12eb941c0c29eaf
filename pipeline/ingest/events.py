"""Pure parsing of S3 event notifications into object references."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.utilities.data_classes import S3Event

from pipeline.references import ObjectReference
from pipeline.s3events import decode_key


@dataclass(frozen=True, slots=True)
class Ignored:
    """An event record that produced no reference, and why (logged, never raised)."""

    event_name: str
    reason: str


@dataclass(frozen=True, slots=True)
class ParsedEvent:
    references: tuple[ObjectReference, ...]
    ignored: tuple[Ignored, ...]


def parse_event(event: dict[str, Any], first_seen: str = "") -> ParsedEvent:
    """References for every ``ObjectCreated`` record; everything else is ignored with a reason.

    ``first_seen`` (ISO-8601 UTC, the ingest's clock) goes into every reference: the transform
    measures a reference's age from it, and a re-put keeps it.
    """
    if event.get("Event") == "s3:TestEvent":
        return ParsedEvent((), (Ignored("s3:TestEvent", "S3 configuration test event"),))
    references: list[ObjectReference] = []
    ignored: list[Ignored] = []
    for record in S3Event(event).records:
        name = str(record.get("eventName", ""))
        if not name.startswith("ObjectCreated:"):
            ignored.append(Ignored(name, "not an ObjectCreated event"))
            continue
        s3_object = record.s3.get_object
        references.append(
            ObjectReference(
                bucket=record.s3.bucket.name,
                key=decode_key(s3_object.key),
                version_id=s3_object.version_id,
                size=int(s3_object.get("size") or 0),
                etag=s3_object.etag,
                sequencer=str(s3_object.get("sequencer", "")),
                event_time=record.event_time,
                first_seen=first_seen,
            )
        )
    return ParsedEvent(tuple(references), tuple(ignored))
