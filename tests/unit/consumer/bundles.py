"""Test helpers: build real bundles with pipeline.bundle and stage them like the copier does."""

from __future__ import annotations

import gzip
import hashlib
import sqlite3
from dataclasses import dataclass
from typing import Any

from pipeline.bundle import MemberMetadata, encode_member
from pipeline.hashing import SHA256_METADATA
from scripts.consumer.ledger import Ledger


@dataclass(frozen=True)
class SourceFile:
    key: str
    content: bytes
    version_id: str | None = "v1"

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()


def meta_for(source: SourceFile) -> MemberMetadata:
    return MemberMetadata(
        key=source.key,
        version_id=source.version_id,
        etag='"' + hashlib.md5(source.content).hexdigest() + '"',
        event_time="2026-01-01T00:00:00+00:00",
        sequencer="0055AED6DCD90281E5",
        bucket="landing",
        size=len(source.content),
        sha256=source.sha256,
    )


def build_bundle(files: list[SourceFile]) -> bytes:
    """A gzip'd bundle, as Firehose writes it: concatenated members, then gzip."""
    raw = b"".join(encode_member(meta_for(f), f.content) for f in files)
    return gzip.compress(raw, compresslevel=1, mtime=0)


def stage(client: Any, bucket: str, key: str, bundle: bytes, sha256: str | None = None) -> None:
    """Put a bundle into Distribution with the copier's content-sha256 metadata."""
    recorded = hashlib.sha256(bundle).hexdigest() if sha256 is None else sha256
    metadata = {SHA256_METADATA: recorded} if recorded else {}
    client.put_object(Bucket=bucket, Key=key, Body=bundle, Metadata=metadata)


def files_on_disk(root: Any) -> dict[str, bytes]:
    """Every file under ``root`` except the consumer's state folder, by relative path."""
    found: dict[str, bytes] = {}
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if path.is_file() and relative.parts[0] != ".~consumer":
            found[str(relative)] = path.read_bytes()
    return found


# ------------------------------------------------------------------- damaged bundles for tests

BLOCK = 512


def with_field(header: bytes, offset: int, value: bytes) -> bytes:
    """A copy of the 512-byte tar ``header`` with ``value`` at ``offset`` and a valid checksum."""
    block = bytearray(header)
    block[offset : offset + len(value)] = value
    block[148:156] = b" " * 8
    block[148:156] = b"%06o\0 " % sum(block)
    return bytes(block)


def member_parts(member: bytes) -> tuple[bytes, bytes, bytes, bytes]:
    """(pax header block, pax data blocks, ustar header block, content + padding) of a member."""
    pax_header = member[:BLOCK]
    pax_size = int(pax_header[124:136].strip(b"\0 "), 8)
    data_end = BLOCK + pax_size + (-pax_size % BLOCK)
    return (
        pax_header,
        member[BLOCK:data_end],
        member[data_end : data_end + BLOCK],
        member[data_end + BLOCK :],
    )


# ---------------------------------------------------------------------- ledger queries for tests


def ledger_file_count(ledger: Ledger) -> int:
    """How many files the ledger records as delivered."""
    with sqlite3.connect(ledger.path) as db:
        count = int(db.execute("SELECT count(*) FROM files").fetchone()[0])
    db.close()
    return count


def bundles_in_progress(ledger: Ledger) -> list[str]:
    """Keys of the bundles the ledger has begun but not finished, oldest first."""
    with sqlite3.connect(ledger.path) as db:
        rows = db.execute(
            "SELECT bundle_key FROM bundles WHERE state = 'in_progress' ORDER BY started_at"
        ).fetchall()
    db.close()
    return [str(row[0]) for row in rows]
