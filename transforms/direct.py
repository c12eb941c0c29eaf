"""The direct path: files too large to inline, streamed into one bundle per batch in Archive.

A batch's direct files are grouped by the plan (:func:`transforms.plan.group_direct`, at most
``direct_bundle_max_bytes`` of content per bundle, a larger file alone); each group becomes one
bundle, written as one multipart upload that completes only when the bundle is whole.

Files up to one part (:data:`IN_MEMORY_MAX_BYTES`) are fetched whole, ahead and in parallel on
the batch's fetch pool, at most :data:`PREFETCH_WINDOW_BYTES` of them held at once; they are
written in order as their turn comes. Larger files (and a prefetched file whose size is not the
referenced one) are streamed with bounded memory, two passes over each object version: the first
computes the SHA-256 (the member header carries it, so it must be known before the content is
written); the second streams the content through gzip into the upload, verifying it hashes the
same. Each file is its
own gzip member (concatenated gzip members are one valid gzip stream), so a file that fails
mid-stream is cut off at its start (:meth:`MultipartWriter.rollback`) and deferred while the
others are still delivered. A failed *write* (after its retries) aborts the whole bundle: nothing
of it is visible, and its files are deferred (or failed, when the Archive write is denied).

The bundle key is derived from the group's references (their identities, sorted), so a retried
batch rewrites the same object.
"""

from __future__ import annotations

