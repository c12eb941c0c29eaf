"""Transform configuration, read from the environment once and validated."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from pipeline.aws import CALL_ALLOWANCE_SECONDS, DEADLINE_CONNECT_TIMEOUT, DEADLINE_READ_TIMEOUT
from pipeline.routing import STREAM_NAMES_VARIABLE, StreamNamesError, parse_stream_names
from transforms.prefix import DEFAULT_TIME_FOLDERS, PrefixExpressionError
from transforms.prefix import validate as validate_prefix

#: Lambda's synchronous response limit is 6 MB; Firehose's blueprint keeps to 6,000,000 bytes.
RESPONSE_LIMIT_BYTES = 6_000_000
DEFAULT_INLINE_MAX_BYTES = 1024 * 1024
DEFAULT_FETCH_CONCURRENCY = 32
#: An inline GET receiving no byte for this long is cancelled and retried (crt_fetch.py)
DEFAULT_FETCH_STALL_SECONDS = 5
#: Content (the referenced sizes) of one direct bundle before the next one is started; a file
#: larger than this is a bundle alone. 128 MiB is the largest buffer Firehose itself writes
#: (BufferingHints SizeInMBs ≤ 128), so consumers sized for Firehose's bundles need nothing
#: more, and one bundle streams in seconds (gzip level 1 ≥ 100 MB/s), far inside one invocation.
DEFAULT_DIRECT_BUNDLE_MAX_BYTES = 128 * 1024 * 1024
#: Bounds of ``DIRECT_BUNDLE_MAX_BYTES``: at least the inline limit's 4 MB ceiling (a bundle of
#: one smallest direct file), at most 5 GiB (the largest object CopyObject copies in one call).
DIRECT_BUNDLE_MAX_BYTES_RANGE = (4_000_000, 5 * 1024**3)
#: The transform's clients' connect and read timeouts (s), and the time no call starts without
#: (their sum): S3 and Firehose answer in milliseconds; these bound how long one socket
#: operation can hang, so no call outlives the invocation (first attempts included).
CONNECT_TIMEOUT_SECONDS = DEADLINE_CONNECT_TIMEOUT
READ_TIMEOUT_SECONDS = DEADLINE_READ_TIMEOUT
#: A reference put back more often than this is finished as ProcessingFailed (error output).
#: A deferral happens when a response is full (a burst: the file waits one buffer interval,
#: ~60 s in AWS) or a read runs out of time. A 10,000-file backlog drains in ~60 invocations of
#: ~160 inline files each, so a reference at its end is deferred up to ~60 times; 100 keeps
#: that legitimate case while a file that can never finish stops within hours, not 7 days.
DEFAULT_MAX_DEFERRALS = 100
#: A reference first seen longer ago than this is finished as ProcessingFailed. 6 hours is 180
#: times the 2-minute SLO (the OldestReferenceAge alarm fires long before) and leaves 6.75 days
#: of Landing's 7-day expiry to redrive it from the error output.
DEFAULT_MAX_REFERENCE_AGE_SECONDS = 6 * 3600


class ConfigError(RuntimeError):
    """The function's environment is missing or has an invalid setting."""


@dataclass(frozen=True, slots=True)
class TransformConfig:
    archive_bucket: str
    #: the delivery streams (re-puts go to the one that invoked; the first when none is named)
    delivery_stream_names: tuple[str, ...]
    bundle_prefix: str = "bundles/"
    #: the stream's Prefix expression; direct bundles are named as Firehose names bundles
    bundle_prefix_expression: str = "bundles/!{timestamp:yyyy/MM/dd/HH}/"
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
        archive = _required(env, "ARCHIVE_BUCKET", "the Archive bucket name")
        try:
            streams = parse_stream_names(env.get(STREAM_NAMES_VARIABLE, ""))
        except StreamNamesError as error:
            raise ConfigError(str(error)) from None
        prefix = env.get("BUNDLE_PREFIX", "bundles/")
        if not prefix.endswith("/") or prefix.startswith("/"):
            raise ConfigError(f"BUNDLE_PREFIX must look like 'bundles/', got {prefix!r}")
        expression = env.get("BUNDLE_PREFIX_EXPRESSION", "").strip() or (
            prefix + DEFAULT_TIME_FOLDERS
        )
        try:
            validate_prefix(expression)
        except PrefixExpressionError as error:
            raise ConfigError(f"BUNDLE_PREFIX_EXPRESSION: {error}") from None
        if not expression.startswith(prefix):
            raise ConfigError(
                f"BUNDLE_PREFIX_EXPRESSION {expression!r} must start with BUNDLE_PREFIX "
                f"{prefix!r} (the copier is subscribed to that prefix)"
            )
        inline_max = _integer(env, "INLINE_MAX_BYTES", DEFAULT_INLINE_MAX_BYTES, 1, 4_000_000)
        direct_max = _integer(
            env,
            "DIRECT_BUNDLE_MAX_BYTES",
            DEFAULT_DIRECT_BUNDLE_MAX_BYTES,
            *DIRECT_BUNDLE_MAX_BYTES_RANGE,
        )
        concurrency = _integer(env, "FETCH_CONCURRENCY", DEFAULT_FETCH_CONCURRENCY, 1, 256)
        stall = _integer(env, "FETCH_STALL_SECONDS", DEFAULT_FETCH_STALL_SECONDS, 1, 60)
        budget = _integer(
            env, "RESPONSE_BUDGET_BYTES", RESPONSE_LIMIT_BYTES, 100_000, RESPONSE_LIMIT_BYTES
        )
        max_deferrals = _integer(env, "MAX_DEFERRALS", DEFAULT_MAX_DEFERRALS, 1, 10_000)
        max_age = _integer(
            env,
            "MAX_REFERENCE_AGE_SECONDS",
            DEFAULT_MAX_REFERENCE_AGE_SECONDS,
            60,
            6 * 24 * 3600,  # below Landing's 7-day expiry, so a redrive still finds the file
        )
        if inline_max * 4 // 3 + 4096 > budget:
            raise ConfigError(
                f"INLINE_MAX_BYTES={inline_max} cannot fit RESPONSE_BUDGET_BYTES={budget} once "
                "base64-encoded; lower INLINE_MAX_BYTES (files above it go by the direct path)"
            )
        return cls(
            archive_bucket=archive,
            delivery_stream_names=streams,
            bundle_prefix=prefix,
            bundle_prefix_expression=expression,
            inline_max_bytes=inline_max,
            direct_bundle_max_bytes=direct_max,
            fetch_concurrency=concurrency,
            fetch_stall_seconds=stall,
            response_budget_bytes=budget,
            max_deferrals=max_deferrals,
            max_reference_age_seconds=max_age,
        )


def _required(env: Mapping[str, str], name: str, what: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise ConfigError(f"{name} is not set: the template sets it to {what}")
    return value


def _integer(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    text = env.get(name, "").strip()
    if not text:
        return default
    try:
        value = int(text.replace("_", ""))
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {text!r}") from None
    if not low <= value <= high:
        raise ConfigError(f"{name} must be between {low} and {high}, got {value}")
    return value
