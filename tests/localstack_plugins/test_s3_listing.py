"""S3 listings page through non-ASCII keys as on AWS: every key once, in S3's order.

A default boto3 client sends ``EncodingType=url`` with every ``ListObjects``, ``ListObjectsV2``
and ``ListObjectVersions`` call (and decodes the answer). LocalStack 2026.3.0 compared the
URL-encoded keys with the raw continuation marker, so a listing that crossed a page boundary
next to a non-ASCII key skipped keys or listed some again (fixed by
:mod:`localstack_plugins.s3_listing`).

The key set: 150 groups of 7 keys. Each group holds every kind of place where the raw (UTF-8
byte) order, which S3 lists in, and the order of the URL-encoded keys disagree: ASCII keys whose
encoding starts with ``%`` (a space, a ``%``), a plain ASCII key, and keys with 2-, 3- and 4-byte
UTF-8 characters after them. Page sizes 1 and 2 cross each of these boundaries 150 times; 1,050
keys (more than 1,000) make page size 1000 cross one too. A few thousand keys would cross the
same boundaries only more often, for minutes of listing at page size 1.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import quote

import pytest

from localstack_plugins.s3_listing import encoded_listing
from tests.localstack_plugins.support import client, unique

SUFFIXES = ("a", "a b", "a%b", "z", "ünï", "€", "🙂")
GROUPS = 150
PAGE_SIZES = (1, 2, 1000)
PUT_THREADS = 8


def mixed_keys() -> list[str]:
    return [f"{group:03d}/{suffix}" for group in range(GROUPS) for suffix in SUFFIXES]


def s3_order(keys: list[str]) -> list[str]:
    """S3 lists keys in the binary order of their UTF-8 bytes."""
    return sorted(keys, key=lambda key: key.encode())


def test_the_key_set_orders_differently_raw_and_encoded() -> None:
    """The premise: without care, encoded and raw comparisons disagree at many boundaries."""
    keys = s3_order(mixed_keys())
    encoded = sorted(keys, key=quote)
    assert len(keys) > max(PAGE_SIZES)
    assert keys != encoded
    assert sum(a != b for a, b in zip(keys, encoded, strict=True)) > GROUPS


def test_an_encoded_listing_encodes_the_fields_aws_encodes() -> None:
    raw = {
        "Prefix": "ü/",
        "Delimiter": "/",
        "StartAfter": "ü a",
        "ContinuationToken": "opaque==",
        "Contents": [{"Key": "ü/a b", "Size": 1}],
        "CommonPrefixes": [{"Prefix": "ü/€/"}],
        "EncodingType": None,
    }
    encoded = encoded_listing(raw, ("Prefix", "Delimiter", "StartAfter"), ("Contents",))
    assert encoded == {
        "Prefix": "%C3%BC/",
        "Delimiter": "/",
        "StartAfter": "%C3%BC%20a",
        "ContinuationToken": "opaque==",
        "Contents": [{"Key": "%C3%BC/a%20b", "Size": 1}],
        "CommonPrefixes": [{"Prefix": "%C3%BC/%E2%82%AC/"}],
        "EncodingType": "url",
    }
    assert raw["Contents"] == [{"Key": "ü/a b", "Size": 1}], "the original answer is not changed"


Page = Callable[[dict[str, Any]], tuple[list[str], dict[str, Any] | None]]


def _follow(list_page: Page, pages: int) -> list[str]:
    """The keys of every page, following the markers; stops after ``pages`` pages (a listing
    whose markers go round would never end) and then ends the list with a sentinel."""
    keys: list[str] = []
    marker: dict[str, Any] | None = {}
    for _ in range(pages):
        page_keys, marker = list_page(marker or {})
        keys.extend(page_keys)
        if marker is None:
            return keys
    return [*keys, f"<still truncated after {pages} pages>"]


def _list_v2(s3: Any, bucket: str, size: int, pages: int) -> list[str]:
    def page(marker: dict[str, Any]) -> tuple[list[str], dict[str, Any] | None]:
        answer = s3.list_objects_v2(Bucket=bucket, MaxKeys=size, **marker)
        keys = [item["Key"] for item in answer.get("Contents", [])]
        if not answer["IsTruncated"]:
            return keys, None
        return keys, {"ContinuationToken": answer["NextContinuationToken"]}

    return _follow(page, pages)


def _list_v1(s3: Any, bucket: str, size: int, pages: int) -> list[str]:
    def page(marker: dict[str, Any]) -> tuple[list[str], dict[str, Any] | None]:
        answer = s3.list_objects(Bucket=bucket, MaxKeys=size, **marker)
        keys = [item["Key"] for item in answer.get("Contents", [])]
        if not answer["IsTruncated"]:
            return keys, None
        return keys, {"Marker": answer.get("NextMarker") or keys[-1]}  # as boto3's paginator

    return _follow(page, pages)


def _list_versions(s3: Any, bucket: str, size: int, pages: int) -> list[str]:
    def page(marker: dict[str, Any]) -> tuple[list[str], dict[str, Any] | None]:
        answer = s3.list_object_versions(Bucket=bucket, MaxKeys=size, **marker)
        keys = [item["Key"] for item in answer.get("Versions", [])]
        if not answer["IsTruncated"]:
            return keys, None
        return keys, {
            "KeyMarker": answer["NextKeyMarker"],
            "VersionIdMarker": answer["NextVersionIdMarker"],
        }

    return _follow(page, pages)


OPERATIONS = {
    "ListObjectsV2": _list_v2,
    "ListObjects": _list_v1,
    "ListObjectVersions": _list_versions,
}


@pytest.fixture(scope="module")
def mixed_bucket(localstack: str) -> tuple[str, list[str]]:
    """A versioned bucket holding :func:`mixed_keys` (one version each)."""
    s3 = client("s3", localstack)
    bucket = unique("listing")
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-2"})
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    keys = mixed_keys()
    with ThreadPoolExecutor(PUT_THREADS) as pool:
        list(pool.map(lambda key: s3.put_object(Bucket=bucket, Key=key, Body=b""), keys))
    return bucket, keys


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
def test_a_default_client_lists_every_non_ascii_key_once_in_s3_order(
    localstack: str, mixed_bucket: tuple[str, list[str]], operation: str
) -> None:
    bucket, keys = mixed_bucket
    s3 = client("s3", localstack)
    expected = s3_order(keys)
    list_all = OPERATIONS[operation]
    with ThreadPoolExecutor(len(PAGE_SIZES)) as pool:
        listed = dict(
            zip(
                PAGE_SIZES,
                pool.map(
                    lambda size: list_all(s3, bucket, size, len(keys) // size + 2), PAGE_SIZES
                ),
                strict=True,
            )
        )
    failures = [
        f"{size} per page: {len(listed[size])} listed for {len(expected)}, "
        f"{len(set(expected) - set(listed[size]))} missing, "
        f"{len(listed[size]) - len(set(listed[size]))} repeated"
        for size in PAGE_SIZES
        if listed[size] != expected
    ]
    assert not failures, f"{operation}: " + "; ".join(failures)
