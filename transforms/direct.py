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
from pipeline.hashing import sha256_read_ahead
from pipeline.references import ObjectReference
from transforms.fetch import (
    Failed,
    Missing,
    OutOfTime,
    call_with_retries,
    get_kwargs,
)
from transforms.multipart import DEFAULT_PART_SIZE, MultipartWriter

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

CHUNK_SIZE = 1024 * 1024
#: zlib level of direct bundles (single large files, inside the processor's 5-minute invocation).
#: Measured here on 27 MB of log-like text: level 1 ran at 128 MB/s with ratio 18.5, level 6 at
#: 60 MB/s with ratio 19.1; incompressible data costs the same at both. Speed wins.
GZIP_LEVEL = 1


class DeadlineReachedError(Exception):
    """The invocation's deadline came while streaming: the upload is aborted, the file deferred."""


@dataclass(frozen=True, slots=True)
class Delivered:
    key: str
    metadata: MemberMetadata
    bundle_bytes: int
    retries: int


DirectResult = Delivered | Missing | Failed | OutOfTime


def direct_bundle_key(
    prefix: str, stream_name: str, reference: ObjectReference, arrival_ms: int
) -> str:
    """``<prefix>yyyy/MM/dd/HH/<stream>-direct-<yyyy-MM-dd-HH-mm-ss>-<16 hex of the ref>.gz``."""
    moment = datetime.fromtimestamp(arrival_ms / 1000.0, tz=UTC)
    digest = hashlib.sha256(reference.to_record()).hexdigest()[:16]
    return (
        f"{prefix}{moment:%Y/%m/%d/%H}/{stream_name}-direct-{moment:%Y-%m-%d-%H-%M-%S}-{digest}.gz"
    )


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
    """Stream one object into its own bundle at ``archive_bucket/bundle_key``."""
    first, retries = call_with_retries(
        lambda: s3.get_object(**get_kwargs(reference)),  # type: ignore[arg-type]
        deadline,
        backoff=backoff,
        sleep=sleep,
    )
    if isinstance(first, Missing | Failed | OutOfTime):
        return first
    etag = str(first["ETag"])
    version_id = first.get("VersionId", reference.version_id)
    try:
        digest, size = sha256_read_ahead(_chunks(first["Body"], deadline))
    except (DeadlineReachedError, OSError, BotoCoreError) as error:
        return OutOfTime(f"first pass did not finish: {error}", retries)
    metadata = MemberMetadata(
        key=reference.key,
        version_id=version_id,
        etag=etag.strip('"'),
        event_time=reference.event_time,
        sequencer=reference.sequencer,
        bucket=reference.bucket,
        size=size,
        sha256=digest,
    )
    second_kwargs: dict[str, Any] = {**get_kwargs(reference), "IfMatch": etag}
    if version_id is not None:
        second_kwargs["VersionId"] = version_id
    second, more = call_with_retries(
        lambda: s3.get_object(**second_kwargs), deadline, backoff=backoff, sleep=sleep
    )
    retries += more
    if isinstance(second, Missing | Failed | OutOfTime):
        return second
    writer = MultipartWriter(s3, archive_bucket, bundle_key, part_size=part_size)
    try:
        with gzip.GzipFile(fileobj=writer, mode="wb", compresslevel=GZIP_LEVEL, mtime=0) as gz:
            write_member(gz, metadata, _chunks(second["Body"], deadline))
        writer.close()
    except (DeadlineReachedError, OSError, BotoCoreError, ClientError) as error:
        _abort_quietly(writer)
        return OutOfTime(f"streaming or upload did not finish: {error}", retries)
    except BundleIntegrityError as error:
        _abort_quietly(writer)
        return OutOfTime(f"object changed between passes, will retry: {error}", retries)
    except BaseException:
        writer.abort()
        raise
    return Delivered(bundle_key, metadata, writer.bytes_written, retries)


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
