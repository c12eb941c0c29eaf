"""The direct path at scale: a 100 MB file streamed into its own bundle with bounded memory.

moto runs as a server in a subprocess here, so the measured memory is the transform's alone
(in-process moto would hold the whole object in this process's heap).
"""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
import time
import tracemalloc
import urllib.request
from collections.abc import Iterator
from typing import TYPE_CHECKING

import boto3
import pytest
from botocore.config import Config

from pipeline.bundle import read_bundle
from pipeline.deadline import Deadline
from tests.unit.transforms.helpers import ARRIVAL_MS, reference
from transforms.direct import Delivered, deliver_direct, direct_bundle_key

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

SIZE = 100 * 1024 * 1024


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def moto_server() -> Iterator[str]:
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    try:
        while True:
            try:
                with urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("moto server did not start") from None
                time.sleep(0.1)
        yield endpoint
    finally:
        process.terminate()
        process.wait(timeout=10)


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
    key = direct_bundle_key("bundles/", "stream", ref, ARRIVAL_MS)

    tracemalloc.start()
    try:
        result = deliver_direct(
            s3, ref, archive_bucket="archive", bundle_key=key, deadline=Deadline.after(240)
        )
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert isinstance(result, Delivered)
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
