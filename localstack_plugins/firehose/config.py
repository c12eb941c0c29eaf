"""The S3-destination settings of one delivery stream, read from its description."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

MB = 1024 * 1024
DEFAULT_SIZE_MB = 5
DEFAULT_INTERVAL_SECONDS = 300
PROCESSOR_DEFAULT_SIZE_MB = 1.0
PROCESSOR_MAX_SIZE_MB = 3.0
PROCESSOR_DEFAULT_INTERVAL_SECONDS = 60
PROCESSOR_DEFAULT_RETRIES = 3


@dataclass(frozen=True)
class ProcessorConfig:
    lambda_arn: str
    size_bytes: int
    interval_seconds: float
    retries: int


@dataclass(frozen=True)
class StreamConfig:
    name: str
    arn: str
    version: str
    bucket: str
    prefix: str
    error_prefix: str
    compression: str
    file_extension: str
    role_arn: str
    size_bytes: int
    interval_seconds: float
    processor: ProcessorConfig | None


def _processor(description: Mapping[str, Any]) -> ProcessorConfig | None:
    processing = description.get("ProcessingConfiguration") or {}
    if processing.get("Enabled") is False:
        return None
    for processor in processing.get("Processors") or []:
        if processor.get("Type") != "Lambda":
            continue
        params = {
            p["ParameterName"]: p["ParameterValue"] for p in processor.get("Parameters") or []
        }
        size_mb = min(
            float(params.get("BufferSizeInMBs", PROCESSOR_DEFAULT_SIZE_MB)), PROCESSOR_MAX_SIZE_MB
        )
        return ProcessorConfig(
            lambda_arn=str(params["LambdaArn"]),
            size_bytes=int(size_mb * MB),
            interval_seconds=float(
                params.get("BufferIntervalInSeconds", PROCESSOR_DEFAULT_INTERVAL_SECONDS)
            ),
            retries=int(params.get("NumberOfRetries", PROCESSOR_DEFAULT_RETRIES)),
        )
    return None


def s3_destination(destination: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The (Extended)S3 part of one destination description, if it has one."""
    found = destination.get("ExtendedS3DestinationDescription") or destination.get(
        "S3DestinationDescription"
    )
    return found if isinstance(found, Mapping) else None


def stream_config(stream: Mapping[str, Any]) -> StreamConfig | None:
    """Settings of a stream with an S3 destination, else None (left to LocalStack)."""
    for destination in stream.get("Destinations") or []:
        s3 = s3_destination(destination)
        if s3 is None:
            continue
        hints = s3.get("BufferingHints") or {}
        return StreamConfig(
            name=str(stream["DeliveryStreamName"]),
            arn=str(stream["DeliveryStreamARN"]),
            version=str(stream.get("VersionId") or "1"),
            bucket=str(s3["BucketARN"]).rsplit(":", 1)[-1],
            prefix=str(s3.get("Prefix") or ""),
            error_prefix=str(s3.get("ErrorOutputPrefix") or ""),
            compression=str(s3.get("CompressionFormat") or "UNCOMPRESSED"),
            file_extension=str(s3.get("FileExtension") or ""),
            role_arn=str(s3.get("RoleARN") or ""),
            size_bytes=int(hints.get("SizeInMBs", DEFAULT_SIZE_MB)) * MB,
            interval_seconds=float(hints.get("IntervalInSeconds", DEFAULT_INTERVAL_SECONDS)),
            processor=_processor(s3),
        )
    return None
