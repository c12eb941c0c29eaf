"""The bundle format: a gzip'd POSIX (pax) tar stream, one member per landing object.

This module is the single owner of writing and reading/verifying bundle members. The transform, the
direct path, the consumer and the tests all go through it.

Writing
    :func:`encode_member` returns one complete tar member (pax extended header, ustar header,
    content, padding) and **no** end-of-archive blocks, so any concatenation of members is a valid
    tar stream. That is exactly what Firehose builds: it concatenates the transform's output
    records and gzips them. :func:`write_member` does the same for content that arrives as a
    stream of chunks (bounded memory) when the size and SHA-256 are known up front.

Metadata
    Per-member SHA-256 and provenance travel as pax records under ``SCHILY.xattr.user.aggregator.*``
    (GNU tar stays silent on ``SCHILY.xattr.*`` keywords; ``tar --xattrs`` even restores them as
    user xattrs). The original key is kept there; the member *name* is a sanitized, bounded,
    relative path that cannot escape the extraction directory (:func:`member_name`).

Reading
    :func:`read_bundle` walks a gzip (possibly multi-member gzip) or plain tar stream and yields a
    :class:`BundleMember` per file; the caller streams its content wherever it wants and the member
    verifies size and SHA-256 as the content passes, raising :class:`BundleIntegrityError`.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import re
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import BinaryIO, Protocol

BLOCK_SIZE = 512
#: pax keyword prefix of every provenance record.
XATTR_PREFIX = "SCHILY.xattr.user.aggregator."
#: Largest size a ustar header can hold (11 octal digits); larger sizes go in a pax ``size``.
_USTAR_MAX_SIZE = 0o77777777777
_USTAR_NAME_MAX = 100
_PAX_HEADER_NAME = b"././@PaxHeader"
_FILE_MODE = 0o644
_CHUNK_SIZE = 1024 * 1024

# Member names: every byte outside this set is percent-escaped ("%XX" of its UTF-8 bytes).
# '%', '~' and '#' are deliberately *not* safe: '~' separates the version tag, '#' marks a
# shortened component, so a sanitized name never collides with a differently shaped one.
_SAFE_NAME_BYTES = frozenset(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.,=+@()!"
)
_MAX_COMPONENT_BYTES = 180
_SAFE_COMPONENT = re.compile(r"[A-Za-z0-9\-_.,=+@()!]+")
#: a whole key whose components all pass unescaped (dot-only components are checked apart)
_SAFE_KEY = re.compile(r"[A-Za-z0-9\-_.,=+@()!]{1,180}(?:/[A-Za-z0-9\-_.,=+@()!]{1,180})*")
#: a version id that is its own tag (safe alphabet, at most 64 characters)
_SAFE_VERSION = re.compile(r"[A-Za-z0-9\-_.,=+@()!]{1,64}")
_MAX_NAME_BYTES = 1000
_MAX_VERSION_TAG_BYTES = 64
#: The one identity of an object without a version id: S3 calls it version ``null``, and the file
#: name (``~null``), the ledger and duplicate detection all use it (see :func:`version_identity`).
NULL_VERSION = "null"

# ---- reader bounds: no header field can make the reader allocate more than these.
#: Largest pax extended header (all consecutive ``x`` headers of one member together). Ours are a
#: few KiB (a name of at most 1000 bytes, an S3 key of at most 1024 bytes, short provenance).
MAX_PAX_HEADER_BYTES = 64 * 1024
#: Largest member a bundle may declare: the largest S3 object (5 TiB). Content is only streamed,
#: so this bounds arithmetic and disk-space checks, not memory.
MAX_MEMBER_SIZE = 5 * 1024**4


class BundleIntegrityError(Exception):
    """A bundle or one of its members is damaged, truncated, or does not match its checksums."""


def version_identity(version_id: str | None) -> str:
    """The identity of a version id: absent and ``"null"`` are the same (unversioned) object."""
    return NULL_VERSION if version_id is None else version_id


@dataclass(frozen=True, slots=True)
class MemberMetadata:
    """Provenance and integrity data of one bundle member (one landing object version)."""

    key: str
    version_id: str | None
    etag: str
    event_time: str
    sequencer: str
    bucket: str
    size: int
    sha256: str


class SupportsWrite(Protocol):
    def write(self, data: bytes, /) -> object: ...


# --------------------------------------------------------------------------------------- names


def member_name(key: str, version_id: str | None) -> str:
    """The relative tar member name for one version of a landing key.

    The name keeps the key's folder structure, but every component is percent-escaped to a safe
    ASCII alphabet, ``.``/``..``/empty components are escaped, and over-long components or names
    are shortened with a hash. The leaf ends in ``~<version>`` so two versions of one key (and a
    key that is also a "folder" of another key) never collide. The original key lives in the
    member metadata.
    """
    if _SAFE_KEY.fullmatch(key) and ("." not in key or _no_dot_only_component(key)):
        name = f"{key}~{_version_tag(version_id)}"  # fast path: nothing to escape
        if len(name) <= _MAX_NAME_BYTES:
            return name
        escaped = key.split("/")
    else:
        escaped = [_escape_component(component) for component in key.split("/")]
    escaped[-1] = f"{escaped[-1]}~{_version_tag(version_id)}"
    name = "/".join(escaped)
    if len(name) > _MAX_NAME_BYTES:
        digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:16]
        name = f"#long/{digest}/{escaped[-1]}"
    return name


def _no_dot_only_component(key: str) -> bool:
    return all(component.strip(".") for component in key.split("/"))


def _escape_component(component: str) -> str:
    if _SAFE_COMPONENT.fullmatch(component) and component.strip(".") and len(component) <= 180:
        return component
    raw = component.encode("utf-8", "surrogatepass")
    if raw.strip(b".") == b"":  # "", ".", "..", "..." are all escaped in full
        escaped = "".join(f"%{byte:02X}" for byte in raw) or "%"
    else:
        escaped = "".join(chr(byte) if byte in _SAFE_NAME_BYTES else f"%{byte:02X}" for byte in raw)
    if len(escaped) > _MAX_COMPONENT_BYTES:
        digest = hashlib.sha256(raw).hexdigest()[:16]
        escaped = f"{escaped[: _MAX_COMPONENT_BYTES - 17]}#{digest}"
    return escaped


def _version_tag(version_id: str | None) -> str:
    if version_id is None:
        return NULL_VERSION
    if _SAFE_VERSION.fullmatch(version_id) and version_id.strip("."):
        return version_id  # the escaped form equals the id and is short enough
    return "#" + hashlib.sha256(version_id.encode("utf-8", "surrogatepass")).hexdigest()[:32]


# ------------------------------------------------------------------------------------- writing
#
# The encoder runs once per inlined file, so it is written for speed: every header is a fixed
# template with a few variable fields spliced in, and the header checksum is the template's
# precomputed byte sum plus the sum of the variable fields. The output is byte for byte what a
# straightforward field-by-field encoder gives (tests compare it with GNU tar and tarfile).

# ustar bytes 100..124: mode, uid, gid
_MODE_UID_GID = b"%07o\0" % _FILE_MODE + b"%07o\0" % 0 + b"%07o\0" % 0
# ustar bytes 157..512: linkname, magic+version, uname, gname, devmajor, devminor, prefix, pad
_HEADER_TAIL = bytes(100) + b"ustar\x0000" + bytes(64) + b"%07o\0" % 0 + b"%07o\0" % 0 + bytes(167)
#: byte sum of the constant parts, with the checksum field counted as eight spaces
_CONSTANT_SUM = sum(_MODE_UID_GID) + 8 * 0x20 + sum(_HEADER_TAIL)
_PAX_NAME_FIELD = _PAX_HEADER_NAME + bytes(_USTAR_NAME_MAX - len(_PAX_HEADER_NAME))
_PAX_NAME_SUM = sum(_PAX_HEADER_NAME)
_MAX_MTIME = 0o77777777777
_PROVENANCE_FIELDS = ("sha256", "key", "version_id", "etag", "event_time", "sequencer", "bucket")
_KEYWORDS = {
    field: (XATTR_PREFIX + field).encode("ascii") for field in (*_PROVENANCE_FIELDS, "size")
}


def member_header(meta: MemberMetadata) -> bytes:
    """The header blocks of one member: pax extended header + ustar header (block aligned)."""
    name = member_name(meta.key, meta.version_id).encode("ascii")
    pax_data = _pax_data(meta, name)
    mtime = b"%011o\0" % min(_mtime(meta.event_time), _MAX_MTIME)
    mtime_sum = sum(mtime)
    pax_size = b"%011o\0" % len(pax_data)
    pax_header = b"".join(
        (
            _PAX_NAME_FIELD,
            _MODE_UID_GID,
            pax_size,
            mtime,
            b"%06o\0 " % (_CONSTANT_SUM + _PAX_NAME_SUM + sum(pax_size) + mtime_sum + ord("x")),
            b"x",
            _HEADER_TAIL,
        )
    )
    ustar_name = name if len(name) <= _USTAR_NAME_MAX else name[:_USTAR_NAME_MAX]
    size = b"%011o\0" % (meta.size if meta.size <= _USTAR_MAX_SIZE else 0)
    file_header = b"".join(
        (
            ustar_name,
            bytes(_USTAR_NAME_MAX - len(ustar_name)),
            _MODE_UID_GID,
            size,
            mtime,
            b"%06o\0 " % (_CONSTANT_SUM + sum(ustar_name) + sum(size) + mtime_sum + ord("0")),
            b"0",
            _HEADER_TAIL,
        )
    )
    return b"".join((pax_header, pax_data, padding(len(pax_data)), file_header))


def _pax_data(meta: MemberMetadata, name: bytes) -> bytes:
    size = b"%d" % meta.size
    fields: list[tuple[bytes, bytes]] = []
    if len(name) > _USTAR_NAME_MAX:
        fields.append((b"path", name))
    if meta.size > _USTAR_MAX_SIZE:
        fields.append((b"size", size))
    keywords = _KEYWORDS
    fields.append((keywords["sha256"], meta.sha256.encode()))
    fields.append((keywords["key"], meta.key.encode()))
    if meta.version_id is not None:
        fields.append((keywords["version_id"], meta.version_id.encode()))
    fields.append((keywords["etag"], meta.etag.encode()))
    fields.append((keywords["event_time"], meta.event_time.encode()))
    fields.append((keywords["sequencer"], meta.sequencer.encode()))
    fields.append((keywords["bucket"], meta.bucket.encode()))
    fields.append((keywords["size"], size))
    return b"".join(
        [
            b"%d %s=%s\n" % (_record_length(len(keyword) + len(value) + 3), keyword, value)
            for keyword, value in fields
        ]
    )


def padding(size: int) -> bytes:
    """The zero bytes that pad ``size`` content bytes to the next 512-byte block."""
    return bytes(-size % BLOCK_SIZE)


def encoded_member_size(meta: MemberMetadata) -> int:
    """Exact length of :func:`encode_member`'s output for ``meta`` (without building it)."""
    pax_size = len(_pax_data(meta, member_name(meta.key, meta.version_id).encode("ascii")))
    header_size = 2 * BLOCK_SIZE + pax_size + (-pax_size % BLOCK_SIZE)
    return header_size + meta.size + (-meta.size % BLOCK_SIZE)


