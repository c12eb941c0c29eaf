"""The Lambda functions' environment variables: their names and their parsers, in one place.

``templates/functions.py`` writes the variables under these names; each function's ``from_env``
reads them through these parsers, so the name written and the name read cannot drift apart.
A parser raises :class:`EnvironmentValueError` (a ``ValueError``); each function's config turns it
into its own ``ConfigError`` (a :class:`pipeline.errors.ConfigError`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from pipeline.contract.limits import LimitError, Range

# --- every function (Powertools) -----------------------------------------------------------------
POWERTOOLS_SERVICE_NAME = "POWERTOOLS_SERVICE_NAME"
POWERTOOLS_METRICS_NAMESPACE = "POWERTOOLS_METRICS_NAMESPACE"
POWERTOOLS_LOG_LEVEL = "POWERTOOLS_LOG_LEVEL"

# --- ingest, transform ---------------------------------------------------------------------------
#: the delivery streams, comma-separated, in routing order (:func:`parse_stream_names`)
DELIVERY_STREAM_NAMES = "DELIVERY_STREAM_NAMES"
#: Firehose's delivery stream name rule.
STREAM_NAME_PATTERN = re.compile(r"^[a-zA-Z0-9_.-]{1,64}$")

# --- transform -----------------------------------------------------------------------------------
ARCHIVE_BUCKET = "ARCHIVE_BUCKET"
#: the literal part of the bundle prefix (before its first expression)
BUNDLE_PREFIX = "BUNDLE_PREFIX"
#: the stream's Prefix expression (direct bundles are named as Firehose names bundles)
BUNDLE_PREFIX_EXPRESSION = "BUNDLE_PREFIX_EXPRESSION"
INLINE_MAX_BYTES = "INLINE_MAX_BYTES"
DIRECT_BUNDLE_MAX_BYTES = "DIRECT_BUNDLE_MAX_BYTES"
FETCH_CONCURRENCY = "FETCH_CONCURRENCY"
#: not set by the template (the default applies); a test may lower it on a deployed function
FETCH_STALL_SECONDS = "FETCH_STALL_SECONDS"
RESPONSE_BUDGET_BYTES = "RESPONSE_BUDGET_BYTES"
MAX_DEFERRALS = "MAX_DEFERRALS"
MAX_REFERENCE_AGE_SECONDS = "MAX_REFERENCE_AGE_SECONDS"
#: the variable of each ``pipeline.contract.limits.TransformLimits`` field
TRANSFORM_LIMIT_VARIABLES = {
    "inline_max_bytes": INLINE_MAX_BYTES,
    "direct_bundle_max_bytes": DIRECT_BUNDLE_MAX_BYTES,
    "fetch_concurrency": FETCH_CONCURRENCY,
    "fetch_stall_seconds": FETCH_STALL_SECONDS,
    "response_budget_bytes": RESPONSE_BUDGET_BYTES,
    "max_deferrals": MAX_DEFERRALS,
    "max_reference_age_seconds": MAX_REFERENCE_AGE_SECONDS,
}

# --- copier, monitor -----------------------------------------------------------------------------
DISTRIBUTION_BUCKET = "DISTRIBUTION_BUCKET"

# --- canary --------------------------------------------------------------------------------------
LANDING_BUCKET = "LANDING_BUCKET"
CANARY_INTERVAL_MINUTES = "CANARY_INTERVAL_MINUTES"


class EnvironmentValueError(ValueError):
    """A variable is missing or does not parse; the message names it and what to do."""


def required(env: Mapping[str, str], name: str, what: str) -> str:
    """A variable the template always sets (stripped); refused when missing or blank."""
    value = env.get(name, "").strip()
    if not value:
        raise EnvironmentValueError(f"{name} is not set: the template sets it to {what}")
    return value


def optional(env: Mapping[str, str], name: str, default: str) -> str:
    """A variable with a default when missing or blank (stripped)."""
    return env.get(name, "").strip() or default


def integer(env: Mapping[str, str], name: str, allowed: Range) -> int:
    """An integer variable (``_`` separators allowed) within ``allowed``; its default if unset."""
    text = env.get(name, "").strip()
    if not text:
        return allowed.default
    try:
        value = int(text.replace("_", ""))
    except ValueError:
        raise EnvironmentValueError(f"{name} must be an integer, got {text!r}") from None
    try:
        return allowed.check(name, value)
    except LimitError as error:
        raise EnvironmentValueError(str(error)) from None


def write_integer(value: int) -> str:
    """How the template writes an integer variable (read back by :func:`integer`)."""
    return str(value)


class StreamNamesError(EnvironmentValueError):
    """``DELIVERY_STREAM_NAMES`` is empty, names an invalid stream or names one twice."""


def parse_stream_names(text: str) -> tuple[str, ...]:
    """The stream names of ``DELIVERY_STREAM_NAMES``, in order, validated."""
    names = tuple(part.strip() for part in text.split(",") if part.strip())
    if not names:
        raise StreamNamesError(
            f"{DELIVERY_STREAM_NAMES} is not set: the template sets it to the Firehose stream "
            "names, comma-separated"
        )
    for name in names:
        if not STREAM_NAME_PATTERN.fullmatch(name):
            raise StreamNamesError(f"{DELIVERY_STREAM_NAMES}: {name!r} is not a stream name")
    if len(set(names)) != len(names):
        raise StreamNamesError(f"{DELIVERY_STREAM_NAMES} names a stream twice: {text!r}")
    return names


def stream_names(env: Mapping[str, str]) -> tuple[str, ...]:
    """``DELIVERY_STREAM_NAMES`` of ``env`` (:func:`parse_stream_names`)."""
    return parse_stream_names(env.get(DELIVERY_STREAM_NAMES, ""))
