"""Streaming SHA-256 of S3 object bodies with bounded memory, checked against ``content-sha256``.

The copier (staging), the consumer (download), the delivery tracker and ``aggregator replay`` all
verify a bundle through :func:`verify_body`; the direct path hashes with :func:`sha256_read_ahead`.
"""

from __future__ import annotations

import hashlib
import queue
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

#: User metadata key holding a bundle's SHA-256 (hex): set by the copier on the Archive object and
#: its Distribution copy, checked by the consumer, replay and the delivery tracker. Its one home.
SHA256_METADATA = "content-sha256"
#: Read size of the streaming hash: large enough that per-chunk overhead is negligible, small
#: enough that the chunks in flight stay a few MiB.
HASH_CHUNK_SIZE = 1024 * 1024
#: Chunks read ahead of the hash (bounded queue): memory stays under ~(depth + 2) chunks.
READ_AHEAD_CHUNKS = 8


def sha256_read_ahead(
    chunks: Iterator[bytes],
    *,
    depth: int = READ_AHEAD_CHUNKS,
    sink: Callable[[bytes], object] | None = None,
    close: Callable[[], object] | None = None,
) -> tuple[str, int]:
    """SHA-256 (hex) and byte count of ``chunks``, read in a thread so network and hash overlap.

    A reader thread pulls ``chunks`` (socket reads release the GIL) into a queue of at most
    ``depth`` chunks while this thread hashes (``hashlib`` releases the GIL on large buffers), so
    on two cores the stream is read and hashed at the same time with bounded memory. A read
    error is raised here; if hashing stops early the reader is told to stop. ``sink`` (if given)
    receives each chunk in this thread, after it is hashed. ``close`` (if given) is called when
    hashing ends, before the reader is joined: closing the stream there unblocks a reader waiting
    on the network when hashing stopped early (a sink error, an interrupt).
    """
    pipe: queue.Queue[bytes | BaseException | None] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def offer(item: bytes | BaseException | None) -> bool:
        """Put ``item`` unless the hashing side stopped; False if it did."""
        while not stop.is_set():
            try:
                pipe.put(item, timeout=0.5)
            except queue.Full:
                continue
            return True
        return False

    def read() -> None:
        try:
            for chunk in chunks:
                if not offer(chunk):
                    return
        except Exception as error:  # noqa: BLE001 - handed over and raised in the hashing thread
            offer(error)
            return
        offer(None)

    reader = threading.Thread(target=read, name="bundle-reader", daemon=True)
    reader.start()
    digest = hashlib.sha256()
    size = 0
    try:
        while (item := pipe.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            digest.update(item)
            size += len(item)
            if sink is not None:
                sink(item)
    finally:
        stop.set()
        if close is not None:
            close()
        reader.join(timeout=5)
    return digest.hexdigest(), size


@dataclass(frozen=True, slots=True)
class BodyDigest:
    """What streaming one S3 object body through SHA-256 found, against its recorded hash."""

    sha256: str  # hex digest of the bytes read
    size: int  # bytes read
    recorded: str | None  # the object's ``content-sha256`` metadata (lower case); None if absent

    @property
    def problem(self) -> str | None:
        """Why the body does not verify (for a message), or None when it matches its record."""
        if self.recorded is None:
            return f"no {SHA256_METADATA} metadata: the bundle cannot be verified"
        if self.recorded != self.sha256:
            return (
                f"SHA-256 mismatch: content is {self.sha256}, {SHA256_METADATA} says "
                f"{self.recorded}"
            )
        return None

    @property
    def verified(self) -> bool:
        return self.problem is None


def recorded_sha256(metadata: Mapping[str, str] | None) -> str | None:
    """The ``content-sha256`` user metadata (lower case), or None when absent or empty."""
    value = (metadata or {}).get(SHA256_METADATA, "").strip().lower()
    return value or None


def is_sha256(value: str | None) -> bool:
    """True for a 64-digit lower-case hex string (what the copier records)."""
    return value is not None and len(value) == 64 and all(c in "0123456789abcdef" for c in value)


def verify_body(
    response: Mapping[str, Any],
    *,
    sink: Callable[[bytes], object] | None = None,
    chunk_size: int = HASH_CHUNK_SIZE,
) -> BodyDigest:
    """Stream a ``GetObject`` response's body through SHA-256; compare with its metadata.

    The one implementation of "hash an S3 body and compare it with ``content-sha256``" (the
    copier's staging, the consumer's download, the delivery tracker, ``aggregator replay``).
    Memory stays bounded (:func:`sha256_read_ahead`); ``sink`` receives every chunk in order, in
    the calling thread (to write it to a file, count progress). The body is always closed.
    Callers decide what a mismatch means: :attr:`BodyDigest.problem` says what was found.
    """
    body = response["Body"]
    digest, size = sha256_read_ahead(body.iter_chunks(chunk_size), sink=sink, close=body.close)
    return BodyDigest(digest, size, recorded_sha256(response.get("Metadata")))
