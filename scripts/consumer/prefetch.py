"""Download the next bundle while the current one is unpacked.

Unpacking is local CPU and disk work; a download from S3 to an on-premise host is network-bound.
:class:`Prefetcher` runs the downloads (:func:`.download.download_bundle`, streaming to a temporary
file and verifying the SHA-256) in one background thread, one bundle ahead of the caller, so the
two overlap. One worker keeps the downloads in the caller's (oldest-first) order and bounds the
local disk use to two bundles: the one being unpacked and the next.

A download changes no state: the ledger is only read, by the caller's thread (SQLite connections
are not shared across threads), to skip bundles already known to be rejected. A crash loses
nothing, since the bundle is still in Distribution; a stop request abandons the download in flight
at its next chunk and removes its temporary file.
"""

from __future__ import annotations

import logging
import threading
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    HTTPClientError,
    IncompleteReadError,
)
from botocore.exceptions import ConnectionError as S3ConnectionError

from scripts.consumer.download import DownloadedBundle, download_bundle
from scripts.consumer.faults import crash_point
from scripts.session import error_code

LOG = logging.getLogger("aggregator.consumer")
#: downloads of one bundle per pass before it counts as failed (retried again next pass)
DOWNLOAD_ATTEMPTS = 3
_TRANSIENT_CODES = frozenset(
    {
        "InternalError",
        "ServiceUnavailable",
        "SlowDown",
        "RequestTimeout",
        "RequestTimeTooSkewed",
        "Throttling",
        "ThrottlingException",
        "503",
        "500",
    }
)


#: connection failures, timeouts, a body cut short: the network, not the bundle
_TRANSIENT_CLIENT_ERRORS = (S3ConnectionError, HTTPClientError, IncompleteReadError)


def is_transient(error: BotoCoreError | ClientError) -> bool:
    """Network errors, throttling and 5xx heal by themselves; other S3 errors do not."""
    if isinstance(error, BotoCoreError):
        return isinstance(error, _TRANSIENT_CLIENT_ERRORS)
    status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    return status >= 500 or error_code(error) in _TRANSIENT_CODES


class DownloadAbandonedError(Exception):
    """The consumer is stopping: the download in flight was given up (nothing was lost)."""


@dataclass(frozen=True, slots=True)
class Fetch:
    """One bundle's download: in flight, done, or not started (``future`` None: known rejected)."""

    key: str
    temp: Path
    future: Future[DownloadedBundle] | None
    rejection: str | None = None

    def result(self) -> DownloadedBundle:
        """The verified download; raises what the download raised."""
        if self.future is None:
            raise RuntimeError(f"bundle {self.key!r} was not downloaded: {self.rejection}")
        return self.future.result()

    def discard(self) -> None:
        """Remove the temporary file (after use, or when the download is abandoned)."""
        self.temp.unlink(missing_ok=True)


class Prefetcher:
    """Starts bundle downloads in a background thread; :meth:`close` abandons what is left."""

    def __init__(self, client: Any, bucket: str, tmp_dir: Path, first_backoff: float = 1.0) -> None:
        self._client = client
        self._first_backoff = first_backoff
        self._bucket = bucket
        self._tmp_dir = tmp_dir
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="prefetch")
        self._abandon = threading.Event()
        self._outstanding: list[Fetch] = []

    def __enter__(self) -> Prefetcher:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def fetch(self, key: str, rejection: str | None = None) -> Fetch:
        """Queue the download of ``key``; with a known ``rejection``, do not download it."""
        temp = self._tmp_dir / f"bundle-{uuid.uuid4().hex}.part"
        if rejection is not None:
            return Fetch(key, temp, None, rejection)
        future = self._pool.submit(self._download, key, temp)
        fetch = Fetch(key, temp, future)
        self._outstanding.append(fetch)
        return fetch

    def done_with(self, fetch: Fetch) -> None:
        """The caller has used ``fetch``: remove its temporary file."""
        fetch.discard()
        if fetch in self._outstanding:
            self._outstanding.remove(fetch)

    def close(self) -> None:
        """Abandon unused downloads (at their next chunk) and remove their temporary files."""
        self._abandon.set()
        for fetch in self._outstanding:
            if fetch.future is not None:
                fetch.future.cancel()
        self._pool.shutdown(wait=True)
        for fetch in self._outstanding:
            fetch.discard()
        self._outstanding.clear()

    def _download(self, key: str, temp: Path) -> DownloadedBundle:
        """Download ``key``; a transient fault (network, throttling, 5xx) is retried with
        backoff, :data:`DOWNLOAD_ATTEMPTS` times in all (the S3 client retries each call too)."""
        delay = self._first_backoff
        for attempt in range(1, DOWNLOAD_ATTEMPTS + 1):
            try:
                return download_bundle(
                    self._client,
                    self._bucket,
                    key,
                    temp,
                    on_chunk=self._check_abandoned,
                    after_first_chunk=lambda: crash_point("download"),
                )
            except (BotoCoreError, ClientError) as error:
                if attempt == DOWNLOAD_ATTEMPTS or not is_transient(error):
                    raise
                LOG.warning(
                    "bundle download failed; retrying",
                    extra={"bundle": key, "attempt": attempt, "reason": str(error)},
                )
                if self._abandon.wait(delay):
                    raise DownloadAbandonedError("the consumer is stopping") from error
                delay *= 2
        raise AssertionError("unreachable")  # pragma: no cover

    def _check_abandoned(self, _size: int) -> None:
        if self._abandon.is_set():
            raise DownloadAbandonedError("the consumer is stopping")
