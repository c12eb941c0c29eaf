"""A moto account with the buckets, stream and queues the redrive commands work on."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.config import Config
from moto import mock_aws

from pipeline.references import ObjectReference
from tests.unit.conftest import REGION, create_pipeline_resources

LANDING = "unit-landing"
ARCHIVE = "unit-archive"
#: moto's Firehose writes every PutRecordBatch call here as one object (it runs no processor)
SINK = "unit-firehose-sink"
STREAM = "s3-aggregator-unit"
ERROR_PREFIX = "errors/!{firehose:error-output-type}/!{timestamp:yyyy/MM/dd/HH}/"


@dataclass
class RedriveAws:
    s3: Any
    firehose: Any
    sqs: Any
    ingest_dlq: str
    copier_dlq: str

    def land(self, key: str, body: bytes = b"abc") -> str:
        version: str = self.s3.put_object(Bucket=LANDING, Key=key, Body=body)["VersionId"]
        return version

    def put_error_object(self, key: str, body: bytes) -> None:
        self.s3.put_object(Bucket=ARCHIVE, Key=key, Body=body)

    def reput(self) -> list[ObjectReference]:
        """Every reference that reached the stream, in put order, without the delivery
        bookkeeping (attempt, first seen: a redrive restarts them, see :meth:`reput_raw`)."""
        return [dataclasses.replace(ref, attempt=0, first_seen="") for ref in self.reput_raw()]

    def reput_raw(self) -> list[ObjectReference]:
        """Every reference that reached the stream, in put order, as put."""
        listing = self.s3.list_objects_v2(Bucket=SINK).get("Contents", [])
        objects = sorted(listing, key=lambda item: (item["LastModified"], item["Key"]))
        references: list[ObjectReference] = []
        for item in objects:
            body = self.s3.get_object(Bucket=SINK, Key=item["Key"])["Body"].read()
            references.extend(
                ObjectReference.from_record(line) for line in body.splitlines(keepends=True)
            )
        return references

    def tags(self, key: str) -> dict[str, str]:
        tag_set = self.s3.get_object_tagging(Bucket=ARCHIVE, Key=key)["TagSet"]
        return {tag["Key"]: tag["Value"] for tag in tag_set}

    def visible(self, queue_url: str) -> int:
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"])


@pytest.fixture
def redrive_aws() -> Iterator[RedriveAws]:
    with mock_aws():
        config = Config(retries={"mode": "standard", "total_max_attempts": 1})
        s3 = boto3.client("s3", region_name=REGION, config=config)
        firehose = boto3.client("firehose", region_name=REGION, config=config)
        sqs = boto3.client("sqs", region_name=REGION, config=config)
        create_pipeline_resources(
            s3,
            firehose,
            versioned=(LANDING, ARCHIVE),
            unversioned=(),
            stream=STREAM,
            sink=SINK,
            Prefix="bundles/!{timestamp:yyyy/MM/dd/HH}/",
            ErrorOutputPrefix=ERROR_PREFIX,
        )
        ingest = sqs.create_queue(QueueName=f"{STREAM}-ingest-dlq")["QueueUrl"]
        copier = sqs.create_queue(QueueName=f"{STREAM}-copier-dlq")["QueueUrl"]
        yield RedriveAws(s3=s3, firehose=firehose, sqs=sqs, ingest_dlq=ingest, copier_dlq=copier)


def now_ms() -> int:
    return int(time.time() * 1000)
