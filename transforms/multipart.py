"""A write-only file object that uploads to S3 in parts (bounded memory).

Small outputs (never reaching one part) are written with a single PutObject; larger ones with a
multipart upload that is aborted if anything fails. Either way the copier is notified
(``ObjectCreated:Put`` or ``ObjectCreated:CompleteMultipartUpload``).

Every write (CreateMultipartUpload, UploadPart, CompleteMultipartUpload, PutObject) is retried on
throttling and transient errors with backoff, within the deadline, and none starts without
:data:`~transforms.config.CALL_ALLOWANCE_SECONDS` left: one 503 no longer throws away a 300 MB
upload. What still fails raises; the caller aborts the upload.

A writer can be rolled back to its last :meth:`~MultipartWriter.checkpoint` (a bundle member that
failed mid-stream is cut off): the bytes buffered at the checkpoint are kept, parts uploaded after
it are left out of ``CompleteMultipartUpload`` (S3 discards parts a completion does not list) and
numbering continues above them, so parts stay in ascending order.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from pipeline.aws import CALL_ALLOWANCE_SECONDS
from pipeline.deadline import Backoff, Deadline
from transforms.fetch import DEFAULT_BACKOFF, DeadlineReachedError, classify

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef

#: S3's minimum part size is 5 MiB (except the last part).
MIN_PART_SIZE = 5 * 1024 * 1024
DEFAULT_PART_SIZE = 8 * 1024 * 1024


class UncommittedWriteError(OSError):
    """The committed object is not what was written (the caller defers the file)."""


class MultipartWriter:
    """``write()`` buffers up to one part; ``close()`` commits; ``abort()`` discards."""

    def __init__(
        self,
        s3: S3Client,
        bucket: str,
        key: str,
        *,
        content_type: str = "application/gzip",
        part_size: int = DEFAULT_PART_SIZE,
        deadline: Deadline | None = None,
        backoff: Backoff | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        if part_size < MIN_PART_SIZE:
            raise ValueError(f"part_size must be at least {MIN_PART_SIZE} bytes")
        self._s3 = s3
        self._bucket = bucket
        self._key = key
        self._content_type = content_type
        self._part_size = part_size
        self._buffer = bytearray()
        self._upload_id: str | None = None
        self._parts: list[CompletedPartTypeDef] = []
        self._next_part = 1
        #: the checkpoint: parts kept, buffered bytes at that time, bytes written at that time,
        #: and the buffered bytes themselves once a part was cut from them (None before)
        self._mark_parts = 0
        self._mark_buffered = 0
        self._mark_written = 0
        self._mark_bytes: bytes | None = None
        self._closed = False
        self._deadline = deadline or Deadline.after(24 * 3600.0)
        self._backoff = backoff or DEFAULT_BACKOFF
        self._sleep = sleep or time.sleep
        self.bytes_written = 0
        #: writes that were retried (throttling, 5xx, connection errors)
        self.retries = 0

    def write(self, data: bytes) -> int:
        if self._closed:
            raise ValueError("write to a closed MultipartWriter")
        self._buffer += data
        self.bytes_written += len(data)
        while len(self._buffer) >= self._part_size:
            if self._mark_bytes is None:  # the checkpoint's bytes leave the buffer: keep them
                self._mark_bytes = bytes(self._buffer[: self._mark_buffered])
            part = bytes(self._buffer[: self._part_size])
            del self._buffer[: self._part_size]
            self._upload_part(part)
        return len(data)

    def checkpoint(self) -> None:
        """Remember this point: :meth:`rollback` returns to it (memory: at most one part)."""
        self._mark_parts = len(self._parts)
        self._mark_buffered = len(self._buffer)
        self._mark_written = self.bytes_written
        self._mark_bytes = None

    def rollback(self) -> None:
        """Forget everything written since the last :meth:`checkpoint` (no S3 call)."""
        if self._closed:
            raise ValueError("rollback of a closed MultipartWriter")
        if self._mark_bytes is None:
            del self._buffer[self._mark_buffered :]
        else:
            self._buffer = bytearray(self._mark_bytes)
            self._mark_bytes = None
        del self._parts[self._mark_parts :]
        self.bytes_written = self._mark_written

    def flush(self) -> None:
        """Parts are uploaded when full; nothing to do (GzipFile calls this)."""

    def close(self) -> None:
        """Commit the object (idempotent)."""
        if self._closed:
            return
        self._closed = True
        if self._upload_id is None:
            body = bytes(self._buffer)
            self._call(
                lambda: self._s3.put_object(
                    Bucket=self._bucket, Key=self._key, Body=body, ContentType=self._content_type
                )
            )
        else:
            if self._buffer:
                self._upload_part(bytes(self._buffer))
            upload_id = self._upload_id
            completed = self._call(
                lambda: self._s3.complete_multipart_upload(
                    Bucket=self._bucket,
                    Key=self._key,
                    UploadId=upload_id,
                    MultipartUpload={"Parts": self._parts},
                )
            )
            self._verify_committed(completed.get("VersionId"))
        self._buffer = bytearray()

    def _verify_committed(self, version_id: str | None) -> None:
        """Raise :class:`UncommittedWriteError` unless the object holds every byte written.

        A CompleteMultipartUpload that timed out on the client may be sent again after the first
        one succeeded; the committed object must then still be the whole upload, never a short or
        empty one that would be reported as delivered.
        """
        kwargs = {"Bucket": self._bucket, "Key": self._key}
        if version_id and version_id != "null":  # "null": an unversioned bucket's only version
            kwargs["VersionId"] = version_id
        head = self._call(lambda: self._s3.head_object(**kwargs))  # type: ignore[arg-type]
        if head["ContentLength"] != self.bytes_written:
            raise UncommittedWriteError(
                f"s3://{self._bucket}/{self._key} holds {head['ContentLength']} bytes after "
                f"CompleteMultipartUpload, {self.bytes_written} were written"
            )

    def abort(self) -> None:
        """Discard everything written (idempotent, best effort)."""
        self._closed = True
        self._buffer = bytearray()
        if self._upload_id is not None:
            upload_id, self._upload_id = self._upload_id, None
            self._s3.abort_multipart_upload(Bucket=self._bucket, Key=self._key, UploadId=upload_id)

    def _upload_part(self, body: bytes) -> None:
        if self._upload_id is None:
            created = self._call(
                lambda: self._s3.create_multipart_upload(
                    Bucket=self._bucket, Key=self._key, ContentType=self._content_type
                )
            )
            self._upload_id = created["UploadId"]
        number = self._next_part
        self._next_part += 1
        upload_id = self._upload_id
        result = self._call(
            lambda: self._s3.upload_part(
                Bucket=self._bucket,
                Key=self._key,
                UploadId=upload_id,
                PartNumber=number,
                Body=body,
            )
        )
        self._parts.append({"ETag": result["ETag"], "PartNumber": number})

    def _call[T](self, call: Callable[[], T]) -> T:
        """``call()``, retried on transient errors within the deadline; raises what remains."""
        attempt = 0
        while True:
            if self._deadline.remaining() < CALL_ALLOWANCE_SECONDS:
                raise DeadlineReachedError("no time left to start an S3 write")
            try:
                return call()
            except ClientError as error:
                if classify(error)[0] != "retry":
                    raise
                failure: Exception = error
            except (BotoCoreError, OSError) as error:
                failure = error
            delay = self._backoff.delay(attempt)
            if self._deadline.remaining() < delay + CALL_ALLOWANCE_SECONDS:
                raise failure
            attempt += 1
            self.retries += 1
            self._sleep(delay)

    def __enter__(self) -> MultipartWriter:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if error is None:
            self.close()
        else:
            self.abort()
