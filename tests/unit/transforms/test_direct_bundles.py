"""One direct bundle per batch: grouping, splits at ``direct_bundle_max_bytes``, deterministic
keys, and what one failing file does to the others (moto)."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import subprocess
import tarfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse, HTTPHeaders

import pipeline.firehose
import transforms.direct
import transforms.fetch
from pipeline.deadline import Backoff, Deadline
from pipeline.references import ObjectReference
from tests.unit.conftest import PipelineAws
from tests.unit.transforms.botocore_fetcher import BotocoreFetcher
from tests.unit.transforms.helpers import (
    ARRIVAL_MS,
    firehose_event,
    members,
    reference,
    reput_references,
)
from transforms.batch import BatchSummary, process_batch
from transforms.config import TransformConfig
from transforms.direct import Bundled, direct_bundle_key, write_direct_bundle
from transforms.fetch import Missing, OutOfTime
from transforms.multipart import MIN_PART_SIZE, MultipartWriter
from transforms.plan import group_direct

NOW = datetime(2026, 1, 2, 3, 5, 5, tzinfo=UTC)
MiB = 1024 * 1024


@pytest.fixture(autouse=True)
def _fast_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(transforms.fetch, "DEFAULT_BACKOFF", Backoff(0.001, 0.01))
    monkeypatch.setattr(pipeline.firehose, "DEFAULT_BACKOFF", Backoff(0.001, 0.01))


def upload(aws: PipelineAws, key: str, body: bytes) -> ObjectReference:
    version = aws.put(key, body)
    return reference(aws.landing, key, version, len(body), hashlib.md5(body).hexdigest())


def run(aws: PipelineAws, refs: list[Any], **overrides: Any) -> tuple[dict[str, Any], BatchSummary]:
    settings = TransformConfig(
        archive_bucket=aws.archive,
        delivery_stream_names=(aws.stream,),
        inline_max_bytes=1000,  # small files take the direct path: the tests stay fast
        **overrides,
    )
    return process_batch(
        firehose_event(refs),
        settings,
        Deadline.after(120.0),
        aws.s3,
        aws.firehose,
        now=NOW,
        fetcher=BotocoreFetcher(aws.s3),
    )


def bundles(aws: PipelineAws) -> dict[str, list[tuple[str, bytes]]]:
    """Every object in Archive: its members' (key, content), in order."""
    listing = aws.s3.list_objects_v2(Bucket=aws.archive).get("Contents", [])
    found = {}
    for item in listing:
        blob = aws.s3.get_object(Bucket=aws.archive, Key=item["Key"])["Body"].read()
        found[item["Key"]] = [(m.metadata.key, content) for m, content in members(blob)]
    return found


# ------------------------------------------------------------------------------- the plan


def test_groups_keep_the_order_and_split_past_the_maximum() -> None:
    assert group_direct([], 10) == ()
    assert group_direct([3, 3, 3], 10) == ((0, 1, 2),)
    assert group_direct([4, 4, 4, 4], 10) == ((0, 1), (2, 3))
    assert group_direct([5, 5, 1], 10) == ((0, 1), (2,))  # exactly the maximum fits


def test_a_file_larger_than_the_maximum_is_a_bundle_alone() -> None:
    assert group_direct([30], 10) == ((0,),)
    assert group_direct([2, 30, 2, 2], 10) == ((0,), (1,), (2, 3))


def test_bundle_key_depends_on_the_set_of_identities_only() -> None:
    a, b = reference("landing", "a", "v1", 10), reference("landing", "b", "v1", 10)
    key = direct_bundle_key("bundles/", "s", [a, b], ARRIVAL_MS)
    assert key == direct_bundle_key("bundles/", "s", [b, a], ARRIVAL_MS)
    assert key == direct_bundle_key("bundles/", "s", [a.deferred(), b], ARRIVAL_MS)
    assert key != direct_bundle_key("bundles/", "s", [a], ARRIVAL_MS)
    other = reference("landing", "b", "v2", 10)
    assert key != direct_bundle_key("bundles/", "s", [a, other], ARRIVAL_MS)
    # one reference keeps the key it had before bundles were shared
    digest = hashlib.sha256(a.identity()).hexdigest()[:16]
    assert direct_bundle_key("bundles/", "s", [a], ARRIVAL_MS).endswith(f"-{digest}.gz")


# ------------------------------------------------------------------------- whole batches


