"""Ingest configuration, read from the environment once and validated."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass


class ConfigError(RuntimeError):
    """The function's environment is missing or has an invalid setting."""


@dataclass(frozen=True, slots=True)
class IngestConfig:
    delivery_stream_name: str
    #: seconds kept back from the invocation's remaining time (to raise cleanly)
    safety_margin_seconds: float = 2.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> IngestConfig:
        stream = env.get("DELIVERY_STREAM_NAME", "").strip()
        if not stream:
            raise ConfigError(
                "DELIVERY_STREAM_NAME is not set: the template sets it to the Firehose stream name"
            )
        return cls(delivery_stream_name=stream)
