"""Generated contents: exact sizes, deterministic, streamed, the right compressibility."""

from __future__ import annotations

import gzip
import hashlib
import tracemalloc
from pathlib import Path

import pytest

from scripts.loadgen import FileKind, FileSpec, generate, same_content, sha256_of
from scripts.loadgen.content import CHUNK_SIZE, content_bytes

MIB = 1 << 20


@pytest.mark.parametrize("kind", [FileKind.TEXT, FileKind.COMPRESSIBLE, FileKind.BINARY])
@pytest.mark.parametrize("size", [1, 1000, CHUNK_SIZE, CHUNK_SIZE + 1, 3 * CHUNK_SIZE - 7])
def test_content_has_exactly_the_announced_size(kind: FileKind, size: int) -> None:
    chunks = list(generate(FileSpec("k", kind, size, seed=7)))
    assert sum(len(c) for c in chunks) == size
    assert all(0 < len(c) <= CHUNK_SIZE for c in chunks)


def test_same_spec_same_bytes_other_seed_other_bytes() -> None:
    spec = FileSpec("k", FileKind.TEXT, 50_000, seed=1)
    assert content_bytes(spec) == content_bytes(spec)
    assert content_bytes(spec) != content_bytes(FileSpec("k", FileKind.TEXT, 50_000, seed=2))
    binary = FileSpec("k", FileKind.BINARY, 3 * MIB, seed=1)
    assert sha256_of(binary) == hashlib.sha256(content_bytes(binary)).hexdigest()


def test_empty_file_yields_nothing_and_refuses_a_size() -> None:
    assert list(generate(FileSpec("k", FileKind.EMPTY, 0, seed=1))) == []
    with pytest.raises(ValueError, match="EMPTY"):
        FileSpec("k", FileKind.EMPTY, 10, seed=1)
    with pytest.raises(ValueError, match=">= 0"):
        FileSpec("k", FileKind.TEXT, -1, seed=1)


def test_compressibility_of_each_kind() -> None:
    def ratio(kind: FileKind) -> float:
        data = content_bytes(FileSpec("k", kind, 2 * MIB, seed=3))
        return len(data) / len(gzip.compress(data, compresslevel=6))

    assert ratio(FileKind.COMPRESSIBLE) > 20
    assert 2 < ratio(FileKind.TEXT) < 10
    assert ratio(FileKind.BINARY) < 1.01
    assert ratio(FileKind.LARGE) < 1.01


def test_large_content_is_streamed_with_bounded_memory() -> None:
    spec = FileSpec("big", FileKind.LARGE, 96 * MIB, seed=5)
    tracemalloc.start()
    try:
        digest = sha256_of(spec)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(digest) == 64
    assert peak < 8 * MIB, f"peak {peak / MIB:.1f} MiB while generating a 96 MiB file"


def test_same_content_detects_any_difference(tmp_path: Path) -> None:
    spec = FileSpec("k", FileKind.BINARY, CHUNK_SIZE + 100, seed=9)
    good = content_bytes(spec)
    path = tmp_path / "f"
    path.write_bytes(good)
    assert same_content(path, spec)
    flipped = bytearray(good)
    flipped[CHUNK_SIZE + 50] ^= 1
    path.write_bytes(bytes(flipped))
    assert not same_content(path, spec)
    path.write_bytes(good[:-1])
    assert not same_content(path, spec)
    path.write_bytes(good + b"\0")
    assert not same_content(path, spec)
