"""Faithful Firehose: buffering, processor contract, error output, limits, naming, notifications."""

from __future__ import annotations

import base64
import gzip
import json
import re
import time
from collections.abc import Mapping
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from localstack_plugins.firehose.usage import NAMESPACE as FIREHOSE_NAMESPACE
from tests.localstack_plugins.support import (
    REGION,
    ROLE_ARN,
    client,
    create_function,
    stream_state,
    unique,
    wait_for,
)

# Echoes what Firehose sent: each Ok record's data becomes the JSON of its event fields.
PROCESSOR = """
import base64, json

def handler(event, context):
    out = []
    for record in event["records"]:
        data = base64.b64decode(record["data"])
        text = data.decode(errors="replace")
        result = "Ok"
        if text.startswith("drop"):
            result = "Dropped"
        elif text.startswith("fail"):
            result = "ProcessingFailed"
        elif text.startswith("huge"):
            return {"records": [{"recordId": r["recordId"], "result": "Ok",
                                 "data": "A" * 7_000_000} for r in event["records"]]}
        elif text.startswith("lose"):
            continue
        seen = {
            "invocationId": event["invocationId"],
            "deliveryStreamArn": event["deliveryStreamArn"],
            "region": event["region"],
            "recordId": record["recordId"],
            "approximateArrivalTimestamp": record["approximateArrivalTimestamp"],
            "data": text,
        }
        encoded = base64.b64encode((json.dumps(seen) + "\\n").encode()).decode()
        out.append({"recordId": record["recordId"], "result": result, "data": encoded})
    return {"records": out}
"""

DEFAULT_KEY = re.compile(
    r"^(?P<prefix>.*?)(?P<stream>[\w-]+)-1-(?P<stamp>\d{4}-\d{2}-\d{2}-\d{2}-\d{2}-\d{2})-"
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\.gz$"
)


@pytest.fixture(scope="module")
def processor_arn(localstack: str) -> str:
    return create_function(localstack, PROCESSOR, name="processor", timeout=30, memory=512)


@pytest.fixture
def bucket(localstack: str) -> str:
    name = unique("archive")
    client("s3", localstack).create_bucket(
        Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION}
    )
    return name


def _create_stream(
    endpoint: str,
    bucket: str,
    *,
    size_mb: int = 1,
    interval: int = 1,
    processor_arn: str | None = None,
    processor_interval: int = 1,
    retries: int = 3,
    prefix: str = "bundles/!{timestamp:yyyy/MM/dd/HH}/",
    error_prefix: str = "errors/!{firehose:error-output-type}/!{timestamp:yyyy/MM/dd/HH}/",
) -> str:
    name = unique("stream")
    destination: dict[str, Any] = {
        "RoleARN": ROLE_ARN,
        "BucketARN": f"arn:aws:s3:::{bucket}",
        "Prefix": prefix,
        "ErrorOutputPrefix": error_prefix,
        "CompressionFormat": "GZIP",
        "BufferingHints": {"SizeInMBs": size_mb, "IntervalInSeconds": interval},
    }
    if processor_arn:
        parameters = {
            "LambdaArn": processor_arn,
            "BufferIntervalInSeconds": str(processor_interval),
            "BufferSizeInMBs": "1",
            "NumberOfRetries": str(retries),
        }
        destination["ProcessingConfiguration"] = {
            "Enabled": True,
            "Processors": [
                {
                    "Type": "Lambda",
                    "Parameters": [
                        {"ParameterName": k, "ParameterValue": v} for k, v in parameters.items()
                    ],
                }
            ],
        }
    client("firehose", endpoint).create_delivery_stream(
        DeliveryStreamName=name,
        DeliveryStreamType="DirectPut",
        ExtendedS3DestinationConfiguration=destination,
    )
    return name


def _objects(endpoint: str, bucket: str, prefix: str = "") -> dict[str, bytes]:
    s3 = client("s3", endpoint)
    listing = s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
    return {
        o["Key"]: gzip.decompress(s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read())
        for o in listing
    }


