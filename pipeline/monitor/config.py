"""The monitor's cold-start configuration, read from its Lambda environment (one setting)."""

from __future__ import annotations

from collections.abc import Mapping

from pipeline import errors
from pipeline.contract import environment as variables


class ConfigError(errors.ConfigError):
    """The function's environment is missing a setting."""


def bucket_from_env(env: Mapping[str, str]) -> str:
    """The monitor's configuration: the Distribution bucket it measures."""
    try:
        return variables.required(
            env, variables.DISTRIBUTION_BUCKET, "the Distribution bucket name"
        )
    except variables.EnvironmentValueError as error:
        raise ConfigError(str(error)) from None
