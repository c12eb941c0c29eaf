"""Fetching landing objects: retries with backoff inside the deadline, missing objects reported.

Every call, the first attempt included, starts only when the deadline leaves it
:data:`CALL_ALLOWANCE_SECONDS` (the clients' connect + read timeouts, see transforms/config.py),
and bodies are read in bounded pieces with the deadline checked between them: no call outlives
the invocation. Inline bodies are read up to the referenced size + 1 byte, never more: a size
that disagrees with the reference is reported (:class:`SizeMismatch`), not trusted.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from pipeline.aws import CALL_ALLOWANCE_SECONDS
from pipeline.bundle import MemberMetadata
from pipeline.deadline import Backoff, Deadline
from pipeline.errors import ACCESS_DENIED_CODES, NOT_FOUND_CODES
from pipeline.references import ObjectReference

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

#: S3 error codes meaning the object (or that version of it, or its bucket) is gone.
MISSING_CODES = NOT_FOUND_CODES | {"NoSuchBucket"}
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
#: Inline bodies are read in pieces this large, the deadline checked between them.
READ_PIECE_BYTES = 64 * 1024
DEFAULT_BACKOFF = Backoff(base_seconds=0.05, cap_seconds=2.0)


@dataclass(frozen=True, slots=True)
class Fetched:
    content: bytes
    sha256: str
    etag: str
    version_id: str | None
    retries: int

    def metadata(self, reference: ObjectReference) -> MemberMetadata:
        """The bundle member metadata of this content, fetched for ``reference``."""
        return MemberMetadata(
            key=reference.key,
            version_id=self.version_id,
            etag=self.etag,
            event_time=reference.event_time,
            sequencer=reference.sequencer,
            bucket=reference.bucket,
            size=len(self.content),
            sha256=self.sha256,
        )


@dataclass(frozen=True, slots=True)
class Missing:
    """The object or version does not exist (or can no longer be read): report, don't retry."""

    reason: str
    retries: int


@dataclass(frozen=True, slots=True)
class Denied:
    """S3 refused the read (AccessDenied): an IAM or bucket-policy problem, or (without
    s3:ListBucket) a missing key. Reported as its own outcome, never as "missing"."""

    reason: str
    retries: int


@dataclass(frozen=True, slots=True)
class SizeMismatch:
    """The object's size is not the referenced one (an unversioned overwrite, an event without
    a size): the reference is re-planned with ``actual_size``, the content is not used."""

    actual_size: int
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


Unfinished = Missing | Denied | Failed | OutOfTime
FetchResult = Fetched | SizeMismatch | Unfinished


#: What one GET attempt gives: the content with its ETag and version id, or the object's actual
#: size when it is not the referenced one (the body is then not used).
Attempt = tuple[bytes, str | None, str | None] | int


class DeadlineReachedError(Exception):
    """The deadline came while a body was being read: the read stops, the file is deferred."""


class Fetcher(Protocol):
    """Fetches the inline files of a batch with bounded concurrency.

    ``fetching`` starts every GET and yields their results in the order of ``references``
    (waiting for each in turn); leaving the context abandons what was not consumed.
    """

    def fetching(
        self, references: Sequence[ObjectReference], deadline: Deadline, concurrency: int
    ) -> contextlib.AbstractContextManager[Iterator[FetchResult]]: ...


def get_kwargs(reference: ObjectReference) -> dict[str, str]:
    kwargs = {"Bucket": reference.bucket, "Key": reference.key}
    if reference.version_id is not None:
        kwargs["VersionId"] = reference.version_id
    return kwargs


def classify(error: ClientError) -> tuple[str, str]:
    """``("missing"|"denied"|"retry"|"fail", reason)`` for an S3 error."""
    details = error.response.get("Error", {})
    code = str(details.get("Code", ""))
    status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
    reason = f"{code or status}: {details.get('Message', '')}".strip()
    if code in MISSING_CODES or status == 404:
        return "missing", reason
    if code in ACCESS_DENIED_CODES or status == 403:
        return "denied", (
            f"{reason} (check the transform role's s3:GetObject/s3:GetObjectVersion on Landing "
            "and the bucket policy; without s3:ListBucket a deleted key also answers 403)"
        )
    if code in RETRYABLE_CODES or status >= 500 or status == 429:
        return "retry", reason
    return "fail", reason


def call_with_retries[T](
    call: Callable[[], T],
    deadline: Deadline,
    *,
    backoff: Backoff | None = None,
    sleep: Callable[[float], None] | None = None,
    first_started: bool = False,
) -> tuple[T | Unfinished, int]:
    """Run ``call`` until it succeeds, a non-retryable error, or the deadline; (result, retries).

    No attempt, the first included, starts with less than :data:`CALL_ALLOWANCE_SECONDS` left.
    ``first_started``: the first call only collects a request started earlier (within its
    allowance), so it is made whatever the time left.
    """
    backoff = backoff or DEFAULT_BACKOFF
    sleep = sleep or time.sleep
    attempt = 0
    if not first_started and deadline.remaining() < CALL_ALLOWANCE_SECONDS:
        return OutOfTime("no time left to start the call", 0), 0
    while True:
        try:
            return call(), attempt
        except ClientError as error:
            kind, reason = classify(error)
            if kind == "missing":
                return Missing(reason, attempt), attempt
            if kind == "denied":
                return Denied(reason, attempt), attempt
            if kind == "fail":
                return Failed(reason, attempt), attempt
        except DeadlineReachedError as error:
            return OutOfTime(str(error), attempt), attempt
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
    """GET the referenced version (inline files are small), at most its size + 1 bytes, hashed."""

    def get() -> Attempt:
        response = s3.get_object(**get_kwargs(reference))  # type: ignore[arg-type]
        body = response["Body"]
        length = response.get("ContentLength")
        if length is not None and int(length) != reference.size:
            body.close()
            return int(length)
        content = read_capped(body, reference.size + 1, deadline)
        if len(content) != reference.size:
            return len(content) if length is None else int(length)
        return content, response.get("ETag"), response.get("VersionId")

    outcome, retries = call_with_retries(get, deadline, backoff=backoff, sleep=sleep)
    return fetch_result(reference, outcome, retries)


def fetch_result(
    reference: ObjectReference, outcome: Attempt | Unfinished, retries: int
) -> FetchResult:
    """The result of a GET's last attempt: the file hashed, a size mismatch, or unfinished."""
    if isinstance(outcome, Missing | Denied | Failed | OutOfTime):
        return outcome
    if isinstance(outcome, int):
        return SizeMismatch(outcome, retries)
    content, etag, version_id = outcome
    return Fetched(
        content=content,
        sha256=hashlib.sha256(content).hexdigest(),
        etag=(etag or reference.etag).strip('"'),
        version_id=version_id if version_id is not None else reference.version_id,
        retries=retries,
    )


def read_capped(body: Any, limit: int, deadline: Deadline) -> bytes:
    """At most ``limit`` bytes of ``body``, in pieces, the deadline checked before each piece."""
    pieces = bytearray()
    while len(pieces) < limit:
        if deadline.expired():
            body.close()
            raise DeadlineReachedError("deadline reached while reading the body")
        piece = body.read(min(READ_PIECE_BYTES, limit - len(pieces)))
        if not piece:
            break
        pieces += piece
    body.close()
    return bytes(pieces)