def _put(endpoint: str, stream: str, payloads: list[bytes]) -> dict[str, Any]:
    response: dict[str, Any] = client("firehose", endpoint).put_record_batch(
        DeliveryStreamName=stream, Records=[{"Data": p} for p in payloads]
    )
    return response


def _put_all(endpoint: str, stream: str, payloads: list[bytes]) -> None:
    """Put every record, sending again those the stream's DirectPut quota throttled."""
    pending = payloads

    def all_accepted() -> bool | None:
        nonlocal pending
        entries = _put(endpoint, stream, pending)["RequestResponses"]
        failed = [p for p, e in zip(pending, entries, strict=True) if "ErrorCode" in e]
        assert {e.get("ErrorCode") for e in entries} <= {None, "ServiceUnavailableException"}
        pending = failed
        return None if failed else True

    wait_for(all_accepted, timeout=20, what=f"{stream}: every record accepted")


def _idle_after(endpoint: str, stream: str, key: str, count: int) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        state = stream_state(endpoint, stream)
        return state if state[key] >= count and state["idle"] else None

    return wait_for(done, timeout=40, what=f"{stream}: {key} >= {count}")


def test_destination_buffer_flushes_by_size(localstack: str, bucket: str) -> None:
    stream = _create_stream(localstack, bucket, size_mb=1, interval=900)
    chunk = b"s" * 400_000

    _put_all(localstack, stream, [chunk, chunk])
    state = stream_state(localstack, stream)
    assert state["destination_buffer"]["records"] == 2
    assert state["destination_buffer"]["flush_due_in_seconds"] > 800
    assert _objects(localstack, bucket) == {}

    _put_all(localstack, stream, [chunk])  # 1.2 MB buffered: over SizeInMBs

    def delivered() -> dict[str, Any] | None:
        state = stream_state(localstack, stream)
        return state if state["deliveries"] >= 1 and not state["busy"] else None

    state = wait_for(delivered, timeout=40, what=f"{stream}: one delivery")
    objects = _objects(localstack, bucket)
    # never more than SizeInMBs (1 MiB) per object: two chunks go, the third waits
    assert list(objects.values()) == [chunk + chunk]
    assert state["destination_buffer"]["records"] == 1
    assert state["destination_buffer"]["flush_due_in_seconds"] > 800


def test_destination_buffer_flushes_by_interval(localstack: str, bucket: str) -> None:
    stream = _create_stream(localstack, bucket, size_mb=64, interval=2)
    started = time.monotonic()

    _put(localstack, stream, [b"one\n", b"two\n"])
    state = _idle_after(localstack, stream, "deliveries", 1)
    took = time.monotonic() - started

    assert took >= 1.9
    assert state["delivered_records"] == 2
    assert list(_objects(localstack, bucket).values()) == [b"one\ntwo\n"]


def test_processor_sees_the_real_event_and_results_are_honoured(
    localstack: str, bucket: str, processor_arn: str
) -> None:
    stream = _create_stream(localstack, bucket, processor_arn=processor_arn)
    before = int(time.time() * 1000)
    response = _put(localstack, stream, [b"keep-1", b"drop-2", b"fail-3", b"keep-4"])
    record_ids = [e["RecordId"] for e in response["RequestResponses"]]

    _idle_after(localstack, stream, "deliveries", 1)
    _idle_after(localstack, stream, "error_deliveries", 1)

    bundles = _objects(localstack, bucket, "bundles/")
    assert len(bundles) == 1
    seen = [json.loads(line) for line in next(iter(bundles.values())).splitlines()]
    assert [s["data"] for s in seen] == ["keep-1", "keep-4"]
    assert [s["recordId"] for s in seen] == [record_ids[0], record_ids[3]]
    assert len({s["invocationId"] for s in seen}) == 1
    assert seen[0]["deliveryStreamArn"].endswith(f":deliverystream/{stream}")
    assert seen[0]["region"] == REGION
    assert before <= seen[0]["approximateArrivalTimestamp"] <= int(time.time() * 1000)

    errors = _objects(localstack, bucket, "errors/processing-failed/")
    assert len(errors) == 1
    documents = [json.loads(line) for line in next(iter(errors.values())).splitlines()]
    assert len(documents) == 1
    failed = documents[0]
    assert base64.b64decode(failed["rawData"]) == b"fail-3"
    assert failed["errorCode"] == "Lambda.ProcessingFailed"
    assert failed["attemptsMade"] == 1
    assert failed["lambdaArn"] == processor_arn
    assert failed["arrivalTimestamp"] <= failed["attemptEndingTimestamp"]
    assert stream_state(localstack, stream)["dropped_records"] == 1


