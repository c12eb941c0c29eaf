from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from scripts.consumer.writer import DurableWriter


def test_submitted_files_are_complete_after_flush(tmp_path: Path) -> None:
    with DurableWriter(tmp_path / "staging", threads=4) as writer:
        for index in range(50):
            writer.submit(tmp_path / "out" / f"d{index % 3}" / f"f{index}", bytes([index]) * index)
        writer.flush()
    for index in range(50):
        assert (tmp_path / "out" / f"d{index % 3}" / f"f{index}").read_bytes() == bytes(
            [index]
        ) * index
    assert list((tmp_path / "staging").iterdir()) == []


def test_a_failing_stream_leaves_neither_target_nor_temp_file(tmp_path: Path) -> None:
    def chunks() -> Iterator[bytes]:
        yield b"partial"
        raise ValueError("checksum mismatch")

    target = tmp_path / "out" / "file"
    with DurableWriter(tmp_path / "staging") as writer, pytest.raises(ValueError):
        writer.write_stream(target, chunks())
    assert not target.exists()
    assert list((tmp_path / "staging").iterdir()) == []


def test_stream_replaces_atomically(tmp_path: Path) -> None:
    target = tmp_path / "file"
    with DurableWriter(tmp_path / "staging") as writer:
        writer.write_stream(target, iter([b"a" * 10, b"b" * 10]))
        writer.flush()
    assert target.read_bytes() == b"a" * 10 + b"b" * 10


def test_leftover_temporary_files_are_discarded(tmp_path: Path) -> None:
    staging = tmp_path / "staging"
    staging.mkdir()
    (staging / "dead.part").write_bytes(b"x")
    with DurableWriter(staging) as writer:
        assert writer.discard_staging() == 1
    assert list(staging.iterdir()) == []


def test_a_write_error_surfaces_at_flush(tmp_path: Path) -> None:
    blocker = tmp_path / "out"
    blocker.write_bytes(b"not a directory")
    with DurableWriter(tmp_path / "staging") as writer, pytest.raises(OSError):
        writer.submit(blocker / "file", b"data")
        writer.flush()
