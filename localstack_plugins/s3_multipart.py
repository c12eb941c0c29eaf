"""S3 completes a multipart upload once, however often ``CompleteMultipartUpload`` is sent.

On AWS, completing an upload is one atomic commit: a client that timed out waiting for the answer
and sends the request again (AWS: "applications should be prepared to retry any failed
requests", S3 API reference, CompleteMultipartUpload) never sees a second, different object;
the retry is answered with the object the first request committed.

LocalStack 2026.3.0's provider has no such guard. Two Completes of one upload that overlap (the
first still concatenating a 300 MB object when the client's read timeout sends the second) both
pass the "upload exists" check, both assign a new version id to the *same* object record, and the
first to finish deletes the part files the other is still reading: the key then holds an empty or
truncated version, and the bucket's version list keeps a record no ``DeleteObjects`` removes
(``BucketNotEmpty`` on a bucket that lists no version). Seen on the ten-300-MB scenario.

:func:`install` wraps the provider's ``complete_multipart_upload``: requests for one upload are
serialized, and a request for an upload that has completed is answered with that completion's
response. Completions are remembered per bucket, upload id and key, the most recent
:data:`REMEMBERED_COMPLETIONS` of them (an upload id never comes back). Applied at launch by
:mod:`localstack_plugins.launch`.
"""

from __future__ import annotations

import functools
import threading
from collections import OrderedDict
from typing import Any

#: how many completed uploads are remembered for answering a re-sent Complete
REMEMBERED_COMPLETIONS = 4096


class CompletionRegistry:
    """Serializes the completion of each upload and remembers how each one ended."""

    def __init__(self, capacity: int = REMEMBERED_COMPLETIONS) -> None:
        self._capacity = capacity
        self._guard = threading.Lock()
        self._locks: dict[tuple[str, str, str], tuple[threading.Lock, int]] = {}
        self._completed: OrderedDict[tuple[str, str, str], Any] = OrderedDict()

    def complete_once(self, upload: tuple[str, str, str], complete: Any) -> Any:
        """``complete()`` unless ``upload`` has completed; then its remembered response."""
        lock = self._acquire(upload)
        try:
            with lock:
                with self._guard:
                    if upload in self._completed:
                        return self._completed[upload]
                response = complete()
                with self._guard:
                    self._completed[upload] = response
                    while len(self._completed) > self._capacity:
                        self._completed.popitem(last=False)
                return response
        finally:
            self._release(upload)

    def _acquire(self, upload: tuple[str, str, str]) -> threading.Lock:
        with self._guard:
            lock, users = self._locks.get(upload, (threading.Lock(), 0))
            self._locks[upload] = (lock, users + 1)
            return lock

    def _release(self, upload: tuple[str, str, str]) -> None:
        with self._guard:
            lock, users = self._locks[upload]
            if users == 1:
                del self._locks[upload]
            else:
                self._locks[upload] = (lock, users - 1)


def install() -> None:
    from localstack.services.s3.provider import S3Provider

    registry = CompletionRegistry()
    original = S3Provider.complete_multipart_upload

    @functools.wraps(original)
    def complete_multipart_upload(
        self: Any, context: Any, bucket: str, key: str, upload_id: str, *args: Any, **kwargs: Any
    ) -> Any:
        return registry.complete_once(
            (bucket, upload_id, key),
            lambda: original(self, context, bucket, key, upload_id, *args, **kwargs),
        )

    S3Provider.complete_multipart_upload = complete_multipart_upload  # type: ignore[method-assign]
