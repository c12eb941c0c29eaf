"""The worst any object in Distribution can do is be rejected, with a one-line reason, while the
bundles after it keep flowing and nothing is written outside the output folder."""

from __future__ import annotations

import gzip
import struct
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import EndpointConnectionError

from pipeline.bundle import encode_member
from scripts.consumer.drain import drain, list_bundles
from scripts.consumer.ledger import Ledger
from scripts.consumer.writer import DurableWriter
from tests.unit.consumer.bundles import (
    SourceFile,
    build_bundle,
    files_on_disk,
    member_parts,
    meta_for,
    stage,
    with_field,
)
from tests.unit.consumer.conftest import BUCKET

GOOD = SourceFile("good/after", b"still delivered")
BAD_KEY = "bundles/2026/01/01/00/a-bad.gz"
GOOD_KEY = "bundles/2026/01/01/00/b-good.gz"


def _raw(source: SourceFile) -> bytes:
    return encode_member(meta_for(source), source.content)


def _member_with_ustar_size(size_field: bytes) -> bytes:
    pax_header, pax_data, ustar, content = member_parts(_raw(SourceFile("d/x", b"x" * 600)))
    return pax_header + pax_data + with_field(ustar, 124, size_field) + content


def _member_with_pax_length(size_field: bytes) -> bytes:
    pax_header, pax_data, ustar, content = member_parts(_raw(SourceFile("d/x", b"x" * 600)))
    return with_field(pax_header, 124, size_field) + pax_data + ustar + content


def _crc_mismatch() -> bytes:
    bundle = bytearray(build_bundle([SourceFile("c/rc", b"crc" * 1000)]))
    crc = struct.unpack("<I", bundle[-8:-4])[0]
    bundle[-8:-4] = struct.pack("<I", crc ^ 1)
    return bytes(bundle)


def _corrupt_deflate() -> bytes:
    bundle = bytearray(build_bundle([SourceFile("c/df", bytes(range(256)) * 400)]))
    for offset in range(20, 60):
        bundle[offset] ^= 0xFF
    return bytes(bundle)


DAMAGED: dict[str, Callable[[], bytes]] = {
    "truncated gzip": lambda: build_bundle([SourceFile("t/x", bytes(range(256)) * 300)])[:-300],
    "corrupt deflate": _corrupt_deflate,
    "crc mismatch": _crc_mismatch,
    "garbage between gzip members": lambda: (
        build_bundle([SourceFile("g/1", b"1")])
        + b"GARBAGE!"
        + build_bundle([SourceFile("g/2", b"2")])
    ),
    "ends mid-header": lambda: gzip.compress(_raw(SourceFile("h/x", b"x"))[:700]),
    "negative ustar size": lambda: gzip.compress(_member_with_ustar_size(b"-0000000001\0")),
    "base-256 ustar size": lambda: gzip.compress(
        _member_with_ustar_size(b"\x80" + bytes(10) + b"\1")
    ),
    "1 GiB pax header": lambda: gzip.compress(_member_with_pax_length(b"%011o\0" % (1 << 30))),
    "not gzip at all": lambda: b"PK\x03\x04 a zip file, not a bundle",
    "empty object": lambda: b"",
    "gzip of nothing": lambda: gzip.compress(b""),
}


def _count_gets(client: Any) -> list[str]:
    gets: list[str] = []
    client.meta.events.register(
        "provide-client-params.s3.GetObject", lambda params, **_: gets.append(params["Key"])
    )
    return gets


@pytest.mark.parametrize("damage", list(DAMAGED))
def test_damaged_bundle_is_rejected_remembered_and_the_next_is_delivered(
    s3: Any, output: Path, ledger: Ledger, damage: str
) -> None:
    stage(s3, BUCKET, BAD_KEY, DAMAGED[damage]())  # a correct content-sha256 of the damage
    stage(s3, BUCKET, GOOD_KEY, build_bundle([GOOD]))

    summary = drain(s3, BUCKET, output, ledger)

    assert [p.key for p in summary.rejected] == [BAD_KEY]
    reason = summary.rejected[0].reason
    assert "\n" not in reason and "Traceback" not in reason
    assert summary.bundles_delivered == 1
    assert files_on_disk(output).get("good/after~v1") == GOOD.content
    assert [b.key for b in list_bundles(s3, BUCKET)] == [BAD_KEY]  # kept in Distribution

    gets = _count_gets(s3)
    again = drain(s3, BUCKET, output, ledger)  # remembered: not downloaded again
    assert gets == []
    assert [p.key for p in again.rejected] == [BAD_KEY]
    assert again.to_dict()["counts"]["rejected"] == 1


def test_rejection_message_names_bundle_member_and_reason(
    s3: Any, output: Path, ledger: Ledger
) -> None:
    stage(s3, BUCKET, BAD_KEY, gzip.compress(_member_with_ustar_size(b"-0000000001\0")))
    summary = drain(s3, BUCKET, output, ledger)
    assert "member 'd/x~v1'" in summary.rejected[0].reason
    assert "malformed size" in summary.rejected[0].reason


