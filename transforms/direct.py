"""The direct path: a file too large to inline becomes its own one-member bundle in Archive.

Bounded memory, two streaming passes over the same object version: the first computes the
SHA-256 (the member header carries it, so it must be known before the content is written); the
second streams the content through gzip into a multipart upload, verifying it hashes the same.
The bundle key is derived from the reference, so a retried batch rewrites the same object.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from pipeline.bundle import BundleIntegrityError, MemberMetadata, write_member
from pipeline.deadline import Backoff, Deadline
from pipeline.errors import ACCESS_DENIED_CODES
from pipeline.hashing import sha256_read_ahead
from pipeline.references import ObjectReference
from transforms.fetch import (
    DeadlineReachedError,
    Denied,
    Failed,
    Missing,
    OutOfTime,
    Unfinished,
    call_with_retries,
    get_kwargs,
)
from transforms.multipart import DEFAULT_PART_SIZE, MultipartWriter
from transforms.prefix import evaluate as evaluate_prefix

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import GetObjectOutputTypeDef

CHUNK_SIZE = 1024 * 1024
#: zlib level of direct bundles (single large files, inside the processor's 5-minute invocation).
#: Measured here on 27 MB of log-like text: level 1 ran at 128 MB/s with ratio 18.5, level 6 at
#: 60 MB/s with ratio 19.1; incompressible data costs the same at both. Speed wins.
GZIP_LEVEL = 1


@dataclass(frozen=True, slots=True)
class Delivered:
    key: str
    metadata: MemberMetadata
    bundle_bytes: int
    retries: int


DirectResult = Delivered | Unfinished


@dataclass(frozen=True, slots=True)
class _Retrying:
    """How the direct path retries its reads and writes."""

    deadline: Deadline
    backoff: Backoff | None
    sleep: Callable[[float], None] | None

    def get(self, s3: S3Client, kwargs: dict[str, Any]) -> tuple[Any, int]:
        return call_with_retries(
            lambda: s3.get_object(**kwargs), self.deadline, backoff=self.backoff, sleep=self.sleep
        )


def direct_bundle_key(
    prefix_expression: str, stream_name: str, reference: ObjectReference, arrival_ms: int
) -> str:
    """``<prefix, evaluated as Firehose does>/<stream>-direct-<yyyy-MM-dd-HH-mm-ss>-<16 hex>.gz``.

    The hex (and any ``!{firehose:random-string}``) derive from the reference's identity, so every
    attempt of the same reference writes the same key.
    """
    moment = datetime.fromtimestamp(arrival_ms / 1000.0, tz=UTC)
    digest = hashlib.sha256(reference.identity()).hexdigest()
    prefix = evaluate_prefix(prefix_expression, moment, digest[16:27])
    return f"{prefix}{stream_name}-direct-{moment:%Y-%m-%d-%H-%M-%S}-{digest[:16]}.gz"


def deliver_direct(
    s3: S3Client,
    reference: ObjectReference,
    *,
    archive_bucket: str,
    bundle_key: str,
    deadline: Deadline,
    part_size: int = DEFAULT_PART_SIZE,
    backoff: Backoff | None = None,
    sleep: Callable[[float], None] | None = None,
) -> DirectResult:
    """Stream one object into its own bundle at ``archive_bucket/bundle_key``.

    Steps: hash the version (first pass), pin it (second GET, ``IfMatch``), stream it into a
    retried multipart upload (aborted on any failure).
    """
    retrying = _Retrying(deadline, backoff, sleep)
    hashed = _hash_pass(s3, reference, retrying)
    if not isinstance(hashed, tuple):
        return hashed
    metadata, etag, retries = hashed
    second = _pinned_get(s3, reference, metadata, etag, retrying)
    if not isinstance(second, tuple):
        return second
    body, more = second
    writer = MultipartWriter(
        s3,
        archive_bucket,
        bundle_key,
        part_size=part_size,
        deadline=deadline,
        backoff=backoff,
        sleep=sleep,
    )
    failure = _stream_into(writer, metadata, body, deadline)
    retries += more + writer.retries
    if failure is not None:
        return _with_retries(failure, retries)
    return Delivered(bundle_key, metadata, writer.bytes_written, retries)


def _hash_pass(
    s3: S3Client, reference: ObjectReference, retrying: _Retrying
) -> tuple[MemberMetadata, str, int] | Unfinished:
    """First pass: the version's SHA-256 and size, streamed (bounded memory)."""
    first, retries = retrying.get(s3, get_kwargs(reference))
    if isinstance(first, Missing | Denied | Failed | OutOfTime):
        return first
    response: GetObjectOutputTypeDef = first
    etag = str(response["ETag"])
    try:
        digest, size = sha256_read_ahead(_chunks(response["Body"], retrying.deadline))
    except (DeadlineReachedError, OSError, BotoCoreError) as error:
        return OutOfTime(f"first pass did not finish: {error}", retries)
    metadata = MemberMetadata(
        key=reference.key,
        version_id=response.get("VersionId", reference.version_id),
        etag=etag.strip('"'),
        event_time=reference.event_time,
        sequencer=reference.sequencer,
        bucket=reference.bucket,
        size=size,
        sha256=digest,
    )
    return metadata, etag, retries


def _pinned_get(
    s3: S3Client,
    reference: ObjectReference,
    metadata: MemberMetadata,
    etag: str,
    retrying: _Retrying,
) -> tuple[Any, int] | Unfinished:
    """Second GET of exactly the version the first pass hashed."""
    kwargs: dict[str, Any] = {**get_kwargs(reference), "IfMatch": etag}
    if metadata.version_id is not None:
        kwargs["VersionId"] = metadata.version_id
    second, retries = retrying.get(s3, kwargs)
    if isinstance(second, Missing | Denied | Failed | OutOfTime):
        return second
    return second["Body"], retries


def _stream_into(
    writer: MultipartWriter, metadata: MemberMetadata, body: Any, deadline: Deadline
) -> Unfinished | None:
    """Second pass: gzip the member into ``writer`` and commit; abort on any failure."""
    try:
        with gzip.GzipFile(fileobj=writer, mode="wb", compresslevel=GZIP_LEVEL, mtime=0) as gz:
            write_member(gz, metadata, _chunks(body, deadline))
        writer.close()
    except ClientError as error:
        _abort_quietly(writer)
        if str(error.response.get("Error", {}).get("Code")) in ACCESS_DENIED_CODES:
            return Denied(f"writing the bundle: {error}", 0)
        return OutOfTime(f"upload did not finish: {error}", 0)
    except (DeadlineReachedError, OSError, BotoCoreError) as error:
        _abort_quietly(writer)
        return OutOfTime(f"streaming or upload did not finish: {error}", 0)
    except BundleIntegrityError as error:
        _abort_quietly(writer)
        return OutOfTime(f"object changed between passes, will retry: {error}", 0)
    except BaseException:
        writer.abort()
        raise
    return None


def _with_retries(result: Unfinished, retries: int) -> Unfinished:
    return type(result)(result.reason, retries)


def _chunks(body: Any, deadline: Deadline) -> Iterator[bytes]:
    for chunk in body.iter_chunks(CHUNK_SIZE):
        if deadline.expired():
            body.close()
            raise DeadlineReachedError("deadline reached")
        yield chunk


def _abort_quietly(writer: MultipartWriter) -> None:
    """Abort the upload; if even that fails, the bucket's lifecycle rule removes the parts."""
    with contextlib.suppress(BotoCoreError, ClientError, OSError):
        writer.abort()
