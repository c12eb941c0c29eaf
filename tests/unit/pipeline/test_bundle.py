"""The bundle format: round trips, hostile keys, GNU tar compatibility, integrity errors."""

from __future__ import annotations

import gzip
import hashlib
import io
import random
import subprocess
import tarfile
from pathlib import Path

import pytest

from pipeline.bundle import (
    BLOCK_SIZE,
    BundleIntegrityError,
    MemberMetadata,
    encode_member,
    encoded_member_size,
    member_header,
    member_name,
    read_bundle,
    write_member,
)
from tests.gnu_tar import gnu_tar

HOSTILE_KEYS = [
    "../../etc/passwd",
    "/absolute/path.txt",
    "a/../../b",
    "./.",
    "..",
    ".",
    "",
    "a//b",
    "trailing/",
    "sp ace+plus%25pct%",
    "ünïcødé/文件.txt",
    "line\nbreak\ttab\r\x01\x7f",
    "back\\slash/..\\..\\x",
    "~tilde#hash",
    "x" * 1024,
    "/".join(["deep"] * 400),
    "emoji/\U0001f600.bin",
]


def _meta(key: str, content: bytes, version_id: str | None = "v1") -> MemberMetadata:
    return MemberMetadata(
        key=key,
        version_id=version_id,
        etag='"' + hashlib.md5(content).hexdigest() + '"',
        event_time="2026-01-02T03:04:05.678Z",
        sequencer="0055AED6DCD90281E5",
        bucket="landing",
        size=len(content),
        sha256=hashlib.sha256(content).hexdigest(),
    )


def _random_key(rng: random.Random) -> str:
    alphabet = "ab/.%+ ~#\\\n\x00é文\U0001f600-_"
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))


def _assert_safe(name: str) -> None:
    assert name
    assert not name.startswith("/")
    assert len(name.encode()) <= 1000
    assert name.isascii() and name.isprintable()
    parts = name.split("/")
    assert all(part not in ("", ".", "..") for part in parts)
    assert all(len(part) <= 255 for part in parts)
    assert "~" in parts[-1]
    assert all("~" not in part for part in parts[:-1])


@pytest.mark.parametrize("key", HOSTILE_KEYS)
def test_member_name_of_hostile_key_is_safe(key: str) -> None:
    _assert_safe(member_name(key, "3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY"))
    _assert_safe(member_name(key, None))


def test_member_names_are_injective_on_random_keys() -> None:
    rng = random.Random(20260101)
    seen: dict[str, tuple[str, str | None]] = {}
    for _ in range(5000):
        key = _random_key(rng)
        version = rng.choice([None, "v1", "v2", "a/../b", "x" * 200])
        name = member_name(key, version)
        _assert_safe(name)
        assert seen.setdefault(name, (key, version)) == (key, version)


def test_two_versions_of_one_key_get_distinct_names() -> None:
    assert member_name("a/b.txt", "v1") != member_name("a/b.txt", "v2")
    assert member_name("a/b.txt", None) != member_name("a/b.txt", "v1")


def test_encode_member_round_trips_through_reader_and_tarfile() -> None:
    rng = random.Random(7)
    members = []
    for index in range(60):
        content = rng.randbytes(rng.choice([0, 1, 511, 512, 513, 4096, rng.randint(0, 20000)]))
        key = HOSTILE_KEYS[index % len(HOSTILE_KEYS)] if index % 3 else _random_key(rng)
        members.append((_meta(key, content, rng.choice([None, f"v{index}"])), content))
    stream = b"".join(encode_member(meta, content) for meta, content in members)
    assert all(
        len(encode_member(meta, content)) == encoded_member_size(meta) for meta, content in members
    )
    assert len(stream) % BLOCK_SIZE == 0

    read = [(member.metadata, member.read()) for member in read_bundle(io.BytesIO(stream))]
    assert read == members

    with tarfile.open(fileobj=io.BytesIO(gzip.compress(stream)), mode="r:gz") as archive:
        infos = archive.getmembers()
        assert [info.pax_headers["SCHILY.xattr.user.aggregator.key"] for info in infos] == [
            meta.key for meta, _ in members
        ]
        for info, (meta, content) in zip(infos, members, strict=True):
            extracted = archive.extractfile(info)
            assert extracted is not None
            assert extracted.read() == content
            assert info.name == member_name(meta.key, meta.version_id)