def encode_member(meta: MemberMetadata, content: bytes, *, header: bytes | None = None) -> bytes:
    """One complete tar member (no end-of-archive blocks) holding ``content``.

    ``meta.sha256`` must be the caller-computed SHA-256 of ``content`` (it is not recomputed here,
    to keep the transform at one hash pass); the size is checked. ``header`` is
    :func:`member_header` of ``meta`` if the caller already built it (it is not built twice).
    """
    if len(content) != meta.size:
        raise ValueError(f"content is {len(content)} bytes but metadata says {meta.size}")
    if header is None:
        header = member_header(meta)
    return b"".join((header, content, bytes(-meta.size % BLOCK_SIZE)))


def write_member(out: SupportsWrite, meta: MemberMetadata, chunks: Iterable[bytes]) -> int:
    """Stream one member to ``out`` from ``chunks`` (bounded memory); returns bytes written.

    Size and SHA-256 are known up front (``meta``) and are verified as the content passes; a
    mismatch raises :class:`BundleIntegrityError` after the content was written, so the caller
    must discard the output (e.g. abort the multipart upload).
    """
    header = member_header(meta)
    out.write(header)
    digest = hashlib.sha256()
    written = 0
    for chunk in chunks:
        if not chunk:
            continue
        written += len(chunk)
        if written > meta.size:
            raise BundleIntegrityError(
                f"{meta.key!r}: content longer than the {meta.size} bytes announced"
            )
        digest.update(chunk)
        out.write(chunk)
    if written != meta.size:
        raise BundleIntegrityError(
            f"{meta.key!r}: content is {written} bytes, {meta.size} were announced"
        )
    if digest.hexdigest() != meta.sha256:
        raise BundleIntegrityError(f"{meta.key!r}: content changed while it was being streamed")
    tail = padding(meta.size)
    out.write(tail)
    return len(header) + written + len(tail)


