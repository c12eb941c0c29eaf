"""Building Firehose processor events and reading processor responses back, for the tests."""

from __future__ import annotations

import base64
import gzip
import io
import json
from collections.abc import Sequence
from typing import Any

from pipeline.bundle import BundleMember, read_bundle
from pipeline.references import ObjectReference

ARRIVAL_MS = 1_767_323_045_000  # 2026-01-02T03:04:05Z


def reference(
    bucket: str, key: str, version_id: str | None, size: int, etag: str = "etag"
) -> ObjectReference:
    return ObjectReference(
        bucket=bucket,
        key=key,
        version_id=version_id,
        size=size,
        etag=etag,
        sequencer="0055AED6DCD90281E5",
        event_time="2026-01-02T03:04:05.000Z",
    )


def firehose_event(references: Sequence[ObjectReference | bytes]) -> dict[str, Any]:
    records = []
    for index, item in enumerate(references):
        data = item if isinstance(item, bytes) else item.to_record()
        records.append(
            {
                "recordId": f"49546986683135544286507457936321625675700192471156785154{index:06d}",
                "approximateArrivalTimestamp": ARRIVAL_MS + index,
                "data": base64.b64encode(data).decode("ascii"),
            }
        )
    return {
        "invocationId": "invocation-1",
        "deliveryStreamArn": "arn:aws:firehose:eu-west-2:123456789012:deliverystream/test-stream",
        "region": "eu-west-2",
        "records": records,
    }


def firehose_bundle(response: dict[str, Any]) -> bytes:
    """What Firehose writes to Archive: the Ok records' data concatenated, gzip'd."""
    payload = b"".join(
        base64.b64decode(entry["data"]) for entry in response["records"] if entry["result"] == "Ok"
    )
    return gzip.compress(payload)


def members(bundle: bytes) -> list[tuple[BundleMember, bytes]]:
    """Every member of a bundle with its verified content."""
    return [(member, member.read()) for member in read_bundle(io.BytesIO(bundle))]


def response_bytes(response: dict[str, Any]) -> int:
    """The serialized size, as the Lambda runtime serializes it (json.dumps)."""
    return len(json.dumps(response).encode("utf-8"))


def reput_references(sink_objects: Sequence[bytes]) -> list[ObjectReference]:
    """References moto's Firehose delivered to its sink (re-puts), one per line."""
    found = []
    for blob in sink_objects:
        for line in blob.splitlines():
            if line.strip():
                found.append(ObjectReference.from_record(line + b"\n"))
    return found