def test_response_over_6_mb_is_retried_then_sent_to_the_error_output(
    localstack: str, bucket: str, processor_arn: str
) -> None:
    stream = _create_stream(localstack, bucket, processor_arn=processor_arn, retries=1)

    _put(localstack, stream, [b"huge-1", b"keep-2"])
    state = _idle_after(localstack, stream, "error_deliveries", 1)

    assert state["invocations"] == 2
    assert state["invocation_failures"] == 2
    assert state["deliveries"] == 0
    errors = _objects(localstack, bucket, "errors/processing-failed/")
    documents = [json.loads(line) for body in errors.values() for line in body.splitlines()]
    assert sorted(base64.b64decode(d["rawData"]) for d in documents) == [b"huge-1", b"keep-2"]
    assert {d["errorCode"] for d in documents} == {"Lambda.FunctionError"}
    assert {d["attemptsMade"] for d in documents} == {2}


def test_missing_record_id_fails_the_batch(
    localstack: str, bucket: str, processor_arn: str
) -> None:
    stream = _create_stream(localstack, bucket, processor_arn=processor_arn, retries=0)

    _put(localstack, stream, [b"lose-1", b"keep-2"])
    _idle_after(localstack, stream, "error_deliveries", 1)

    documents = [
        json.loads(line)
        for body in _objects(localstack, bucket, "errors/").values()
        for line in body.splitlines()
    ]
    assert {d["errorCode"] for d in documents} == {"Lambda.MissingRecordId"}
    assert len(documents) == 2


def test_record_and_batch_limits(localstack: str, bucket: str) -> None:
    stream = _create_stream(localstack, bucket, size_mb=128, interval=900)
    firehose = client("firehose", localstack)

    with pytest.raises(ClientError) as too_large:
        firehose.put_record(DeliveryStreamName=stream, Record={"Data": b"x" * 1_024_001})
    assert too_large.value.response["Error"]["Code"] == "ValidationException"
    assert "1024000" in too_large.value.response["Error"]["Message"]

    with pytest.raises(ClientError) as too_many:
        _put(localstack, stream, [b"r"] * 501)
    assert too_many.value.response["Error"]["Code"] == "ValidationException"

    with pytest.raises(ClientError) as too_big:
        _put(localstack, stream, [b"x" * 1_000_000] * 5)
    assert too_big.value.response["Error"]["Code"] == "InvalidArgumentException"
    assert too_big.value.response["Error"]["Message"] == "Records size exceeds 4 MB limit"

    exactly = firehose.put_record(DeliveryStreamName=stream, Record={"Data": b"x" * 1_024_000})
    assert exactly["RecordId"]


