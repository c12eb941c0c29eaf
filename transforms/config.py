"""Transform configuration, read from the environment once and validated."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

#: Lambda's synchronous response limit is 6 MB; Firehose's blueprint keeps to 6,000,000 bytes.
RESPONSE_LIMIT_BYTES = 6_000_000
DEFAULT_INLINE_MAX_BYTES = 1024 * 1024
DEFAULT_FETCH_CONCURRENCY = 32


class ConfigError(RuntimeError):
    """The function's environment is missing or has an invalid setting."""


@dataclass(frozen=True, slots=True)
class TransformConfig:
    archive_bucket: str
    delivery_stream_name: str
    bundle_prefix: str = "bundles/"
    #: files larger than this go by the direct path (their own bundle in Archive)
    inline_max_bytes: int = DEFAULT_INLINE_MAX_BYTES
    #: parallel GETs for inline files
    fetch_concurrency: int = DEFAULT_FETCH_CONCURRENCY
    #: ceiling of the serialized processor response
    response_budget_bytes: int = RESPONSE_LIMIT_BYTES
    #: seconds kept back from the invocation's remaining time to answer Firehose
    safety_margin_seconds: float = 3.0
    #: seconds reserved, before that, for re-putting deferred references
    reput_reserve_seconds: float = 5.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> TransformConfig:
        archive = _required(env, "ARCHIVE_BUCKET", "the Archive bucket name")
        stream = _required(env, "DELIVERY_STREAM_NAME", "the Firehose stream name (for re-puts)")
        prefix = env.get("BUNDLE_PREFIX", "bundles/")
        if not prefix.endswith("/") or prefix.startswith("/"):
            raise ConfigError(f"BUNDLE_PREFIX must look like 'bundles/', got {prefix!r}")
        inline_max = _integer(env, "INLINE_MAX_BYTES", DEFAULT_INLINE_MAX_BYTES, 1, 4_000_000)
        concurrency = _integer(env, "FETCH_CONCURRENCY", DEFAULT_FETCH_CONCURRENCY, 1, 256)
        budget = _integer(
            env, "RESPONSE_BUDGET_BYTES", RESPONSE_LIMIT_BYTES, 100_000, RESPONSE_LIMIT_BYTES
        )
        if inline_max * 4 // 3 + 4096 > budget:
            raise ConfigError(
                f"INLINE_MAX_BYTES={inline_max} cannot fit RESPONSE_BUDGET_BYTES={budget} once "
                "base64-encoded; lower INLINE_MAX_BYTES (files above it go by the direct path)"
            )
        return cls(
            archive_bucket=archive,
            delivery_stream_name=stream,
            bundle_prefix=prefix,
            inline_max_bytes=inline_max,
            fetch_concurrency=concurrency,
            response_budget_bytes=budget,
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