import contextlib
import hashlib
import zlib
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from pipeline.aws import CALL_ALLOWANCE_SECONDS
from pipeline.bundle import BundleIntegrityError, MemberMetadata, write_member
from pipeline.deadline import Backoff, Deadline
from pipeline.errors import ACCESS_DENIED_CODES
from pipeline.hashing import sha256_read_ahead
from pipeline.references import ObjectReference
from transforms.fetch import (
    DeadlineReachedError,
    Denied,
    Failed,
    Fetched,
    FetchResult,
    Missing,
    OutOfTime,
    SizeMismatch,
    Unfinished,
    call_with_retries,
    fetch_object,
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


#: Direct files up to this size are fetched whole (one GET, hashed in memory), ahead of their turn.
IN_MEMORY_MAX_BYTES = DEFAULT_PART_SIZE
#: Referenced bytes of prefetched direct files held at once (fetched or being fetched, not yet
#: written): 32 files of 1 MiB keep a 32-thread pool busy; the transform has 2 GB of memory.
PREFETCH_WINDOW_BYTES = 64 * 1024 * 1024

#: No file of a bundle starts streaming with less time left than this: the bundle must still be
#: finished (last part, CompleteMultipartUpload, the committed-size check), one call allowance
#: each, or every file already in it would be deferred.
FINISH_RESERVE_SECONDS = 3 * CALL_ALLOWANCE_SECONDS


@dataclass(frozen=True, slots=True)
class Bundled:
    """One file delivered as a member of a direct bundle."""

    metadata: MemberMetadata
    retries: int


MemberResult = Bundled | Unfinished


@dataclass(frozen=True, slots=True)
class DirectBundle:
    """What happened to one direct bundle: one result per reference, in order."""

    key: str
    results: tuple[MemberResult, ...]
    #: bytes of the committed bundle (0: nothing committed)
    bundle_bytes: int
    #: retried writes (the reads' retries are in each result)
    write_retries: int

    @property
    def members(self) -> int:
        return sum(1 for result in self.results if isinstance(result, Bundled))


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


class _ReadInterruptedError(Exception):
    """Reading an object's body failed mid-stream (the bundle itself is intact)."""


def direct_bundle_key(
    prefix_expression: str,
    stream_name: str,
    references: Sequence[ObjectReference],
    arrival_ms: int,
) -> str:
    """``<prefix, evaluated as Firehose does>/<stream>-direct-<yyyy-MM-dd-HH-mm-ss>-<16 hex>.gz``.

    ``arrival_ms`` is the arrival time of the group's oldest record (Firehose names its bundles
    by the oldest record too). The hex (and any ``!{firehose:random-string}``) derive from the
    identities of the references, sorted, so every attempt of the same group writes the same key
    whatever the order or the attempt counts. One reference gives the key it always had.
    """
    if not references:
        raise ValueError("a direct bundle needs at least one reference")
    moment = datetime.fromtimestamp(arrival_ms / 1000.0, tz=UTC)
    digest = hashlib.sha256(b"".join(sorted(r.identity() for r in references))).hexdigest()
    prefix = evaluate_prefix(prefix_expression, moment, digest[16:27])
    return f"{prefix}{stream_name}-direct-{moment:%Y-%m-%d-%H-%M-%S}-{digest[:16]}.gz"


def write_direct_bundle(
    s3: S3Client,
    references: Sequence[ObjectReference],
    *,
    archive_bucket: str,
    bundle_key: str,
    deadline: Deadline,
    pool: Executor | None = None,
    part_size: int = DEFAULT_PART_SIZE,
    backoff: Backoff | None = None,
    sleep: Callable[[float], None] | None = None,
) -> DirectBundle:
    """Stream ``references``, one member each in order, into one bundle at ``bundle_key``.

    A file that cannot be read (missing, denied, out of time, changed between the passes, a read
    error mid-stream) is left out with its outcome; the others are still bundled. The upload is
    committed only if at least one member made it, and only whole (committed-size check);
    otherwise it is aborted and nothing is visible. With a ``pool``, files up to
    :data:`IN_MEMORY_MAX_BYTES` are fetched ahead on it (bounded by :data:`PREFETCH_WINDOW_BYTES`).
    """
    retrying = _Retrying(deadline, backoff, sleep)
    reads = Deadline(deadline.expires_at - FINISH_RESERVE_SECONDS, deadline.clock)
    writer = MultipartWriter(
        s3,
        archive_bucket,
        bundle_key,
        part_size=part_size,
        deadline=deadline,
        backoff=backoff,
        sleep=sleep,
    )
    results: list[MemberResult] = []
    ahead = _Prefetcher(s3, references, pool, reads)
    try:
        for position, reference in enumerate(references):
            fetched = ahead.take(position)
            if isinstance(fetched, Fetched):
                results.append(_add_fetched(writer, reference, fetched))
            elif fetched is None or isinstance(fetched, SizeMismatch):
                results.append(_add_member(s3, writer, reference, retrying, reads))
            else:
                results.append(fetched)
        if not any(isinstance(result, Bundled) for result in results):
            _abort_quietly(writer)
            return DirectBundle(bundle_key, tuple(results), 0, writer.retries)
        writer.close()
    except (ClientError, BotoCoreError, OSError, DeadlineReachedError) as error:
        _abort_quietly(writer)
        failed = _write_failure(error)
        every = [*results, *([failed] * (len(references) - len(results)))]
        unwritten = tuple(
            r if not isinstance(r, Bundled) else _with_retries(failed, r.retries) for r in every
        )
        return DirectBundle(bundle_key, unwritten, 0, writer.retries)
    except BaseException:
        writer.abort()
        raise
    finally:
        ahead.cancel()
    return DirectBundle(bundle_key, tuple(results), writer.bytes_written, writer.retries)


class _Prefetcher:
    """Whole-file GETs of the small references, submitted in order ahead of their turn while the
    bytes held stay within :data:`PREFETCH_WINDOW_BYTES` (one file at least)."""

    def __init__(
        self,
        s3: S3Client,
        references: Sequence[ObjectReference],
        pool: Executor | None,
        deadline: Deadline,
    ) -> None:
        self._s3 = s3
        self._references = references
        self._pool = pool
        self._deadline = deadline
        self._futures: dict[int, Future[FetchResult]] = {}
        self._held = 0
        self._next = 0 if pool is not None else len(references)

    def take(self, position: int) -> FetchResult | None:
        """The prefetched result for ``position`` (waits for it), or None: stream it instead."""
        self._fill()
        future = self._futures.pop(position, None)
        if future is None:
            return None
        result = future.result()
        self._held -= self._references[position].size
        self._fill()
        return result

    def cancel(self) -> None:
        """Cancel what has not started (what is running finishes and is dropped)."""
        for future in self._futures.values():
            future.cancel()
        self._futures.clear()

    def _fill(self) -> None:
        assert self._pool is not None or self._next == len(self._references)
        while self._next < len(self._references):
            reference = self._references[self._next]
            if reference.size <= IN_MEMORY_MAX_BYTES:
                if self._held and self._held + reference.size > PREFETCH_WINDOW_BYTES:
                    return
                assert self._pool is not None
                self._futures[self._next] = self._pool.submit(
                    fetch_object, self._s3, reference, self._deadline
                )
                self._held += reference.size
            self._next += 1


def _add_fetched(
    writer: MultipartWriter, reference: ObjectReference, fetched: Fetched
) -> MemberResult:
    """A file fetched whole, as one gzip member at the end of ``writer`` (write errors raise)."""
    metadata = fetched.metadata(reference)
    gz = _GzipMember(writer)
    write_member(gz, metadata, (fetched.content,))  # at most one part, in memory already
    gz.finish()
    return Bundled(metadata, fetched.retries)


def _add_member(
    s3: S3Client,
    writer: MultipartWriter,
    reference: ObjectReference,
    retrying: _Retrying,
    reads: Deadline,
) -> MemberResult:
    """One file as one gzip member at the end of ``writer``; cut off again if its read fails.

    Write errors propagate (the whole bundle is then aborted)."""
    if reads.expired():
        return OutOfTime("no time left to start it before the bundle must be finished", 0)
    pass_deadline = _Retrying(reads, retrying.backoff, retrying.sleep)
    hashed = _hash_pass(s3, reference, pass_deadline)
    if not isinstance(hashed, tuple):
        return hashed
    metadata, etag, retries = hashed
    second = _pinned_get(s3, reference, metadata, etag, pass_deadline)
    if not isinstance(second, tuple):
        return _with_retries(second, retries + second.retries)
    body, more = second
    retries += more
    writer.checkpoint()
    try:
        gz = _GzipMember(writer)
        write_member(gz, metadata, _read_chunks(body, reads))
        gz.finish()
    except _ReadInterruptedError as error:
        writer.rollback()
        return OutOfTime(f"read did not finish, left out of the bundle: {error}", retries)
    except BundleIntegrityError as error:
        writer.rollback()
        return OutOfTime(f"object changed while it was streamed, left out: {error}", retries)
    return Bundled(metadata, retries)


class _GzipMember:
    """One gzip member (header, deflate, trailer) written through to ``out``."""

    def __init__(self, out: MultipartWriter) -> None:
        self._out = out
        # wbits 31: a gzip wrapper, mtime 0 and no name, so the bytes depend on the content only
        self._deflate = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 31)

    def write(self, data: bytes) -> int:
        compressed = self._deflate.compress(data)
        if compressed:
            self._out.write(compressed)
        return len(data)

    def finish(self) -> None:
        self._out.write(self._deflate.flush())


