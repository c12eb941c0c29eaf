"""Upload generated files to Landing at a steady rate, with bounded concurrency.

Small files go with one ``PutObject``; files over the multipart threshold are generated and sent
part by part (``CreateMultipartUpload``/``UploadPart``/``CompleteMultipartUpload``), so memory stays
at one part per worker whatever the file size. Every upload returns an :class:`UploadRecord` with
the version id S3 assigned and the SHA-256 computed while sending.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tqdm import tqdm

from pipeline.errors import AggregatorError
from scripts.loadgen.content import FileSpec, generate

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

MIB = 1 << 20
#: Files of at least this size are uploaded in parts.
MULTIPART_THRESHOLD = 16 * MIB
#: Part size of multipart uploads (S3 minimum 5 MiB except the last part).
PART_SIZE = 16 * MIB


class UploadError(AggregatorError, RuntimeError):
    """An upload failed; the message names the key and the cause."""


@dataclass(frozen=True, slots=True)
class UploadRecord:
    """What was put into Landing: one version of one key."""

    spec: FileSpec
    version_id: str | None
    etag: str
    sha256: str
    started_at: float  # epoch seconds
    completed_at: float  # epoch seconds: the upload call returned

    @property
    def key(self) -> str:
        return self.spec.key

    @property
    def size(self) -> int:
        return self.spec.size

    @property
    def identity(self) -> tuple[str, str | None]:
        """(key, version id): what identifies a delivered file."""
        return (self.spec.key, self.version_id)


def upload_file(
    s3: S3Client, bucket: str, spec: FileSpec, *, clock: Callable[[], float] = time.time
) -> UploadRecord:
    """Upload one generated file; raise :class:`UploadError` if S3 refuses it."""
    started = clock()
    try:
        if spec.size < MULTIPART_THRESHOLD:
            version_id, etag, sha256 = _put(s3, bucket, spec)
        else:
            version_id, etag, sha256 = _put_multipart(s3, bucket, spec)
    except Exception as error:
        raise UploadError(
            f"upload of {spec.key!r} ({spec.size} bytes) to bucket {bucket!r} failed: {error}"
        ) from error
    return UploadRecord(
        spec=spec,
        version_id=version_id,
        etag=etag,
        sha256=sha256,
        started_at=started,
        completed_at=clock(),
    )


def upload_all(
    s3: S3Client,
    bucket: str,
    specs: Sequence[FileSpec],
    *,
    rate: float | None = None,
    concurrency: int = 8,
    progress: bool = True,
    description: str = "upload",
) -> list[UploadRecord]:
    """Upload ``specs`` in order, starting at most ``rate`` files per second (None: no limit).

    At most ``concurrency`` uploads are in flight; when they cannot keep up, the achieved rate
    drops below ``rate`` rather than queueing unbounded work. Returns the records in the order
    of ``specs``. The first failure stops the run and is raised as :class:`UploadError`.
    """
    if concurrency < 1:
        raise ValueError(f"concurrency must be >= 1, got {concurrency}")
    if rate is not None and rate <= 0:
        raise ValueError(f"rate must be > 0 files/s, got {rate}")
    slots = threading.BoundedSemaphore(concurrency)
    futures: list[Future[UploadRecord]] = []
    errors: list[BaseException] = []
    # disable=None: a bar only on a terminal, never carriage-return frames in a log file
    bar = tqdm(
        total=len(specs),
        unit="file",
        desc=description,
        disable=None if progress else True,
        smoothing=0.1,
    )
    uploaded_bytes = 0
    lock = threading.Lock()

    def finished(future: Future[UploadRecord]) -> None:
        nonlocal uploaded_bytes
        error = future.exception()
        with lock:
            if error is not None:
                errors.append(error)
            else:
                uploaded_bytes += future.result().size
                bar.update(1)
                bar.set_postfix_str(f"{uploaded_bytes / MIB:.1f} MiB", refresh=False)
        slots.release()

    start = time.monotonic()
    try:
        with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="loadgen") as pool:
            for index, spec in enumerate(specs):
                if rate is not None:
                    _pace(start + index / rate)
                slots.acquire()
                if errors:
                    slots.release()
                    break
                future = pool.submit(upload_file, s3, bucket, spec)
                future.add_done_callback(finished)
                futures.append(future)
    finally:
        bar.close()
    if errors:
        raise errors[0]
    return [future.result() for future in futures]


def _pace(deadline: float) -> None:
    # Rate pacing, not synchronisation: wait for the next file's start slot.
    delay = deadline - time.monotonic()
    if delay > 0:
        time.sleep(delay)


def _put(s3: S3Client, bucket: str, spec: FileSpec) -> tuple[str | None, str, str]:
    body = b"".join(generate(spec))
    response = s3.put_object(Bucket=bucket, Key=spec.key, Body=body)
    return response.get("VersionId"), response["ETag"], hashlib.sha256(body).hexdigest()


def _put_multipart(s3: S3Client, bucket: str, spec: FileSpec) -> tuple[str | None, str, str]:
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key=spec.key)["UploadId"]
    digest = hashlib.sha256()
    parts: list[Any] = []
    try:
        buffer = bytearray()
        for chunk in generate(spec):
            digest.update(chunk)
            buffer += chunk
            if len(buffer) >= PART_SIZE:
                parts.append(_send_part(s3, bucket, spec.key, upload_id, len(parts) + 1, buffer))
                buffer = bytearray()
        if buffer or not parts:
            parts.append(_send_part(s3, bucket, spec.key, upload_id, len(parts) + 1, buffer))
        response = s3.complete_multipart_upload(
            Bucket=bucket, Key=spec.key, UploadId=upload_id, MultipartUpload={"Parts": parts}
        )
    except BaseException:
        s3.abort_multipart_upload(Bucket=bucket, Key=spec.key, UploadId=upload_id)
        raise
    return response.get("VersionId"), response["ETag"], digest.hexdigest()


def _send_part(
    s3: S3Client, bucket: str, key: str, upload_id: str, number: int, data: bytearray
) -> dict[str, Any]:
    response = s3.upload_part(
        Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=bytes(data)
    )
    return {"PartNumber": number, "ETag": response["ETag"]}
