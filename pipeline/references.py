"""The object reference: the typed record that travels from Landing through Firehose.

One Firehose record carries one reference, serialized as one JSON object terminated by a newline
(see docs/architecture.md). The transform turns it back into an :class:`ObjectReference` and fetches
the object it points at.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

#: The record format version written by :meth:`ObjectReference.to_record`. Version 2 adds
#: ``attempt`` (how many times the transform put the reference back) and ``first_seen`` (when
#: ingest first put it, ISO-8601 UTC); version 1 records are still read (attempt 0, first seen at
#: the S3 event time).
REFERENCE_VERSION = 2
#: Every version :meth:`ObjectReference.from_record` reads.
READABLE_VERSIONS = frozenset({1, 2})


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
    #: deferrals so far: 0 as ingested, +1 each time the transform puts it back into the stream
    attempt: int = 0
    #: when ingest first put the reference (ISO-8601 UTC); a re-put keeps it. Empty: unknown
    #: (a v1 record), in which case :attr:`first_seen_or_event` falls back to the event time.
    first_seen: str = ""

    @property
    def first_seen_or_event(self) -> str:
        return self.first_seen or self.event_time

    def deferred(self) -> ObjectReference:
        """The reference as the transform puts it back: one more attempt, first-seen kept."""
        return replace(self, attempt=self.attempt + 1, first_seen=self.first_seen_or_event)

    def restarted(self, now: str) -> ObjectReference:
        """The reference as an operator's redrive puts it back: a fresh budget of attempts."""
        return replace(self, attempt=0, first_seen=now)

    def identity(self) -> bytes:
        """The object version this points at, without the delivery bookkeeping (attempt, first
        seen): equal for every re-put of the same reference (names direct bundles, dedups)."""
        return replace(self, attempt=0, first_seen="").to_record()

    def to_record(self) -> bytes:
        """Serialize as one newline-terminated UTF-8 JSON object (the Firehose record data)."""
        document = {
            "v": REFERENCE_VERSION,
            "attempt": self.attempt,
            "first_seen": self.first_seen,
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
        if isinstance(version, bool) or version not in READABLE_VERSIONS:
            raise ReferenceFormatError(
                f"unknown reference format version {version!r}; this transform reads "
                f"v={sorted(READABLE_VERSIONS)} (deploy a transform that knows the newer format)"
            )
        return cls(
            bucket=_field(document, "bucket", str),
            key=_field(document, "key", str),
            version_id=_optional_str(document, "version_id"),
            size=_size(document),
            etag=_field(document, "etag", str),
            sequencer=_field(document, "sequencer", str),
            event_time=_field(document, "event_time", str),
            attempt=_attempt(document) if version >= 2 else 0,
            first_seen=_field(document, "first_seen", str) if version >= 2 else "",
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


def _attempt(document: dict[str, Any]) -> int:
    value = document.get("attempt")
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ReferenceFormatError(f"field 'attempt' must be a non-negative integer, got {value!r}")
    return value


def iso_now(now: datetime | None = None) -> str:
    """``now`` (default: the current time) as the references' ISO-8601 UTC text."""
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def age_seconds(iso_time: str, now: datetime) -> float | None:
    """Seconds from ``iso_time`` (an S3 event time or a first-seen time) to ``now``; None when
    the text is not a time (an untrusted field: never fatal, the caller reports it)."""
    try:
        moment = datetime.fromisoformat(iso_time)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (now - moment).total_seconds()