def _record_length(body: int) -> int:
    """Length of a pax record whose ``" keyword=value\\n"`` part is ``body`` bytes.

    The length field counts its own digits: 9 + 1 digit would be 10, which has two digits.
    """
    if body < 98:
        return body + 1 if body < 9 else body + 2
    if body < 997:
        return body + 3
    digits = len(str(body))
    length = body + digits
    if len(str(length)) != digits:
        length = body + len(str(length))
    return length


def _mtime(event_time: str) -> int:
    try:
        return max(0, int(datetime.fromisoformat(event_time).timestamp()))
    except (ValueError, OverflowError, OSError):
        return 0


# ------------------------------------------------------------------------------------- reading


class BundleMember:
    """One member of a bundle being read; stream its content once, verified as it passes."""

    def __init__(self, name: str, metadata: MemberMetadata, stream: _BlockReader) -> None:
        self.name = name
        self.metadata = metadata
        self._stream = stream
        self._remaining = metadata.size
        self._consumed = False
        self._valid = True

    def chunks(self, chunk_size: int = _CHUNK_SIZE) -> Iterator[bytes]:
        """Yield the content; raise BundleIntegrityError if size or SHA-256 do not match."""
        if self._consumed or not self._valid:
            raise RuntimeError(f"content of member {self.name!r} was already read or skipped")
        self._consumed = True
        digest = hashlib.sha256()
        while self._remaining:
            try:
                chunk = self._stream.read(min(chunk_size, self._remaining))
            except BundleIntegrityError as error:
                raise BundleIntegrityError(f"inside member {self.name!r}: {error}") from error
            if not chunk:
                raise BundleIntegrityError(
                    f"bundle truncated inside member {self.name!r} "
                    f"({self._remaining} of {self.metadata.size} bytes missing)"
                )
            self._remaining -= len(chunk)
            digest.update(chunk)
            yield chunk
        self._stream.skip(-self.metadata.size % BLOCK_SIZE)
        if digest.hexdigest() != self.metadata.sha256:
            raise BundleIntegrityError(
                f"member {self.name!r} (key {self.metadata.key!r}): SHA-256 "
                f"{digest.hexdigest()} does not match the recorded {self.metadata.sha256}"
            )

    def read(self) -> bytes:
        """The whole verified content in memory (only for small members)."""
        return b"".join(self.chunks())

    def _finish(self) -> None:
        """Skip whatever the caller did not read, so the stream is at the next header."""
        if not self._consumed:
            self._stream.skip(self._remaining + (-self.metadata.size % BLOCK_SIZE))
        elif self._remaining:
            raise BundleIntegrityError(f"member {self.name!r} was only partly read")
        self._consumed = True
        self._valid = False


