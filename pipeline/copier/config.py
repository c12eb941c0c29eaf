"""Copier configuration, read from the environment once and validated."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from pipeline import errors
from pipeline.contract import environment as variables
from pipeline.contract.limits import COPY_OBJECT_LIMIT, COPY_PART_SIZE
from pipeline.contract.prefixes import BUNDLE_ROOT

__all__ = ["COPY_OBJECT_LIMIT", "COPY_PART_SIZE", "ConfigError", "CopierConfig"]


class ConfigError(errors.ConfigError):
    """The function's environment is missing or has an invalid setting."""


@dataclass(frozen=True, slots=True)
class CopierConfig:
    distribution_bucket: str
    #: the copier is notified for bundles under this prefix (the stack's event filter)
    bundle_prefix: str = BUNDLE_ROOT
    multipart_threshold: int = COPY_OBJECT_LIMIT
    part_size: int = COPY_PART_SIZE

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> CopierConfig:
        try:
            bucket = variables.required(
                env, variables.DISTRIBUTION_BUCKET, "the Distribution bucket name"
            )
        except variables.EnvironmentValueError as error:
            raise ConfigError(str(error)) from None
        return cls(distribution_bucket=bucket)
