"""Inline files fetched by the AWS Common Runtime's S3 client: signing, HTTP, pooling in C.

botocore spends ~2 ms of CPU per GET in Python (endpoint rules, serialization, signing, header
parsing, its event hooks); for 27 KB files that is most of the transform's CPU
(docs/performance.md). Here every GET of a batch is handed to ``awscrt``'s ``S3Client`` at once;
the client runs at most ``concurrency`` connections and signs, sends and parses in native code,
so the Python work per file is one request object and two callbacks. Nothing else changes:

- **same outcomes**: errors become the ``ClientError`` botocore would raise, classified by
  :func:`transforms.fetch.classify` (``pipeline/errors.py``), and retried by
  :func:`transforms.fetch.call_with_retries` with its backoff (the client's own retries are off);
  a transport failure is retried like botocore's connection errors;
- **deadline**: no GET is started with less than ``CALL_ALLOWANCE_SECONDS`` left; waiting for a
  result stops at the deadline and cancels what is still running, so no request outlives the
  invocation;
- **stall bound**: a GET that receives nothing (no headers, no body bytes) for ``stall_seconds``
  (``FETCH_STALL_SECONDS``, transforms/config.py) while it is waited for is cancelled and started
  again, at most :data:`MAX_STALLED_ATTEMPTS` times per file; then the file is deferred. The
  client exposes no read timeout (``awscrt`` 0.38's ``S3Client`` takes only
  ``connect_timeout_ms``), so the bound is kept here from the response callbacks: one hung GET
  costs its batch a few seconds, not the rest of the invocation;
- **capped reads**: a ``Content-Length`` other than the referenced size stops the response at its
  headers (:class:`~transforms.fetch.SizeMismatch`); a body is never taken past size + 1 bytes;
- **version-pinned GETs** (``versionId``), and the **response checksum** S3 stores for the object
  (CRC32, CRC32C, CRC64NVME, SHA-1 or SHA-256, asked with ``x-amz-checksum-mode``) is verified as
  botocore does; a mismatch is retried.

Where a request goes is taken from botocore once per bucket (a presigned URL: the same endpoint
rules, ``AWS_ENDPOINT_URL``, addressing style), and credentials come from the botocore session
(refreshed by it), so both clients always agree.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import re
import time
import zlib
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import wait
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from awscrt import auth, checksums, http
from awscrt import s3 as crt_s3
from awscrt.exceptions import AwsCrtError
from botocore.exceptions import ClientError

from pipeline import aws
from pipeline.aws import CALL_ALLOWANCE_SECONDS, DEADLINE_CONNECT_TIMEOUT
from pipeline.deadline import Backoff, Deadline
from pipeline.references import ObjectReference
from transforms import fetch
from transforms.fetch import (
    Attempt,
    DeadlineReachedError,
    FetchResult,
    OutOfTime,
    call_with_retries,
    fetch_result,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

#: Attempts of one file that may stall (each cancelled after ``stall_seconds`` without a byte)
#: before it is deferred: with the default 5 s bound a hung file holds its batch at most ~15 s.
MAX_STALLED_ATTEMPTS = 3
#: The key of the presigned URL that tells where a bucket's objects are addressed.
_PROBE_KEY = "crt-endpoint-probe"
_ERROR_FIELD = re.compile(rb"<(Code|Message)>(?:<!\[CDATA\[)?(.*?)(?:\]\]>)?</\1>", re.DOTALL)
#: Full-object checksums S3 may return, and how to compute them (base64 of the big-endian value).
_CHECKSUMS: dict[str, Callable[[bytes], bytes]] = {
    "x-amz-checksum-crc32": lambda data: zlib.crc32(data).to_bytes(4, "big"),
    "x-amz-checksum-crc32c": lambda data: checksums.crc32c(data).to_bytes(4, "big"),
    "x-amz-checksum-crc64nvme": lambda data: checksums.crc64nvme(data).to_bytes(8, "big"),
    "x-amz-checksum-sha1": lambda data: hashlib.sha1(data, usedforsecurity=False).digest(),
    "x-amz-checksum-sha256": lambda data: hashlib.sha256(data).digest(),
}


class ChecksumMismatchError(OSError):
    """The body does not match the checksum S3 stored for the object (retried)."""


class StalledError(OSError):
    """No byte of the response for ``stall_seconds``: the GET was cancelled (retried)."""


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where a bucket's objects are requested: ``Host`` header, path prefix, TLS or not."""

    host: str
    path_prefix: str
    tls: bool

    def path(self, reference: ObjectReference) -> str:
        path = f"{self.path_prefix}/{quote(reference.key, safe='/~')}"
        if reference.version_id is not None:
            path += f"?versionId={quote(reference.version_id, safe='')}"
        return path


