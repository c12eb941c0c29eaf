"""Fetching landing objects: retries with backoff inside the deadline, missing objects reported."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from pipeline.deadline import Backoff, Deadline
from pipeline.references import ObjectReference

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

#: S3 error codes meaning the object (or that version of it) is gone.
MISSING_CODES = frozenset({"NoSuchKey", "NoSuchVersion", "404", "NotFound", "NoSuchBucket"})
#: Codes that mean "try again later" (throttling, transient server errors).
RETRYABLE_CODES = frozenset(
    {
        "SlowDown",
        "ServiceUnavailable",
        "InternalError",
        "RequestTimeout",
        "Throttling",
        "ThrottlingException",
        "RequestLimitExceeded",
        "500",
        "503",
    }
)
#: Minimum time a GET needs before we start one.
CALL_ALLOWANCE_SECONDS = 1.0
DEFAULT_BACKOFF = Backoff(base_seconds=0.05, cap_seconds=2.0)


@dataclass(frozen=True, slots=True)
class Fetched:
    content: bytes
    sha256: str
    etag: str
    version_id: str | None
    retries: int


@dataclass(frozen=True, slots=True)
class Missing:
    """The object or version does not exist (or can no longer be read): report, don't retry."""

    reason: str
    retries: int


@dataclass(frozen=True, slots=True)
class Failed:
    """A non-retryable error other than a missing object (e.g. archived storage class)."""

    reason: str
    retries: int


@dataclass(frozen=True, slots=True)
class OutOfTime:
    """Still failing (throttled) when the deadline came: defer to a later batch."""

    reason: str
    retries: int


FetchResult = Fetched | Missing | Failed | OutOfTime


def get_kwargs(reference: ObjectReference) -> dict[str, str]:
    kwargs = {"Bucket": reference.bucket, "Key": reference.key}
    if reference.version_id is not None:
        kwargs["VersionId"] = reference.version_id
    return kwargs


def classify(error: ClientError) -> tuple[str, str]:
    """``("missing"|"retry"|"fail", reason)`` for an S3 error."""
    details = error.response.get("Error", {})
    code = str(details.get("Code", ""))
    status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
    reason = f"{code or status}: {details.get('Message', '')}".strip()
    if code in MISSING_CODES or status == 404:
        return "missing", reason
    if code in ("AccessDenied", "403") or status == 403:
        # without s3:ListBucket S3 answers 403 for a key that does not exist
        return "missing", f"{reason} (object deleted, or the function lacks s3:GetObject*)"
    if code in RETRYABLE_CODES or status >= 500 or status == 429:
        return "retry", reason
    return "fail", reason


def call_with_retries[T](
    call: Callable[[], T],
    deadline: Deadline,
    *,
    backoff: Backoff | None = None,
    sleep: Callable[[float], None] | None = None,
) -> tuple[T | Missing | Failed | OutOfTime, int]:
    """Run ``call`` until it succeeds, a non-retryable error, or the deadline; (result, retries)."""
    backoff = backoff or DEFAULT_BACKOFF
    sleep = sleep or time.sleep
    attempt = 0
    while True:
        try:
            return call(), attempt
        except ClientError as error:
            kind, reason = classify(error)
            if kind == "missing":
                return Missing(reason, attempt), attempt
            if kind == "fail":
                return Failed(reason, attempt), attempt
        except (BotoCoreError, OSError) as error:
            reason = f"{type(error).__name__}: {error}"
        delay = backoff.delay(attempt)
        if deadline.remaining() < delay + CALL_ALLOWANCE_SECONDS:
            return OutOfTime(reason, attempt), attempt
        attempt += 1
        sleep(delay)


def fetch_object(
    s3: S3Client,
    reference: ObjectReference,
    deadline: Deadline,
    *,
    backoff: Backoff | None = None,
    sleep: Callable[[float], None] | None = None,
) -> FetchResult:
    """GET the referenced version whole (inline files are small) and hash it."""

    def get() -> tuple[bytes, dict[str, Any]]:
        response = s3.get_object(**get_kwargs(reference))  # type: ignore[arg-type]
        return response["Body"].read(), dict(response)

    outcome, retries = call_with_retries(get, deadline, backoff=backoff, sleep=sleep)
    if isinstance(outcome, Missing | Failed | OutOfTime):
        return outcome
    content, response = outcome
    return Fetched(
        content=content,
        sha256=hashlib.sha256(content).hexdigest(),
        etag=str(response.get("ETag", reference.etag)).strip('"'),
        version_id=response.get("VersionId", reference.version_id),
        retries=retries,
    )