def test_throughput_quota_fails_records_individually(localstack: str, bucket: str) -> None:
    """eu-west-2's DirectPut quota is 1 MiB/s per stream (AWS quota page)."""
    stream = _create_stream(localstack, bucket, size_mb=128, interval=900)

    first = _put(localstack, stream, [b"q" * 400_000] * 4)

    assert first["FailedPutCount"] == 2
    entries = first["RequestResponses"]
    assert ["ErrorCode" in e for e in entries] == [False, False, True, True]
    failures = [e for e in entries if "ErrorCode" in e]
    assert {(e["ErrorCode"], e["ErrorMessage"]) for e in failures} == {
        ("ServiceUnavailableException", "Slow down.")
    }
    assert all("RecordId" not in e for e in failures)

    no_retry = boto3.client(
        "firehose",
        endpoint_url=localstack,
        region_name=REGION,
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"total_max_attempts": 1}),
    )
    # 1 MB records back to back outrun a 1 MiB/s refill whatever the machine's pace: within a few
    # calls one finds the quota spent and the whole call fails
    accepted = 0
    with pytest.raises(ClientError) as throttled:
        for _ in range(5):
            no_retry.put_record(DeliveryStreamName=stream, Record={"Data": b"q" * 1_000_000})
            accepted += 1
    assert throttled.value.response["Error"]["Code"] == "ServiceUnavailableException"
    assert throttled.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503

    # what an operator sees: Firehose's own ingestion metrics in CloudWatch (AWS/Firehose)
    expected = {
        ("IncomingRecords", "Sum"): 2 + accepted,
        ("IncomingBytes", "Sum"): 800_000 + accepted * 1_000_000,
        ("IncomingPutRequests", "Sum"): 1 + accepted,
        ("ThrottledRecords", "Sum"): 3,
        ("BytesPerSecondLimit", "Maximum"): 1024 * 1024,
        ("PutRequestsPerSecondLimit", "Maximum"): 1000,
        ("RecordsPerSecondLimit", "Maximum"): 100_000,
    }
    deadline = time.monotonic() + 15
    while (found := _firehose_metrics(localstack, stream, expected)) != expected:
        if time.monotonic() > deadline:
            break
        time.sleep(0.5)  # CloudWatch gets the emulator's metrics once a second
    assert found == expected


def _firehose_metrics(
    endpoint: str, stream: str, wanted: Mapping[tuple[str, str], float]
) -> dict[tuple[str, str], float]:
    cloudwatch = client("cloudwatch", endpoint)
    now = time.time()
    found: dict[tuple[str, str], float] = {}
    for metric, statistic in wanted:
        points = cloudwatch.get_metric_statistics(
            Namespace=FIREHOSE_NAMESPACE,
            MetricName=metric,
            Dimensions=[{"Name": "DeliveryStreamName", "Value": stream}],
            StartTime=now - 600,
            EndTime=now + 60,
            Period=3600,
            Statistics=[statistic],
        )["Datapoints"]
        values = [point[statistic] for point in points]
        if values:
            found[(metric, statistic)] = sum(values) if statistic == "Sum" else max(values)
    return found


def test_gzip_key_naming_and_prefix_expressions(localstack: str, bucket: str) -> None:
    stream = _create_stream(
        localstack,
        bucket,
        prefix="data/!{timestamp:yyyy-MM-dd}/!{firehose:random-string}/!{firehose:random-string}/",
        error_prefix="err/!{firehose:error-output-type}/",
    )
    _put(localstack, stream, [b"payload"])
    _idle_after(localstack, stream, "deliveries", 1)

    s3 = client("s3", localstack)
    (key,) = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    match = re.match(r"^data/(\d{4}-\d{2}-\d{2})/([A-Za-z0-9]{11})/([A-Za-z0-9]{11})/(.+)$", key)
    assert match, key
    assert match.group(2) != match.group(3), "a new random string for each occurrence"
    name = DEFAULT_KEY.match(match.group(4))
    assert name and name.group("stream") == stream, key
    assert name.group("stamp").startswith(match.group(1))
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    assert body[:2] == b"\x1f\x8b"
    assert gzip.decompress(body) == b"payload"


