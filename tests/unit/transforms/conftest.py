"""A moto server shared by the transform tests that need real HTTP (the native fetcher), and
faults on the wire in front of it (``faulty_s3``)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest

from pipeline import aws
from tests.moto_server import moto_server
from tests.unit.conftest import LANDING, PipelineAws, create_function_resources
from tests.unit.transforms.faulty_s3 import FaultyS3, faulty_s3

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """moto in its own process: awscrt sends real HTTP, which in-process moto cannot intercept."""
    with moto_server() as endpoint:
        yield endpoint


@pytest.fixture
def server_aws(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> PipelineAws:
    """The pipeline's resources in the moto server (created once), the functions' clients on it."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    aws.reset_clients()
    s3 = aws.s3(max_attempts=1, max_pool_connections=40)
    firehose = aws.firehose(max_attempts=1)
    if LANDING not in {bucket["Name"] for bucket in s3.list_buckets()["Buckets"]}:
        create_function_resources(s3, firehose)
    return PipelineAws(s3=s3, firehose=firehose)


@dataclass(frozen=True, slots=True)
class NativeFetchAws:
    """The pipeline's resources in the moto server (``aws``), a fault proxy in front of it, and
    the client the handler gives its native fetcher, pointed at the proxy (``fetch_s3``)."""

    aws: PipelineAws
    proxy: FaultyS3
    fetch_s3: S3Client


@pytest.fixture
def native_fetch_aws(
    server_aws: PipelineAws, moto_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[NativeFetchAws]:
    with faulty_s3(moto_endpoint) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.endpoint)
        aws.reset_clients()
        # the handler's S3 client (transforms/handler.py), seen through the proxy
        fetch_s3 = aws.s3(
            max_attempts=1,
            max_pool_connections=40,
            connect_timeout=aws.DEADLINE_CONNECT_TIMEOUT,
            read_timeout=aws.DEADLINE_READ_TIMEOUT,
        )
        yield NativeFetchAws(aws=server_aws, proxy=proxy, fetch_s3=fetch_s3)