def read_bundle(fileobj: BinaryIO) -> Iterator[BundleMember]:
    """Yield each member of a gzip'd (or plain) tar bundle, in order.

    Each member must be handled (or ignored) before advancing the iterator; content that was not
    read is skipped unverified. Zero blocks are skipped rather than ending the walk, so
    concatenated archives that carry end-of-archive markers are read entirely. Damage found
    between members names the last good member.
    """
    members = _walk(_BlockReader(_open_stream(fileobj)))
    last: str | None = None
    while True:
        try:
            member = next(members)
        except StopIteration:
            return
        except BundleIntegrityError as error:
            if last is None:
                raise
            raise BundleIntegrityError(f"after member {last!r}: {error}") from error
        last = member.name
        yield member


def _walk(stream: _BlockReader) -> Iterator[BundleMember]:
    pax: dict[str, str] = {}
    pax_bytes = 0
    while True:
        block = stream.read_exact(BLOCK_SIZE)
        if block is None:
            if pax_bytes:
                raise BundleIntegrityError("bundle ends after a pax header without its member")
            return
        if block == bytes(BLOCK_SIZE):
            continue
        typeflag, name, size = _parse_header(block)
        if typeflag in (b"x", b"g"):
            pax_bytes += size
            if pax_bytes > MAX_PAX_HEADER_BYTES:
                raise BundleIntegrityError(
                    f"pax header of {pax_bytes} bytes is over the {MAX_PAX_HEADER_BYTES}-byte limit"
                )
            data = stream.read_exact(size + (-size % BLOCK_SIZE))
            if data is None:
                raise BundleIntegrityError("bundle truncated inside a pax header")
            records = _parse_pax(data[:size])
            if typeflag == b"x":
                pax.update(records)
            else:
                pax_bytes -= size  # a global header applies to nothing here: not accumulated
            continue
        if typeflag not in (b"0", b"\0"):
            raise BundleIntegrityError(
                f"member {name!r} has tar type {typeflag!r}; bundles hold only regular files"
            )
        full_name = pax.get("path", name)
        if "size" in pax:
            size = _parse_int(pax["size"], f"pax size of member {full_name!r}")
        member = BundleMember(full_name, _metadata(full_name, size, pax), stream)
        pax = {}
        pax_bytes = 0
        yield member
        member._finish()