def test_default_time_prefix_is_appended(localstack: str, bucket: str) -> None:
    stream = _create_stream(localstack, bucket, prefix="plain/", error_prefix="")
    _put(localstack, stream, [b"p"])
    _idle_after(localstack, stream, "deliveries", 1)

    (key,) = list(_objects(localstack, bucket))
    assert re.match(r"^plain/\d{4}/\d{2}/\d{2}/\d{2}/" + re.escape(stream) + "-1-", key), key


@pytest.mark.parametrize(
    ("prefix", "error_prefix"),
    [
        ("bundles/!{timestamp:yyyy}/", ""),  # expressions in Prefix need an ErrorOutputPrefix
        ("bundles/", "errors/!{timestamp:yyyy}/"),  # expressions need error-output-type
        ("b/!{timestamp:yyyy'}/", "e/!{firehose:error-output-type}/"),  # unterminated quote
        ("b" * 510 + "/", "e/!{firehose:error-output-type}/"),  # over 512 once evaluated
    ],
)
def test_prefixes_aws_refuses_are_refused(
    localstack: str, bucket: str, prefix: str, error_prefix: str
) -> None:
    with pytest.raises(ClientError) as refused:
        _create_stream(localstack, bucket, prefix=prefix, error_prefix=error_prefix)
    assert refused.value.response["Error"]["Code"] == "InvalidArgumentException"


def test_update_destination_is_held_to_the_same_prefix_rules(localstack: str, bucket: str) -> None:
    stream = _create_stream(localstack, bucket)
    firehose = client("firehose", localstack)
    description = firehose.describe_delivery_stream(DeliveryStreamName=stream)
    details = description["DeliveryStreamDescription"]
    with pytest.raises(ClientError) as refused:
        firehose.update_destination(
            DeliveryStreamName=stream,
            CurrentDeliveryStreamVersionId=details["VersionId"],
            DestinationId=details["Destinations"][0]["DestinationId"],
            ExtendedS3DestinationUpdate={"ErrorOutputPrefix": "errors/!{timestamp:yyyy}/"},
        )
    assert refused.value.response["Error"]["Code"] == "InvalidArgumentException"


def test_empty_error_prefix_puts_failures_under_the_prefix(
    localstack: str, bucket: str, processor_arn: str
) -> None:
    stream = _create_stream(
        localstack, bucket, processor_arn=processor_arn, prefix="plain/", error_prefix=""
    )
    _put(localstack, stream, [b"fail-1"])
    state = _idle_after(localstack, stream, "error_deliveries", 1)

    assert re.match(
        r"^plain/processing-failed/\d{4}/\d{2}/\d{2}/\d{2}/" + re.escape(stream) + "-1-",
        state["last_error_key"],
    ), state["last_error_key"]


def test_delivery_raises_s3_notifications(localstack: str, bucket: str) -> None:
    sqs = client("sqs", localstack)
    queue_url = sqs.create_queue(QueueName=unique("notify"))["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    client("s3", localstack).put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={
            "QueueConfigurations": [
                {
                    "QueueArn": queue_arn,
                    "Events": ["s3:ObjectCreated:*"],
                    "Filter": {
                        "Key": {
                            "FilterRules": [
                                {"Name": "prefix", "Value": "bundles/"},
                                {"Name": "suffix", "Value": ".gz"},
                            ]
                        }
                    },
                }
            ]
        },
    )
    stream = _create_stream(localstack, bucket)
    _put(localstack, stream, [b"notify-me"])
    state = _idle_after(localstack, stream, "deliveries", 1)

    def event_for_delivery() -> list[dict[str, Any]] | None:
        messages = sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=1).get("Messages", [])
        records = [r for m in messages for r in json.loads(m["Body"]).get("Records", [])]
        return [r for r in records if r["s3"]["object"]["key"] == state["last_delivery_key"]]

    (record,) = wait_for(event_for_delivery, timeout=20, what="the delivery's S3 event")
    assert record["eventName"] == "ObjectCreated:Put"
