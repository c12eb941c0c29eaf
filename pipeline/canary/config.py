"""The canary's cold-start configuration, read from its Lambda environment once and validated."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from pipeline import errors
from pipeline.contract import environment as variables
from pipeline.contract.limits import Range

#: ``[canary] interval_minutes`` when the canary is on (0 = off: no function is deployed). At
#: least a minute (the finest EventBridge rate); at most an hour: a canary rarer than that finds a
#: broken pipeline later than the backlog alarms do. The default is prod's (docs/configuration.md).
INTERVAL_MINUTES = Range(1, 60, 5)


class ConfigError(errors.ConfigError):
    """The function's environment is missing or has an invalid setting."""


@dataclass(frozen=True, slots=True)
class CanaryConfig:
    #: where the canary file is put (under ``_canary/``)
    landing_bucket: str
    #: minutes between scheduled puts (written into each canary file for its receiver)
    interval_minutes: int = INTERVAL_MINUTES.default

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> CanaryConfig:
        try:
            bucket = variables.required(env, variables.LANDING_BUCKET, "the Landing bucket name")
            interval = variables.integer(env, variables.CANARY_INTERVAL_MINUTES, INTERVAL_MINUTES)
        except variables.EnvironmentValueError as error:
            raise ConfigError(str(error)) from None
        return cls(landing_bucket=bucket, interval_minutes=interval)
