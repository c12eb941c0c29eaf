"""The direct path at scale: a 100 MB file streamed into a direct bundle with bounded memory.

moto runs as a server in a subprocess here, so the measured memory is the transform's alone
(in-process moto would hold the whole object in this process's heap).
"""

from __future__ import annotations

import hashlib
import os
import tracemalloc
from collections.abc import Iterator
from typing import TYPE_CHECKING

import boto3
import pytest
from botocore.config import Config

from pipeline.bundle import read_bundle
from pipeline.deadline import Deadline
from tests.moto_server import moto_server as start_moto_server
from tests.unit.transforms.helpers import ARRIVAL_MS, reference
from transforms.direct import Bundled, direct_bundle_key, write_direct_bundle

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

SIZE = 100 * 1024 * 1024


@pytest.fixture(scope="module")
def moto_server() -> Iterator[str]:
    """A moto server in its own process, so tracemalloc sees only the transform's memory."""
    with start_moto_server() as endpoint:
        yield endpoint


def _client(endpoint: str) -> S3Client:
    client: S3Client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="eu-west-2",
        config=Config(retries={"mode": "standard", "total_max_attempts": 1}),
    )
    return client


@pytest.mark.slow
def test_hundred_megabyte_file_goes_direct_with_bounded_memory(moto_server: str) -> None:
    s3 = _client(moto_server)
    location = {"LocationConstraint": "eu-west-2"}
    for bucket in ("landing", "archive"):
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration=location)  # type: ignore[arg-type]
    s3.put_bucket_versioning(Bucket="landing", VersioningConfiguration={"Status": "Enabled"})
    content = os.urandom(SIZE)
    digest = hashlib.sha256(content).hexdigest()
    version = s3.put_object(Bucket="landing", Key="huge/file.bin", Body=content)["VersionId"]
    del content
    ref = reference("landing", "huge/file.bin", version, SIZE)
    key = direct_bundle_key("bundles/", "stream", [ref], ARRIVAL_MS)

    tracemalloc.start()
    try:
        bundle = write_direct_bundle(
            s3, [ref], archive_bucket="archive", bundle_key=key, deadline=Deadline.after(240)
        )
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    (result,) = bundle.results
    assert isinstance(result, Bundled)
    assert result.metadata.sha256 == digest
    assert peak < 48 * 1024 * 1024, f"peak {peak / 2**20:.1f} MiB for a 100 MiB file"
    body = s3.get_object(Bucket="archive", Key=key)["Body"]
    checked = 0
    for member in read_bundle(body):  # type: ignore[arg-type]
        assert member.metadata.key == "huge/file.bin"
        assert member.metadata.version_id == version
        for chunk in member.chunks():
            checked += len(chunk)
    assert checked == SIZE
