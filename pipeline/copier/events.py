"""Pure selection of the S3 event records the copier acts on."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pipeline.s3events import decode_key

#: Events that announce a new bundle. ``ObjectCreated:Copy`` (the copier's own metadata rewrite)
#: is deliberately absent: the notification configuration does not subscribe to it either.
BUNDLE_EVENTS = frozenset({"ObjectCreated:Put", "ObjectCreated:CompleteMultipartUpload"})
#: An empty object is never a bundle (a gzip stream is at least 20 bytes): staging it would only
#: hand the consumer something to reject. The transform defers a file whose direct bundle was
#: committed short, so its next attempt writes a whole one.
EMPTY_OBJECT = "an empty object is not a bundle"


@dataclass(frozen=True, slots=True)
class BundleObject:
    bucket: str
    key: str
    version_id: str | None
    size: int


@dataclass(frozen=True, slots=True)
class Skipped:
    key: str
    event_name: str
    reason: str


def select_bundles(
    event: dict[str, Any], bundle_prefix: str
) -> tuple[list[BundleObject], list[Skipped]]:
    """The new bundles announced by ``event``; everything else with the reason it is skipped."""
    # imported here, not at module import: powertools' data_classes package loads every event
    # class it has, which would add to each cold start of the function
    from aws_lambda_powertools.utilities.data_classes import S3Event

    if event.get("Event") == "s3:TestEvent":
        return [], [Skipped("", "s3:TestEvent", "S3 configuration test event")]
    bundles: list[BundleObject] = []
    skipped: list[Skipped] = []
    for record in S3Event(event).records:
        name = str(record.get("eventName", ""))
        key = decode_key(record.s3.get_object.key)
        if name not in BUNDLE_EVENTS:
            skipped.append(Skipped(key, name, "not a new-bundle event (own copies are ignored)"))
        elif not key.startswith(bundle_prefix):
            skipped.append(Skipped(key, name, f"outside the bundle prefix {bundle_prefix!r}"))
        elif not key.endswith(".gz"):
            skipped.append(Skipped(key, name, "not a .gz bundle"))
        elif record.s3.get_object.get("size") == 0:
            skipped.append(Skipped(key, name, EMPTY_OBJECT))
        else:
            bundles.append(
                BundleObject(
                    bucket=record.s3.bucket.name,
                    key=key,
                    version_id=record.s3.get_object.version_id,
                    size=int(record.s3.get_object.get("size") or 0),
                )
            )
    return bundles, skipped
