"""The object reference: the typed record that travels from Landing through Firehose.

One Firehose record carries one reference, serialized as one JSON object terminated by a newline
(see docs/architecture.md). The transform turns it back into an :class:`ObjectReference` and fetches
the object it points at.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

#: The record format version written by :meth:`ObjectReference.to_record`.
REFERENCE_VERSION = 1


class ReferenceFormatError(ValueError):
    """A Firehose record is not a reference this code understands (bad JSON, wrong version, ...)."""


@dataclass(frozen=True, slots=True)
class ObjectReference:
    """A pointer to one version of one object in the Landing bucket.

    ``key`` is the decoded key (the S3 event's URL-encoding undone). ``version_id`` is ``None`` for
    objects in an unversioned bucket. ``size`` is the object size reported by the S3 event.
    """

    bucket: str
    key: str
    version_id: str | None
    size: int
    etag: str
    sequencer: str
    event_time: str

    def to_record(self) -> bytes:
        """Serialize as one newline-terminated UTF-8 JSON object (the Firehose record data)."""
        document = {
            "v": REFERENCE_VERSION,
            "bucket": self.bucket,
            "key": self.key,
            "version_id": self.version_id,
            "size": self.size,
            "etag": self.etag,
            "sequencer": self.sequencer,
            "event_time": self.event_time,
        }
        text = json.dumps(document, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
        return (text + "\n").encode("utf-8")

    @classmethod
    def from_record(cls, data: bytes) -> ObjectReference:
        """Parse the bytes written by :meth:`to_record`; raise ReferenceFormatError otherwise."""
        try:
            document: Any = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ReferenceFormatError(f"record is not UTF-8 JSON: {error}") from error
        if not isinstance(document, dict):
            raise ReferenceFormatError("record is not a JSON object")
        version = document.get("v")
        if version != REFERENCE_VERSION:
            raise ReferenceFormatError(
                f"unknown reference format version {version!r}; this transform reads "
                f"v={REFERENCE_VERSION} (deploy a transform that knows the newer format)"
            )
        return cls(
            bucket=_field(document, "bucket", str),
            key=_field(document, "key", str),
            version_id=_optional_str(document, "version_id"),
            size=_size(document),
            etag=_field(document, "etag", str),
            sequencer=_field(document, "sequencer", str),
            event_time=_field(document, "event_time", str),
        )


def _field[T](document: dict[str, Any], name: str, kind: type[T]) -> T:
    value = document.get(name)
    if not isinstance(value, kind):
        raise ReferenceFormatError(f"field {name!r} must be {kind.__name__}, got {value!r}")
    return value


def _optional_str(document: dict[str, Any], name: str) -> str | None:
    value = document.get(name)
    if value is None or isinstance(value, str):
        return value
    raise ReferenceFormatError(f"field {name!r} must be a string or null, got {value!r}")


def _size(document: dict[str, Any]) -> int:
    value = document.get("size")
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ReferenceFormatError(f"field 'size' must be a non-negative integer, got {value!r}")
    return value