def endpoint_of(s3: S3Client, bucket: str) -> Endpoint:
    """The endpoint botocore would use for ``bucket`` (read from a presigned URL's address)."""
    url = urlsplit(
        s3.generate_presigned_url(
            "get_object", Params={"Bucket": bucket, "Key": _PROBE_KEY}, ExpiresIn=60
        )
    )
    if url.scheme not in ("http", "https") or not url.path.endswith("/" + _PROBE_KEY):
        raise ValueError(f"cannot derive the S3 endpoint of bucket {bucket!r} from {url.geturl()}")
    return Endpoint(url.netloc, url.path[: -len(_PROBE_KEY) - 1], url.scheme == "https")


class _SizeDiffersError(Exception):
    """Raised from the headers callback: the object is not the referenced size."""

    def __init__(self, size: int) -> None:
        super().__init__(size)
        self.size = size


class _TooLongError(Exception):
    """Raised from the body callback: more bytes than the referenced size + 1."""


class _Get:
    """One GET in flight: the callbacks keep the headers and at most ``limit`` body bytes."""

    __slots__ = ("chunks", "headers", "limit", "progress_at", "received", "request", "size")

    def __init__(self, size: int) -> None:
        self.size = size
        self.limit = size + 1
        self.received = 0
        self.chunks: list[bytes] = []
        self.headers: dict[str, str] = {}
        self.request: crt_s3.S3Request | None = None
        #: monotonic time of the last sign of life (start, headers, body bytes)
        self.progress_at = time.monotonic()

    def on_headers(self, status_code: int, headers: list[tuple[str, str]], **_: Any) -> None:
        self.progress_at = time.monotonic()
        if status_code // 100 != 2:
            return  # the client reports the error (with its body) when the request is done
        self.headers = {name.lower(): value for name, value in headers}
        length = self.headers.get("content-length")
        if length is not None and int(length) != self.size:
            raise _SizeDiffersError(int(length))

    def on_body(self, chunk: Any, **_: Any) -> None:
        self.progress_at = time.monotonic()
        self.received += len(chunk)
        if self.received > self.limit:
            raise _TooLongError
        self.chunks.append(bytes(chunk))

    def wait(self, timeout: float, stall_seconds: float) -> None:
        """Wait until the GET is done; cancel it at ``timeout`` s (:class:`DeadlineReachedError`)
        or after ``stall_seconds`` without a byte (:class:`StalledError`).

        The stall clock starts when the wait does at the latest: a GET of the batch queued
        for a connection while earlier files were collected is not counted as stalled for it.
        """
        assert self.request is not None
        future = self.request.finished_future
        now = time.monotonic()
        end = now + timeout
        self.progress_at = max(self.progress_at, now)
        while not future.done():
            now = time.monotonic()
            stall_at = self.progress_at + stall_seconds
            if now >= end:
                self.request.cancel()
                raise DeadlineReachedError("deadline reached while waiting for the GET")
            if now >= stall_at:
                self.request.cancel()
                raise StalledError(f"no byte of the response for {stall_seconds:g} s")
            wait((future,), min(end, stall_at) - now)

    def outcome(self, timeout: float, stall_seconds: float) -> Attempt:
        """Wait (:meth:`wait`); the content, ETag and version id, or the actual size."""
        assert self.request is not None
        self.wait(timeout, stall_seconds)
        try:
            self.request.finished_future.result(0)
        except _SizeDiffersError as error:
            return error.size
        except _TooLongError:
            return self.received  # more than the referenced size: a mismatch, content unused
        except crt_s3.S3ResponseError as error:
            raise _client_error(error) from None
        except AwsCrtError as error:
            raise ConnectionError(f"{error.name}: {error.message}") from None
        content = b"".join(self.chunks)
        if len(content) != self.size:
            return len(content)
        _verify_checksum(self.headers, content)
        return content, self.headers.get("etag"), self.headers.get("x-amz-version-id")


def _client_error(error: crt_s3.S3ResponseError) -> ClientError:
    """The ``ClientError`` botocore raises for the same response (code from the XML body)."""
    fields = {
        name.decode(): value.decode(errors="replace")
        for name, value in _ERROR_FIELD.findall(error.body or b"")
    }
    status = int(error.status_code or 0)
    details = {"Code": fields.get("Code") or str(status), "Message": fields.get("Message", "")}
    response: Any = {"Error": details, "ResponseMetadata": {"HTTPStatusCode": status}}
    return ClientError(response, "GetObject")


def _verify_checksum(headers: dict[str, str], content: bytes) -> None:
    for header, compute in _CHECKSUMS.items():
        expected = headers.get(header)
        if expected is None or "-" in expected:  # absent, or a composite (multipart) checksum
            continue
        actual = base64.b64encode(compute(content)).decode("ascii")
        if actual != expected:
            raise ChecksumMismatchError(f"{header} {actual} != {expected} sent by S3")
        return