def test_reader_handles_multi_member_gzip_and_skips_unread_content() -> None:
    contents = [b"first" * 100, b"", b"third" * 1000]
    parts = [gzip.compress(encode_member(_meta(f"k{i}", c), c)) for i, c in enumerate(contents)]
    members = list(_names_only(io.BytesIO(b"".join(parts))))
    assert members == ["k0~v1", "k1~v1", "k2~v1"]


def _names_only(fileobj: io.BytesIO) -> list[str]:
    return [member.name for member in read_bundle(fileobj)]


def test_write_member_streams_the_same_bytes_as_encode_member() -> None:
    content = random.Random(3).randbytes(300_000)
    meta = _meta("big/file.bin", content)
    out = io.BytesIO()
    chunks = (content[i : i + 65536] for i in range(0, len(content), 65536))
    written = write_member(out, meta, chunks)
    assert out.getvalue() == encode_member(meta, content)
    assert written == len(out.getvalue())


def test_write_member_rejects_content_that_does_not_match() -> None:
    meta = _meta("k", b"expected")
    with pytest.raises(BundleIntegrityError, match="changed"):
        write_member(io.BytesIO(), meta, [b"expectex"])
    with pytest.raises(BundleIntegrityError, match="announced"):
        write_member(io.BytesIO(), meta, [b"short"])
    with pytest.raises(BundleIntegrityError, match="longer"):
        write_member(io.BytesIO(), meta, [b"expected", b"!"])


def test_reader_detects_corrupted_content() -> None:
    content = b"precious data" * 50
    member = bytearray(encode_member(_meta("k", content), content))
    member[-BLOCK_SIZE + 3] ^= 0xFF  # flip a content byte (the last block holds content)
    with pytest.raises(BundleIntegrityError, match="SHA-256"):
        for item in read_bundle(io.BytesIO(bytes(member))):
            item.read()


def test_reader_detects_truncation_and_damaged_headers() -> None:
    content = b"z" * 5000
    member = encode_member(_meta("k", content), content)
    with pytest.raises(BundleIntegrityError, match="truncated"):
        for item in read_bundle(io.BytesIO(gzip.compress(member[:3000]))):
            item.read()
    damaged = bytearray(member)
    damaged[5] ^= 0x01
    with pytest.raises(BundleIntegrityError, match="checksum"):
        list(read_bundle(io.BytesIO(bytes(damaged))))


def test_reader_rejects_members_without_provenance() -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        info = tarfile.TarInfo("plain.txt")
        info.size = 3
        archive.addfile(info, io.BytesIO(b"abc"))
    with pytest.raises(BundleIntegrityError, match="not written by this pipeline"):
        list(read_bundle(io.BytesIO(buffer.getvalue())))


def test_sizes_beyond_ustar_go_in_a_pax_size_record() -> None:
    meta = MemberMetadata(
        key="huge",
        version_id=None,
        etag="e",
        event_time="t",
        sequencer="s",
        bucket="b",
        size=9 * 1024**3,
        sha256="0" * 64,
    )
    header = member_header(meta)
    assert b" size=9663676416\n" in header
    assert len(header) % BLOCK_SIZE == 0


def test_gnu_tar_extracts_a_firehose_style_bundle_silently(tmp_path: Path) -> None:
    """Transform records concatenated then gzip'd, as Firehose does, read by stock tar."""
    members = []
    for index, key in enumerate(HOSTILE_KEYS):
        content = random.Random(index).randbytes(index * 333)
        members.append((_meta(key, content, f"v{index}"), content))
    members.append((_meta("same/key", b"one", "v-a"), b"one"))
    members.append((_meta("same/key", b"two", "v-b"), b"two"))
    records = [encode_member(meta, content) for meta, content in members]
    bundle = tmp_path / "bundle.gz"
    bundle.write_bytes(gzip.compress(b"".join(records)))
    target = tmp_path / "out"
    target.mkdir()

    result = subprocess.run(
        [gnu_tar(), "-xzf", str(bundle), "-C", str(target)], capture_output=True, check=False
    )

    assert result.returncode == 0
    assert result.stderr == b""
    files = sorted(p for p in target.rglob("*") if p.is_file())
    assert len(files) == len(members)
    assert all(p.resolve().is_relative_to(target.resolve()) for p in files)
    for meta, content in members:
        path = target / member_name(meta.key, meta.version_id)
        assert path.read_bytes() == content
    with bundle.open("rb") as handle:
        verified = [(m.metadata, m.read()) for m in read_bundle(handle)]
    assert verified == members
