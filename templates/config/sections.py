"""The sections of an environment file, each read into its dataclass and checked."""

from __future__ import annotations

import re
from typing import cast

from pipeline.canary.config import INTERVAL_MINUTES
from pipeline.contract import limits, naming
from pipeline.contract.prefixes import (
    BUNDLE_ROOT,
    BundlePrefixError,
    PrefixError,
    validate_bundle_prefix,
    validate_prefixes,
)
from templates.config.reader import Invalid, Table
from templates.config.schema import (
    ARCHITECTURES,
    EMAIL_PATTERN,
    FUNCTION_NAMES,
    HOST_ARCHITECTURE,
    LOG_LEVELS,
    LOG_RETENTION_DAYS,
    MAX_STREAMS,
    SNS_ARN_PATTERN,
    TAG_PATTERN,
    Alarms,
    Architecture,
    Canary,
    Capacity,
    FirehoseBuffering,
    Functions,
    FunctionSettings,
    Prefixes,
    ProcessorBuffering,
    Retention,
    TransformSettings,
    host_architecture,
)


def read_firehose(table: Table) -> FirehoseBuffering:
    result = FirehoseBuffering(
        size_mb=table.integer("buffer_size_mb", 1, 128),
        interval_seconds=table.integer("buffer_interval_seconds", 0, 900),
        streams=table.integer(
            "streams",
            1,
            MAX_STREAMS,
            default=1,
            allowed=(
                f"an integer from 1 to {MAX_STREAMS}; to carry more, ask AWS to raise the "
                "per-stream DirectPut quota (docs/capacity.md#how-to-scale)"
            ),
        ),
    )
    table.close()
    return result


def read_processor(table: Table) -> ProcessorBuffering:
    result = ProcessorBuffering(
        size_mb=table.number("buffer_size_mb", 0.2, 3.0),
        interval_seconds=table.integer("buffer_interval_seconds", 0, 900),
        number_of_retries=table.integer("number_of_retries", 0, 300, default=3),
    )
    table.close()
    return result


def read_prefixes(table: Table) -> Prefixes:
    bundle = table.raw_string("bundle")
    error = table.raw_string("error")
    table.close()
    try:
        validate_bundle_prefix(bundle)  # what the transform checks at cold start
    except BundlePrefixError as refused:
        raise table.error("bundle", bundle, str(refused)) from refused
    except PrefixError as refused:
        raise table.error("bundle", bundle, f"a prefix Firehose accepts ({refused})") from refused
    _error_prefix_rules(table, bundle, error)
    try:
        validate_prefixes(bundle, error)  # what Firehose refuses at create time
    except PrefixError as refused:
        key, value = ("error", error) if "ErrorOutputPrefix" in str(refused) else ("bundle", bundle)
        raise table.error(key, value, f"a prefix Firehose accepts ({refused})") from refused
    return Prefixes(bundle=bundle, error=error)


def _error_prefix_rules(table: Table, bundle: str, error: str) -> None:
    """The error prefix: required, a folder, outside the copier's prefix."""
    if "!{" in bundle and not error:
        raise table.error(
            "error",
            error,
            "a non-empty error prefix, because prefixes.bundle uses expressions "
            f"({bundle!r}) and Firehose then requires an ErrorOutputPrefix",
        )
    if error and (error.startswith(BUNDLE_ROOT) or not error.endswith("/")):
        raise table.error(
            "error", error, f"a prefix ending '/' outside {BUNDLE_ROOT!r} (the copier's prefix)"
        )
    if not error:
        raise table.error(
            "error",
            error,
            "a non-empty error prefix: without one Firehose writes failures under "
            f"'{bundle}processing-failed/...', inside the copier's prefix {BUNDLE_ROOT!r}",
        )


def _integer(table: Table, key: str, allowed: limits.Range, required: bool = True) -> int:
    return table.integer(key, allowed.low, allowed.high, None if required else allowed.default)


def read_transform(table: Table) -> TransformSettings:
    result = TransformSettings(
        inline_max_bytes=_integer(table, "inline_max_bytes", limits.INLINE_MAX_BYTES),
        fetch_concurrency=_integer(table, "fetch_concurrency", limits.FETCH_CONCURRENCY),
        response_budget_bytes=_integer(
            table, "response_budget_bytes", limits.RESPONSE_BUDGET_BYTES, required=False
        ),
        direct_bundle_max_bytes=_integer(
            table, "direct_bundle_max_bytes", limits.DIRECT_BUNDLE_MAX_BYTES, required=False
        ),
    )
    table.close()
    try:  # the very check the transform's from_env runs at cold start
        limits.validate_transform_limits(
            limits.TransformLimits(
                inline_max_bytes=result.inline_max_bytes,
                direct_bundle_max_bytes=result.direct_bundle_max_bytes,
                fetch_concurrency=result.fetch_concurrency,
                response_budget_bytes=result.response_budget_bytes,
            )
        )
    except limits.LimitError as refused:
        raise table.error(refused.field, getattr(result, refused.field), str(refused)) from refused
    return result