def _open_stream(fileobj: BinaryIO) -> _Readable:
    """The decompressed stream of a gzip (possibly multi-member) bundle, or the plain stream."""
    try:
        magic = fileobj.read(2)
    except OSError as error:
        raise BundleIntegrityError(f"bundle cannot be read: {error}") from error
    source = _Prefixed(magic, fileobj)
    return gzip.GzipFile(fileobj=source, mode="rb") if magic == b"\x1f\x8b" else source


def _metadata(name: str, size: int, pax: dict[str, str]) -> MemberMetadata:
    def get(field: str) -> str:
        value = pax.get(XATTR_PREFIX + field)
        if value is None:
            raise BundleIntegrityError(
                f"member {name!r} has no {XATTR_PREFIX}{field} record: "
                "not written by this pipeline, cannot be verified"
            )
        return value

    recorded_size = _parse_int(get("size"), f"recorded size of member {name!r}")
    if recorded_size != size:
        raise BundleIntegrityError(
            f"member {name!r}: tar size {size} differs from recorded size {recorded_size}"
        )
    sha256 = get("sha256")
    if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        raise BundleIntegrityError(f"member {name!r}: malformed sha256 {sha256!r}")
    return MemberMetadata(
        key=get("key"),
        version_id=pax.get(XATTR_PREFIX + "version_id"),
        etag=get("etag"),
        event_time=get("event_time"),
        sequencer=get("sequencer"),
        bucket=get("bucket"),
        size=size,
        sha256=sha256,
    )


def _parse_header(block: bytes) -> tuple[bytes, str, int]:
    stored = _parse_octal(block[148:156], "header checksum")
    computed = sum(block[:148]) + 8 * 0x20 + sum(block[156:])
    if stored != computed:
        raise BundleIntegrityError("tar header checksum mismatch: bundle is damaged")
    name = block[0:100].split(b"\0", 1)[0].decode("utf-8", "replace")
    return block[156:157], name, _parse_octal(block[124:136], f"size of member {name!r}")


#: a ustar numeric field: optional leading spaces, octal digits, then NUL/space terminators only
_OCTAL_FIELD = re.compile(rb" *([0-7]*)[ \0]*")
#: a pax decimal number: digits only (no sign, no underscores, no spaces), at most 20 of them
_DECIMAL = re.compile(r"[0-9]{1,20}")


