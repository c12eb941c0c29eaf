from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from scripts.consumer.writer import DurableWriter, LinkInTheWayError

STAGING = "state/tmp"


def test_submitted_files_are_complete_after_flush(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with DurableWriter(out, STAGING, threads=4) as writer:
        for index in range(50):
            writer.submit(f"d{index % 3}/f{index}", bytes([index]) * index)
        writer.flush()
    for index in range(50):
        assert (out / f"d{index % 3}" / f"f{index}").read_bytes() == bytes([index]) * index
    assert list((out / STAGING).iterdir()) == []


def test_a_failing_stream_leaves_neither_target_nor_temp_file(tmp_path: Path) -> None:
    def chunks() -> Iterator[bytes]:
        yield b"partial"
        raise ValueError("checksum mismatch")

    out = tmp_path / "out"
    with DurableWriter(out, STAGING) as writer, pytest.raises(ValueError):
        writer.write_stream("sub/file", chunks())
    assert not (out / "sub" / "file").exists()
    assert list((out / STAGING).iterdir()) == []


def test_stream_replaces_atomically(tmp_path: Path) -> None:
    with DurableWriter(tmp_path, STAGING) as writer:
        writer.write_stream("file", iter([b"a" * 10, b"b" * 10]))
        writer.flush()
    assert (tmp_path / "file").read_bytes() == b"a" * 10 + b"b" * 10


def test_leftover_temporary_files_are_discarded(tmp_path: Path) -> None:
    staging = tmp_path / STAGING
    staging.mkdir(parents=True)
    (staging / "dead.part").write_bytes(b"x")
    with DurableWriter(tmp_path, STAGING) as writer:
        assert writer.discard_staging() == 1
    assert list(staging.iterdir()) == []


def test_a_file_where_a_folder_should_be_is_refused_naming_the_path(tmp_path: Path) -> None:
    (tmp_path / "out").write_bytes(b"not a directory")
    with DurableWriter(tmp_path, STAGING) as writer, pytest.raises(LinkInTheWayError, match="out"):
        writer.submit("out/file", b"data")


@pytest.mark.parametrize("write", ["submit", "write_stream"])
def test_a_symlinked_folder_inside_the_output_is_never_written_through(
    tmp_path: Path, write: str
) -> None:
    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    out.mkdir()
    elsewhere.mkdir()
    (out / "inbox").symlink_to(elsewhere)
    with (
        DurableWriter(out, STAGING) as writer,
        pytest.raises(LinkInTheWayError, match="inbox in the output folder is a symbolic link"),
    ):
        if write == "submit":
            writer.submit("inbox/a/file", b"data")
        else:
            writer.write_stream("inbox/a/file", iter([b"data"]))
        writer.flush()
    assert list(elsewhere.iterdir()) == []


def test_a_symlink_at_the_leaf_is_refused_and_its_target_untouched(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious")
    out = tmp_path / "out"
    out.mkdir()
    (out / "file").symlink_to(victim)
    with DurableWriter(out, STAGING) as writer, pytest.raises(LinkInTheWayError):
        writer.existing("file")
    assert victim.read_bytes() == b"precious"


def test_a_link_swapped_in_after_the_walk_is_not_followed(tmp_path: Path) -> None:
    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    elsewhere.mkdir()
    with DurableWriter(out, STAGING) as writer:
        writer.submit("inbox/first", b"1")  # the walk opened out/inbox
        (out / "inbox").rename(out / "moved")
        (out / "inbox").symlink_to(elsewhere)  # a link appears between check and use
        writer.submit("inbox/second", b"2")
        writer.flush()
    assert list(elsewhere.iterdir()) == []
    assert sorted(p.name for p in (out / "moved").iterdir()) == ["first", "second"]
