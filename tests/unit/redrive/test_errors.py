"""`redrive errors` against moto: S3 (Landing, Archive), Firehose (moto writes puts to a sink)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse, HTTPHeaders

from pipeline.deadline import Backoff
from pipeline.references import ObjectReference
from pipeline.routing import stream_for
from scripts.cli import main
from scripts.redrive.errors import (
    MARKER_DONE,
    MARKER_TAG,
    ErrorsTarget,
    ObjectOutcome,
    Redriver,
    RedriveSettings,
    in_hour_range,
    list_error_objects,
    name_time,
    redrive_all,
    select_objects,
)
from tests.unit.redrive.conftest import ARCHIVE, LANDING, SINK, STREAM, RedriveAws
from tests.unit.redrive.documents import (
    ARRIVAL,
    error_key,
    error_object,
    invocation_failed_line,
    processing_failed_line,
    raw_line,
    reference,
)

FAST = Backoff(base_seconds=0.001, cap_seconds=0.01)


def _redriver(aws: RedriveAws, dry_run: bool = False) -> Redriver:
    target = ErrorsTarget(archive_bucket=ARCHIVE, error_root="errors/", stream_names=(STREAM,))
    settings = RedriveSettings(dry_run=dry_run, put_timeout_seconds=30, backoff=FAST)
    return Redriver(aws.s3, aws.firehose, target, settings)


def _run(aws: RedriveAws, dry_run: bool = False, **selection: Any) -> list[ObjectOutcome]:
    objects = select_objects(list_error_objects(aws.s3, ARCHIVE, "errors/"), **selection)
    return list(redrive_all(_redriver(aws, dry_run), objects, lambda _: None))


def _landed(aws: RedriveAws, key: str) -> ObjectReference:
    return reference(LANDING, key, aws.land(key))


def _sink_objects(aws: RedriveAws) -> int:
    return len(aws.s3.list_objects_v2(Bucket=SINK).get("Contents", []))


@pytest.fixture
def scenario(redrive_aws: RedriveAws) -> tuple[str, list[ObjectReference], ObjectReference]:
    """One gzip'd error object: two recoverable references around one whose version is gone."""
    present = [_landed(redrive_aws, "a.txt"), _landed(redrive_aws, "dir/b c+d.txt")]
    gone = _landed(redrive_aws, "gone.txt")
    redrive_aws.s3.delete_object(Bucket=LANDING, Key=gone.key, VersionId=gone.version_id)
    key = error_key(STREAM)
    lines = [
        processing_failed_line(present[0]),
        processing_failed_line(gone),
        invocation_failed_line(present[1]),
    ]
    redrive_aws.put_error_object(key, error_object(lines))
    return key, present, gone


def test_recoverable_references_are_reput_and_missing_ones_reported(
    redrive_aws: RedriveAws, scenario: tuple[str, list[ObjectReference], ObjectReference]
) -> None:
    key, present, gone = scenario
    [outcome] = _run(redrive_aws)
    assert redrive_aws.reput() == present
    assert (outcome.key, outcome.status, outcome.references, outcome.put) == (key, "redriven", 3, 2)
    [problem] = outcome.problems
    assert (problem.kind, problem.line, problem.reference) == ("missing", 2, gone)
    assert "gone.txt" in problem.detail
    assert outcome.failed  # something could not be redriven: the command exits non-zero
    tags = redrive_aws.tags(key)
    assert tags[MARKER_TAG] == MARKER_DONE
    assert tags["aggregator-redrive-counts"] == "put=2 missing=1 unreadable=0"


def test_redriven_references_get_a_fresh_deferral_budget(
    redrive_aws: RedriveAws, scenario: tuple[str, list[ObjectReference], ObjectReference]
) -> None:
    """A reference that failed for too many deferrals must not fail again on arrival."""
    _, present, _ = scenario
    before = datetime.now(UTC) - timedelta(seconds=1)
    _run(redrive_aws)
    raw = redrive_aws.reput_raw()
    assert [r.identity() for r in raw] == [p.identity() for p in present]
    assert all(r.attempt == 0 for r in raw)
    assert all(datetime.fromisoformat(r.first_seen) >= before for r in raw)


def test_a_rerun_does_nothing_twice(
    redrive_aws: RedriveAws, scenario: tuple[str, list[ObjectReference], ObjectReference]
) -> None:
    _run(redrive_aws)
    objects_after_first = _sink_objects(redrive_aws)
    [again] = _run(redrive_aws)
    assert again.status == "already-redriven"
    assert "put=2 missing=1" in again.detail
    assert (again.put, again.problems, again.failed) == (0, (), False)
    assert _sink_objects(redrive_aws) == objects_after_first
    assert len(redrive_aws.reput()) == 2