def test_every_direct_file_of_a_batch_goes_into_one_bundle(pipeline_aws: PipelineAws) -> None:
    bodies = {f"direct/{i}": os.urandom(2000 + i) for i in range(6)}
    refs: list[Any] = [upload(pipeline_aws, key, body) for key, body in bodies.items()]
    refs.insert(3, upload(pipeline_aws, "small", b"inline"))

    response, summary = run(pipeline_aws, refs)

    results = [entry["result"] for entry in response["records"]]
    assert results == ["Dropped"] * 3 + ["Ok"] + ["Dropped"] * 3
    ((key, content),) = bundles(pipeline_aws).items()
    assert content == list(bodies.items())  # in batch order, every byte
    assert key.startswith("bundles/2026/01/02/03/test-stream-direct-2026-01-02-03-04-05-")
    assert (summary.direct, summary.direct_bundles, summary.deferred) == (6, 1, 0)
    assert summary.direct_bundle_bytes > 0


def test_stock_tar_and_tarfile_read_a_direct_bundle_silently(
    pipeline_aws: PipelineAws, tmp_path: Path
) -> None:
    refs: list[Any] = [upload(pipeline_aws, f"t/{i}", os.urandom(1500 + i)) for i in range(3)]
    run(pipeline_aws, refs)
    (key,) = bundles(pipeline_aws)
    blob = pipeline_aws.s3.get_object(Bucket=pipeline_aws.archive, Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(blob), mode="r:gz") as archive:
        assert len(archive.getnames()) == 3  # one gzip member per file, read as one stream
    (tmp_path / "bundle.gz").write_bytes(blob)
    done = subprocess.run(
        ["tar", "-xzf", "bundle.gz"], cwd=tmp_path, capture_output=True, check=False
    )
    assert (done.returncode, done.stderr) == (0, b"")
    assert sorted(p.name for p in (tmp_path / "t").iterdir()) == [
        f"{i}~{r.version_id}" for i, r in enumerate(refs)
    ]


def test_bundles_split_at_the_maximum_and_a_retried_batch_rewrites_the_same_keys(
    pipeline_aws: PipelineAws,
) -> None:
    refs: list[Any] = [upload(pipeline_aws, f"d/{i}", os.urandom(2000)) for i in range(5)]
    refs.append(upload(pipeline_aws, "d/huge", os.urandom(9000)))  # above the maximum: alone

    _, summary = run(pipeline_aws, refs, direct_bundle_max_bytes=5000)
    first = bundles(pipeline_aws)
    _, again = run(pipeline_aws, refs, direct_bundle_max_bytes=5000)

    assert sorted([k for k, _ in m] for m in first.values()) == [
        ["d/0", "d/1"],
        ["d/2", "d/3"],
        ["d/4"],
        ["d/huge"],
    ]
    assert summary.direct_bundles == again.direct_bundles == 4
    assert bundles(pipeline_aws) == first  # the same keys, the same members
    versions = pipeline_aws.s3.list_object_versions(Bucket=pipeline_aws.archive)["Versions"]
    assert len(versions) == 8  # every key written twice, no new key


def test_a_missing_file_is_reported_and_the_others_are_bundled(pipeline_aws: PipelineAws) -> None:
    refs: list[Any] = [upload(pipeline_aws, f"m/{i}", os.urandom(3000)) for i in range(4)]
    gone = refs[1]
    pipeline_aws.s3.delete_object(
        Bucket=pipeline_aws.landing, Key=gone.key, VersionId=gone.version_id
    )

    response, summary = run(pipeline_aws, refs)

    assert [e["result"] for e in response["records"]] == [
        "Dropped",
        "ProcessingFailed",
        "Dropped",
        "Dropped",
    ]
    ((_, content),) = bundles(pipeline_aws).items()
    assert [key for key, _ in content] == ["m/0", "m/2", "m/3"]
    assert summary.failures == {"missing": 1} and summary.direct == 3


