"""The native fetcher (transforms/crt_fetch.py) against a moto server: awscrt sends real HTTP, so
moto runs in its own process here (in-process moto only intercepts botocore).

One server for the session (``moto_endpoint``, ~1-2 s to start); every test uses its own keys.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import socket
import time
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest
from awscrt import auth, http
from awscrt import s3 as crt_s3
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

import transforms.crt_fetch
import transforms.fetch
from pipeline import aws
from pipeline.deadline import Backoff, Deadline
from pipeline.references import ObjectReference
from tests.unit.transforms.helpers import firehose_bundle, firehose_event, members, reference
from transforms.batch import process_batch
from transforms.config import TransformConfig
from transforms.crt_fetch import (
    ChecksumMismatchError,
    CrtFetcher,
    Endpoint,
    _client_error,
    _verify_checksum,
    endpoint_of,
)
from transforms.fetch import Fetched, FetchResult, Missing, OutOfTime, SizeMismatch, classify

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

NOW = datetime(2026, 1, 2, 3, 5, 5, tzinfo=UTC)
LANDING = "crt-landing"
#: the stall bound (s) of these tests: longer than their deadlines, so they test the deadline
STALL = 30.0
HOSTILE_KEYS = [
    "plain.txt",
    "with space/and+plus.csv",
    "percent%41literal.bin",
    "ünïcødé/文件.txt",
    "../../etc/passwd",
    "/leading/slash",
    "a//double//slash",
    "q?uery&amp=1#frag",
    "k" * 900,
    "zero-byte",
]


@pytest.fixture
def s3(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> S3Client:
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    aws.reset_clients()
    client = aws.s3(max_attempts=1)
    existing = {bucket["Name"] for bucket in client.list_buckets()["Buckets"]}
    if LANDING not in existing:
        location: Any = {"LocationConstraint": "eu-west-2"}
        client.create_bucket(Bucket=LANDING, CreateBucketConfiguration=location)
        client.put_bucket_versioning(Bucket=LANDING, VersioningConfiguration={"Status": "Enabled"})
    return client


def put(s3: S3Client, key: str, body: bytes) -> ObjectReference:
    version = s3.put_object(Bucket=LANDING, Key=key, Body=body)["VersionId"]
    return reference(LANDING, key, version, len(body), hashlib.md5(body).hexdigest())


def fetch_all(fetcher: CrtFetcher, refs: list[ObjectReference], seconds: float = 30) -> list[Any]:
    with fetcher.fetching(refs, Deadline.after(seconds), 4) as results:
        return list(results)


def test_hostile_keys_and_pinned_versions_are_fetched_byte_for_byte(s3: S3Client) -> None:
    bodies = {key: (b"" if key == "zero-byte" else key.encode() * 50) for key in HOSTILE_KEYS}
    refs = [put(s3, f"hostile/{key}", body) for key, body in bodies.items()]
    old = put(s3, "versioned.txt", b"first version")
    put(s3, "versioned.txt", b"second, longer version")

    results = fetch_all(CrtFetcher(s3, 4, STALL), [*refs, old])

    assert all(isinstance(result, Fetched) for result in results), results
    assert [r.content for r in results] == [*bodies.values(), b"first version"]
    assert [r.version_id for r in results] == [ref.version_id for ref in [*refs, old]]
    assert all(r.sha256 == hashlib.sha256(r.content).hexdigest() for r in results)
    assert results[0].etag == hashlib.md5(bodies["plain.txt"]).hexdigest()


def test_missing_keys_and_versions_are_missing_and_sizes_are_checked(s3: S3Client) -> None:
    present = put(s3, "sized.bin", b"x" * 1000)
    refs = [
        reference(LANDING, "no/such/key", None, 10),
        reference(LANDING, "sized.bin", "no-such-version", 1000),
        dataclasses.replace(present, size=10),
    ]

    missing_key, missing_version, resized = fetch_all(CrtFetcher(s3, 4, STALL), refs)

    assert isinstance(missing_key, Missing) and "NoSuchKey" in missing_key.reason
    assert isinstance(missing_version, Missing) and "NoSuchVersion" in missing_version.reason
    assert resized == SizeMismatch(1000, 0)


def test_process_batch_packs_what_the_native_fetcher_read(s3: S3Client) -> None:
    bodies = [f"file {index}\n".encode() * (index + 1) for index in range(40)]
    refs = [put(s3, f"batch/{index:03d}.txt", body) for index, body in enumerate(bodies)]
    settings = TransformConfig(
        archive_bucket="unused", delivery_stream_names=("unused",), fetch_concurrency=8
    )

    response, summary = process_batch(
        firehose_event(refs),
        settings,
        Deadline.after(60),
        s3,
        aws.firehose(max_attempts=1),
        now=NOW,
        fetcher=CrtFetcher(s3, settings.fetch_concurrency, settings.fetch_stall_seconds),
    )

    assert summary.inlined == 40 and summary.deferred == 0 and summary.failed == 0
    unpacked = [(m.metadata.key, content) for m, content in members(firehose_bundle(response))]
    assert unpacked == [(ref.key, body) for ref, body in zip(refs, bodies, strict=True)]


def test_no_get_starts_without_its_allowance() -> None:
    fetcher = CrtFetcher.__new__(CrtFetcher)  # nothing may be started: no client needed
    refs = [reference(LANDING, f"k{i}", None, 1) for i in range(3)]
    with fetcher.fetching(refs, Deadline.after(aws.CALL_ALLOWANCE_SECONDS - 1), 4) as results:
        assert [type(r) for r in results] == [OutOfTime] * 3


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A TCP listener that accepts connections and never answers (a hung S3 front end)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"


def test_a_hung_get_is_cancelled_at_the_deadline_and_deferred(
    silent_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", silent_server)
    for module in (transforms.crt_fetch, transforms.fetch):  # a short test
        monkeypatch.setattr(module, "CALL_ALLOWANCE_SECONDS", 0.5)
    aws.reset_clients()
    fetcher = CrtFetcher(aws.s3(max_attempts=1), 2, STALL)
    refs = [reference(LANDING, f"hung/{i}", None, 5) for i in range(3)]
    seconds = 1.0

    started = time.monotonic()
    results = fetch_all(fetcher, refs, seconds)

    assert seconds - 0.1 < time.monotonic() - started < seconds + 1.0
    assert [type(r) for r in results] == [OutOfTime] * 3
    assert all("deadline reached while waiting" in r.reason for r in results)


def test_transport_failures_are_retried_with_backoff_until_the_deadline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with socket.socket() as probe:  # a port nobody listens on: every connect is refused
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    aws.reset_clients()
    fetcher = CrtFetcher(aws.s3(max_attempts=1), 2, STALL)
    ref = reference(LANDING, "refused", None, 5)
    first = fetcher.start(ref)
    sleeps: list[float] = []
    clock = [0.0]
    deadline = Deadline(aws.CALL_ALLOWANCE_SECONDS + 1.0, lambda: clock[0])

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        clock[0] += 0.25  # time passes only in the backoff

    result: FetchResult = fetcher.finish(
        ref, first, deadline, backoff=Backoff(0.5, 0.5), sleep=sleep
    )

    assert isinstance(result, OutOfTime) and result.retries == len(sleeps) >= 3
    assert "CONNECTION_REFUSED" in result.reason or "SOCKET" in result.reason


@pytest.mark.parametrize(
    ("status", "code", "kind"),
    [
        (404, "NoSuchKey", "missing"),
        (404, "NoSuchVersion", "missing"),
        (403, "AccessDenied", "denied"),
        (503, "SlowDown", "retry"),
        (500, "InternalError", "retry"),
        (400, "InvalidObjectState", "fail"),
    ],
)
def test_s3_errors_are_classified_as_botocore_errors_are(status: int, code: str, kind: str) -> None:
    body = f"<Error><Code>{code}</Code><Message><![CDATA[said S3]]></Message></Error>".encode()
    error = crt_s3.S3ResponseError(
        code=14343, name="AWS_ERROR_S3_INVALID_RESPONSE_STATUS", message="status",
        status_code=status, headers=[], body=body,
    )  # fmt: skip
    found, reason = classify(_client_error(error))
    assert found == kind and reason.startswith(f"{code}: said S3")


def test_response_checksums_are_verified() -> None:
    content = b"payload" * 100
    crc32 = base64.b64encode(zlib.crc32(content).to_bytes(4, "big")).decode()
    sha256 = base64.b64encode(hashlib.sha256(content).digest()).decode()
    _verify_checksum({"x-amz-checksum-crc32": crc32}, content)
    _verify_checksum({"x-amz-checksum-sha256": sha256}, content)
    _verify_checksum({"x-amz-checksum-crc32": "AAAAAA==-3"}, content)  # composite: not comparable
    with pytest.raises(ChecksumMismatchError):
        _verify_checksum({"x-amz-checksum-crc32": crc32}, content + b"!")
    with pytest.raises(ChecksumMismatchError):
        _verify_checksum({"x-amz-checksum-crc32c": crc32}, content)


def test_the_endpoint_is_the_one_botocore_uses(s3: S3Client, moto_endpoint: str) -> None:
    endpoint = endpoint_of(s3, LANDING)
    assert endpoint.tls is False and f"http://{endpoint.host}" == moto_endpoint
    assert endpoint.path(reference(LANDING, "a b/ü", "v+1", 1)) == (
        f"/{LANDING}/a%20b/%C3%BC?versionId=v%2B1"
    )


def test_native_signatures_equal_botocores_for_hostile_keys() -> None:
    """What the native client signs for a path is what botocore signs for the same GET: real S3
    (which, unlike moto, checks signatures) accepts every key botocore could read."""
    secrets = ("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG", "session-token")
    credentials = Credentials(*secrets)
    provider = auth.AwsCredentialsProvider.new_static(*secrets)
    endpoint = Endpoint("landing.s3.eu-west-2.amazonaws.com", "", tls=True)
    for key in HOSTILE_KEYS:
        path = endpoint.path(reference("landing", key, "3HL4kq+tJlcp/XroDTDmJ=", 1))
        ours = AWSRequest(
            "GET", f"https://{endpoint.host}{path}", {"x-amz-checksum-mode": "ENABLED"}
        )
        S3SigV4Auth(credentials, "s3", "eu-west-2").add_auth(ours)
        signed_at = datetime.strptime(ours.headers["X-Amz-Date"], "%Y%m%dT%H%M%SZ")
        config = crt_s3.create_default_s3_signing_config(
            region="eu-west-2", credential_provider=provider
        ).replace(
            date=signed_at.replace(tzinfo=UTC),
            signed_body_value=ours.headers["X-Amz-Content-SHA256"],
        )
        headers = [("Host", endpoint.host), ("x-amz-checksum-mode", "ENABLED")]
        native = http.HttpRequest("GET", path, http.HttpHeaders(headers))
        auth.aws_sign_request(native, config).result(10)
        assert native.headers.get("Authorization") == ours.headers["Authorization"], key