def _function(table: Table, name: str) -> FunctionSettings:
    max_timeout = 300 if name == "transform" else 900  # Firehose invokes the processor ≤ 5 min
    result = FunctionSettings(
        memory_mb=table.integer("memory_mb", 128, 10240),
        timeout_seconds=table.integer("timeout_seconds", 1, max_timeout),
    )
    table.close()
    return result


def _architecture(value: str) -> Architecture:
    return host_architecture() if value == HOST_ARCHITECTURE else cast(Architecture, value)


def read_functions(table: Table) -> Functions:
    settings: dict[str, FunctionSettings] = {}
    invalid = False
    for name in FUNCTION_NAMES:  # check every function, not only up to the first bad one
        try:
            settings[name] = _function(table.require_table(name), name)
        except Invalid:
            invalid = True
            settings[name] = FunctionSettings(memory_mb=128, timeout_seconds=1)
    result = Functions(
        architecture=_architecture(
            table.choice("architecture", (*ARCHITECTURES, HOST_ARCHITECTURE), "arm64")
        ),
        log_level=table.choice("log_level", LOG_LEVELS, "INFO"),
        max_retry_attempts=table.integer("max_retry_attempts", 0, 2, default=2),
        max_event_age_seconds=table.integer("max_event_age_seconds", 60, 21600, default=21600),
        **settings,
    )
    table.close()
    if invalid:
        raise Invalid
    return result


def read_retention(table: Table) -> Retention:
    log_days = table.integer("log_retention_days", 1, 1827, default=30)
    result = Retention(
        landing_expiration_days=table.integer("landing_expiration_days", 1, 3650, default=7),
        archive_deep_archive_after_days=table.integer("archive_deep_archive_after_days", 1, 36500),
        noncurrent_version_expiration_days=table.integer(
            "noncurrent_version_expiration_days", 1, 3650
        ),
        log_retention_days=log_days,
    )
    table.close()
    if log_days not in LOG_RETENTION_DAYS:
        raise table.error(
            "log_retention_days", log_days, "one of " + ", ".join(map(str, LOG_RETENTION_DAYS))
        )
    return result


def read_alarms(table: Table, firehose: FirehoseBuffering) -> Alarms:
    result = Alarms(
        email=table.optional_string("email", EMAIL_PATTERN, "an e-mail address"),
        topic_arn=table.optional_string("topic_arn", SNS_ARN_PATTERN, "an SNS topic ARN"),
        backlog_count_threshold=table.integer("backlog_count_threshold", 1, 100_000_000),
        backlog_oldest_age_seconds=table.integer("backlog_oldest_age_seconds", 60, 1_209_600),
        freshness_seconds=table.integer("freshness_seconds", 60, 3600),
        anomaly_band_width=table.number("anomaly_band_width", 1.0, 10.0, default=3.0),
        anomaly_detection=table.boolean("anomaly_detection", default=True),
        dashboard=table.boolean("dashboard", default=True),
    )
    table.close()
    if result.email and result.topic_arn:
        raise table.error(
            "email", result.email, '"" when alarms.topic_arn is set (subscribe to that topic)'
        )
    if result.freshness_seconds <= firehose.interval_seconds:
        raise table.error(
            "freshness_seconds",
            result.freshness_seconds,
            "more than firehose.buffer_interval_seconds "
            f"({firehose.interval_seconds}), or the alarm fires on every buffer",
        )
    return result


def read_canary(table: Table | None) -> Canary:
    """`[canary]` (optional): 0 = off, else the minutes between puts the function accepts."""
    if table is None:
        return Canary()
    interval = table.integer(
        "interval_minutes",
        0,
        INTERVAL_MINUTES.high,
        default=0,
        allowed=(
            f"0 (off) or the minutes between canary puts, {INTERVAL_MINUTES.low} to "
            f"{INTERVAL_MINUTES.high} (prod ships with {INTERVAL_MINUTES.default})"
        ),
    )
    scheduled = table.boolean("scheduled", default=True)
    table.close()
    return Canary(interval_minutes=interval, scheduled=scheduled)


REGION_PATTERN = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")
OVERRIDE_NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


def _overrides(table: Table | None) -> tuple[tuple[str, float], ...]:
    if table is None:
        return ()
    result = []
    for key in sorted(table.keys()):
        if not OVERRIDE_NAME_PATTERN.fullmatch(key):
            raise table.error(key, key, "a lowercase name (see docs/capacity.md)")
        result.append((key, table.number(key, 0.0, 1e15)))
    table.close()
    return tuple(result)


def read_capacity(table: Table | None) -> Capacity | None:
    if table is None:
        return None
    result = Capacity(
        region=table.string(
            "region", REGION_PATTERN, "an AWS region like eu-west-2", default=naming.DEFAULT_REGION
        ),
        quotas=_overrides(table.table("quotas", required=False)),
        prices=_overrides(table.table("prices", required=False)),
    )
    table.close()
    return result


def read_tags(root: Table) -> dict[str, str]:
    return root.string_map(
        "tags", TAG_PATTERN, "tag keys and values of 1-256 letters, digits, spaces or _.:/=+-@"
    )
