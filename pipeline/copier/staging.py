"""Hash a bundle (streaming), record ``content-sha256`` on it, and stage it in Distribution.

Steps for one bundle version:

1. ``HeadObject``: if the Archive object already carries ``content-sha256`` (a previous run, or
   the metadata rewrite of a bundle over 5 GB whose multipart self-copy re-notified us), reuse it.
2. Otherwise stream ``GetObject`` through SHA-256 (a reader thread a few chunks ahead of the
   hash, so network and hashing overlap; bounded memory) and rewrite the
   Archive object's metadata by copying it onto itself (``MetadataDirective=REPLACE``, content
   type and other headers preserved). That emits ``ObjectCreated:Copy``, which is not subscribed.
3. Copy it to Distribution under the same key with the metadata and ``ChecksumAlgorithm=SHA256``
   (a multipart ``UploadPartCopy`` above the threshold, 5 GB by default).

Every step is idempotent, so re-running on the same bundle is harmless.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pipeline.hashing import HASH_CHUNK_SIZE, SHA256_METADATA, sha256_read_ahead

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


@dataclass(frozen=True, slots=True)
class StagedBundle:
    key: str
    size: int
    sha256: str
    hashed: bool  # False when an existing content-sha256 was reused
    multipart: bool


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
    version: dict[str, str] = {"VersionId": version_id} if version_id else {}
    head = s3.head_object(Bucket=bucket, Key=key, **version)  # type: ignore[arg-type]
    size = int(head["ContentLength"])
    metadata = dict(head.get("Metadata", {}))
    headers = {arg: head[field] for field, arg in _PRESERVED_HEADERS.items() if head.get(field)}  # type: ignore[literal-required]
    digest = metadata.get(SHA256_METADATA)
    hashed = digest is None or not _is_sha256(digest)
    source_version = version_id
    if hashed:
        body = s3.get_object(Bucket=bucket, Key=key, **version)["Body"]  # type: ignore[arg-type]
        try:
            digest, streamed = sha256_read_ahead(body.iter_chunks(HASH_CHUNK_SIZE))
        finally:
            body.close()
        if streamed != size:
            raise RuntimeError(
                f"s3://{bucket}/{key}: read {streamed} bytes, HeadObject said {size}; retry"
            )
        metadata[SHA256_METADATA] = digest
        source_version = _copy(
            s3,
            source={"Bucket": bucket, "Key": key, **version},
            bucket=bucket,
            key=key,
            size=size,
            metadata=metadata,
            headers=headers,
            checksum=False,
            multipart_threshold=multipart_threshold,
            part_size=part_size,
        )
    assert digest is not None
    source: dict[str, str] = {"Bucket": bucket, "Key": key}
    if source_version:
        source["VersionId"] = source_version
    _copy(
        s3,
        source=source,
        bucket=distribution_bucket,
        key=key,
        size=size,
        metadata=metadata,
        headers=headers,
        checksum=True,
        multipart_threshold=multipart_threshold,
        part_size=part_size,
    )
    return StagedBundle(key, size, digest, hashed, size > multipart_threshold)


def _is_sha256(value: str) -> bool:
    return len(value) == 64 and all(c in "0123456789abcdef" for c in value)


def _copy(
    s3: S3Client,
    *,
    source: dict[str, str],
    bucket: str,
    key: str,
    size: int,
    metadata: dict[str, str],
    headers: dict[str, Any],
    checksum: bool,
    multipart_threshold: int,
    part_size: int,
) -> str | None:
    """Server-side copy with new metadata; returns the new object's version id (if versioned)."""
    extra: dict[str, Any] = {**headers, "Metadata": metadata}
    if checksum:
        extra["ChecksumAlgorithm"] = "SHA256"
    if size <= multipart_threshold:
        copied = s3.copy_object(
            Bucket=bucket,
            Key=key,
            CopySource=source,  # type: ignore[arg-type]
            MetadataDirective="REPLACE",
            **extra,
        )
        return copied.get("VersionId")
    upload = s3.create_multipart_upload(Bucket=bucket, Key=key, **extra)
    upload_id = upload["UploadId"]
    try:
        parts: list[CompletedPartTypeDef] = []
        for number, start in enumerate(range(0, size, part_size), start=1):
            end = min(start + part_size, size) - 1
            result = s3.upload_part_copy(
                Bucket=bucket,
                Key=key,
                UploadId=upload_id,
                PartNumber=number,
                CopySource=source,  # type: ignore[arg-type]
                CopySourceRange=f"bytes={start}-{end}",
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
    return completed.get("VersionId")
