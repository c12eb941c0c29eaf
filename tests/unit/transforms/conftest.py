"""A moto server shared by the transform tests that need real HTTP (the native fetcher)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pipeline import aws
from tests.moto_server import moto_server
from tests.unit.conftest import LANDING, PipelineAws, create_function_resources


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