def test_dry_run_changes_nothing(
    redrive_aws: RedriveAws, scenario: tuple[str, list[ObjectReference], ObjectReference]
) -> None:
    key, present, _ = scenario
    [outcome] = _run(redrive_aws, dry_run=True)
    assert (outcome.status, outcome.put, len(outcome.problems)) == ("would-redrive", 2, 1)
    assert redrive_aws.reput() == []
    assert MARKER_TAG not in redrive_aws.tags(key)
    [real] = _run(redrive_aws)
    assert real.status == "redriven"
    assert redrive_aws.reput() == present


def _reject_even(aws: RedriveAws, calls_to_reject: int) -> list[list[bytes]]:
    """Firehose rejects every other record of the first ``calls_to_reject`` calls.

    The rejected records are taken out of the request before moto sees it and put back into the
    answer as failures, so moto's sink holds exactly what Firehose would have accepted.
    """
    calls: list[list[bytes]] = []

    def before_build(params: dict[str, Any], **_: Any) -> None:
        records = list(params["Records"])
        calls.append([record["Data"] for record in records])
        if len(calls) <= calls_to_reject:
            params["Records"] = records[1::2]

    def after_call(parsed: dict[str, Any], **_: Any) -> None:
        if len(calls) > calls_to_reject:
            return
        accepted = iter(parsed["RequestResponses"])
        rejected = {"ErrorCode": "ServiceUnavailableException", "ErrorMessage": "Slow down."}
        answers = [dict(rejected) if i % 2 == 0 else next(accepted) for i in range(len(calls[-1]))]
        parsed["RequestResponses"] = answers
        parsed["FailedPutCount"] = sum(1 for answer in answers if "ErrorCode" in answer)

    events: Any = aws.firehose.meta.events
    events.register("before-parameter-build.firehose.PutRecordBatch", before_build, "rd-b")
    events.register("after-call.firehose.PutRecordBatch", after_call, "rd-a")
    return calls


