"""Per-environment configuration: `templates/environments/<env>.toml`, validated once.

Every value is checked before any AWS call; a bad value raises :class:`ConfigError` naming the key,
the value and what is allowed. The result is a tree of frozen dataclasses the troposphere code
reads. See docs/configuration.md for the meaning of every key.

The modules, by concern: :mod:`~templates.config.schema` (the dataclasses, allowed values and
:class:`ConfigError`), :mod:`~templates.config.reader` (TOML tables that collect every problem),
:mod:`~templates.config.sections` and :mod:`~templates.config.access` (one reader per section),
:mod:`~templates.config.deployable` (what is refused outside ``local``) and
:mod:`~templates.config.load` (the entry points). The prefix and limit checks are the contract's
(:mod:`pipeline.contract.prefixes`, :mod:`pipeline.contract.limits`): the functions run the same
checks at cold start.
"""

from __future__ import annotations

from templates.config.deployable import deployable_problems
from templates.config.load import available_environments, config_error, load_config, parse_config
from templates.config.reader import did_you_mean
from templates.config.schema import (
    ARCHITECTURES,
    BUNDLE_ROOT,
    ENVIRONMENTS_DIR,
    ERROR_ROOT,
    FUNCTION_NAMES,
    HOST_ARCHITECTURE,
    LOCAL_ENV_NAME,
    MAX_STREAMS,
    S3_INTERFACE_ENDPOINT_URL,
    Access,
    Alarms,
    Architecture,
    Canary,
    Capacity,
    ConfigError,
    ConsumerPath,
    EnvironmentConfig,
    FirehoseBuffering,
    Functions,
    FunctionSettings,
    Network,
    Prefixes,
    PrivateLink,
    ProcessorBuffering,
    Retention,
    TransformSettings,
    host_architecture,
)

__all__ = [
    "ARCHITECTURES",
    "BUNDLE_ROOT",
    "ENVIRONMENTS_DIR",
    "ERROR_ROOT",
    "FUNCTION_NAMES",
    "HOST_ARCHITECTURE",
    "LOCAL_ENV_NAME",
    "MAX_STREAMS",
    "S3_INTERFACE_ENDPOINT_URL",
    "Access",
    "Alarms",
    "Architecture",
    "Canary",
    "Capacity",
    "ConfigError",
    "ConsumerPath",
    "EnvironmentConfig",
    "FirehoseBuffering",
    "FunctionSettings",
    "Functions",
    "Network",
    "Prefixes",
    "PrivateLink",
    "ProcessorBuffering",
    "Retention",
    "TransformSettings",
    "available_environments",
    "config_error",
    "deployable_problems",
    "did_you_mean",
    "host_architecture",
    "load_config",
    "parse_config",
]
