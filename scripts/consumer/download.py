"""Download one bundle from Distribution to a local temporary file and verify its SHA-256.

The bundle is streamed (bounded memory) and hashed as it arrives. It must carry the copier's
``content-sha256`` user metadata, and the local hash must equal it. When S3 returns a
``ChecksumSHA256`` of type ``FULL_OBJECT`` (``GetObject`` with ``ChecksumMode=ENABLED``), that
must match too. A ``COMPOSITE`` checksum (an object uploaded in parts: a hash of the part hashes,
shown with a ``-<parts>`` suffix) cannot be recomputed without the part boundaries, which the
consumer role is not allowed to read, so it is left to ``content-sha256``.

Only ``s3:GetObject`` is used (no HeadObject/HeadBucket), matching the consumer role.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.hashing import BodyDigest, verify_body


class BundleRejectedError(Exception):
    """The bundle failed verification; it must not be unpacked or deleted."""


@dataclass(frozen=True, slots=True)
class DownloadedBundle:
    key: str
    etag: str
    size: int
    sha256: str
    path: Path


def download_bundle(
    client: Any,
    bucket: str,
    key: str,
    destination: Path,
    on_chunk: Callable[[int], None] | None = None,
    after_first_chunk: Callable[[], None] | None = None,
) -> DownloadedBundle:
    """Stream ``s3://bucket/key`` to ``destination`` and verify it; raise BundleRejectedError.

    ``destination`` is overwritten; on any failure it is removed.
    """
    response = client.get_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
    etag = str(response.get("ETag", ""))
    try:
        with destination.open("wb") as handle:

            def sink(chunk: bytes) -> None:
                nonlocal after_first_chunk
                handle.write(chunk)
                if on_chunk is not None:
                    on_chunk(len(chunk))
                if after_first_chunk is not None:
                    after_first_chunk()
                    after_first_chunk = None

            found = verify_body(response, sink=sink)
        # no fsync: the temporary copy is only read back by this run; after a crash the bundle is
        # still in Distribution and is downloaded again (leftovers are removed at start-up)
    except BaseException:
        response["Body"].close()  # already closed unless the file could not be opened
        destination.unlink(missing_ok=True)
        raise
    problem = _verify(response, found)
    if problem is not None:
        destination.unlink(missing_ok=True)
        raise BundleRejectedError(problem)
    return DownloadedBundle(
        key=key, etag=etag, size=found.size, sha256=found.sha256, path=destination
    )


def _verify(response: dict[str, Any], found: BodyDigest) -> str | None:
    if found.recorded is None:
        return (
            f"{found.problem} "
            "(was it staged by the copier? re-stage it with `aggregator replay --key`)"
        )
    if found.problem is not None:
        return found.problem
    s3_checksum = response.get("ChecksumSHA256")
    checksum_type = response.get("ChecksumType", "FULL_OBJECT")
    if s3_checksum and checksum_type == "FULL_OBJECT" and "-" not in str(s3_checksum):
        expected = base64.b64encode(bytes.fromhex(found.sha256)).decode("ascii")
        if s3_checksum != expected:
            return f"S3 ChecksumSHA256 {s3_checksum} does not match the content ({expected})"
    return None
