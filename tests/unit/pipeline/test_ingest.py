"""Ingest: S3 events to references in Firehose, decoding, ignoring, partial failures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

import pipeline.firehose
from pipeline.deadline import Backoff, Deadline
from pipeline.firehose import chunk_records, put_records
from pipeline.ingest import handler
from pipeline.ingest.events import parse_event
from pipeline.references import ObjectReference
from pipeline.routing import stream_for
from tests.unit.conftest import LambdaContextStub, PipelineAws
from tests.unit.pipeline.s3_events import TEST_EVENT, s3_event, s3_record

KEYS = ["with space.txt", "plus+sign.txt", "100% sure.txt", "ünïcødé/文件.txt", "../../up.txt"]


@pytest.fixture(autouse=True)
def _stream_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DELIVERY_STREAM_NAMES", "test-stream")
    monkeypatch.setattr(pipeline.firehose, "DEFAULT_BACKOFF", Backoff(0.001, 0.01))
    handler.config.cache_clear()


def _delivered(aws: PipelineAws) -> list[ObjectReference]:
    return [
        ObjectReference.from_record(line + b"\n")
        for blob in aws.stream_records()
        for line in blob.splitlines()
    ]


def test_keys_are_decoded_and_references_complete() -> None:
    event = s3_event(*(s3_record("landing", key, size=i) for i, key in enumerate(KEYS)))
    parsed = parse_event(event)
    assert [r.key for r in parsed.references] == KEYS
    first = parsed.references[0]
    assert (first.bucket, first.version_id, first.size, first.sequencer) == (
        "landing",
        "v1",
        0,
        "0055AED6DCD90281E5",
    )
    assert first.event_time == "2026-01-02T03:04:05.678Z"


def test_test_event_and_non_created_records_are_ignored() -> None:
    assert parse_event(TEST_EVENT).references == ()
    assert parse_event(TEST_EVENT).ignored[0].event_name == "s3:TestEvent"
    event = s3_event(
        s3_record("landing", "a", event_name="ObjectRemoved:Delete"),
        s3_record("landing", "b", event_name="ObjectCreated:CompleteMultipartUpload"),
    )
    parsed = parse_event(event)
    assert [r.key for r in parsed.references] == ["b"]
    assert parsed.ignored[0].event_name == "ObjectRemoved:Delete"


def test_handler_puts_every_reference(
    pipeline_aws: PipelineAws, lambda_context: LambdaContextStub, capsys: pytest.CaptureFixture[str]
) -> None:
    event = s3_event(*(s3_record("landing", key, size=10) for key in KEYS))
    before = datetime.now(UTC) - timedelta(seconds=1)
    result = handler.lambda_handler(event, lambda_context)
    assert result == {"put": len(KEYS), "ignored": 0}
    delivered = _delivered(pipeline_aws)
    assert [r.key for r in delivered] == KEYS
    # reference v2: attempt 0, first seen now (the transform bounds deferral from it)
    assert {r.attempt for r in delivered} == {0}
    assert all(datetime.fromisoformat(r.first_seen) >= before for r in delivered)
    assert '"ReferencesPut"' in capsys.readouterr().out


def _sink_references(aws: PipelineAws, sink: str) -> list[ObjectReference]:
    listing = aws.s3.list_objects_v2(Bucket=sink).get("Contents", [])
    blobs = [aws.s3.get_object(Bucket=sink, Key=item["Key"])["Body"].read() for item in listing]
    return [ObjectReference.from_record(line + b"\n") for b in blobs for line in b.splitlines()]


def test_handler_routes_each_key_to_its_stream_with_every_version(
    pipeline_aws: PipelineAws, lambda_context: LambdaContextStub, monkeypatch: pytest.MonkeyPatch
) -> None:
    second, second_sink = "test-stream-2", "second-sink"
    pipeline_aws.s3.create_bucket(
        Bucket=second_sink, CreateBucketConfiguration={"LocationConstraint": "eu-west-2"}
    )
    pipeline_aws.firehose.create_delivery_stream(
        DeliveryStreamName=second,
        DeliveryStreamType="DirectPut",
        ExtendedS3DestinationConfiguration={
            "RoleARN": "arn:aws:iam::123456789012:role/firehose",
            "BucketARN": f"arn:aws:s3:::{second_sink}",
        },
    )
    streams = (pipeline_aws.stream, second)
    monkeypatch.setenv("DELIVERY_STREAM_NAMES", ",".join(streams))
    handler.config.cache_clear()
    keys = [f"file-{n}.txt" for n in range(12)]
    # three versions of every key, interleaved as S3 would notify them
    records = [
        s3_record("landing", key, size=1, version_id=f"v{version}", sequencer=f"{version:04d}")
        for version in range(3)
        for key in keys
    ]

    assert handler.lambda_handler(s3_event(*records), lambda_context)["put"] == len(records)

    by_stream = {
        pipeline_aws.stream: _sink_references(pipeline_aws, pipeline_aws.sink),
        second: _sink_references(pipeline_aws, second_sink),
    }
    assert all(by_stream.values())  # 12 keys over 2 streams: both are used
    assert sorted(r.key for refs in by_stream.values() for r in refs) == sorted(keys * 3)
    for stream, references in by_stream.items():
        assert {stream_for("landing", r.key, streams) for r in references} == {stream}
        for key in {r.key for r in references}:  # every version, in event order, in one stream
            assert [r.version_id for r in references if r.key == key] == ["v0", "v1", "v2"]


def test_handler_ignores_test_event(
    pipeline_aws: PipelineAws, lambda_context: LambdaContextStub
) -> None:
    assert handler.lambda_handler(TEST_EVENT, lambda_context) == {"put": 0, "ignored": 1}
    assert _delivered(pipeline_aws) == []


def _reject(aws: PipelineAws, rounds: int) -> list[list[bytes]]:
    """Reject every other record in the first ``rounds`` PutRecordBatch calls."""
    calls: list[list[bytes]] = []

    def before_build(params: dict[str, Any], **_: Any) -> None:
        calls.append([record["Data"] for record in params["Records"]])

    def after_call(parsed: dict[str, Any], **_: Any) -> None:
        if len(calls) <= rounds:
            failed = 0
            for index, item in enumerate(parsed["RequestResponses"]):
                if index % 2 == 0:
                    item.clear()
                    item.update({"ErrorCode": "ServiceUnavailableException", "ErrorMessage": "x"})
                    failed += 1
            parsed["FailedPutCount"] = failed

    events: Any = aws.firehose.meta.events
    events.register("before-parameter-build.firehose.PutRecordBatch", before_build)
    events.register("after-call.firehose.PutRecordBatch", after_call)
    return calls


def test_only_rejected_records_are_retried(
    pipeline_aws: PipelineAws, lambda_context: LambdaContextStub
) -> None:
    calls = _reject(pipeline_aws, rounds=1)
    event = s3_event(*(s3_record("landing", f"k{i}", size=1) for i in range(6)))
    assert handler.lambda_handler(event, lambda_context)["put"] == 6
    assert len(calls) == 2
    assert calls[1] == calls[0][0::2]


def test_records_still_rejected_make_the_invocation_fail(
    pipeline_aws: PipelineAws, capsys: pytest.CaptureFixture[str]
) -> None:
    _reject(pipeline_aws, rounds=1000)
    event = s3_event(*(s3_record("landing", f"k{i}", size=1) for i in range(4)))
    with pytest.raises(handler.ReferencesNotPutError, match="of 4 references were rejected"):
        handler.lambda_handler(event, LambdaContextStub(timeout_seconds=30))
    assert '"ReferencesRejected"' in capsys.readouterr().out


def test_chunks_respect_record_and_byte_limits() -> None:
    records = [b"x" * 100] * 1200
    assert [len(c) for c in chunk_records(records)] == [500, 500, 200]
    big = [b"y" * 1_000_000] * 9
    chunks = list(chunk_records(big))
    assert all(sum(map(len, c)) <= 4 * 1024 * 1024 for c in chunks)
    assert sum(len(c) for c in chunks) == 9
    with pytest.raises(ValueError, match="exceeds"):
        list(chunk_records([b"z" * (5 * 1024 * 1024)]))


def test_put_records_sends_large_sets_in_limited_calls(pipeline_aws: PipelineAws) -> None:
    calls = _reject(pipeline_aws, rounds=0)
    outcome = put_records(pipeline_aws.firehose, "test-stream", [b"r\n"] * 1100, Deadline.after(30))
    assert outcome.put == 1100 and not outcome.failed
    assert [len(call) for call in calls] == [500, 500, 100]
