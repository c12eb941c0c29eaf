"""Hash a bundle (streaming), record ``content-sha256`` on it, and stage it in Distribution.

Steps for one bundle version:

1. ``HeadObject``: if the Archive object already carries ``content-sha256`` (a previous run, or
   the metadata rewrite of a bundle over 5 GB whose multipart self-copy re-notified us), reuse it.
2. Otherwise stream ``GetObject`` through SHA-256 (:func:`pipeline.hashing.verify_body`: a reader
   thread a few chunks ahead of the hash, so network and hashing overlap; bounded memory) and
   rewrite the Archive object's metadata by copying it onto itself (``MetadataDirective=REPLACE``,
   content type and other headers preserved). That emits ``ObjectCreated:Copy``, which is not
   subscribed.
3. :func:`copy_to_distribution`: copy it to Distribution under the same key with the metadata and
   ``ChecksumAlgorithm=SHA256`` (a multipart ``UploadPartCopy`` above the threshold, 5 GB by
   default); a full-object checksum S3 reports for the copy must equal the recorded hash.

Every step is idempotent, so re-running on the same bundle is harmless. ``aggregator replay``
stages through :func:`copy_to_distribution` too (after verifying the Archive bundle's content), so
a replayed bundle is the very object the copier would have staged.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from pipeline.copier.config import COPY_OBJECT_LIMIT, COPY_PART_SIZE
from pipeline.errors import TransientError
from pipeline.hashing import SHA256_METADATA, is_sha256, recorded_sha256, verify_body

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef

#: headers that a REPLACE copy would otherwise drop
_PRESERVED_HEADERS = {
    "ContentType": "ContentType",
    "ContentEncoding": "ContentEncoding",
    "ContentDisposition": "ContentDisposition",
    "ContentLanguage": "ContentLanguage",
    "CacheControl": "CacheControl",
}


class StagingError(TransientError, RuntimeError):
    """A bundle was not staged (a short read, a copy whose checksum differs): stage it again."""


@dataclass(frozen=True, slots=True)
class CopyPlan:
    """How to copy: objects above ``multipart_threshold`` bytes go in ``part_size`` parts."""

    multipart_threshold: int = COPY_OBJECT_LIMIT
    part_size: int = COPY_PART_SIZE

    def multipart(self, size: int) -> bool:
        return size > self.multipart_threshold


@dataclass(frozen=True, slots=True)
class ArchiveBundle:
    """One version of one Archive bundle, as ``HeadObject`` describes it: what staging copies."""

    bucket: str
    key: str
    version_id: str | None
    size: int
    metadata: Mapping[str, str]
    headers: Mapping[str, Any]  # the _PRESERVED_HEADERS it carries
    etag: str | None = None

    @classmethod
    def from_head(cls, bucket: str, key: str, head: Mapping[str, Any]) -> ArchiveBundle:
        return cls(
            bucket=bucket,
            key=key,
            version_id=head.get("VersionId"),
            size=int(head["ContentLength"]),
            metadata=dict(head.get("Metadata", {})),
            headers={
                arg: head[field] for field, arg in _PRESERVED_HEADERS.items() if head.get(field)
            },
            etag=head.get("ETag"),
        )

    @property
    def sha256(self) -> str | None:
        """The recorded ``content-sha256`` if it is a well-formed hash, else None."""
        recorded = recorded_sha256(self.metadata)
        return recorded if is_sha256(recorded) else None

    def source(self) -> dict[str, str]:
        """``CopySource`` of this version."""
        source = {"Bucket": self.bucket, "Key": self.key}
        if self.version_id:
            source["VersionId"] = self.version_id
        return source


@dataclass(frozen=True, slots=True)
class StagedBundle:
    key: str
    size: int
    sha256: str
    hashed: bool  # False when an existing content-sha256 was reused
    multipart: bool


def head_bundle(s3: S3Client, bucket: str, key: str, version_id: str | None) -> ArchiveBundle:
    version: dict[str, str] = {"VersionId": version_id} if version_id else {}
    head = s3.head_object(Bucket=bucket, Key=key, **version)  # type: ignore[arg-type]
    bundle = ArchiveBundle.from_head(bucket, key, head)
    return bundle if bundle.version_id == version_id else replace(bundle, version_id=version_id)


def stage_bundle(
    s3: S3Client,
    *,
    bucket: str,
    key: str,
    version_id: str | None,
    distribution_bucket: str,
    multipart_threshold: int,
    part_size: int,
) -> StagedBundle:
    """Hash (or reuse the hash of) one Archive bundle and stage it in Distribution."""
    plan = CopyPlan(multipart_threshold, part_size)
    bundle = head_bundle(s3, bucket, key, version_id)
    digest = bundle.sha256
    hashed = digest is None
    if digest is None:
        digest = hash_bundle(s3, bundle)
        bundle = record_sha256(s3, bundle, digest, plan)
    copy_to_distribution(s3, bundle, distribution_bucket, plan)
    return StagedBundle(key, bundle.size, digest, hashed, plan.multipart(bundle.size))


def hash_bundle(s3: S3Client, bundle: ArchiveBundle) -> str:
    """The SHA-256 (hex) of the bundle's content, streamed; StagingError on a short read."""
    version: dict[str, str] = {"VersionId": bundle.version_id} if bundle.version_id else {}
    response = s3.get_object(Bucket=bundle.bucket, Key=bundle.key, **version)  # type: ignore[arg-type]
    found = verify_body(response)
    if found.size != bundle.size:
        raise StagingError(
            f"s3://{bundle.bucket}/{bundle.key}: read {found.size} bytes, HeadObject said "
            f"{bundle.size}; retry"
        )
    return found.sha256


