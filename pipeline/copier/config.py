"""Copier configuration, read from the environment once and validated."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

#: CopyObject copies at most 5 GB in one call; larger objects need a multipart copy.
COPY_OBJECT_LIMIT = 5 * 1024**3
#: Part size of multipart copies (S3 allows 5 MiB .. 5 GiB, at most 10,000 parts).
COPY_PART_SIZE = 512 * 1024**2


class ConfigError(RuntimeError):
    """The function's environment is missing or has an invalid setting."""


@dataclass(frozen=True, slots=True)
class CopierConfig:
    distribution_bucket: str
    bundle_prefix: str = "bundles/"
    multipart_threshold: int = COPY_OBJECT_LIMIT
    part_size: int = COPY_PART_SIZE

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> CopierConfig:
        bucket = env.get("DISTRIBUTION_BUCKET", "").strip()
        if not bucket:
            raise ConfigError(
                "DISTRIBUTION_BUCKET is not set: the template sets it to the Distribution bucket"
            )
        return cls(distribution_bucket=bucket, bundle_prefix=env.get("BUNDLE_PREFIX", "bundles/"))
