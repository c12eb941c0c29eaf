"""Streaming SHA-256 of S3 object bodies with bounded memory (copier and the direct path)."""

from __future__ import annotations

import hashlib
import queue
import threading
from collections.abc import Iterator

#: User metadata key holding a bundle's SHA-256 (hex): set by the copier on the Archive object and
#: its Distribution copy, checked by the consumer, replay and the delivery tracker. Its one home.
SHA256_METADATA = "content-sha256"
#: Read size of the streaming hash: large enough that per-chunk overhead is negligible, small
#: enough that the chunks in flight stay a few MiB.
HASH_CHUNK_SIZE = 1024 * 1024
#: Chunks read ahead of the hash (bounded queue): memory stays under ~(depth + 2) chunks.
READ_AHEAD_CHUNKS = 8


def sha256_read_ahead(
    chunks: Iterator[bytes], *, depth: int = READ_AHEAD_CHUNKS
) -> tuple[str, int]:
    """SHA-256 (hex) and byte count of ``chunks``, read in a thread so network and hash overlap.

    A reader thread pulls ``chunks`` (socket reads release the GIL) into a queue of at most
    ``depth`` chunks while this thread hashes (``hashlib`` releases the GIL on large buffers), so
    on two cores the stream is read and hashed at the same time with bounded memory. A read
    error is raised here; if hashing stops early the reader is told to stop.
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
    finally:
        stop.set()
        reader.join(timeout=5)
    return digest.hexdigest(), size