def test_a_symlink_in_the_output_folder_is_a_rejection_and_nothing_lands_outside(
    s3: Any, output: Path, ledger: Ledger, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    output.mkdir()
    (output / "inbox").symlink_to(elsewhere)
    stage(s3, BUCKET, BAD_KEY, build_bundle([SourceFile("inbox/secret", b"s")]))
    stage(s3, BUCKET, GOOD_KEY, build_bundle([GOOD]))

    summary = drain(s3, BUCKET, output, ledger)

    assert [p.key for p in summary.rejected] == [BAD_KEY]
    assert "inbox in the output folder is a symbolic link" in summary.rejected[0].reason
    assert list(elsewhere.iterdir()) == []
    assert summary.bundles_delivered == 1
    assert [b.key for b in list_bundles(s3, BUCKET)] == [BAD_KEY]


def test_only_gz_keys_under_the_bundle_prefix_are_considered(
    s3: Any, output: Path, ledger: Ledger
) -> None:
    stage(s3, BUCKET, "bundles/README.txt", b"not a bundle")
    stage(s3, BUCKET, "elsewhere/x.gz", build_bundle([SourceFile("e/x", b"e")]))
    stage(s3, BUCKET, GOOD_KEY, build_bundle([GOOD]))
    gets = _count_gets(s3)

    summary = drain(s3, BUCKET, output, ledger)

    assert summary.ok
    assert (summary.bundles_delivered, summary.bundles_skipped) == (1, 1)
    assert summary.to_dict()["counts"] == {
        "delivered": 1,
        "duplicates": 0,
        "rejected": 0,
        "skipped": 1,
        "failed": 0,
    }
    assert gets == [GOOD_KEY]
    assert sorted(b.key for b in list_bundles(s3, BUCKET)) == [
        "bundles/README.txt",
        "elsewhere/x.gz",
    ]


def test_too_little_free_space_keeps_the_bundle_and_says_how_much(
    s3: Any, output: Path, ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(DurableWriter, "free_bytes", lambda _self: 10)
    stage(s3, BUCKET, GOOD_KEY, build_bundle([GOOD]))

    summary = drain(s3, BUCKET, output, ledger)

    assert summary.rejected == ()
    assert summary.host_fault is not None
    assert (summary.host_fault.kind, summary.host_fault.transient) == ("no_space", True)
    assert f"needs {len(GOOD.content)} bytes" in summary.host_fault.message
    assert not summary.ok
    assert files_on_disk(output) == {}
    assert [b.key for b in list_bundles(s3, BUCKET)] == [GOOD_KEY]


def test_absent_and_null_version_ids_are_one_delivery(
    s3: Any, output: Path, ledger: Ledger
) -> None:
    stage(s3, BUCKET, "bundles/1.gz", build_bundle([SourceFile("n/k", b"same", None)]))
    stage(s3, BUCKET, "bundles/2.gz", build_bundle([SourceFile("n/k", b"same", "null")]))

    summary = drain(s3, BUCKET, output, ledger)

    assert summary.ok
    assert (summary.files_written, summary.files_duplicate) == (1, 1)
    assert files_on_disk(output) == {"n/k~null": b"same"}


def test_a_transient_download_fault_is_retried_in_the_same_pass(
    s3: Any, output: Path, ledger: Ledger
) -> None:
    stage(s3, BUCKET, GOOD_KEY, build_bundle([GOOD]))
    failures = [EndpointConnectionError(endpoint_url="https://s3.example")]

    def flaky(**_: Any) -> None:
        if failures:
            raise failures.pop()

    s3.meta.events.register("before-call.s3.GetObject", flaky)
    summary = drain(s3, BUCKET, output, ledger)

    assert summary.ok
    assert failures == []
    assert summary.bundles_delivered == 1


def test_reader_memory_stays_bounded_for_hostile_sizes(tmp_path: Path) -> None:
    """A negative size used to read(-1) the rest of the stream; a huge pax length buffered it."""
    import tracemalloc

    from pipeline.bundle import BundleIntegrityError, read_bundle

    for label, member in (
        ("negative", _member_with_ustar_size(b"-0000000001\0")),
        ("huge pax", _member_with_pax_length(b"%011o\0" % (1 << 30))),
    ):
        path = tmp_path / f"{label}.gz"
        compressor = zlib.compressobj(1, zlib.DEFLATED, 31)
        with path.open("wb") as handle:
            handle.write(compressor.compress(member))
            zeros = bytes(1 << 20)
            for _ in range(64):  # 64 MiB of zeros after the header
                handle.write(compressor.compress(zeros))
            handle.write(compressor.flush())
        tracemalloc.start()
        try:
            with path.open("rb") as handle, pytest.raises(BundleIntegrityError):
                for found in read_bundle(handle):
                    found.read()
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < 8 * 1024 * 1024, f"{label}: peak {peak:,} bytes"


def test_a_stop_request_ends_the_pass_between_files_and_the_next_run_finishes(
    s3: Any, output: Path, ledger: Ledger
) -> None:
    files = [SourceFile(f"s/{n}", bytes([n]) * 10) for n in range(3)]
    stage(s3, BUCKET, GOOD_KEY, build_bundle(files))
    calls: list[int] = []

    def stop_at_the_third_file() -> bool:  # asked before the bundle, then before files 2 and 3
        calls.append(1)
        return len(calls) >= 3

    stopped = drain(s3, BUCKET, output, ledger, should_stop=stop_at_the_third_file)

    assert (stopped.bundles_delivered, stopped.files_written) == (0, 2)
    assert ledger.delivered("s/1", "v1") is not None  # what was written is recorded
    assert [b.key for b in list_bundles(s3, BUCKET)] == [GOOD_KEY]
    finished = drain(s3, BUCKET, output, ledger)
    assert (finished.files_written, finished.files_duplicate) == (1, 2)
    assert len(files_on_disk(output)) == 3
    assert list_bundles(s3, BUCKET) == []
