"""The transform's batch processing against moto: inline, missing, budget, re-puts.

Inline files are read by the botocore test double (in-process moto); faults on Landing GETs are
tested on the function's native fetcher in test_native_fetch_faults.py.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

import pipeline.firehose
import transforms.fetch
from pipeline.deadline import Backoff, Deadline
from pipeline.references import ObjectReference
from tests.gnu_tar import gnu_tar
from tests.unit.conftest import PipelineAws
from tests.unit.transforms.botocore_fetcher import BotocoreFetcher
from tests.unit.transforms.helpers import (
    firehose_bundle,
    firehose_event,
    members,
    reference,
    reput_references,
    response_bytes,
)
from transforms.batch import BatchSummary, process_batch
from transforms.config import TransformConfig
from transforms.records import source_stream
from transforms.response import serialized_size

#: a minute after the helpers' S3 event time: references are fresh, far from max_reference_age
NOW = datetime(2026, 1, 2, 3, 5, 5, tzinfo=UTC)

HOSTILE_KEYS = [
    "plain.txt",
    "with space/and+plus.csv",
    "percent%41literal.bin",
    "ünïcødé/文件.txt",
    "../../etc/passwd",
    "/leading/slash",
    "zero-byte",
]


@pytest.fixture(autouse=True)
def _fast_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(transforms.fetch, "DEFAULT_BACKOFF", Backoff(0.001, 0.01))
    monkeypatch.setattr(pipeline.firehose, "DEFAULT_BACKOFF", Backoff(0.001, 0.01))


def settings(aws: PipelineAws, **overrides: Any) -> TransformConfig:
    values: dict[str, Any] = {
        "archive_bucket": aws.archive,
        "delivery_stream_names": (aws.stream,),
        **overrides,
    }
    return TransformConfig(**values)


def run(
    aws: PipelineAws,
    refs: list[ObjectReference | bytes],
    seconds: float = 120.0,
    **overrides: Any,
) -> tuple[dict[str, Any], BatchSummary]:
    return process_batch(
        firehose_event(refs),
        settings(aws, **overrides),
        Deadline.after(seconds),
        aws.s3,
        aws.firehose,
        now=NOW,
        fetcher=BotocoreFetcher(aws.s3),
    )


def upload(aws: PipelineAws, key: str, body: bytes) -> ObjectReference:
    version = aws.put(key, body)
    return reference(aws.landing, key, version, len(body), hashlib.md5(body).hexdigest())


def assert_one_entry_per_record(event_refs: list[Any], result: dict[str, Any]) -> None:
    ids = [entry["recordId"] for entry in result["records"]]
    expected = [record["recordId"] for record in firehose_event(event_refs)["records"]]
    assert ids == expected
    assert all(
        entry["result"] in {"Ok", "Dropped", "ProcessingFailed"} for entry in result["records"]
    )
    assert all(isinstance(entry["data"], str) for entry in result["records"])


def test_inline_files_become_verified_members(pipeline_aws: PipelineAws) -> None:
    bodies = {key: (key * 50).encode()[: 0 if key == "zero-byte" else None] for key in HOSTILE_KEYS}
    refs: list[Any] = [upload(pipeline_aws, key, body) for key, body in bodies.items()]

    result, summary = run(pipeline_aws, refs)

    assert_one_entry_per_record(refs, result)
    assert [entry["result"] for entry in result["records"]] == ["Ok"] * len(refs)
    assert summary.inlined == len(refs)
    unpacked = members(firehose_bundle(result))
    assert [(m.metadata.key, content) for m, content in unpacked] == list(bodies.items())
    for (member, content), ref in zip(unpacked, refs, strict=True):
        assert member.metadata.version_id == ref.version_id
        assert member.metadata.sha256 == hashlib.sha256(content).hexdigest()
        assert member.metadata.etag == ref.etag
    assert response_bytes(result) == serialized_size_of(result)


def serialized_size_of(result: dict[str, Any]) -> int:
    from transforms.records import Entry

    return serialized_size(
        [Entry(e["recordId"], e["result"], e["data"]) for e in result["records"]]
    )


def test_firehose_built_bundle_extracts_with_gnu_tar(
    pipeline_aws: PipelineAws, tmp_path: Path
) -> None:
    refs: list[Any] = [upload(pipeline_aws, key, key.encode() * 10) for key in HOSTILE_KEYS]
    key = "same/key.txt"
    refs.append(upload(pipeline_aws, key, b"first version"))
    refs.append(upload(pipeline_aws, key, b"second version"))
    result, _ = run(pipeline_aws, refs)
    bundle = tmp_path / "bundle.gz"
    bundle.write_bytes(firehose_bundle(result))
    out = tmp_path / "out"
    out.mkdir()

    done = subprocess.run([gnu_tar(), "-xzf", str(bundle), "-C", str(out)], capture_output=True)

    assert done.returncode == 0
    assert done.stderr == b""
    extracted = [p for p in out.rglob("*") if p.is_file()]
    assert len(extracted) == len(refs)
    assert all(p.resolve().is_relative_to(out.resolve()) for p in extracted)
    assert {p.read_bytes() for p in extracted} >= {b"first version", b"second version"}


def test_missing_object_is_reported_and_blocks_nothing(pipeline_aws: PipelineAws) -> None:
    kept = upload(pipeline_aws, "kept.txt", b"kept")
    gone = upload(pipeline_aws, "gone.txt", b"gone")
    pipeline_aws.s3.delete_object(
        Bucket=pipeline_aws.landing, Key="gone.txt", VersionId=gone.version_id or ""
    )
    never = reference(pipeline_aws.landing, "never-existed.txt", None, 10)
    refs: list[Any] = [kept, gone, never]

    result, summary = run(pipeline_aws, refs)

    assert [e["result"] for e in result["records"]] == [
        "Ok",
        "ProcessingFailed",
        "ProcessingFailed",
    ]
    assert summary.missing == 2
    assert summary.failures == {"missing": 2}
    # the original record, unchanged: what Firehose writes as rawData (the reason is logged)
    assert base64.b64decode(result["records"][1]["data"]) == gone.to_record()
    assert [m.metadata.key for m, _ in members(firehose_bundle(result))] == ["kept.txt"]


def test_unknown_reference_version_is_processing_failed(pipeline_aws: PipelineAws) -> None:
    ok = upload(pipeline_aws, "ok.txt", b"ok")
    future = json.dumps({"v": 99, "bucket": "b", "key": "k"}).encode() + b"\n"
    result, summary = run(pipeline_aws, [ok, future, b"\xff garbage"])
    assert [e["result"] for e in result["records"]] == [
        "Ok",
        "ProcessingFailed",
        "ProcessingFailed",
    ]
    assert base64.b64decode(result["records"][1]["data"]) == future
    assert summary.failed == 2


def test_firehose_retry_of_the_same_batch_gives_the_same_answer(pipeline_aws: PipelineAws) -> None:
    refs: list[Any] = [upload(pipeline_aws, f"dup/{i}", os.urandom(1000)) for i in range(5)]
    first, _ = run(pipeline_aws, refs)
    second, _ = run(pipeline_aws, refs)
    assert first == second


def test_two_thousand_small_files_fit_the_budget_and_none_is_lost(
    pipeline_aws: PipelineAws,
) -> None:
    body = os.urandom(27_000)
    # only the first 400 objects exist: the plan admits ~160 (the budget), so fetching any
    # other would report it missing and fail the assertions below
    refs: list[Any] = [upload(pipeline_aws, f"burst/{i:05d}.bin", body) for i in range(400)]
    refs += [
        reference(pipeline_aws.landing, f"burst/{i:05d}.bin", "v", len(body))
        for i in range(400, 2000)
    ]

    result, summary = run(pipeline_aws, refs)

    assert_one_entry_per_record(refs, result)
    assert response_bytes(result) <= 6_000_000
    assert response_bytes(result) == summary.response_bytes
    results = [e["result"] for e in result["records"]]
    inlined = {m.metadata.key for m, _ in members(firehose_bundle(result))}
    reput = {r.key for r in reput_references(pipeline_aws.stream_records())}
    assert results.count("Ok") == len(inlined) == summary.inlined > 100
    assert results.count("Dropped") == len(reput) == summary.deferred
    assert inlined | reput == {r.key for r in refs}
    assert not inlined & reput
    assert response_bytes(result) > 6_000_000 - 40_000  # the budget is actually used


@pytest.mark.parametrize("inline_max", [1024 * 1024, 4_000_000])
def test_ten_three_megabyte_files(pipeline_aws: PipelineAws, inline_max: int) -> None:
    refs: list[Any] = [upload(pipeline_aws, f"big/{i}", os.urandom(3_000_000)) for i in range(10)]

    result, summary = run(pipeline_aws, refs, inline_max_bytes=inline_max)

    assert_one_entry_per_record(refs, result)
    assert response_bytes(result) <= 6_000_000
    inlined = {m.metadata.key for m, _ in members(firehose_bundle(result))}
    reput = {r.key for r in reput_references(pipeline_aws.stream_records())}
    archive = pipeline_aws.s3.list_objects_v2(Bucket=pipeline_aws.archive).get("Contents", [])
    direct = set()
    for item in archive:
        blob = pipeline_aws.s3.get_object(Bucket=pipeline_aws.archive, Key=item["Key"])
        direct |= {m.metadata.key for m, _ in members(blob["Body"].read())}
        assert item["Key"].startswith("bundles/2026/01/02/03/test-stream-direct-2026-01-02-03-04-")
    assert len(inlined) + len(reput) + len(direct) == 10
    assert inlined | reput | direct == {r.key for r in refs}
    if inline_max < 3_000_000:
        assert summary.direct == 10 and not inlined
        assert len(archive) == summary.direct_bundles == 1  # one direct bundle for the batch
    else:
        assert summary.inlined == 1 and summary.deferred == 9


def test_reput_partial_failures_retry_only_the_rejected(pipeline_aws: PipelineAws) -> None:
    calls: list[list[bytes]] = []

    def before_build(params: dict[str, Any], **_: Any) -> None:
        calls.append([record["Data"] for record in params["Records"]])

    def after_call(parsed: dict[str, Any], **_: Any) -> None:
        if len(calls) == 1:  # reject every other record of the first call
            for index, item in enumerate(parsed["RequestResponses"]):
                if index % 2:
                    item.clear()
                    item.update(
                        {"ErrorCode": "ServiceUnavailableException", "ErrorMessage": "busy"}
                    )
            parsed["FailedPutCount"] = len(parsed["RequestResponses"]) // 2

    pipeline_aws.firehose.meta.events.register(
        "before-parameter-build.firehose.PutRecordBatch", before_build
    )
    pipeline_aws.firehose.meta.events.register("after-call.firehose.PutRecordBatch", after_call)
    refs: list[Any] = [reference(pipeline_aws.landing, f"k{i}", "v", 900_000) for i in range(10)]

    result, summary = run(
        pipeline_aws, refs, inline_max_bytes=1_000_000, response_budget_bytes=2_000_000
    )

    deferred = [r for r, e in zip(refs, result["records"], strict=True) if e["result"] == "Dropped"]
    assert len(calls) == 2
    assert calls[1] == [r.deferred().to_record() for r in deferred[1::2]]
    assert summary.deferred == len(deferred) > 0


def test_reput_that_keeps_failing_becomes_processing_failed(pipeline_aws: PipelineAws) -> None:
    def reject_all(parsed: dict[str, Any], **_: Any) -> None:
        parsed["FailedPutCount"] = len(parsed["RequestResponses"])
        for item in parsed["RequestResponses"]:
            item.clear()
            item.update({"ErrorCode": "ServiceUnavailableException", "ErrorMessage": "busy"})

    pipeline_aws.firehose.meta.events.register("after-call.firehose.PutRecordBatch", reject_all)
    refs: list[Any] = [reference(pipeline_aws.landing, f"k{i}", "v", 900_000) for i in range(8)]

    result, summary = run(
        pipeline_aws, refs, inline_max_bytes=1_000_000, response_budget_bytes=2_000_000
    )

    results = [e["result"] for e in result["records"]]
    assert "Dropped" not in results
    assert results.count("ProcessingFailed") >= 6
    assert set(summary.failures) <= {"reput-failed", "missing"}
    assert summary.failures["reput-failed"] >= 6
    assert summary.deferred == 0


def test_deferred_references_go_back_to_the_stream_that_invoked(pipeline_aws: PipelineAws) -> None:
    """With N streams the event's stream (here the second configured) gets the re-puts and names
    the direct bundles; the first configured stream does not exist in moto, so a re-put there
    would fail the records."""
    refs: list[Any] = [upload(pipeline_aws, f"n/{i}", os.urandom(40_000)) for i in range(4)]
    refs.append(upload(pipeline_aws, "n/large", os.urandom(200_000)))
    streams = ("s3-aggregator-unit", pipeline_aws.stream)

    result, summary = run(
        pipeline_aws,
        refs,
        delivery_stream_names=streams,
        inline_max_bytes=60_000,
        response_budget_bytes=100_000,
    )

    assert summary.failures == {}
    assert summary.direct == 1 and summary.deferred >= 2
    inlined = {m.metadata.key for m, _ in members(firehose_bundle(result))}
    reput = reput_references(pipeline_aws.stream_records())
    assert [r.key for r in reput] == [r.key for r in refs[:4] if r.key not in inlined]
    [direct] = pipeline_aws.s3.list_objects_v2(Bucket=pipeline_aws.archive)["Contents"]
    assert direct["Key"].startswith(f"bundles/2026/01/02/03/{pipeline_aws.stream}-direct-")


@pytest.mark.parametrize(
    ("arn", "expected"),
    [
        ("arn:aws:firehose:eu-west-2:123456789012:deliverystream/s-2", "s-2"),
        ("arn:aws:firehose:eu-west-2:123456789012:deliverystream/elsewhere", "elsewhere"),
        ("", "s-1"),
        ("not an arn", "s-1"),
    ],
)
def test_the_source_stream_comes_from_the_event(arn: str, expected: str) -> None:
    assert source_stream({"deliveryStreamArn": arn}, ("s-1", "s-2")) == expected