def record_sha256(
    s3: S3Client, bundle: ArchiveBundle, digest: str, plan: CopyPlan
) -> ArchiveBundle:
    """Write ``content-sha256`` onto the Archive object (a self-copy); returns the new version."""
    metadata = {**bundle.metadata, SHA256_METADATA: digest}
    new_version, _ = _copy(
        s3, source=bundle.source(), bucket=bundle.bucket, key=bundle.key, bundle=bundle,
        metadata=metadata, checksum=False, plan=plan,
    )  # fmt: skip
    return replace(bundle, version_id=new_version, metadata=metadata, etag=None)


def copy_to_distribution(
    s3: S3Client,
    bundle: ArchiveBundle,
    distribution_bucket: str,
    plan: CopyPlan,
    *,
    pin_etag: bool = False,
) -> bool:
    """Copy a hashed Archive bundle to the same key in Distribution; True if multipart.

    The copy carries the bundle's metadata and headers and asks S3 for a SHA-256; when S3 reports
    a full-object checksum (a single ``CopyObject``) that differs from ``content-sha256``, the
    copy is deleted and :class:`StagingError` raised. ``pin_etag`` makes the copy conditional on
    the source still having ``bundle.etag`` (replay, which verified exactly that object).
    """
    digest = bundle.sha256
    if digest is None:
        raise ValueError(
            f"s3://{bundle.bucket}/{bundle.key} has no {SHA256_METADATA}: hash it first"
        )
    _, checksum = _copy(
        s3, source=bundle.source(), bucket=distribution_bucket, key=bundle.key, bundle=bundle,
        metadata=dict(bundle.metadata), checksum=True, plan=plan,
        if_match=bundle.etag if pin_etag else None,
    )  # fmt: skip
    expected = base64.b64encode(bytes.fromhex(digest)).decode("ascii")
    if checksum and checksum != expected:
        s3.delete_object(Bucket=distribution_bucket, Key=bundle.key)
        raise StagingError(
            f"s3://{distribution_bucket}/{bundle.key}: S3's SHA-256 of the copy {checksum} is not "
            f"the recorded {expected}; the copy was deleted, stage the bundle again"
        )
    return plan.multipart(bundle.size)


def _copy(
    s3: S3Client,
    *,
    source: dict[str, str],
    bucket: str,
    key: str,
    bundle: ArchiveBundle,
    metadata: dict[str, str],
    checksum: bool,
    plan: CopyPlan,
    if_match: str | None = None,
) -> tuple[str | None, str | None]:
    """Server-side copy with new metadata: the new object's version id (if versioned) and the
    full-object SHA-256 S3 reports for a single ``CopyObject`` (None for a multipart copy)."""
    extra: dict[str, Any] = {**bundle.headers, "Metadata": metadata}
    if checksum:
        extra["ChecksumAlgorithm"] = "SHA256"
    condition: dict[str, Any] = {"CopySourceIfMatch": if_match} if if_match else {}
    if not plan.multipart(bundle.size):
        copied = s3.copy_object(
            Bucket=bucket,
            Key=key,
            CopySource=source,  # type: ignore[arg-type]
            MetadataDirective="REPLACE",
            **condition,
            **extra,
        )
        return copied.get("VersionId"), copied.get("CopyObjectResult", {}).get("ChecksumSHA256")
    upload = s3.create_multipart_upload(Bucket=bucket, Key=key, **extra)
    upload_id = upload["UploadId"]
    try:
        parts: list[CompletedPartTypeDef] = []
        for number, start in enumerate(range(0, bundle.size, plan.part_size), start=1):
            end = min(start + plan.part_size, bundle.size) - 1
            result = s3.upload_part_copy(
                Bucket=bucket,
                Key=key,
                UploadId=upload_id,
                PartNumber=number,
                CopySource=source,  # type: ignore[arg-type]
                CopySourceRange=f"bytes={start}-{end}",
                **condition,
            )["CopyPartResult"]
            part: CompletedPartTypeDef = {"ETag": result["ETag"], "PartNumber": number}
            if checksum and "ChecksumSHA256" in result:
                part["ChecksumSHA256"] = result["ChecksumSHA256"]
            parts.append(part)
        completed = s3.complete_multipart_upload(
            Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
        )
    except BaseException:
        s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
        raise
    return completed.get("VersionId"), None
