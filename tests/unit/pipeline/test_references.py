"""Object references: serialization round trip and rejection of foreign records."""

from __future__ import annotations

import dataclasses
import json

import pytest

from pipeline.references import ObjectReference, ReferenceFormatError

REFERENCE = ObjectReference(
    bucket="landing",
    key="dir/ünï cødé+%.txt",
    version_id="3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY",
    size=27_000,
    etag='"9b2cf535f27731c974343645a3985328"',
    sequencer="0055AED6DCD90281E5",
    event_time="2026-01-02T03:04:05.678Z",
)


def test_round_trip() -> None:
    record = REFERENCE.to_record()
    assert record.endswith(b"\n")
    assert record.count(b"\n") == 1
    assert ObjectReference.from_record(record) == REFERENCE


def test_null_version_round_trips() -> None:
    reference = dataclasses.replace(REFERENCE, version_id=None)
    assert ObjectReference.from_record(reference.to_record()) == reference


def test_record_is_the_documented_json() -> None:
    document = json.loads(REFERENCE.to_record())
    assert document["v"] == 1
    assert document["key"] == REFERENCE.key


@pytest.mark.parametrize(
    "data",
    [
        b"not json",
        b"\xff\xfe",
        b"[1, 2]",
        b'{"v": 2, "bucket": "b"}',
        json.dumps({**json.loads(REFERENCE.to_record()), "size": -1}).encode(),
        json.dumps({**json.loads(REFERENCE.to_record()), "size": True}).encode(),
        json.dumps({**json.loads(REFERENCE.to_record()), "key": 5}).encode(),
        json.dumps({**json.loads(REFERENCE.to_record()), "version_id": 5}).encode(),
    ],
)
def test_foreign_records_are_rejected(data: bytes) -> None:
    with pytest.raises(ReferenceFormatError):
        ObjectReference.from_record(data)
