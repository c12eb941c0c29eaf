"""Transform configuration, read from the environment once and validated.

The variable names and parsers are :mod:`pipeline.contract.environment`'s, the limits and their
checks :mod:`pipeline.contract.limits`'s and the prefix rules :mod:`pipeline.contract.prefixes`'s:
the template validation (deploy time) calls the same checks, so what deploys is what runs.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from pipeline import errors
from pipeline.aws import CALL_ALLOWANCE_SECONDS, DEADLINE_CONNECT_TIMEOUT, DEADLINE_READ_TIMEOUT
from pipeline.contract import environment as variables
from pipeline.contract import limits
from pipeline.contract.prefixes import (
    BUNDLE_ROOT,
    DEFAULT_TIME_PREFIX,
    PrefixError,
    validate_bundle_prefix,
)

RESPONSE_LIMIT_BYTES = limits.RESPONSE_LIMIT_BYTES
DEFAULT_INLINE_MAX_BYTES = limits.INLINE_MAX_BYTES.default
DEFAULT_FETCH_CONCURRENCY = limits.FETCH_CONCURRENCY.default
#: An inline GET receiving no byte for this long is cancelled and retried
DEFAULT_FETCH_STALL_SECONDS = limits.FETCH_STALL_SECONDS.default
DEFAULT_DIRECT_BUNDLE_MAX_BYTES = limits.DIRECT_BUNDLE_MAX_BYTES.default
DIRECT_BUNDLE_MAX_BYTES_RANGE = (
    limits.DIRECT_BUNDLE_MAX_BYTES.low,
    limits.DIRECT_BUNDLE_MAX_BYTES.high,
)
DEFAULT_MAX_DEFERRALS = limits.MAX_DEFERRALS.default
DEFAULT_MAX_REFERENCE_AGE_SECONDS = limits.MAX_REFERENCE_AGE_SECONDS.default
#: The transform's clients' connect and read timeouts (s), and the time no call starts without
#: (their sum): S3 and Firehose answer in milliseconds; these bound how long one socket
#: operation can hang, so no call outlives the invocation (first attempts included).
CONNECT_TIMEOUT_SECONDS = DEADLINE_CONNECT_TIMEOUT
READ_TIMEOUT_SECONDS = DEADLINE_READ_TIMEOUT


class ConfigError(errors.ConfigError):
    """The function's environment is missing or has an invalid setting."""


@dataclass(frozen=True, slots=True)
class TransformConfig:
    archive_bucket: str
    #: the delivery streams (re-puts go to the one that invoked; the first when none is named)
    delivery_stream_names: tuple[str, ...]
    bundle_prefix: str = BUNDLE_ROOT
    #: the stream's Prefix expression; direct bundles are named as Firehose names bundles
    bundle_prefix_expression: str = BUNDLE_ROOT + DEFAULT_TIME_PREFIX
    #: files larger than this go by the direct path (one bundle per batch in Archive)
    inline_max_bytes: int = DEFAULT_INLINE_MAX_BYTES
    #: referenced content per direct bundle before another is started (a larger file: alone)
    direct_bundle_max_bytes: int = DEFAULT_DIRECT_BUNDLE_MAX_BYTES
    #: parallel GETs for inline files
    fetch_concurrency: int = DEFAULT_FETCH_CONCURRENCY
    #: seconds without a byte after which an inline GET is cancelled and retried
    fetch_stall_seconds: float = DEFAULT_FETCH_STALL_SECONDS
    #: ceiling of the serialized processor response
    response_budget_bytes: int = RESPONSE_LIMIT_BYTES
    #: seconds kept back from the invocation's remaining time to answer Firehose
    safety_margin_seconds: float = 3.0
    #: seconds reserved, before that, for re-putting deferred references
    reput_reserve_seconds: float = 5.0 + CALL_ALLOWANCE_SECONDS
    #: re-puts of one reference before it is finished as ProcessingFailed
    max_deferrals: int = DEFAULT_MAX_DEFERRALS
    #: age (since ingest first put it) past which a reference is finished as ProcessingFailed
    max_reference_age_seconds: int = DEFAULT_MAX_REFERENCE_AGE_SECONDS

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> TransformConfig:
        try:
            return _read(env)
        except variables.EnvironmentValueError as error:
            raise ConfigError(str(error)) from None
        except PrefixError as error:
            raise ConfigError(f"{variables.BUNDLE_PREFIX_EXPRESSION}: {error}") from None
        except limits.LimitError as error:
            name = variables.TRANSFORM_LIMIT_VARIABLES[error.field]
            raise ConfigError(f"{name}: {error}") from None


def _bundle_prefixes(env: Mapping[str, str]) -> tuple[str, str]:
    """``BUNDLE_PREFIX`` and ``BUNDLE_PREFIX_EXPRESSION``, checked as deploy checks them."""
    prefix = variables.optional(env, variables.BUNDLE_PREFIX, BUNDLE_ROOT)
    expression = variables.optional(
        env, variables.BUNDLE_PREFIX_EXPRESSION, prefix + DEFAULT_TIME_PREFIX
    )
    validate_bundle_prefix(expression)
    if not prefix.startswith(BUNDLE_ROOT) or not expression.startswith(prefix):
        raise variables.EnvironmentValueError(
            f"{variables.BUNDLE_PREFIX_EXPRESSION} {expression!r} must start with "
            f"{variables.BUNDLE_PREFIX} {prefix!r}, itself under {BUNDLE_ROOT!r} (the copier is "
            "subscribed to that prefix)"
        )
    return prefix, expression


def _read(env: Mapping[str, str]) -> TransformConfig:
    archive = variables.required(env, variables.ARCHIVE_BUCKET, "the Archive bucket name")
    streams = variables.stream_names(env)
    prefix, expression = _bundle_prefixes(env)
    values = {
        field: variables.integer(env, name, limits.TRANSFORM_RANGES[field])
        for field, name in variables.TRANSFORM_LIMIT_VARIABLES.items()
    }
    checked = limits.validate_transform_limits(limits.TransformLimits(**values))
    return TransformConfig(
        archive_bucket=archive,
        delivery_stream_names=streams,
        bundle_prefix=prefix,
        bundle_prefix_expression=expression,
        inline_max_bytes=checked.inline_max_bytes,
        direct_bundle_max_bytes=checked.direct_bundle_max_bytes,
        fetch_concurrency=checked.fetch_concurrency,
        fetch_stall_seconds=checked.fetch_stall_seconds,
        response_budget_bytes=checked.response_budget_bytes,
        max_deferrals=checked.max_deferrals,
        max_reference_age_seconds=checked.max_reference_age_seconds,
    )
