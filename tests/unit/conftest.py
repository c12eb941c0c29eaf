"""Shared unit-test fixtures: moto-backed AWS, the pipeline resources, a Lambda context."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest
from moto import mock_aws

from pipeline import aws

if TYPE_CHECKING:
    from mypy_boto3_firehose import FirehoseClient
    from mypy_boto3_s3 import S3Client

# powertools reads these when a handler module is imported (at collection time)
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "S3Aggregator")
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "unit-tests")

REGION = "eu-west-2"
LANDING = "test-landing"
ARCHIVE = "test-archive"
DISTRIBUTION = "test-distribution"
STREAM = "test-stream"
DELIVERY_SINK = "test-firehose-sink"


@pytest.fixture(autouse=True)
def _offline_aws_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Unit tests never reach real AWS: fake credentials, fixed region, fresh cached clients."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "POWERTOOLS_SERVICE_NAME": "unit-tests",
        "POWERTOOLS_METRICS_NAMESPACE": "S3Aggregator",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    aws.reset_clients()
    yield
    aws.reset_clients()


@dataclass
class PipelineAws:
    """The mocked account: clients plus the names of the pipeline's resources."""

    s3: S3Client
    firehose: FirehoseClient
    landing: str = LANDING
    archive: str = ARCHIVE
    distribution: str = DISTRIBUTION
    stream: str = STREAM
    sink: str = DELIVERY_SINK
    versions: dict[str, str] = field(default_factory=dict)

    def put(self, key: str, body: bytes) -> str:
        """Upload to Landing; returns the new version id."""
        version: str = self.s3.put_object(Bucket=self.landing, Key=key, Body=body)["VersionId"]
        return version

    def stream_records(self) -> list[bytes]:
        """Everything moto's Firehose delivered (one object per put call, records concatenated)."""
        listing = self.s3.list_objects_v2(Bucket=self.sink)
        return [
            self.s3.get_object(Bucket=self.sink, Key=item["Key"])["Body"].read()
            for item in listing.get("Contents", [])
        ]


def create_pipeline_resources(
    s3: Any,
    firehose: Any,
    *,
    versioned: Sequence[str],
    unversioned: Sequence[str],
    stream: str,
    sink: str,
    **destination: str,
) -> None:
    """Buckets (Landing and Archive versioned, as deployed) and a DirectPut stream into ``sink``.

    moto's Firehose runs no processor: it writes every PutRecordBatch to ``sink`` as one object.
    ``destination`` adds ExtendedS3 destination settings (``Prefix``, ``ErrorOutputPrefix``).
    """
    location: Any = {"LocationConstraint": REGION}
    for bucket in (*versioned, *unversioned, sink):
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration=location)
    for bucket in versioned:
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    firehose.create_delivery_stream(
        DeliveryStreamName=stream,
        DeliveryStreamType="DirectPut",
        ExtendedS3DestinationConfiguration={
            "RoleARN": "arn:aws:iam::123456789012:role/firehose",
            "BucketARN": f"arn:aws:s3:::{sink}",
            **destination,
        },
    )


def create_function_resources(s3: Any, firehose: Any) -> None:
    """The three buckets and the stream the functions' tests use (Landing/Archive versioned)."""
    create_pipeline_resources(
        s3,
        firehose,
        versioned=(LANDING, ARCHIVE),
        unversioned=(DISTRIBUTION,),
        stream=STREAM,
        sink=DELIVERY_SINK,
    )


@pytest.fixture
def pipeline_aws() -> Iterator[PipelineAws]:
    with mock_aws():
        # the clients the functions use: explicit config, botocore retries off (they retry)
        s3 = aws.s3(max_attempts=1, max_pool_connections=40)
        firehose = aws.firehose(
            max_attempts=1,
            connect_timeout=aws.DEADLINE_CONNECT_TIMEOUT,
            read_timeout=aws.DEADLINE_READ_TIMEOUT,
        )
        create_function_resources(s3, firehose)
        yield PipelineAws(s3=s3, firehose=firehose)


@dataclass
class LambdaContextStub:
    """The attributes of the Lambda context object the handlers and powertools read."""

    timeout_seconds: float = 300.0
    function_name: str = "unit-test-function"
    memory_limit_in_mb: int = 1024
    invoked_function_arn: str = "arn:aws:lambda:eu-west-2:123456789012:function:unit-test"
    aws_request_id: str = "00000000-0000-0000-0000-000000000000"
    started: float = field(default_factory=time.monotonic)

    def get_remaining_time_in_millis(self) -> int:
        return int((self.timeout_seconds - (time.monotonic() - self.started)) * 1000)


@pytest.fixture
def lambda_context() -> LambdaContextStub:
    return LambdaContextStub()
