"""The processor's input records, decoded once, and its response entries (their sizes and the
response's budget: :mod:`transforms.response`)."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from aws_lambda_powertools import Logger

from pipeline.references import ObjectReference, ReferenceFormatError

Result = Literal["Ok", "Dropped", "ProcessingFailed"]

logger = Logger(child=True)


@dataclass(frozen=True, slots=True)
class InputRecord:
    """One Firehose input record: its id, raw data, arrival time, and the reference it holds."""

    record_id: str
    data: bytes
    arrival_ms: int
    reference: ObjectReference | None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Entry:
    """One processor response entry; ``data`` is already base64 text."""

    record_id: str
    result: Result
    data: str

    def as_dict(self) -> dict[str, str]:
        return {"recordId": self.record_id, "result": self.result, "data": self.data}


def source_stream(event: dict[str, Any], configured: Sequence[str]) -> str:
    """The delivery stream that invoked the processor, from the event's ``deliveryStreamArn``.

    Deferred references go back to it (and direct bundles are named after it), so with N streams
    a key's references stay in the stream the ingest routed them to. An event without the ARN
    (a test or benchmark invoking the handler directly) falls back to the first configured stream.
    """
    arn = str(event.get("deliveryStreamArn") or "")
    _, found, name = arn.partition(":deliverystream/")
    if found and name:
        if name not in configured:
            logger.warning(
                "the invoking stream is not one of the configured streams",
                extra={"stream": name, "configured": list(configured)},
            )
        return name
    return configured[0]


def decode_records(event: dict[str, Any]) -> list[InputRecord]:
    """Decode the Firehose event; unreadable references become records with an ``error``."""
    decoded: list[InputRecord] = []
    for raw in event.get("records", []):
        record_id = str(raw["recordId"])
        arrival = int(raw.get("approximateArrivalTimestamp") or 0)
        try:
            data = base64.b64decode(raw.get("data", ""), validate=True)
        except (binascii.Error, ValueError) as error:
            decoded.append(
                InputRecord(record_id, b"", arrival, None, f"data is not base64: {error}")
            )
            continue
        try:
            reference = ObjectReference.from_record(data)
        except ReferenceFormatError as error:
            decoded.append(InputRecord(record_id, data, arrival, None, str(error)))
            continue
        decoded.append(InputRecord(record_id, data, arrival, reference))
    return decoded


def ok_entry(record_id: str, member: bytes) -> Entry:
    return Entry(record_id, "Ok", base64.b64encode(member).decode("ascii"))


def dropped_entry(record_id: str) -> Entry:
    return Entry(record_id, "Dropped", "")


def failed_entry(record: InputRecord) -> Entry:
    """A ``ProcessingFailed`` entry carrying the record's original data, unchanged.

    Firehose writes the *original* input record to the error output (``rawData``), whatever the
    processor returned with ``ProcessingFailed``: the reason travels in the transform's log line
    and metrics, never in this data (docs/runtime.md, "Error output").
    """
    return Entry(
        record.record_id, "ProcessingFailed", base64.b64encode(record.data).decode("ascii")
    )
