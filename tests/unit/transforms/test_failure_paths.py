"""The transform's failure paths against moto: bounded deferral, the error-output contract,
access denied, capped reads, retried direct writes, deadlines checked before every call."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import io
import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse, HTTPHeaders

import pipeline.firehose
import transforms.fetch
from pipeline.aws import CALL_ALLOWANCE_SECONDS
from pipeline.deadline import Backoff, Deadline
from pipeline.references import ObjectReference
from tests.unit.conftest import PipelineAws
from tests.unit.transforms.botocore_fetcher import BotocoreFetcher
from tests.unit.transforms.helpers import (
    ARRIVAL_MS,
    firehose_bundle,
    firehose_event,
    members,
    reference,
    reput_references,
    response_bytes,
)
from transforms.batch import BatchSummary, process_batch
from transforms.config import ConfigError, TransformConfig
from transforms.direct import Bundled, DirectBundle, direct_bundle_key, write_direct_bundle
from transforms.fetch import (
    Fetched,
    OutOfTime,
    SizeMismatch,
    call_with_retries,
    fetch_object,
    read_capped,
)
from transforms.multipart import MIN_PART_SIZE

#: a minute after the helpers' S3 event time (2026-01-02T03:04:05Z)
NOW = datetime(2026, 1, 2, 3, 5, 5, tzinfo=UTC)
INJECTOR = "failure-path-injector"


@pytest.fixture(autouse=True)
def _fast_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(transforms.fetch, "DEFAULT_BACKOFF", Backoff(0.001, 0.01))
    monkeypatch.setattr(pipeline.firehose, "DEFAULT_BACKOFF", Backoff(0.001, 0.01))


@pytest.fixture
def inject(pipeline_aws: PipelineAws) -> Iterator[Callable[[str, list[tuple[int, str]]], None]]:
    """Answer the next calls of one S3 operation with (status, code) errors; then the real
    answer. The clients are cached across tests: every injector is removed afterwards."""
    registered: list[str] = []

    def install(operation: str, errors: list[tuple[int, str]]) -> None:
        pending = list(errors)

        def before_send(request: Any, **_: Any) -> AWSResponse | None:
            if not pending:
                return None
            status, code = pending.pop(0)
            if status == 200:
                return None
            body = f"<Error><Code>{code}</Code><Message>injected</Message></Error>".encode()
            return AWSResponse(request.url, status, HTTPHeaders(), _Raw(body))

        event = f"before-send.s3.{operation}"
        events: Any = pipeline_aws.s3.meta.events
        events.register(event, before_send, unique_id=INJECTOR + operation)
        registered.append(operation)

    yield install
    for operation in registered:
        pipeline_aws.s3.meta.events.unregister(
            f"before-send.s3.{operation}", unique_id=INJECTOR + operation
        )


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


def run(
    aws: PipelineAws, refs: list[Any], now: datetime = NOW, **overrides: Any
) -> tuple[dict[str, Any], BatchSummary]:
    settings = TransformConfig(
        archive_bucket=aws.archive, delivery_stream_names=(aws.stream,), **overrides
    )
    return process_batch(
        firehose_event(refs),
        settings,
        Deadline.after(120.0),
        aws.s3,
        aws.firehose,
        now=now,
        fetcher=BotocoreFetcher(aws.s3),
    )


def upload(aws: PipelineAws, key: str, body: bytes, size: int | None = None) -> ObjectReference:
    version = aws.put(key, body)
    return reference(
        aws.landing,
        key,
        version,
        len(body) if size is None else size,
        hashlib.md5(body).hexdigest(),
    )


def results(response: dict[str, Any]) -> list[str]:
    return [entry["result"] for entry in response["records"]]


# ----------------------------------------------------------------------------- bounded deferral


def test_size_mismatch_is_replanned_and_deferred_with_one_more_attempt(
    pipeline_aws: PipelineAws,
) -> None:
    # the event said 10 bytes (or had no size: 0); the object has 3
    wrong = upload(pipeline_aws, "resized.txt", b"abc", size=10)

    response, summary = run(pipeline_aws, [wrong])

    assert results(response) == ["Dropped"]
    assert summary.deferred == 1 and summary.resized == 1
    (reput,) = reput_references(pipeline_aws.stream_records())
    assert reput == dataclasses.replace(wrong, size=3, attempt=1, first_seen=wrong.event_time)
    # the re-planned reference is packed by the next batch
    again, _ = run(pipeline_aws, [reput])
    assert [(m.metadata.key, c) for m, c in members(firehose_bundle(again))] == [
        ("resized.txt", b"abc")
    ]


def test_deferral_past_max_deferrals_is_processing_failed_and_counted(
    pipeline_aws: PipelineAws,
) -> None:
    wrong = upload(pipeline_aws, "loops.txt", b"abc", size=10)
    tired = dataclasses.replace(wrong, attempt=3)

    response, summary = run(pipeline_aws, [wrong, tired], max_deferrals=3)

    assert results(response) == ["Dropped", "ProcessingFailed"]
    assert summary.failures == {"too-many-deferrals": 1}
    assert summary.deferred == 1
    # what Firehose will write as rawData is the record as it came in, never blanked
    assert base64.b64decode(response["records"][1]["data"]) == tired.to_record()


def test_reference_older_than_max_age_is_processing_failed_not_deferred(
    pipeline_aws: PipelineAws,
) -> None:
    wrong = upload(pipeline_aws, "old.txt", b"abc", size=10)
    seen = dataclasses.replace(wrong, first_seen="2026-01-02T03:04:05.000Z", attempt=5)

    fresh, _ = run(pipeline_aws, [seen], now=NOW, max_reference_age_seconds=3600)
    stale, summary = run(
        pipeline_aws, [seen], now=NOW + timedelta(hours=2), max_reference_age_seconds=3600
    )

    assert results(fresh) == ["Dropped"]
    assert results(stale) == ["ProcessingFailed"]
    assert summary.failures == {"too-old": 1}
    assert summary.deferred == 0


def test_oldest_reference_age_is_measured_from_the_event_time(pipeline_aws: PipelineAws) -> None:
    packed = upload(pipeline_aws, "a.txt", b"a")
    # a re-put (attempt 7, first seen later) does not reset the age: it counts from the event
    reput = dataclasses.replace(
        upload(pipeline_aws, "b.txt", b"b"), attempt=7, first_seen="2026-01-02T03:05:00.000Z"
    )
    _, summary = run(pipeline_aws, [packed, reput], now=NOW + timedelta(seconds=30))
    assert summary.oldest_reference_age_seconds == 90.0
    _, nothing = run(pipeline_aws, [b"garbage"])
    assert nothing.oldest_reference_age_seconds is None


# ------------------------------------------------------------------------- error-output contract


def test_failures_after_a_full_response_demote_ok_entries_never_blank_one(
    pipeline_aws: PipelineAws,
) -> None:
    """Re-puts rejected for good turn 200 Dropped entries into ProcessingFailed entries that
    echo their records: the response fits its budget by failing Ok entries, not by blanking."""

    def reject_all(parsed: dict[str, Any], **_: Any) -> None:
        parsed["FailedPutCount"] = len(parsed["RequestResponses"])
        for item in parsed["RequestResponses"]:
            item.clear()
            item.update({"ErrorCode": "ServiceUnavailableException", "ErrorMessage": "busy"})

    events: Any = pipeline_aws.firehose.meta.events
    events.register("after-call.firehose.PutRecordBatch", reject_all, unique_id=INJECTOR)
    try:
        body = os.urandom(20_000)
        refs: list[Any] = [upload(pipeline_aws, f"full/{i}", body) for i in range(10)]
        refs += [reference(pipeline_aws.landing, f"later/{i}", "v", 20_000) for i in range(200)]
        budget = 150_000
        response, summary = run(pipeline_aws, refs, response_budget_bytes=budget)
    finally:
        events.unregister("after-call.firehose.PutRecordBatch", unique_id=INJECTOR)

    assert response_bytes(response) <= budget
    event = firehose_event(refs)
    for entry, record in zip(response["records"], event["records"], strict=True):
        if entry["result"] == "ProcessingFailed":
            assert entry["data"] == record["data"]  # the original record, never ""
    assert "Dropped" not in results(response)
    ok = results(response).count("Ok")
    assert 0 < ok < 5  # the plan packed 5; at least one was failed to make room
    assert summary.failures == {"reput-failed": len(refs) - ok}


# ------------------------------------------------------------------------------- capped reads


class _Body:
    """A streaming body that counts what was read from it."""

    def __init__(self, data: bytes) -> None:
        self._stream = io.BytesIO(data)
        self.read_bytes = 0
        self.closed = False

    def read(self, amount: int = -1) -> bytes:
        piece = self._stream.read(amount)
        self.read_bytes += len(piece)
        return piece

    def close(self) -> None:
        self.closed = True


def test_inline_reads_stop_at_the_referenced_size_plus_one() -> None:
    body = _Body(b"x" * 5_000_000)
    content = read_capped(body, 1001, Deadline.after(60))
    assert len(content) == 1001 and body.read_bytes == 1001 and body.closed


def test_a_body_longer_than_its_reference_is_a_size_mismatch_not_content(
    pipeline_aws: PipelineAws, monkeypatch: pytest.MonkeyPatch
) -> None:
    ref = upload(pipeline_aws, "grown.bin", b"y" * 300_000, size=100)
    seen: list[_Body] = []
    real = pipeline_aws.s3.get_object

    def lying_get(**kwargs: Any) -> Any:  # a GET whose ContentLength repeats the reference
        answer: dict[str, Any] = dict(real(**kwargs))
        answer["ContentLength"] = 100
        seen.append(_Body(answer["Body"].read()))
        answer["Body"] = seen[-1]
        return answer

    monkeypatch.setattr(pipeline_aws.s3, "get_object", lying_get)
    result = fetch_object(pipeline_aws.s3, ref, Deadline.after(60))
    assert result == SizeMismatch(100, 0)
    assert seen[0].read_bytes == 101
    # the honest ContentLength path: no body read at all
    monkeypatch.undo()
    honest = fetch_object(pipeline_aws.s3, ref, Deadline.after(60))
    assert isinstance(honest, SizeMismatch) and honest.actual_size == 300_000
    exact = fetch_object(pipeline_aws.s3, upload(pipeline_aws, "ok", b"ok"), Deadline.after(60))
    assert isinstance(exact, Fetched) and exact.content == b"ok"


# ------------------------------------------------------------------------------ honest deadlines


def test_no_call_starts_without_its_allowance_first_attempt_included() -> None:
    calls: list[int] = []
    clock = [0.0]
    deadline = Deadline(CALL_ALLOWANCE_SECONDS - 0.5, lambda: clock[0])
    result, retries = call_with_retries(lambda: calls.append(1), deadline)
    assert isinstance(result, OutOfTime) and retries == 0
    assert calls == []


def test_firehose_puts_start_only_with_their_allowance(pipeline_aws: PipelineAws) -> None:
    clock = [0.0]
    deadline = Deadline(3.0, lambda: clock[0])
    outcome = pipeline.firehose.put_records(
        pipeline_aws.firehose, pipeline_aws.stream, [b"a\n", b"b\n"], deadline, call_allowance=5.0
    )
    assert outcome.put == 0 and outcome.failed == (b"a\n", b"b\n")
    assert pipeline_aws.stream_records() == []


# ---------------------------------------------------------------------- retried direct writes

SIZE = 2 * MIN_PART_SIZE + 1_000_000  # three parts


def _direct(
    aws: PipelineAws, deadline: Deadline, sleep: Callable[[float], None] = lambda _: None
) -> tuple[DirectBundle, ObjectReference, bytes, str]:
    content = os.urandom(SIZE)
    ref = upload(aws, "big/file.bin", content)
    key = direct_bundle_key("bundles/", aws.stream, [ref], ARRIVAL_MS)
    bundle = write_direct_bundle(
        aws.s3,
        [ref],
        archive_bucket=aws.archive,
        bundle_key=key,
        deadline=deadline,
        part_size=MIN_PART_SIZE,
        backoff=Backoff(0.001, 0.01),
        sleep=sleep,
    )
    return bundle, ref, content, key


@pytest.mark.slow
def test_503s_on_upload_part_and_complete_are_retried_and_the_file_arrives_once(
    pipeline_aws: PipelineAws, inject: Callable[[str, list[tuple[int, str]]], None]
) -> None:
    inject("UploadPart", [(503, "SlowDown"), (503, "SlowDown"), (500, "InternalError")])
    inject("CompleteMultipartUpload", [(503, "SlowDown"), (503, "ServiceUnavailable")])

    bundle, _, content, key = _direct(pipeline_aws, Deadline.after(120))

    assert isinstance(bundle.results[0], Bundled)
    assert bundle.write_retries == 5
    blob = pipeline_aws.s3.get_object(Bucket=pipeline_aws.archive, Key=key)["Body"].read()
    ((_, read),) = members(blob)
    assert read == content
    versions = pipeline_aws.s3.list_object_versions(Bucket=pipeline_aws.archive, Prefix=key)
    assert len(versions.get("Versions", [])) == 1  # written once
    assert not pipeline_aws.s3.list_multipart_uploads(Bucket=pipeline_aws.archive).get("Uploads")


@pytest.mark.slow
def test_a_multipart_upload_that_keeps_failing_is_aborted_and_deferred(
    pipeline_aws: PipelineAws, inject: Callable[[str, list[tuple[int, str]]], None]
) -> None:
    inject("UploadPart", [(200, "")] + [(503, "SlowDown")] * 1000)  # part 1 ok, then 503s
    clock = [0.0]

    def sleep(seconds: float) -> None:
        clock[0] += 1.0  # every backoff costs a second of the deadline

    bundle, _, _, key = _direct(pipeline_aws, Deadline(20.0, lambda: clock[0]), sleep)

    assert isinstance(bundle.results[0], OutOfTime) and bundle.bundle_bytes == 0
    assert not pipeline_aws.s3.list_multipart_uploads(Bucket=pipeline_aws.archive).get("Uploads")
    listing = pipeline_aws.s3.list_objects_v2(Bucket=pipeline_aws.archive, Prefix=key)
    assert listing.get("KeyCount", 0) == 0
    assert 10 <= clock[0] <= 20  # retried until the deadline left no allowance, no further


@pytest.mark.slow
def test_a_completed_upload_that_is_not_whole_is_never_reported_delivered(
    pipeline_aws: PipelineAws,
) -> None:
    # Seen on the local stack: a CompleteMultipartUpload that timed out on the client was sent
    # again and answered with an empty version. Here the second answer is made by hand.
    s3 = pipeline_aws.s3

    def empty_version(parsed: dict[str, Any], **_: Any) -> None:
        empty = s3.put_object(Bucket=pipeline_aws.archive, Key=parsed["Key"], Body=b"")
        parsed["VersionId"] = empty["VersionId"]

    events: Any = s3.meta.events
    events.register("after-call.s3.CompleteMultipartUpload", empty_version, unique_id="empty")
    try:
        bundle, _, _, _ = _direct(pipeline_aws, Deadline.after(120))
    finally:
        events.unregister("after-call.s3.CompleteMultipartUpload", unique_id="empty")

    (result,) = bundle.results
    assert isinstance(result, OutOfTime), result  # deferred: the next attempt rewrites the key
    assert "CompleteMultipartUpload" in result.reason


def test_direct_bundle_name_is_the_same_for_every_attempt() -> None:
    ref = reference("landing", "k", "v", 10)
    again = ref.deferred().deferred()
    assert direct_bundle_key("b/", "s", [ref], ARRIVAL_MS) == direct_bundle_key(
        "b/", "s", [again], ARRIVAL_MS
    )


# ---------------------------------------------------------------- direct bundles follow Prefix


@pytest.mark.parametrize(
    ("expression", "folder"),
    [
        ("bundles/!{timestamp:yyyy/MM/dd/HH}/", "bundles/2026/01/02/03/"),
        ("bundles/", "bundles/2026/01/02/03/"),  # Firehose appends the time folders
        ("bundles/!{timestamp:yyyy-MM-dd}/h=!{timestamp:HH}/", "bundles/2026-01-02/h=03/"),
    ],
)
def test_direct_bundles_follow_the_configured_prefix_expression(
    expression: str, folder: str
) -> None:
    ref = reference("landing", "k", "v", 10)
    key = direct_bundle_key(expression, "stream", [ref], ARRIVAL_MS)
    assert key.startswith(folder + "stream-direct-2026-01-02-03-04-05-")
    assert key.endswith(".gz") and key.count("/") == folder.count("/")


def test_random_string_in_the_prefix_is_stable_per_reference() -> None:
    ref = reference("landing", "k", "v", 10)
    expression = "bundles/!{firehose:random-string}/"
    key = direct_bundle_key(expression, "s", [ref], ARRIVAL_MS)
    assert key == direct_bundle_key(expression, "s", [ref.deferred()], ARRIVAL_MS)
    assert len(key.split("/")[1]) == 11
    other = direct_bundle_key(expression, "s", [reference("landing", "k2", "v", 10)], ARRIVAL_MS)
    assert other.split("/")[1] != key.split("/")[1]


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("bundles/!{timestamp:yyyy/ww}/", "pattern letter 'w' is not evaluated"),
        ("bundles/!{firehose:error-output-type}/", "allowed only in the error prefix"),
        ("other/!{timestamp:yyyy}/", "starting with 'bundles/'"),
        ("bundles/!{timestamp:yyyy'T}/", "incomplete string literal"),
    ],
)
def test_unusable_prefix_expressions_are_refused_at_start(expression: str, message: str) -> None:
    env = {
        "ARCHIVE_BUCKET": "a",
        "DELIVERY_STREAM_NAMES": "s",
        "BUNDLE_PREFIX": "bundles/",
        "BUNDLE_PREFIX_EXPRESSION": expression,
    }
    with pytest.raises(ConfigError, match=message):
        TransformConfig.from_env(env)
