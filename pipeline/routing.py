"""Which delivery stream carries a reference: a stable hash of (bucket, key) over N streams.

Every version of one key goes into the same stream, so Firehose's per-stream order (which is
what keeps the versions of a key in order) still holds with N streams. The hash is a fixed
function of the bytes of bucket and key (BLAKE2b, never Python's per-process ``hash``), so the
ingest, a redrive run on an operator's machine and any Lambda instance agree. The index is a
jump consistent hash (Lamping and Veach, 2014): going from N to N + 1 streams moves only ~1/(N+1)
of the keys (each to the new stream) instead of nearly all of them as ``hash % N`` would.

The stream list comes from the ``DELIVERY_STREAM_NAMES`` environment variable (the template's
order is the routing order); :func:`pipeline.contract.environment.parse_stream_names` is its
one reader.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from pipeline.contract.environment import (
    DELIVERY_STREAM_NAMES,
    STREAM_NAME_PATTERN,
    StreamNamesError,
    parse_stream_names,
)

#: The environment variable holding the delivery streams, comma-separated, in routing order;
#: its name, the stream name rule and the parser are the contract's (environment.py).
STREAM_NAMES_VARIABLE = DELIVERY_STREAM_NAMES

_MASK_64 = (1 << 64) - 1
_JUMP_MULTIPLIER = 2862933555777941757  # the 64-bit LCG of the jump consistent hash

__all__ = [
    "STREAM_NAMES_VARIABLE",
    "STREAM_NAME_PATTERN",
    "StreamNamesError",
    "jump_index",
    "key_hash",
    "parse_stream_names",
    "stream_for",
    "stream_index",
]


def key_hash(bucket: str, key: str) -> int:
    """A 64-bit hash of (bucket, key), the same on every machine and in every process."""
    digest = hashlib.blake2b(
        bucket.encode() + b"\0" + key.encode("utf-8", "surrogatepass"), digest_size=8
    ).digest()
    return int.from_bytes(digest, "big")


def jump_index(key: int, buckets: int) -> int:
    """The jump consistent hash of a 64-bit ``key`` into ``buckets`` (0 ≤ result < buckets)."""
    if buckets < 1:
        raise ValueError(f"need at least one bucket, got {buckets}")
    chosen, candidate = -1, 0
    while candidate < buckets:
        chosen = candidate
        key = (key * _JUMP_MULTIPLIER + 1) & _MASK_64
        candidate = int((chosen + 1) * ((1 << 31) / ((key >> 33) + 1)))
    return chosen


def stream_index(bucket: str, key: str, streams: int) -> int:
    """The index of the stream that carries every version of ``bucket``/``key``."""
    return jump_index(key_hash(bucket, key), streams)


def stream_for(bucket: str, key: str, streams: Sequence[str]) -> str:
    """The stream that carries every version of ``bucket``/``key``."""
    return streams[stream_index(bucket, key, len(streams))]
