"""Small bundles for the copier's tests: one member per (key, landing event time)."""

from __future__ import annotations

import gzip
import hashlib
from collections.abc import Sequence
from datetime import datetime

from pipeline.bundle import MemberMetadata, encode_member


def timed_bundle(members: Sequence[tuple[str, datetime]]) -> bytes:
    """A gzip bundle whose members carry these keys and S3 event times (content ``file <n>``)."""
    encoded = []
    for index, (key, when) in enumerate(members):
        content = f"file {index}".encode()
        meta = MemberMetadata(
            key=key,
            version_id=None,
            etag="0" * 32,
            event_time=when.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            sequencer=f"{index:016X}",
            bucket="test-landing",
            size=len(content),
            sha256=hashlib.sha256(content).hexdigest(),
        )
        encoded.append(encode_member(meta, content))
    return gzip.compress(b"".join(encoded))