def _write_failure(error: BaseException) -> Unfinished:
    if isinstance(error, ClientError):
        if str(error.response.get("Error", {}).get("Code")) in ACCESS_DENIED_CODES:
            return Denied(f"writing the bundle: {error}", 0)
        return OutOfTime(f"upload did not finish: {error}", 0)
    return OutOfTime(f"upload did not finish: {error}", 0)


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


def _with_retries(result: Unfinished, retries: int) -> Unfinished:
    return type(result)(result.reason, retries)


def _chunks(body: Any, deadline: Deadline) -> Iterator[bytes]:
    for chunk in body.iter_chunks(CHUNK_SIZE):
        if deadline.expired():
            body.close()
            raise DeadlineReachedError("deadline reached")
        yield chunk


def _read_chunks(body: Any, deadline: Deadline) -> Iterator[bytes]:
    """The body's chunks; any failure to read them raises :class:`_ReadInterruptedError`."""
    try:
        yield from _chunks(body, deadline)
    except (DeadlineReachedError, OSError, BotoCoreError, ValueError) as error:
        with contextlib.suppress(Exception):
            body.close()
        raise _ReadInterruptedError(str(error) or type(error).__name__) from error


def _abort_quietly(writer: MultipartWriter) -> None:
    """Abort the upload; if even that fails, the bucket's lifecycle rule removes the parts."""
    with contextlib.suppress(BotoCoreError, ClientError, OSError):
        writer.abort()
