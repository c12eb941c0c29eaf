"""Parsing Firehose error-output objects back into references (pure)."""

from __future__ import annotations

import base64
import gzip
import json

import pytest

from scripts.redrive.documents import (
    ErrorDocumentError,
    decode_reference,
    parse_error_document,
    parse_error_object,
)
from tests.unit.redrive.documents import (
    ARRIVAL_MS,
    TRANSFORM_ARN,
    error_object,
    invocation_failed_line,
    processing_failed_line,
    raw_line,
    reference,
)

MISSING = reference("landing", "a dir/ünï.txt", "3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY")
OTHER = reference("landing", "../../etc/passwd", None, size=0)


def test_processing_failed_document_fields_and_reference() -> None:
    line = processing_failed_line(MISSING)
    document = parse_error_document(7, line.rstrip(b"\n"))
    assert document.line == 7
    assert document.attempts_made == 1
    assert document.arrival_timestamp_ms == ARRIVAL_MS
    assert document.attempt_ending_timestamp_ms == ARRIVAL_MS + 900
    assert document.error_code == "Lambda.ProcessingFailed"
    assert "ProcessingFailed" in document.error_message
    assert document.lambda_arn == TRANSFORM_ARN
    # rawData is the original record, exactly: the transform's reason is in its log line
    assert document.raw_data == MISSING.to_record()
    failed = decode_reference(document.raw_data)
    assert failed.reference == MISSING
    assert failed.transform_error is None


def test_a_legacy_error_field_is_stripped_off_the_reference() -> None:
    """Transforms before reference v2 returned the reference plus ``"error"``; error output
    written by Firehose implementations that kept the returned data still reads."""
    legacy = json.dumps({**json.loads(MISSING.to_record()), "error": "object missing"}).encode()
    failed = decode_reference(parse_error_document(1, raw_line(legacy)).raw_data)
    assert failed.reference == MISSING
    assert failed.transform_error == "object missing"


def test_invocation_failure_document_holds_the_plain_reference() -> None:
    document = parse_error_document(1, invocation_failed_line(OTHER))
    assert document.error_code == "Lambda.FunctionError"
    assert document.attempts_made == 4
    failed = decode_reference(document.raw_data)
    assert failed.reference == OTHER
    assert failed.transform_error is None


def test_gzip_object_with_many_lines() -> None:
    lines = [processing_failed_line(MISSING), invocation_failed_line(OTHER), b"\n"]
    found, unreadable = parse_error_object(error_object(lines, compress=True))
    assert [f.reference for _, f in found] == [MISSING, OTHER]
    assert [d.line for d, _ in found] == [1, 2]
    assert unreadable == []


def test_plain_object_and_concatenated_gzip_members() -> None:
    one, two = processing_failed_line(MISSING), invocation_failed_line(OTHER)
    plain, _ = parse_error_object(one + two)
    members, _ = parse_error_object(gzip.compress(one) + gzip.compress(two))
    assert [f.reference for _, f in plain] == [f.reference for _, f in members] == [MISSING, OTHER]


def test_format_conversion_spelling_is_accepted() -> None:
    line = json.dumps(
        {
            "attemptsMade": 1,
            "arrivalTimestamp": ARRIVAL_MS,
            "ErrorCode": "DataFormatConversion.Malformed",
            "ErrorMessage": "bad",
            "attemptEndingTimestamp": ARRIVAL_MS,
            "rawData": base64.b64encode(MISSING.to_record()).decode(),
        }
    ).encode()
    document = parse_error_document(1, line)
    assert (document.error_code, document.error_message) == (
        "DataFormatConversion.Malformed",
        "bad",
    )
    assert document.lambda_arn is None


def test_unreadable_lines_are_listed_and_the_rest_still_parsed() -> None:
    future = json.dumps({"v": 3, "bucket": "landing", "key": "k"}).encode()
    lines = [
        b"{not json\n",
        raw_line(future),
        raw_line(b"\xff\xfe binary"),
        invocation_failed_line(OTHER),
        b'{"attemptsMade": 1, "rawData": "***"}\n',
    ]
    found, unreadable = parse_error_object(error_object(lines))
    assert [f.reference for _, f in found] == [OTHER]
    assert [u.line for u in unreadable] == [1, 2, 3, 5]
    assert "not a Firehose error document" in unreadable[0].reason
    assert "unknown reference format version 3" in unreadable[1].reason
    assert "not UTF-8 JSON" in unreadable[2].reason
    assert "not base64" in unreadable[3].reason


def test_corrupt_gzip_is_one_unreadable_entry() -> None:
    found, unreadable = parse_error_object(b"\x1f\x8b" + b"garbage" * 10)
    assert found == []
    assert len(unreadable) == 1
    assert "corrupt gzip" in unreadable[0].reason


@pytest.mark.parametrize(
    "line",
    [b"[]", b'{"rawData": 3}', b'{"rawData": "", "attemptsMade": "4"}'],
)
def test_malformed_documents_raise(line: bytes) -> None:
    with pytest.raises(ErrorDocumentError):
        parse_error_document(1, line)
