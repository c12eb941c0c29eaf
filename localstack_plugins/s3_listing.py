"""S3 listings with ``EncodingType=url`` page through any key, as on AWS.

Every default boto3 client (and the AWS CLI) sends ``EncodingType=url`` with ``ListObjects``,
``ListObjectsV2`` and ``ListObjectVersions`` and decodes the keys of the answer. LocalStack
2026.3.0 then compares the *URL-encoded* keys with the continuation token, ``StartAfter`` or key
marker, which the client sends *raw*. The two orders disagree wherever a key holds a character
that is encoded (``"z" < "ü"``, but ``"z" > "%C3%BC"``), so a listing that crosses a page
boundary next to such a key skips keys or lists some again: 9 keys (``a/…``, ``ünï/…``, ``z/…``)
listed 2 per page returned 6; 2,000 keys listed with ``ListObjectVersions`` lost 558.

S3 lists keys in the binary order of their UTF-8 bytes and compares markers with raw keys; with
``EncodingType=url`` it only encodes certain fields of the *answer* (S3 API reference: "Delimiter,
Prefix, Key, and StartAfter" for ``ListObjectsV2``; "Delimiter, Marker, Prefix, NextMarker, and
Key" for ``ListObjects``; "KeyMarker, NextKeyMarker, Prefix, Key, and Delimiter" for
``ListObjectVersions``; and the common prefixes). :func:`install` makes LocalStack do the same:
the listing runs without encoding, so every comparison is on raw keys, and those fields of the
answer are encoded afterwards with the encoding LocalStack itself uses (``urllib.parse.quote``).

Its ``ListObjectsV2`` continuation token also failed (``InternalError``) whenever the next key was
not ASCII: the token is the key in base64, and it was decoded as ASCII;
:func:`decode_continuation_token` decodes it as UTF-8, the encoding it was made with.
Applied at launch through :mod:`localstack_plugins.patches`.
"""

from __future__ import annotations

import base64
import functools
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

URL = "url"

#: per operation (provider method): the top-level fields and the lists whose ``Key`` is encoded
ENCODED_FIELDS: Mapping[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "list_objects": (("Prefix", "Delimiter", "Marker", "NextMarker"), ("Contents",)),
    "list_objects_v2": (("Prefix", "Delimiter", "StartAfter"), ("Contents",)),
    "list_object_versions": (
        ("Prefix", "Delimiter", "KeyMarker", "NextKeyMarker"),
        ("Versions", "DeleteMarkers"),
    ),
}


def encoded_listing(
    answer: Mapping[str, Any], fields: tuple[str, ...], lists: tuple[str, ...]
) -> dict[str, Any]:
    """A copy of the raw listing ``answer`` with ``EncodingType=url`` applied to its fields."""
    encoded = dict(answer)
    for name in fields:
        if encoded.get(name):
            encoded[name] = quote(str(encoded[name]))
    for name in lists:
        if name in encoded:
            encoded[name] = [{**item, "Key": quote(str(item["Key"]))} for item in encoded[name]]
    if "CommonPrefixes" in encoded:
        encoded["CommonPrefixes"] = [
            {**item, "Prefix": quote(str(item["Prefix"]))} for item in encoded["CommonPrefixes"]
        ]
    encoded["EncodingType"] = URL
    return encoded


def decode_continuation_token(value: str | None) -> str:
    """The key a ``ListObjectsV2`` continuation token stands for (LocalStack's token: the key's
    UTF-8 bytes in base64 with ``._`` for ``+/``)."""
    if value is None:
        return ""
    return base64.b64decode(value, altchars=b"._").decode("utf-8")


def _raw_then_encoded(
    original: Callable[..., Any], fields: tuple[str, ...], lists: tuple[str, ...]
) -> Callable[..., Any]:
    @functools.wraps(original)
    def listing(self: Any, context: Any, bucket: str, *args: Any, **kwargs: Any) -> Any:
        if args or kwargs.get("encoding_type") != URL:
            return original(self, context, bucket, *args, **kwargs)  # validates other values
        answer = original(self, context, bucket, **{**kwargs, "encoding_type": None})
        return type(answer)(encoded_listing(answer, fields, lists))

    return listing


def install() -> None:
    from localstack.services.s3 import provider
    from localstack.services.s3.provider import S3Provider

    setattr(provider, "decode_continuation_token", decode_continuation_token)  # noqa: B010
    for method, (fields, lists) in ENCODED_FIELDS.items():
        setattr(S3Provider, method, _raw_then_encoded(getattr(S3Provider, method), fields, lists))
