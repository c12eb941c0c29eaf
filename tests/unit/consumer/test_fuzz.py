"""Property-based fuzzing of the bundle reader and the consumer with mutated valid bundles.

Mutations: bit flips, truncation (anywhere, at block boundaries, inside the gzip header and
trailer), inserted and deleted bytes, and rewritten tar header fields (sizes, checksums, types,
pax record lengths), applied to the gzip'd bundle or to the tar stream before gzip. Properties:
only :class:`BundleIntegrityError` escapes the reader, its peak memory stays under a bound, the
consumer writes nothing outside its output folder, and a valid bundle after the bad one is still
delivered.

``make test`` runs a bounded number of examples (derandomized, so a run is reproducible);
``FUZZ_EXAMPLES=5000`` runs longer, with fresh random examples.
"""

from __future__ import annotations

import gzip
import io
import os
import tempfile
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto import mock_aws

from pipeline.bundle import BundleIntegrityError, encode_member, read_bundle
from pipeline.hashing import SHA256_METADATA
from scripts.consumer.drain import drain, list_bundles, state_dir
from scripts.consumer.ledger import Ledger
from tests.unit.consumer.bundles import SourceFile, files_on_disk, meta_for, with_field

_LONG_RUN = "FUZZ_EXAMPLES" in os.environ
READER_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "300"))
CONSUMER_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "25"))
#: the reader's peak memory for any mutation of these small bundles
READER_MEMORY_BOUND = 12 * 1024 * 1024
BUCKET = "fuzz-distribution"
GOOD = SourceFile("good/after-the-bad-one", b"delivered whatever came before")

_SOURCES = [
    SourceFile("a/small.csv", b"x,y\n1,2\n"),
    SourceFile("b/" + "long-name-" * 15 + ".bin", bytes(range(256)) * 5),  # pax path record
    SourceFile("c/unversioned", b"", None),
    SourceFile("d/text.txt", b"lorem ipsum " * 100),
]
_MEMBERS = [encode_member(meta_for(s), s.content) for s in _SOURCES]
RAW = b"".join(_MEMBERS)
#: offsets of every 512-byte header block in RAW (pax headers and ustar headers)
_HEADERS = [
    offset for offset in range(0, len(RAW), 512) if RAW[offset + 257 : offset + 262] == b"ustar"
]
#: (offset, length) of the numeric/type header fields worth rewriting
_FIELDS = [(124, 12), (148, 8), (156, 1), (100, 8), (136, 12), (0, 100)]
_FIELD_VALUES = st.one_of(
    st.binary(min_size=1, max_size=12),
    st.sampled_from(
        [
            b"-0000000001\0",
            b"77777777777\0",
            b"\x80" + bytes(10) + b"\x01",
            b"\xff" * 12,
            b"1_000\0",
            b" +12\0",
            b"5",
            b"2",
            b"L",
            b"x",
            b"g",
        ]
    ),
)


@st.composite
def mutated_bundle(draw: st.DrawFn) -> bytes:
    """A valid bundle with one to three mutations, in the tar stream or in the gzip'd bytes."""
    raw = bytearray(RAW)
    if draw(st.booleans()):  # rewrite header fields (optionally fixing the checksum)
        for _ in range(draw(st.integers(1, 3))):
            header = draw(st.sampled_from(_HEADERS))
            offset, length = draw(st.sampled_from(_FIELDS))
            value = draw(_FIELD_VALUES)[:length]
            if draw(st.booleans()):
                raw[header : header + 512] = with_field(
                    bytes(raw[header : header + 512]), offset, value
                )
            else:
                raw[header + offset : header + offset + len(value)] = value
    if draw(st.booleans()):  # rewrite a pax record length
        pax_record = RAW.find(b" SCHILY.xattr")
        start = RAW.rfind(b"\n", 0, pax_record) + 1
        raw[start:pax_record] = draw(st.sampled_from([b"0", b"-5", b"99999999", b"1e3", b"7"]))
    data = bytearray(gzip.compress(bytes(raw), compresslevel=1, mtime=0))
    if draw(st.integers(0, 9)) == 0:
        data = bytearray(raw)  # a plain tar stream is read too
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from(["flip", "truncate", "insert", "delete", "edge"]))
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        if kind == "flip":
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "truncate":
            del data[at:]
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=64))
        elif kind == "delete":
            del data[at : at + draw(st.integers(1, 600))]
        else:  # truncate at an offset class: gzip header, gzip trailer, block boundary
            cut = draw(st.sampled_from([2, 10, len(data) - 8, len(data) - 4, 512, 1024]))
            del data[max(0, min(cut, len(data))) :]
    return bytes(data)


def _read_everything(bundle: bytes) -> None:
    for member in read_bundle(io.BytesIO(bundle)):
        if member.metadata.size % 2:
            member.read()  # half the members are read, the rest skipped by the reader
        else:
            for _ in member.chunks(4096):
                pass


@settings(
    max_examples=READER_EXAMPLES,
    deadline=None,
    derandomize=not _LONG_RUN,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(mutated_bundle())
def test_reader_only_raises_integrity_errors_within_a_memory_bound(bundle: bytes) -> None:
    tracemalloc.start()
    try:
        try:
            _read_everything(bundle)
        except BundleIntegrityError as error:
            assert "\n" not in str(error)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < READER_MEMORY_BOUND


def test_the_unmutated_bundle_reads() -> None:
    assert [m.name for m in read_bundle(io.BytesIO(gzip.compress(RAW)))] == [
        f"{s.key}~{s.version_id or 'null'}" for s in _SOURCES
    ]


@pytest.fixture(scope="module")
def distribution() -> Iterator[Any]:
    keep = {k: os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    os.environ.update(AWS_ACCESS_KEY_ID="fuzz", AWS_SECRET_ACCESS_KEY="fuzz")
    try:
        with mock_aws():
            client = boto3.client("s3", region_name="eu-west-2")
            client.create_bucket(
                Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-2"}
            )
            yield client
    finally:
        for key, value in keep.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _stage(client: Any, key: str, body: bytes) -> None:
    import hashlib

    client.put_object(
        Bucket=BUCKET,
        Key=key,
        Body=body,
        Metadata={SHA256_METADATA: hashlib.sha256(body).hexdigest()},
    )


@settings(
    max_examples=CONSUMER_EXAMPLES,
    deadline=None,
    derandomize=not _LONG_RUN,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(bundle=mutated_bundle())
def test_consumer_rejects_or_delivers_and_the_next_bundle_still_flows(
    distribution: Any, bundle: bytes
) -> None:
    _stage(distribution, "bundles/2026/01/01/00/1-mutated.gz", bundle)
    _stage(distribution, "bundles/2026/01/01/00/2-good.gz", gzip.compress(encode_good()))
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        output = root / "out"
        with Ledger(state_dir(output) / "ledger.db") as ledger:
            summary = drain(distribution, BUCKET, output, ledger)
        assert [p.name for p in root.iterdir()] == ["out"]  # nothing outside the output
        on_disk = files_on_disk(output)
        assert on_disk.get("good/after-the-bad-one~v1") == GOOD.content
        assert all(p.key.endswith("1-mutated.gz") for p in summary.rejected)
        assert summary.failed == ()
    for listed in list_bundles(distribution, BUCKET):
        distribution.delete_object(Bucket=BUCKET, Key=listed.key)


def encode_good() -> bytes:
    return encode_member(meta_for(GOOD), GOOD.content)