def test_a_denied_archive_write_fails_every_file_of_the_bundle(
    pipeline_aws: PipelineAws,
) -> None:
    # 9 MiB, incompressible: the third file fills the first part, whose upload is refused
    refs: list[Any] = [upload(pipeline_aws, f"w/{i}", os.urandom(3 * MiB)) for i in range(3)]

    def deny(request: Any, **_: Any) -> Any:
        body = b"<Error><Code>AccessDenied</Code><Message>injected</Message></Error>"
        return AWSResponse(request.url, 403, HTTPHeaders(), _Raw(body))

    events: Any = pipeline_aws.s3.meta.events
    events.register("before-send.s3.UploadPart", deny, unique_id="deny-archive")
    try:
        response, summary = run(pipeline_aws, refs)
    finally:
        events.unregister("before-send.s3.UploadPart", unique_id="deny-archive")

    assert [e["result"] for e in response["records"]] == ["ProcessingFailed"] * 3
    assert summary.failures == {"access-denied": 3}
    assert summary.direct_bundles == 0 and not bundles(pipeline_aws)
    assert not pipeline_aws.s3.list_multipart_uploads(Bucket=pipeline_aws.archive).get("Uploads")


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


# --------------------------------------------------------------- a file failing mid-stream


class _BreakingBody:
    """The real body, raising a connection error after ``after`` bytes (the injected fault)."""

    def __init__(self, body: Any, after: int) -> None:
        self._body = body
        self._after = after

    def iter_chunks(self, size: int) -> Iterator[bytes]:
        passed = 0
        for chunk in self._body.iter_chunks(size):
            passed += len(chunk)
            if passed > self._after:
                raise ConnectionResetError("injected: connection reset mid-body")
            yield chunk

    def close(self) -> None:
        self._body.close()