def _reject_all(aws: RedriveAws) -> None:
    """Firehose rejects every record of every call (answered here; moto never sees them)."""

    def count(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["rd_records"] = len(params["Records"])

    def reject(context: dict[str, Any], **_: Any) -> Any:
        rejected = {"ErrorCode": "ServiceUnavailableException", "ErrorMessage": "Slow down."}
        answers = [dict(rejected) for _ in range(context["rd_records"])]
        parsed = {"FailedPutCount": len(answers), "Encrypted": False, "RequestResponses": answers}
        return AWSResponse("https://firehose", 200, HTTPHeaders(), None), parsed

    events: Any = aws.firehose.meta.events
    events.register("before-parameter-build.firehose.PutRecordBatch", count, "rd-count")
    events.register("before-call.firehose.PutRecordBatch", reject, "rd-reject")


def _unreject(aws: RedriveAws) -> None:
    events: Any = aws.firehose.meta.events
    events.unregister("before-parameter-build.firehose.PutRecordBatch", unique_id="rd-count")
    events.unregister("before-call.firehose.PutRecordBatch", unique_id="rd-reject")


def test_partial_firehose_failures_retry_only_the_rejected(redrive_aws: RedriveAws) -> None:
    references = [_landed(redrive_aws, f"k{i}") for i in range(6)]
    key = error_key(STREAM)
    redrive_aws.put_error_object(key, error_object([invocation_failed_line(r) for r in references]))
    calls = _reject_even(redrive_aws, calls_to_reject=1)
    [outcome] = _run(redrive_aws)
    assert len(calls) == 2
    assert calls[1] == calls[0][0::2]  # only the rejected records went again
    assert (outcome.status, outcome.put, outcome.problems) == ("redriven", 6, ())
    assert sorted(redrive_aws.reput(), key=lambda r: r.key) == references
    assert len(redrive_aws.reput()) == 6  # none twice


def test_records_still_rejected_leave_the_object_for_the_next_run(redrive_aws: RedriveAws) -> None:
    references = [_landed(redrive_aws, f"k{i}") for i in range(4)]
    key = error_key(STREAM)
    redrive_aws.put_error_object(key, error_object([invocation_failed_line(r) for r in references]))
    _reject_all(redrive_aws)
    [outcome] = _run(redrive_aws)
    assert (outcome.status, outcome.put) == ("incomplete", 0)
    assert redrive_aws.reput() == []
    assert [p.kind for p in outcome.problems] == ["put-failed"] * 4
    assert [p.reference for p in outcome.problems] == references
    assert MARKER_TAG not in redrive_aws.tags(key)
    _unreject(redrive_aws)
    [retried] = _run(redrive_aws)
    assert (retried.status, retried.put) == ("redriven", 4)
    assert redrive_aws.reput() == references
    assert redrive_aws.tags(key)[MARKER_TAG] == MARKER_DONE


def test_a_reference_in_several_objects_is_reput_once(redrive_aws: RedriveAws) -> None:
    a, b = _landed(redrive_aws, "a"), _landed(redrive_aws, "b")
    first = error_key(STREAM, ARRIVAL)
    second = error_key(STREAM, ARRIVAL + timedelta(minutes=5))
    redrive_aws.put_error_object(first, error_object([invocation_failed_line(a)]))
    lines = [invocation_failed_line(a), processing_failed_line(b), invocation_failed_line(b)]
    redrive_aws.put_error_object(second, error_object(lines, compress=False))
    outcomes = _run(redrive_aws)
    assert [o.key for o in outcomes] == [first, second]
    assert [(o.put, o.duplicates) for o in outcomes] == [(1, 0), (1, 2)]
    assert sorted(redrive_aws.reput(), key=lambda r: r.key) == [a, b]  # one put call each
    assert all(o.status == "redriven" for o in outcomes)


def test_unreadable_lines_are_reported_and_do_not_block(redrive_aws: RedriveAws) -> None:
    a = _landed(redrive_aws, "a")
    key = error_key(STREAM)
    lines = [raw_line(b'{"v":2,"future":true}\n'), invocation_failed_line(a)]
    redrive_aws.put_error_object(key, error_object(lines))
    [outcome] = _run(redrive_aws)
    assert redrive_aws.reput() == [a]
    assert [(p.kind, p.line) for p in outcome.problems] == [("unreadable", 1)]
    assert outcome.status == "redriven"  # nothing a later run could do better
    assert outcome.failed


def test_a_failed_existence_check_is_not_marked(redrive_aws: RedriveAws) -> None:
    a = _landed(redrive_aws, "a")
    key = error_key(STREAM)
    redrive_aws.put_error_object(key, error_object([invocation_failed_line(a)]))

    def mark(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["rd_forbidden"] = params.get("Bucket") == LANDING

    def forbidden(context: dict[str, Any], **_: Any) -> Any:
        if not context.get("rd_forbidden"):
            return None
        http = AWSResponse("https://s3", 403, HTTPHeaders(), None)
        return http, {"Error": {"Code": "403", "Message": "Forbidden"}}

    events: Any = redrive_aws.s3.meta.events
    events.register("before-parameter-build.s3.HeadObject", mark, "rd-mark")
    events.register("before-call.s3.HeadObject", forbidden, "rd-403")
    [outcome] = _run(redrive_aws)
    events.unregister("before-call.s3.HeadObject", unique_id="rd-403")
    assert outcome.status == "incomplete"
    [problem] = outcome.problems
    assert problem.kind == "access-denied"
    assert "s3:ListBucket" in problem.detail
    assert redrive_aws.reput() == []
    assert MARKER_TAG not in redrive_aws.tags(key)


def test_archived_error_objects_are_reported_not_read(redrive_aws: RedriveAws) -> None:
    key = error_key(STREAM)
    redrive_aws.s3.put_object(
        Bucket=ARCHIVE,
        Key=key,
        Body=error_object([invocation_failed_line(_landed(redrive_aws, "a"))]),
        StorageClass="DEEP_ARCHIVE",
    )
    [outcome] = _run(redrive_aws)
    assert outcome.status == "archived"
    assert "restore" in outcome.detail
    assert outcome.failed
    assert redrive_aws.reput() == []


def test_selection_by_hour_and_by_key(redrive_aws: RedriveAws) -> None:
    early = error_key(STREAM, datetime(2026, 1, 31, 7, 59, 59, tzinfo=UTC))
    late = error_key(STREAM, datetime(2026, 1, 31, 9, 0, 0, tzinfo=UTC))
    for key in (early, late):
        redrive_aws.put_error_object(key, b"")
    listed = list_error_objects(redrive_aws.s3, ARCHIVE, "errors/")
    assert [o.key for o in listed] == [early, late]
    since = datetime(2026, 1, 31, 8, 30, tzinfo=UTC)
    assert [o.key for o in select_objects(listed, since, since)] == []
    until = datetime(2026, 1, 31, 9, 10, tzinfo=UTC)
    assert [o.key for o in select_objects(listed, since, until)] == [late]
    assert [o.key for o in select_objects(listed, keys=[early])] == [early]
    assert name_time(late) == datetime(2026, 1, 31, 9, 0, 0, tzinfo=UTC)
    assert name_time("errors/processing-failed/no-time-here") is None
    assert in_hour_range(since.replace(minute=0), since, since)


def test_cli_errors_json_exit_codes_and_rerun(
    redrive_aws: RedriveAws,
    scenario: tuple[str, list[ObjectReference], ObjectReference],
    capsys: pytest.CaptureFixture[str],
) -> None:
    key, present, gone = scenario
    argv = ["redrive", "errors", "--env", "unit", "--archive-bucket", ARCHIVE]
    argv += ["--stream", STREAM, "--json", "--no-progress"]
    assert main(argv) == 1  # the missing object could not be redriven
    captured = capsys.readouterr()
    line, last = captured.out.splitlines()
    document = json.loads(line)
    assert (document["key"], document["status"], document["put"]) == (key, "redriven", 2)
    summary = json.loads(last)["summary"]
    assert (summary["objects"], summary["references_put"]) == (1, 2)
    assert summary["problems"] == {"missing": 1}
    assert document["problems"][0]["reference"]["key"] == gone.key
    assert "2 re-put, 1 missing" in captured.err
    assert redrive_aws.reput() == present
    assert main(argv) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[0])["status"] == "already-redriven"
    assert len(redrive_aws.reput()) == 2


def test_cli_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["redrive", "errors", "--key", "k", "--since", "2026-01-31T08:00Z"]
    assert main(argv) == 2
    assert "either --since" in capsys.readouterr().err
    assert main(["redrive", "errors", "--until", "2026-01-31T08:00Z"]) == 2


def test_references_go_back_to_the_stream_their_key_hashes_to(redrive_aws: RedriveAws) -> None:
    second, second_sink = f"{STREAM}-2", "unit-firehose-sink-2"
    redrive_aws.s3.create_bucket(
        Bucket=second_sink, CreateBucketConfiguration={"LocationConstraint": "eu-west-2"}
    )
    redrive_aws.firehose.create_delivery_stream(
        DeliveryStreamName=second,
        DeliveryStreamType="DirectPut",
        ExtendedS3DestinationConfiguration={
            "RoleARN": "arn:aws:iam::123456789012:role/firehose",
            "BucketARN": f"arn:aws:s3:::{second_sink}",
        },
    )
    streams = (STREAM, second)
    present = [_landed(redrive_aws, f"spread/{n}.txt") for n in range(10)]
    redrive_aws.put_error_object(
        error_key(STREAM), error_object([processing_failed_line(r) for r in present])
    )
    target = ErrorsTarget(archive_bucket=ARCHIVE, error_root="errors/", stream_names=streams)
    redriver = Redriver(redrive_aws.s3, redrive_aws.firehose, target, RedriveSettings(backoff=FAST))
    objects = select_objects(list_error_objects(redrive_aws.s3, ARCHIVE, "errors/"))

    [outcome] = redrive_all(redriver, objects, lambda _: None)

    assert (outcome.status, outcome.put) == ("redriven", 10)
    for stream, sink in ((STREAM, SINK), (second, second_sink)):
        blobs = [
            redrive_aws.s3.get_object(Bucket=sink, Key=item["Key"])["Body"].read()
            for item in redrive_aws.s3.list_objects_v2(Bucket=sink).get("Contents", [])
        ]
        keys = sorted(
            ObjectReference.from_record(line + b"\n").key
            for blob in blobs
            for line in blob.splitlines()
        )
        expected = sorted(r.key for r in present if stream_for(LANDING, r.key, streams) == stream)
        assert keys == expected and expected  # both streams get their share, nothing else


def test_cli_errors_json_with_no_work_prints_one_summary_line(
    redrive_aws: RedriveAws, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["redrive", "errors", "--env", "unit", "--archive-bucket", ARCHIVE]
    argv += ["--stream", STREAM, "--json", "--no-progress"]
    assert main(argv) == 0
    [line] = capsys.readouterr().out.splitlines()
    assert json.loads(line) == {
        "summary": {
            "command": "redrive errors",
            "dry_run": False,
            "objects": 0,
            "statuses": {},
            "references_put": 0,
            "problems": {},
        }
    }
