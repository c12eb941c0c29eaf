"""Deterministic file contents: every byte of a generated file is a function of its spec.

A :class:`FileSpec` names a file (key, kind, size, seed). :func:`generate` yields its content in
chunks of at most :data:`CHUNK_SIZE` bytes, so a 300 MB file is never held in memory, and the same
spec always yields the same bytes — the tests regenerate the content to compare delivered files
byte for byte instead of keeping a copy of what was uploaded.
"""

from __future__ import annotations

import enum
import hashlib
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

#: Largest chunk :func:`generate` yields.
CHUNK_SIZE = 1 << 20

_WORDS = tuple(
    " ".join(
        (
            "invoice order shipment customer account ledger balance transfer payment refund",
            "region warehouse parcel status pending settled rejected approved batch report",
            "daily hourly metric sensor reading voltage latitude longitude station device",
            "firmware alpha beta gamma delta",
        )
    ).split(" ")
)


class FileKind(enum.StrEnum):
    """What a generated file looks like (and how well it compresses)."""

    TEXT = "text"  # CSV-like lines of words and numbers, compresses ~3-4x
    EMPTY = "empty"  # zero bytes
    COMPRESSIBLE = "compressible"  # one repeated record, compresses > 20x
    BINARY = "binary"  # pseudo-random bytes, incompressible
    LARGE = "large"  # pseudo-random bytes, streamed (multipart upload)


@dataclass(frozen=True, slots=True)
class FileSpec:
    """One file to upload: where it goes and what it contains."""

    key: str
    kind: FileKind
    size: int
    seed: int

    def __post_init__(self) -> None:
        if self.size < 0:
            raise ValueError(f"file size must be >= 0, got {self.size} for {self.key!r}")
        if self.kind is FileKind.EMPTY and self.size:
            raise ValueError(f"an EMPTY file has size 0, got {self.size} for {self.key!r}")


def generate(spec: FileSpec) -> Iterator[bytes]:
    """Yield the content of ``spec`` in chunks of at most :data:`CHUNK_SIZE` bytes."""
    if spec.size == 0:
        return
    if spec.kind is FileKind.TEXT:
        chunks = _text_chunks(spec.seed, spec.size)
    elif spec.kind is FileKind.COMPRESSIBLE:
        chunks = _compressible_chunks(spec.seed)
    else:
        chunks = _random_chunks(spec.seed, spec.size)
    remaining = spec.size
    for chunk in chunks:
        piece = chunk[:remaining]
        remaining -= len(piece)
        yield piece
        if remaining == 0:
            return


def content_bytes(spec: FileSpec) -> bytes:
    """The whole content in memory: only for small files (tests, small uploads)."""
    return b"".join(generate(spec))


def sha256_of(spec: FileSpec) -> str:
    """SHA-256 (hex) of the content, computed streaming."""
    digest = hashlib.sha256()
    for chunk in generate(spec):
        digest.update(chunk)
    return digest.hexdigest()


def same_content(path: Path, spec: FileSpec) -> bool:
    """Whether the file at ``path`` holds exactly the content of ``spec`` (compared streaming)."""
    with path.open("rb") as handle:
        for expected in generate(spec):
            if handle.read(len(expected)) != expected:
                return False
        return handle.read(1) == b""


def _text_chunks(seed: int, size: int) -> Iterator[bytes]:
    # Lines are drawn in order, so a file's bytes are a prefix of its seed's line stream: each
    # chunk holds >= 64 KiB of lines, and the last one only as many as ``size`` still needs
    # (drawing a whole 64 KiB for a 27 KB file was 60 % of the generator's time).
    rng = random.Random(seed)  # noqa: S311 - reproducible test data, not secrets
    row = 0
    left = size
    while True:
        lines: list[str] = []
        length = 0
        wanted = min(64 * 1024, left)
        while length < wanted:
            words = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(3, 12)))
            line = f"{row},{rng.randint(0, 10**9)},{words},{rng.random() * 1000:.3f}\n"
            lines.append(line)
            length += len(line)
            row += 1
        left -= length
        yield "".join(lines).encode("ascii")


def _compressible_chunks(seed: int) -> Iterator[bytes]:
    filler = "ABCDEFGH" * 16
    row = 0
    while True:
        text = "".join(
            f"record={row + n:010d} seed={seed} status=OK region=eu-west-2 payload={filler}\n"
            for n in range(512)
        )
        row += 512
        yield text.encode("ascii")


def _random_chunks(seed: int, size: int) -> Iterator[bytes]:
    # One seeded pool of up to 1 MiB, then each further chunk is the pool rotated by a seeded
    # offset: as incompressible as fresh random bytes for gzip (its window is 32 KiB), at memcpy
    # speed, so the 300 MB scenarios are not bound by the generator.
    rng = random.Random(seed)  # noqa: S311 - reproducible test data, not secrets
    pool = rng.randbytes(min(size, CHUNK_SIZE))
    yield pool
    while True:
        offset = rng.randrange(1, len(pool))
        yield pool[offset:] + pool[:offset]