def _break_second_pass_of(aws: PipelineAws, key: str, after: int) -> None:
    """The pinned (second, ``IfMatch``) GET of ``key`` breaks after ``after`` bytes."""

    def before_call(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["break"] = params.get("Key") == key and bool(params.get("IfMatch"))

    def after_call(parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        if context.get("break") and "Body" in parsed:
            parsed["Body"] = _BreakingBody(parsed["Body"], after)

    events: Any = aws.s3.meta.events
    events.register("before-parameter-build.s3.GetObject", before_call, unique_id="break")
    events.register("after-call.s3.GetObject", after_call, unique_id="break-body")


def _unbreak(aws: PipelineAws) -> None:
    aws.s3.meta.events.unregister("before-parameter-build.s3.GetObject", unique_id="break")
    aws.s3.meta.events.unregister("after-call.s3.GetObject", unique_id="break-body")


@pytest.mark.slow
def test_a_file_failing_mid_stream_is_cut_off_and_the_others_are_committed(
    pipeline_aws: PipelineAws,
) -> None:
    """The failing file has already filled a part when it breaks: that part is left out of the
    completed upload and the bytes of the file before it are kept."""
    sizes = {"x/first": 3 * MiB, "x/breaks": 6 * MiB, "x/last": 2 * MiB}
    bodies = {key: os.urandom(size) for key, size in sizes.items()}  # incompressible
    refs = [upload(pipeline_aws, key, body) for key, body in bodies.items()]
    key = direct_bundle_key("bundles/", pipeline_aws.stream, refs, ARRIVAL_MS)
    _break_second_pass_of(pipeline_aws, "x/breaks", after=4 * MiB)
    try:
        bundle = write_direct_bundle(
            pipeline_aws.s3,
            refs,
            archive_bucket=pipeline_aws.archive,
            bundle_key=key,
            deadline=Deadline.after(120),
            part_size=MIN_PART_SIZE,
            backoff=Backoff(0.001, 0.01),
        )
    finally:
        _unbreak(pipeline_aws)

    first, broken, last = bundle.results
    assert isinstance(first, Bundled) and isinstance(last, Bundled)
    assert isinstance(broken, OutOfTime) and "connection reset" in broken.reason
    blob = pipeline_aws.s3.get_object(Bucket=pipeline_aws.archive, Key=key)["Body"].read()
    assert len(blob) == bundle.bundle_bytes
    assert [(m.metadata.key, c) for m, c in members(blob)] == [
        ("x/first", bodies["x/first"]),
        ("x/last", bodies["x/last"]),
    ]
    assert not pipeline_aws.s3.list_multipart_uploads(Bucket=pipeline_aws.archive).get("Uploads")


def test_the_batch_defers_the_file_that_broke_and_delivers_the_others(
    pipeline_aws: PipelineAws, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(transforms.direct, "IN_MEMORY_MAX_BYTES", 100_000)  # streamed, 2 passes
    refs: list[Any] = [upload(pipeline_aws, f"b/{i}", os.urandom(300_000)) for i in range(3)]
    _break_second_pass_of(pipeline_aws, "b/1", after=100_000)
    try:
        response, summary = run(pipeline_aws, refs)
    finally:
        _unbreak(pipeline_aws)

    assert [e["result"] for e in response["records"]] == ["Dropped"] * 3
    ((_, content),) = bundles(pipeline_aws).items()
    assert [key for key, _ in content] == ["b/0", "b/2"]
    (reput,) = reput_references(pipeline_aws.stream_records())
    assert (reput.key, reput.attempt) == ("b/1", 1)
    assert (summary.direct, summary.deferred, summary.direct_bundles) == (2, 1, 1)


def test_small_files_are_fetched_ahead_on_the_pool_and_a_resized_one_is_streamed(
    pipeline_aws: PipelineAws,
) -> None:
    bodies = {f"p/{i}": os.urandom(5000) for i in range(4)}
    refs = [upload(pipeline_aws, key, body) for key, body in bodies.items()]
    refs[2] = dataclasses.replace(refs[2], size=4000)  # the object is larger than referenced
    pinned: list[str] = []

    def before(params: dict[str, Any], **_: Any) -> None:
        if params.get("IfMatch"):
            pinned.append(params["Key"])

    events: Any = pipeline_aws.s3.meta.events
    events.register("before-parameter-build.s3.GetObject", before, unique_id="pinned")
    try:
        with ThreadPoolExecutor(max_workers=4) as pool:
            bundle = write_direct_bundle(
                pipeline_aws.s3,
                refs,
                archive_bucket=pipeline_aws.archive,
                bundle_key="bundles/ahead.gz",
                deadline=Deadline.after(60),
                pool=pool,
            )
    finally:
        events.unregister("before-parameter-build.s3.GetObject", unique_id="pinned")

    assert all(isinstance(result, Bundled) for result in bundle.results)
    assert pinned == ["p/2"]  # only the resized one took the two-pass streaming path
    blob = pipeline_aws.s3.get_object(Bucket=pipeline_aws.archive, Key="bundles/ahead.gz")
    assert [(m.metadata.key, c) for m, c in members(blob["Body"].read())] == list(bodies.items())


def test_a_bundle_whose_every_file_fails_is_never_written(pipeline_aws: PipelineAws) -> None:
    refs: list[Any] = [reference(pipeline_aws.landing, f"none/{i}", "v", 5000) for i in range(3)]

    bundle = write_direct_bundle(
        pipeline_aws.s3,
        refs,
        archive_bucket=pipeline_aws.archive,
        bundle_key="bundles/empty.gz",
        deadline=Deadline.after(60),
    )

    assert all(isinstance(result, Missing) for result in bundle.results)
    assert bundle.bundle_bytes == 0 and not bundles(pipeline_aws)


def test_no_file_starts_when_the_bundle_could_no_longer_be_finished(
    pipeline_aws: PipelineAws,
) -> None:
    refs = [upload(pipeline_aws, f"late/{i}", os.urandom(3000)) for i in range(2)]
    gets: list[str] = []
    events: Any = pipeline_aws.s3.meta.events
    events.register(
        "before-call.s3.GetObject", lambda params, **_: gets.append(params["Key"]), unique_id="n"
    )
    try:
        bundle = write_direct_bundle(
            pipeline_aws.s3,
            refs,
            archive_bucket=pipeline_aws.archive,
            bundle_key="bundles/late.gz",
            deadline=Deadline.after(12.0),  # less than the reserve to finish a bundle
        )
    finally:
        events.unregister("before-call.s3.GetObject", unique_id="n")

    assert all(isinstance(result, OutOfTime) for result in bundle.results)
    assert gets == [] and bundle.bundle_bytes == 0


# ------------------------------------------------------------------- the writer's rollback


@pytest.mark.parametrize("cut_after", [1 * MiB, 7 * MiB])  # before / after a part was cut
def test_rollback_forgets_what_was_written_since_the_checkpoint(
    pipeline_aws: PipelineAws, cut_after: int
) -> None:
    kept, lost, tail = os.urandom(4 * MiB), os.urandom(cut_after), os.urandom(2 * MiB)
    writer = MultipartWriter(
        pipeline_aws.s3, pipeline_aws.archive, "rolled.bin", part_size=MIN_PART_SIZE
    )
    writer.write(kept)
    writer.checkpoint()
    writer.write(lost)
    writer.rollback()
    writer.write(tail)
    writer.close()

    blob = pipeline_aws.s3.get_object(Bucket=pipeline_aws.archive, Key="rolled.bin")["Body"]
    assert blob.read() == kept + tail
    assert writer.bytes_written == len(kept) + len(tail)
