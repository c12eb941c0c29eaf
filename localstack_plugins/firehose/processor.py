"""The Lambda processor contract of Firehose (pure functions, no I/O).

Event: ``{"invocationId", "deliveryStreamArn", "region", "records": [{"recordId",
"approximateArrivalTimestamp", "data"}]}``. Response: one ``{"recordId", "result", "data"}`` per
input record, ``result`` in Ok/Dropped/ProcessingFailed. Any mismatch between the ids sent and
returned, a malformed document or a function error fails the whole invocation (retried, then
the batch goes to the error output).
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from pipeline.contract.limits import LAMBDA_RESPONSE_LIMIT_BYTES

#: Lambda's synchronous response limit; a larger response fails the invocation.
MAX_RESPONSE_BYTES = LAMBDA_RESPONSE_LIMIT_BYTES
RESULTS = frozenset({"Ok", "Dropped", "ProcessingFailed"})
FUNCTION_ERROR = (
    "Lambda.FunctionError",
    "The Lambda function was successfully invoked but it returned an error result.",
)
JSON_ERROR = (
    "Lambda.JsonProcessingException",
    "There was an error parsing returned records from the Lambda function. Ensure that the "
    "returned records follow the status model required by Firehose.",
)
MISSING_ID = (
    "Lambda.MissingRecordId",
    "One or more record IDs were not returned. Ensure that the Lambda function returns all "
    "received record IDs.",
)
DUPLICATED_ID = (
    "Lambda.DuplicatedRecordId",
    "Multiple records were returned with the same record ID. Ensure that the Lambda function "
    "returns unique record IDs for each record.",
)
UNKNOWN_ID = (
    "Lambda.InvalidRecordId",
    "One or more returned record IDs were not sent to the Lambda function. Ensure that the "
    "Lambda function returns only the record IDs it received.",
)
PROCESSING_FAILED = (
    "Lambda.ProcessingFailed",
    "The Lambda function marked the record as ProcessingFailed.",
)


@dataclass(frozen=True)
class BufferedRecord:
    record_id: str
    arrival_ms: int
    data: bytes


@dataclass(frozen=True)
class RecordResult:
    record_id: str
    result: str
    data: bytes


@dataclass(frozen=True)
class InvocationFailure:
    code: str
    message: str


def build_event(stream_arn: str, region: str, records: Sequence[BufferedRecord]) -> bytes:
    return json.dumps(
        {
            "invocationId": str(uuid.uuid4()),
            "deliveryStreamArn": stream_arn,
            "region": region,
            "records": [
                {
                    "recordId": r.record_id,
                    "approximateArrivalTimestamp": r.arrival_ms,
                    "data": base64.b64encode(r.data).decode("ascii"),
                }
                for r in records
            ],
        }
    ).encode()


def _parse_entry(entry: object) -> RecordResult | None:
    if not isinstance(entry, dict):
        return None
    record_id, result = entry.get("recordId"), entry.get("result")
    if not isinstance(record_id, str) or result not in RESULTS:
        return None
    raw = entry.get("data", "")
    if not isinstance(raw, str):
        return None
    try:
        data = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        return None
    return RecordResult(record_id, str(result), data)


def parse_response(
    sent: Sequence[BufferedRecord], payload: bytes, function_error: bool
) -> list[RecordResult] | InvocationFailure:
    """The per-record results of one invocation, or why the invocation failed."""
    if function_error or len(payload) > MAX_RESPONSE_BYTES:
        return InvocationFailure(*FUNCTION_ERROR)
    try:
        document = json.loads(payload)
    except ValueError:
        return InvocationFailure(*JSON_ERROR)
    entries = document.get("records") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        return InvocationFailure(*JSON_ERROR)
    results = [_parse_entry(entry) for entry in entries]
    parsed = [r for r in results if r is not None]
    if len(parsed) != len(results):
        return InvocationFailure(*JSON_ERROR)
    returned = [r.record_id for r in parsed]
    expected = {r.record_id for r in sent}
    if len(set(returned)) != len(returned):
        return InvocationFailure(*DUPLICATED_ID)
    if set(returned) - expected:
        return InvocationFailure(*UNKNOWN_ID)
    if expected - set(returned):
        return InvocationFailure(*MISSING_ID)
    return parsed


def error_document(
    record: BufferedRecord,
    code: str,
    message: str,
    attempts: int,
    ending_ms: int,
    lambda_arn: str,
) -> bytes:
    """One line of the ``processing-failed`` error output."""
    return (
        json.dumps(
            {
                "attemptsMade": attempts,
                "arrivalTimestamp": record.arrival_ms,
                "errorCode": code,
                "errorMessage": message,
                "attemptEndingTimestamp": ending_ms,
                "rawData": base64.b64encode(record.data).decode("ascii"),
                "lambdaArn": lambda_arn,
            }
        ).encode()
        + b"\n"
    )
