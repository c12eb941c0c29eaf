"""A re-sent CompleteMultipartUpload commits the object once, as on S3."""

from __future__ import annotations

import hashlib
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from localstack_plugins.s3_multipart import CompletionRegistry
from tests.localstack_plugins.support import client, unique

PART = 5 * 1024 * 1024


def test_the_registry_runs_one_completion_per_upload_and_answers_repeats_with_it() -> None:
    registry = CompletionRegistry(capacity=2)
    calls: list[str] = []
    started, release = threading.Event(), threading.Event()

    def slow() -> str:
        calls.append("slow")
        started.set()
        assert release.wait(10)
        return "first"

    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(registry.complete_once, ("b", "u1", "k"), slow)
        assert started.wait(10)
        second = pool.submit(registry.complete_once, ("b", "u1", "k"), lambda: "second")
        release.set()
        assert (first.result(10), second.result(10)) == ("first", "first")
    assert calls == ["slow"]


def test_the_registry_remembers_a_bounded_number_of_completions() -> None:
    registry = CompletionRegistry(capacity=2)
    for upload in ("u1", "u2", "u3"):
        registry.complete_once(("b", upload, "k"), lambda upload=upload: upload)
    assert registry.complete_once(("b", "u3", "k"), lambda: "again") == "u3"
    assert registry.complete_once(("b", "u1", "k"), lambda: "again") == "again"


def test_a_failed_completion_is_not_remembered() -> None:
    registry = CompletionRegistry()

    def fail() -> str:
        raise RuntimeError("InvalidPart")

    with pytest.raises(RuntimeError):
        registry.complete_once(("b", "u", "k"), fail)
    assert registry.complete_once(("b", "u", "k"), lambda: "done") == "done"


def test_overlapping_completes_commit_one_whole_version(localstack: str) -> None:
    s3 = client("s3", localstack)
    bucket = unique("mpu")
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-2"})
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    parts = [bytes([n]) * PART for n in range(40)]  # 200 MiB: the concatenation takes a while
    upload = s3.create_multipart_upload(Bucket=bucket, Key="big")["UploadId"]
    etags = [
        s3.upload_part(Bucket=bucket, Key="big", UploadId=upload, PartNumber=n, Body=body)["ETag"]
        for n, body in enumerate(parts, start=1)
    ]
    completed = {"Parts": [{"ETag": e, "PartNumber": n} for n, e in enumerate(etags, start=1)]}

    def complete(attempt: int) -> dict[str, Any]:
        time.sleep(attempt * 0.05)  # re-sent while the first is still concatenating
        answer: dict[str, Any] = s3.complete_multipart_upload(
            Bucket=bucket, Key="big", UploadId=upload, MultipartUpload=completed
        )
        return answer

    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(complete, range(6)))

    assert len({a["VersionId"] for a in answers}) == 1, "every Complete names the one version"
    versions = s3.list_object_versions(Bucket=bucket)["Versions"]
    assert [(v["VersionId"], v["IsLatest"]) for v in versions] == [(answers[0]["VersionId"], True)]
    body = s3.get_object(Bucket=bucket, Key="big")["Body"].read()
    assert hashlib.sha256(body).digest() == hashlib.sha256(b"".join(parts)).digest()

    s3.delete_objects(
        Bucket=bucket, Delete={"Objects": [{"Key": "big", "VersionId": answers[0]["VersionId"]}]}
    )
    s3.delete_bucket(Bucket=bucket)  # no version record left behind
