"""Test helpers: build real bundles with pipeline.bundle and stage them like the copier does."""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from typing import Any

from pipeline.bundle import MemberMetadata, encode_member


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
    metadata = {"content-sha256": recorded} if recorded else {}
    client.put_object(Bucket=bucket, Key=key, Body=bundle, Metadata=metadata)


def files_on_disk(root: Any) -> dict[str, bytes]:
    """Every file under ``root`` except the consumer's state folder, by relative path."""
    found: dict[str, bytes] = {}
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if path.is_file() and relative.parts[0] != ".~consumer":
            found[str(relative)] = path.read_bytes()
    return found