class CrtFetcher:
    """The native fetcher: one ``awscrt`` S3 client per process, endpoints from botocore.

    ``stall_seconds``: a GET that receives nothing for this long is cancelled and retried (see
    the module docstring, "stall bound").
    """

    def __init__(self, s3: S3Client, concurrency: int, stall_seconds: float) -> None:
        if stall_seconds <= 0:
            raise ValueError(f"stall_seconds must be positive, got {stall_seconds}")
        self._s3 = s3
        self._concurrency = concurrency
        self._stall_seconds = stall_seconds
        self._endpoints: dict[str, Endpoint] = {}
        self._clients: dict[bool, crt_s3.S3Client] = {}
        self._signing = crt_s3.create_default_s3_signing_config(
            region=s3.meta.region_name, credential_provider=_botocore_credentials()
        )

    def _endpoint(self, bucket: str) -> Endpoint:
        endpoint = self._endpoints.get(bucket)
        if endpoint is None:
            endpoint = self._endpoints[bucket] = endpoint_of(self._s3, bucket)
        return endpoint

    def _client(self, tls: bool) -> crt_s3.S3Client:
        client = self._clients.get(tls)
        if client is None:
            mode = crt_s3.S3RequestTlsMode.ENABLED if tls else crt_s3.S3RequestTlsMode.DISABLED
            client = self._clients[tls] = crt_s3.S3Client(
                region=self._s3.meta.region_name,
                signing_config=self._signing,
                tls_mode=mode,
                max_active_connections_override=self._concurrency,
                retry_config=crt_s3.S3RetryConfig(retry_mode=crt_s3.S3RetryMode.NONE),
                connect_timeout_ms=int(DEADLINE_CONNECT_TIMEOUT * 1000),
            )
        return client

    def start(self, reference: ObjectReference) -> _Get:
        """Hand one GET to the client (it runs when a connection is free)."""
        endpoint = self._endpoint(reference.bucket)
        headers = http.HttpHeaders([("Host", endpoint.host), ("x-amz-checksum-mode", "ENABLED")])
        get = _Get(reference.size)
        get.request = self._client(endpoint.tls).make_request(
            type=crt_s3.S3RequestType.DEFAULT,
            operation_name="GetObject",
            request=http.HttpRequest("GET", endpoint.path(reference), headers),
            on_headers=get.on_headers,
            on_body=get.on_body,
        )
        return get

    @contextlib.contextmanager
    def fetching(
        self, references: Sequence[ObjectReference], deadline: Deadline, concurrency: int
    ) -> Iterator[Iterator[FetchResult]]:
        """Start every GET now; yield the results in order (``concurrency`` is the client's)."""
        del concurrency  # the client was created with it (max_active_connections_override)
        if deadline.remaining() < CALL_ALLOWANCE_SECONDS:
            yield iter([OutOfTime("no time left to start the call", 0)] * len(references))
            return
        gets: list[_Get] = []
        try:
            gets.extend(self.start(reference) for reference in references)
            yield (
                self.finish(reference, get, deadline)
                for reference, get in zip(references, gets, strict=True)
            )
        finally:
            for get in gets:
                if get.request is not None and not get.request.finished_future.done():
                    get.request.cancel()

    def finish(
        self,
        reference: ObjectReference,
        first: _Get,
        deadline: Deadline,
        *,
        backoff: Backoff | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> FetchResult:
        """The first attempt's outcome; retried (one request at a time) while it may succeed.

        A stalled attempt is retried like a transport failure, at most
        :data:`MAX_STALLED_ATTEMPTS` times in all; then the file is out of time (deferred).
        """
        pending = [first]
        stalls = [0]

        def attempt() -> Attempt:
            # the first was started with the batch (it may have waited for a free connection)
            get = pending.pop() if pending else self.start(reference)
            try:
                return get.outcome(deadline.remaining(), self._stall_seconds)
            except StalledError as error:
                stalls[0] += 1
                if stalls[0] >= MAX_STALLED_ATTEMPTS:
                    raise DeadlineReachedError(f"stalled {stalls[0]} times: {error}") from None
                raise

        outcome, retries = call_with_retries(
            attempt,
            deadline,
            backoff=backoff or fetch.DEFAULT_BACKOFF,
            sleep=sleep,
            first_started=True,
        )
        return fetch_result(reference, outcome, retries)


def _botocore_credentials() -> auth.AwsCredentialsProvider:
    """Sign with the botocore session's credentials (one source, refreshed by botocore)."""
    source = aws.credentials()

    def current() -> auth.AwsCredentials:
        frozen = source.get_frozen_credentials()
        return auth.AwsCredentials(frozen.access_key, frozen.secret_key, frozen.token)

    return auth.AwsCredentialsProvider.new_delegate(current)


@functools.cache
def fetcher(s3: S3Client, concurrency: int, stall_seconds: float) -> CrtFetcher:
    """One native fetcher per client and settings (the handler's clients are cached too)."""
    return CrtFetcher(s3, concurrency, stall_seconds)
