"""Realistic inputs for the redrive tests, built by the code that writes them in the pipeline.

Error-output lines come from the LocalStack Firehose plugin's own writer
(``localstack_plugins.firehose.processor.error_document``, the AWS document shape), whose
``rawData`` is the original record, as AWS writes it for ``ProcessingFailed`` records too.
DLQ messages follow Lambda's on-failure invocation record.
"""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from typing import Any

from localstack_plugins.firehose import naming
from localstack_plugins.firehose.processor import (
    FUNCTION_ERROR,
    PROCESSING_FAILED,
    BufferedRecord,
    error_document,
)
from pipeline.references import ObjectReference

TRANSFORM_ARN = "arn:aws:lambda:eu-west-2:123456789012:function:s3-aggregator-unit-transform"
ARRIVAL = datetime(2026, 1, 31, 8, 15, 42, tzinfo=UTC)
ARRIVAL_MS = int(ARRIVAL.timestamp() * 1000)


def reference(bucket: str, key: str, version_id: str | None, size: int = 3) -> ObjectReference:
    return ObjectReference(
        bucket=bucket,
        key=key,
        version_id=version_id,
        size=size,
        etag='"0123456789abcdef0123456789abcdef"',
        sequencer="0062F0A1B2C3D4E5F6",
        event_time="2026-01-31T08:15:41.000Z",
    )


def processing_failed_line(ref: ObjectReference, record_id: str = "r1") -> bytes:
    """The line Firehose writes for a record the transform marked ProcessingFailed: the original
    record as ``rawData`` (whatever the transform returned with it is not written)."""
    record = BufferedRecord(record_id, ARRIVAL_MS, ref.to_record())
    return error_document(record, *PROCESSING_FAILED, 1, ARRIVAL_MS + 900, TRANSFORM_ARN)


def invocation_failed_line(ref: ObjectReference, record_id: str = "r2") -> bytes:
    """The line Firehose writes for a record of a batch whose invocation failed (raw reference)."""
    record = BufferedRecord(record_id, ARRIVAL_MS, ref.to_record())
    return error_document(record, *FUNCTION_ERROR, 4, ARRIVAL_MS + 60_000, TRANSFORM_ARN)


def raw_line(data: bytes, record_id: str = "r3") -> bytes:
    record = BufferedRecord(record_id, ARRIVAL_MS, data)
    return error_document(record, *PROCESSING_FAILED, 1, ARRIVAL_MS + 900, TRANSFORM_ARN)


def error_key(stream: str, arrival: datetime = ARRIVAL, compression: str = "GZIP") -> str:
    """A key as Firehose names error output under our ErrorOutputPrefix."""
    prefix = naming.evaluate(
        "errors/!{firehose:error-output-type}/!{timestamp:yyyy/MM/dd/HH}/",
        arrival,
        "processing-failed",
    )
    return prefix + naming.object_name(stream, "1", arrival, compression)


def error_object(lines: list[bytes], compress: bool = True) -> bytes:
    body = b"".join(lines)
    return gzip.compress(body) if compress else body


def s3_event(bucket: str, key: str) -> dict[str, Any]:
    """An S3 ObjectCreated event as Lambda receives it (the requestPayload of a DLQ record)."""
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": "eu-west-2",
                "eventTime": "2026-01-31T08:15:41.000Z",
                "eventName": "ObjectCreated:Put",
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
                    "object": {
                        "key": key,
                        "size": 3,
                        "eTag": "0123456789abcdef0123456789abcdef",
                        "versionId": "3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY",
                        "sequencer": "0062F0A1B2C3D4E5F6",
                    },
                },
            }
        ]
    }


def invocation_record(
    function_name: str,
    payload: Any,
    condition: str = "RetriesExhausted",
    with_response: bool = True,
) -> str:
    """The SQS body Lambda sends to an on-failure destination."""
    document: dict[str, Any] = {
        "version": "1.0",
        "timestamp": "2026-01-31T08:18:05.568Z",
        "requestContext": {
            "requestId": "e4b46cbf-b738-4a0e-8880-a18cdf61200e",
            "functionArn": (
                f"arn:aws:lambda:eu-west-2:123456789012:function:{function_name}:$LATEST"
            ),
            "condition": condition,
            "approximateInvokeCount": 3,
        },
        "requestPayload": payload,
    }
    if with_response:
        document["responseContext"] = {
            "statusCode": 200,
            "executedVersion": "$LATEST",
            "functionError": "Unhandled",
        }
        document["responsePayload"] = {
            "errorMessage": "2 of 2 references were rejected by Firehose",
            "errorType": "ReferencesNotPutError",
            "requestId": "e4b46cbf-b738-4a0e-8880-a18cdf61200e",
            "stackTrace": ['  File "/var/task/pipeline/ingest/handler.py", line 60'],
        }
    return json.dumps(document)