def _parse_octal(field: bytes, what: str) -> int:
    """A ustar octal field; base-256, signs and stray bytes are rejected (never negative)."""
    match = _OCTAL_FIELD.fullmatch(field)
    if match is None:
        raise BundleIntegrityError(f"malformed {what} in tar header: {field!r}")
    digits = match.group(1)
    return int(digits, 8) if digits else 0


def _parse_int(text: str, what: str) -> int:
    """A pax decimal size: non-negative, at most :data:`MAX_MEMBER_SIZE`."""
    if not _DECIMAL.fullmatch(text):
        raise BundleIntegrityError(f"malformed {what}: {text[:40]!r}")
    value = int(text)
    if value > MAX_MEMBER_SIZE:
        raise BundleIntegrityError(f"{what} {value} is over the {MAX_MEMBER_SIZE}-byte limit")
    return value


def _parse_pax(data: bytes) -> dict[str, str]:
    records: dict[str, str] = {}
    position = 0
    while position < len(data):
        space = data.find(b" ", position)
        if space < 0:
            raise BundleIntegrityError("malformed pax header record (no length)")
        length = _parse_int(data[position:space].decode("ascii", "replace"), "pax record length")
        record = data[position : position + length]
        if length <= space - position or len(record) != length or not record.endswith(b"\n"):
            raise BundleIntegrityError("malformed pax header record")
        keyword, sep, value = record[space - position + 1 : -1].partition(b"=")
        if not sep:
            raise BundleIntegrityError("malformed pax header record (no '=')")
        try:
            records[keyword.decode("utf-8")] = value.decode("utf-8")
        except UnicodeDecodeError as error:
            raise BundleIntegrityError(f"pax header record is not UTF-8: {error}") from error
        position += length
    return records


class _Prefixed:
    """A readable that first returns already-consumed bytes, then the rest of a stream."""

    def __init__(self, prefix: bytes, rest: BinaryIO) -> None:
        self._prefix = prefix
        self._rest = rest

    def read(self, size: int = -1) -> bytes:
        if self._prefix:
            if size < 0:
                data, self._prefix = self._prefix + self._rest.read(), b""
                return data
            data, self._prefix = self._prefix[:size], self._prefix[size:]
            return data
        return self._rest.read(size)

    def readable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0, /) -> int:
        raise io.UnsupportedOperation("bundle streams are read forward only")


class _Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


#: Every error a damaged stream can raise while it is decompressed or read: truncation
#: (``EOFError``), a corrupt deflate stream (``zlib.error``), a CRC or length mismatch or garbage
#: between gzip members (``gzip.BadGzipFile``, an ``OSError``), and I/O errors.
_STREAM_ERRORS = (OSError, EOFError, zlib.error, ValueError)


class _BlockReader:
    """Exact-size reads over a stream whose ``read(n)`` may return fewer than ``n`` bytes.

    The one place where a read of the bundle stream happens: every decompression and I/O error
    becomes a :class:`BundleIntegrityError`, and a negative size is refused (``read(-1)`` would
    read the whole rest of the stream into memory).
    """

    def __init__(self, raw: _Readable) -> None:
        self._raw = raw

    def read(self, size: int) -> bytes:
        if size < 0:
            raise BundleIntegrityError(f"negative read of {size} bytes: bundle is damaged")
        try:
            return self._raw.read(size)
        except _STREAM_ERRORS as error:
            kind = "zlib.error" if isinstance(error, zlib.error) else type(error).__name__
            raise BundleIntegrityError(f"bundle stream is damaged ({kind}: {error})") from error

    def read_exact(self, size: int) -> bytes | None:
        """``size`` bytes, ``None`` at a clean end of stream; raise if the stream stops midway."""
        parts: list[bytes] = []
        remaining = size
        while remaining:
            chunk = self.read(min(remaining, _CHUNK_SIZE))
            if not chunk:
                break
            parts.append(chunk)
            remaining -= len(chunk)
        if remaining == size and size:
            return None
        if remaining:
            raise BundleIntegrityError(f"bundle truncated: {remaining} of {size} bytes missing")
        return b"".join(parts)

    def skip(self, size: int) -> None:
        while size > 0:
            chunk = self.read(min(size, _CHUNK_SIZE))
            if not chunk:
                raise BundleIntegrityError(f"bundle truncated: {size} bytes missing")
            size -= len(chunk)
