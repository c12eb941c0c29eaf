"""The processor's input records, decoded once, and its response entries with exact sizes."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from aws_lambda_powertools import Logger

from pipeline.references import ObjectReference, ReferenceFormatError

Result = Literal["Ok", "Dropped", "ProcessingFailed"]

_RECORDS_OPEN = len('{"records": [')
_RECORDS_CLOSE = len("]}")
_SEPARATOR = len(", ")

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


def base64_length(size: int) -> int:
    return 4 * ((size + 2) // 3)


def entry_size(record_id: str, result: Result, data_length: int) -> int:
    """Exact ``json.dumps`` length of an entry whose base64 ``data`` has ``data_length`` chars."""
    return (
        len('{"recordId": ')
        + _json_string_length(record_id)
        + len(', "result": "')
        + len(result)
        + len('", "data": "')
        + data_length
        + len('"}')
    )


def _json_string_length(text: str) -> int:
    """``len(json.dumps(text))``; record ids are plain ASCII, which needs no escaping."""
    if text.isascii() and text.isprintable() and '"' not in text and "\\" not in text:
        return len(text) + 2
    return len(json.dumps(text))


def response_size(entry_sizes: Iterable[int]) -> int:
    """Exact ``json.dumps`` length of ``{"records": [...]}`` given each entry's length."""
    sizes = list(entry_sizes)
    return _RECORDS_OPEN + sum(sizes) + _SEPARATOR * max(0, len(sizes) - 1) + _RECORDS_CLOSE


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


def failed_entry_size(record: InputRecord) -> int:
    """What :func:`failed_entry` costs in the response."""
    return entry_size(record.record_id, "ProcessingFailed", base64_length(len(record.data)))


def response(entries: Sequence[Entry]) -> dict[str, list[dict[str, str]]]:
    return {"records": [entry.as_dict() for entry in entries]}


def serialized_size(entries: Sequence[Entry]) -> int:
    """Exact serialized size of :func:`response` (without serializing the payloads)."""
    return response_size(entry_size(e.record_id, e.result, len(e.data)) for e in entries)
