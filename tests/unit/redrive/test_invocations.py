"""Parsing Lambda on-failure invocation records (pure)."""

from __future__ import annotations

import json

import pytest

from scripts.redrive.invocations import InvocationRecordError, parse_invocation_record
from tests.unit.redrive.documents import invocation_record, s3_event

EVENT = s3_event("landing", "dir/file+name.txt")


def test_retries_exhausted_record() -> None:
    record = parse_invocation_record(invocation_record("s3-aggregator-prod-ingest", EVENT))
    assert record.function_name == "s3-aggregator-prod-ingest"
    assert record.condition == "RetriesExhausted"
    assert record.approximate_invoke_count == 3
    assert record.request_id == "e4b46cbf-b738-4a0e-8880-a18cdf61200e"
    assert record.function_error == "Unhandled"
    assert record.error_type == "ReferencesNotPutError"
    assert record.error_message == "2 of 2 references were rejected by Firehose"
    assert json.loads(record.payload_bytes()) == EVENT


def test_event_age_exceeded_record_has_no_response() -> None:
    body = invocation_record("s3-aggregator-prod-copier", EVENT, "EventAgeExceeded", False)
    record = parse_invocation_record(body)
    assert record.function_name == "s3-aggregator-prod-copier"
    assert record.condition == "EventAgeExceeded"
    assert (record.function_error, record.error_type, record.error_message) == (None, None, None)
    assert json.loads(record.payload_bytes()) == EVENT


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("not json", "not JSON"),
        ("[1]", "not a JSON object"),
        (json.dumps(EVENT), "no requestContext"),  # a plain DLQ message: just the event
        (json.dumps({"requestContext": {"functionArn": "arn"}}), "no requestPayload"),
        (json.dumps({"requestContext": {}, "requestPayload": {}}), "functionArn is missing"),
    ],
)
def test_not_an_invocation_record(body: str, message: str) -> None:
    with pytest.raises(InvocationRecordError, match=message):
        parse_invocation_record(body)
