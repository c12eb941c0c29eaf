"""Firehose error-output documents and the references inside them (pure parsing, no I/O).

Firehose writes one JSON document per failed record, one per line, into objects under the
stream's ``ErrorOutputPrefix`` (gzip'd when the stream compresses, plain otherwise)::

    {"attemptsMade": 4, "arrivalTimestamp": 1767225600000, "errorCode": "Lambda.ProcessingFailed",
     "errorMessage": "...", "attemptEndingTimestamp": 1767225601000, "rawData": "<base64>",
     "lambdaArn": "arn:aws:lambda:...:function:s3-aggregator-prod-transform:$LATEST"}

``rawData`` is the original Firehose record: an object reference (docs/architecture.md), exactly
as it entered the processor, for ``ProcessingFailed`` records too (AWS never writes what the
processor returned with them). The transform's reason is in its log line and metrics
(docs/runtime.md); ``redrive errors`` finds out the state of each file by checking Landing.
A legacy ``"error"`` field (transforms before reference v2 returned one) is stripped.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import json
import zlib
from dataclasses import dataclass
from typing import Any

from pipeline.references import ObjectReference, ReferenceFormatError

_GZIP_MAGIC = b"\x1f\x8b"
#: the field the transform adds to a ProcessingFailed reference
ERROR_FIELD = "error"


class ErrorDocumentError(ValueError):
    """A line of an error-output object is not a Firehose error document."""


@dataclass(frozen=True, slots=True)
class ErrorDocument:
    """One line of a Firehose error-output object (``rawData`` already base64-decoded)."""

    line: int
    attempts_made: int
    arrival_timestamp_ms: int
    error_code: str
    error_message: str
    attempt_ending_timestamp_ms: int
    raw_data: bytes
    lambda_arn: str | None


@dataclass(frozen=True, slots=True)
class FailedReference:
    """The reference a document carries, with the transform's reason when it gave one."""

    reference: ObjectReference
    transform_error: str | None


@dataclass(frozen=True, slots=True)
class UnreadableLine:
    """A line that could not be turned into a reference: it is reported, never re-put."""

    line: int
    reason: str


def decompress(body: bytes) -> bytes:
    """The object's text: gunzip'd when it starts with the gzip magic (concatenated members ok)."""
    if not body.startswith(_GZIP_MAGIC):
        return body
    try:
        return gzip.decompress(body)
    except (OSError, EOFError, zlib.error) as error:
        raise ErrorDocumentError(f"corrupt gzip stream: {error}") from error


def parse_error_document(line_number: int, line: bytes) -> ErrorDocument:
    """Parse one JSON line; ``errorCode`` and ``ErrorCode`` are both accepted (AWS uses both)."""
    try:
        document: Any = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ErrorDocumentError(f"not UTF-8 JSON: {error}") from error
    if not isinstance(document, dict):
        raise ErrorDocumentError("not a JSON object")
    raw = document.get("rawData")
    if not isinstance(raw, str):
        raise ErrorDocumentError("no rawData string")
    try:
        data = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError) as error:
        raise ErrorDocumentError(f"rawData is not base64: {error}") from error
    lambda_arn = document.get("lambdaArn")
    return ErrorDocument(
        line=line_number,
        attempts_made=_int(document, "attemptsMade"),
        arrival_timestamp_ms=_int(document, "arrivalTimestamp"),
        error_code=str(document.get("errorCode") or document.get("ErrorCode") or ""),
        error_message=str(document.get("errorMessage") or document.get("ErrorMessage") or ""),
        attempt_ending_timestamp_ms=_int(document, "attemptEndingTimestamp"),
        raw_data=data,
        lambda_arn=lambda_arn if isinstance(lambda_arn, str) else None,
    )


def _int(document: dict[str, Any], name: str) -> int:
    value = document.get(name, 0)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ErrorDocumentError(f"{name} must be an integer, got {value!r}")
    return value


def decode_reference(raw_data: bytes) -> FailedReference:
    """The reference in a record, without the transform's ``"error"`` field.

    Raises :class:`ReferenceFormatError` when the record is not a reference this code reads.
    """
    try:
        document: Any = json.loads(raw_data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ReferenceFormatError(f"record is not UTF-8 JSON: {error}") from error
    if not isinstance(document, dict):
        raise ReferenceFormatError("record is not a JSON object")
    reason = document.pop(ERROR_FIELD, None)
    reference = ObjectReference.from_record(json.dumps(document).encode("utf-8"))
    return FailedReference(reference, reason if isinstance(reason, str) else None)


def parse_error_object(
    body: bytes,
) -> tuple[list[tuple[ErrorDocument, FailedReference]], list[UnreadableLine]]:
    """Every line of an error-output object: the references found, and the lines that are not."""
    references: list[tuple[ErrorDocument, FailedReference]] = []
    unreadable: list[UnreadableLine] = []
    try:
        text = decompress(body)
    except ErrorDocumentError as error:
        return [], [UnreadableLine(0, str(error))]
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            document = parse_error_document(number, line)
        except ErrorDocumentError as error:
            unreadable.append(UnreadableLine(number, f"not a Firehose error document: {error}"))
            continue
        try:
            references.append((document, decode_reference(document.raw_data)))
        except ReferenceFormatError as error:
            unreadable.append(UnreadableLine(number, f"rawData is not a reference: {error}"))
    return references, unreadable
