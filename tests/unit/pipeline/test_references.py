"""Object references: serialization round trip and rejection of foreign records."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime

import pytest

from pipeline.references import ObjectReference, ReferenceFormatError, age_seconds, iso_now

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
    assert document["v"] == 2
    assert document["key"] == REFERENCE.key
    assert document["attempt"] == 0
    assert document["first_seen"] == ""


def test_version_1_records_are_still_read() -> None:
    document = json.loads(REFERENCE.to_record())
    del document["attempt"], document["first_seen"]
    document["v"] = 1
    parsed = ObjectReference.from_record(json.dumps(document).encode() + b"\n")
    assert parsed == REFERENCE
    assert parsed.attempt == 0
    assert parsed.first_seen_or_event == REFERENCE.event_time


def test_deferral_counts_attempts_and_keeps_first_seen() -> None:
    seen = dataclasses.replace(REFERENCE, first_seen="2026-01-02T03:04:06.000Z")
    twice = seen.deferred().deferred()
    assert ObjectReference.from_record(twice.to_record()) == twice
    assert twice.attempt == 2
    assert twice.first_seen == seen.first_seen
    # a v1 reference gets its event time as first-seen on its first deferral
    assert REFERENCE.deferred().first_seen == REFERENCE.event_time
    # the identity (direct bundle names, dedup) ignores the bookkeeping
    assert twice.identity() == REFERENCE.identity() == seen.identity()
    assert twice.restarted("2026-02-01T00:00:00.000Z").attempt == 0


def test_age_is_measured_from_iso_times() -> None:
    now = datetime(2026, 1, 2, 3, 5, 5, 678000, tzinfo=UTC)
    assert age_seconds(REFERENCE.event_time, now) == 60.0
    assert age_seconds("not a time", now) is None
    assert age_seconds(iso_now(now), now) == 0.0


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
        json.dumps({**json.loads(REFERENCE.to_record()), "attempt": -1}).encode(),
        json.dumps({**json.loads(REFERENCE.to_record()), "attempt": "1"}).encode(),
        json.dumps({**json.loads(REFERENCE.to_record()), "first_seen": None}).encode(),
        json.dumps({**json.loads(REFERENCE.to_record()), "v": 3}).encode(),
        json.dumps({**json.loads(REFERENCE.to_record()), "v": True}).encode(),
    ],
)
def test_foreign_records_are_rejected(data: bytes) -> None:
    with pytest.raises(ReferenceFormatError):
        ObjectReference.from_record(data)
