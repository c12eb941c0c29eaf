"""Ingest configuration, read from the environment once and validated."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from pipeline import errors
from pipeline.contract import environment as variables


class ConfigError(errors.ConfigError):
    """The function's environment is missing or has an invalid setting."""


@dataclass(frozen=True, slots=True)
class IngestConfig:
    #: the delivery streams in routing order (pipeline.routing picks one per bucket and key)
    delivery_stream_names: tuple[str, ...]
    #: seconds kept back from the invocation's remaining time (to raise cleanly)
    safety_margin_seconds: float = 2.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> IngestConfig:
        try:
            streams = variables.stream_names(env)
        except variables.EnvironmentValueError as error:
            raise ConfigError(str(error)) from None
        return cls(delivery_stream_names=streams)
