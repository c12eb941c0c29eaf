"""Limits with their allowed ranges, and the checks deploy and the functions share.

``templates/config`` (deploy time) and each function's ``from_env`` (cold start) call the same
:func:`validate_transform_limits`, so a value deploy accepts is one the transform accepts.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Lambda's synchronous response limit as the service enforces it (6 MB = 6,291,556 bytes); the
#: emulator fails a larger response as Lambda does.
LAMBDA_RESPONSE_LIMIT_BYTES = 6_291_556
#: The ceiling the transform keeps to: Firehose's blueprint stays under 6,000,000 bytes.
RESPONSE_LIMIT_BYTES = 6_000_000
#: Room kept in a processor response besides the base64 of an inline file: the JSON around the
#: records (``recordId``, ``result``, ``metadata``, quotes and commas).
RESPONSE_ENVELOPE_BYTES = 4096
#: CopyObject copies at most 5 GiB in one call; larger objects need a multipart copy.
COPY_OBJECT_LIMIT = 5 * 1024**3
#: Part size of multipart copies (S3 allows 5 MiB .. 5 GiB, at most 10,000 parts).
COPY_PART_SIZE = 512 * 1024**2


class LimitError(ValueError):
    """A value outside its allowed range; ``field`` names the configuration key."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True, slots=True)
class Range:
    """An inclusive integer range and the default used when a value is not given."""

    low: int
    high: int
    default: int

    def check(self, field: str, value: int) -> int:
        if not self.low <= value <= self.high:
            raise LimitError(
                field, f"{field} must be between {self.low} and {self.high}, got {value}"
            )
        return value


#: Files up to this size go inline in the processor response; 0 sends every non-empty file by
#: the direct path. 4,000,000 keeps one inline file's base64 inside the 6 MB response.
INLINE_MAX_BYTES = Range(0, 4_000_000, 1024 * 1024)
#: Content (the referenced sizes) of one direct bundle before the next one is started; a file
#: larger than this is a bundle alone. 128 MiB is the largest buffer Firehose itself writes
#: (BufferingHints SizeInMBs ≤ 128), so consumers sized for Firehose's bundles need nothing
#: more. At least the inline ceiling (a bundle of one smallest direct file), at most 5 GiB (the
#: largest object CopyObject copies in one call).
DIRECT_BUNDLE_MAX_BYTES = Range(INLINE_MAX_BYTES.high, COPY_OBJECT_LIMIT, 128 * 1024 * 1024)
#: Parallel GETs for inline files.
FETCH_CONCURRENCY = Range(1, 64, 32)
#: Seconds without a byte after which an inline GET is cancelled and retried (the native
#: fetcher's stall bound): a few seconds, well inside the 120 s SLO.
FETCH_STALL_SECONDS = Range(1, 60, 5)
#: Ceiling of one serialized processor response.
RESPONSE_BUDGET_BYTES = Range(1_000_000, RESPONSE_LIMIT_BYTES, RESPONSE_LIMIT_BYTES)
#: Re-puts of one reference before it is finished as ProcessingFailed. A 10,000-file backlog
#: drains in ~60 invocations of ~160 inline files each, so a reference at its end is deferred up
#: to ~60 times; 100 keeps that case while a file that can never finish stops within hours.
MAX_DEFERRALS = Range(1, 10_000, 100)
#: Age (s) past which a reference is finished as ProcessingFailed: 6 h by default (180 times
#: the 2-minute SLO), at most 6 days (below Landing's 7-day expiry, so a redrive finds the file).
MAX_REFERENCE_AGE_SECONDS = Range(60, 6 * 24 * 3600, 6 * 3600)


def base64_bytes(size: int) -> int:
    """The size of ``size`` bytes once base64-encoded (with padding)."""
    return 4 * ((size + 2) // 3)


def largest_inline(response_budget_bytes: int) -> int:
    """The largest ``inline_max_bytes`` a response budget carries (the 3/4 rule, less the
    response envelope)."""
    return max(0, (response_budget_bytes - RESPONSE_ENVELOPE_BYTES) // 4 * 3)


@dataclass(frozen=True, slots=True)
class TransformLimits:
    """The transform's tunable limits, as configured (``[transform]``) and as in its environment."""

    inline_max_bytes: int = INLINE_MAX_BYTES.default
    direct_bundle_max_bytes: int = DIRECT_BUNDLE_MAX_BYTES.default
    fetch_concurrency: int = FETCH_CONCURRENCY.default
    fetch_stall_seconds: int = FETCH_STALL_SECONDS.default
    response_budget_bytes: int = RESPONSE_BUDGET_BYTES.default
    max_deferrals: int = MAX_DEFERRALS.default
    max_reference_age_seconds: int = MAX_REFERENCE_AGE_SECONDS.default


TRANSFORM_RANGES = {
    "inline_max_bytes": INLINE_MAX_BYTES,
    "direct_bundle_max_bytes": DIRECT_BUNDLE_MAX_BYTES,
    "fetch_concurrency": FETCH_CONCURRENCY,
    "fetch_stall_seconds": FETCH_STALL_SECONDS,
    "response_budget_bytes": RESPONSE_BUDGET_BYTES,
    "max_deferrals": MAX_DEFERRALS,
    "max_reference_age_seconds": MAX_REFERENCE_AGE_SECONDS,
}


def check_inline_fits_budget(inline_max_bytes: int, response_budget_bytes: int) -> None:
    """An inline file's base64 plus the envelope must fit the response budget."""
    largest = largest_inline(response_budget_bytes)
    if inline_max_bytes > largest:
        raise LimitError(
            "inline_max_bytes",
            f"inline_max_bytes={inline_max_bytes} cannot fit response_budget_bytes="
            f"{response_budget_bytes} once base64-encoded: at most {largest} (3/4 of the budget "
            f"less {RESPONSE_ENVELOPE_BYTES} bytes of envelope); lower it (larger files go by "
            "the direct path)",
        )


def validate_transform_limits(limits: TransformLimits) -> TransformLimits:
    """Raise :class:`LimitError` for the first value outside its range or the 3/4 rule."""
    for field, allowed in TRANSFORM_RANGES.items():
        allowed.check(field, getattr(limits, field))
    check_inline_fits_budget(limits.inline_max_bytes, limits.response_budget_bytes)
    return limits
