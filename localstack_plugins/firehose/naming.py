"""Firehose S3 object keys: prefix expressions and the default object name (pure functions).

Rules from the Firehose developer guide, "Custom prefixes for Amazon S3 objects" (semantic rules):

- ``!{timestamp:<Java DateTimeFormatter pattern>}`` is evaluated, in UTC, at the approximate
  arrival time of the oldest record of the delivered object; text in single quotes is literal
  (``''`` is one quote); every instance in one prefix evaluates to the same instant;
- ``!{firehose:random-string}`` is an 11-character random string, a new one for each occurrence;
- ``!{firehose:error-output-type}`` (``ErrorOutputPrefix`` only) is e.g. ``processing-failed``;
- a ``Prefix`` without a timestamp expression gets ``yyyy/MM/dd/HH/`` appended;
- the sequence ``!{`` may only start an expression; an ``ErrorOutputPrefix`` with expressions must
  contain ``!{firehose:error-output-type}``; a ``Prefix`` with expressions needs an
  ``ErrorOutputPrefix``; ``Prefix`` may not contain ``error-output-type``;
- with no ``ErrorOutputPrefix``, failures go to ``<Prefix><error-output-type>/yyyy/MM/dd/HH/``;
- neither prefix may be longer than 512 characters once evaluated;
- object name: ``<stream>-<version>-<yyyy-MM-dd-HH-mm-ss>-<uuid>`` plus the file extension
  (``.gz`` for GZIP unless ``FileExtension`` says otherwise).

Pattern letters evaluated here (Java ``DateTimeFormatter`` semantics, English text): ``G u y D M
L d Q q E a h K k H m s S A n N``. The locale-dependent week fields (``Y w W e c F``) and the
zone/offset fields (``V v z O X x Z``) are refused with an error instead of being evaluated
differently from AWS; so are optional sections (``[`` ``]``) and the reserved ``# { }``.
"""

from __future__ import annotations

import re
import secrets
import string
import uuid
from collections.abc import Callable
from datetime import datetime

EXPRESSION = re.compile(r"!\{([^}]*)\}")
DEFAULT_TIME_PREFIX = "!{timestamp:yyyy/MM/dd/HH}/"
ERROR_OUTPUT_TYPE_EXPRESSION = "!{firehose:error-output-type}"
DEFAULT_ERROR_PREFIX = ERROR_OUTPUT_TYPE_EXPRESSION + "/" + DEFAULT_TIME_PREFIX
EXTENSIONS = {"GZIP": ".gz", "ZIP": ".zip", "Snappy": ".snappy", "HADOOP_SNAPPY": ".snappy"}
RANDOM_ALPHABET = string.ascii_letters + string.digits
RANDOM_LENGTH = 11
#: "Neither Prefix nor ErrorOutputPrefix can be greater than 512 characters after they're
#: evaluated."
MAX_EVALUATED_PREFIX = 512
#: The longest evaluation of the text fields (September, Wednesday, PM, 4th quarter, ...).
_WIDEST_INSTANT = datetime(2000, 9, 27, 23, 59, 59, 999999)

_MONTHS = (
    *("January", "February", "March", "April", "May", "June", "July"),
    *("August", "September", "October", "November", "December"),
)
_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_QUARTERS = ("1st quarter", "2nd quarter", "3rd quarter", "4th quarter")
_REFUSED_LETTERS = frozenset("YwWecFVvzOXxZ")
_RESERVED = frozenset("[]#{}")


class PrefixError(ValueError):
    """A Prefix or ErrorOutputPrefix Firehose would reject (message is AWS-like)."""


# --- Java DateTimeFormatter subset -------------------------------------------------------------


def _number(value: int, count: int, max_count: int, letter: str) -> str:
    if count > max_count:
        raise PrefixError(f"Too many pattern letters: {letter}")
    return str(value).zfill(count)


def _text(full: str, count: int, letter: str) -> str:
    if count <= 3:
        return full[:3]
    if count == 4:
        return full
    if count == 5:
        return full[0]
    raise PrefixError(f"Too many pattern letters: {letter}")


def _year(value: int, count: int) -> str:
    if count == 2:
        return f"{value % 100:02d}"
    return str(value).zfill(count)


def _field(letter: str, count: int, moment: datetime) -> str:
    # complexity: a flat dispatch, one branch per DateTimeFormatter letter (issue 20 moves it)
    hour12 = moment.hour % 12
    if letter in "uy":
        return _year(moment.year, count)
    if letter == "G":
        return "AD" if count <= 3 else _text("Anno Domini", count, letter)
    if letter == "D":
        return _number(moment.timetuple().tm_yday, count, 3, letter)
    if letter in "ML":
        if count <= 2:
            return _number(moment.month, count, 2, letter)
        return _text(_MONTHS[moment.month - 1], count, letter)
    if letter == "d":
        return _number(moment.day, count, 2, letter)
    if letter in "Qq":
        quarter = (moment.month - 1) // 3 + 1
        if count <= 2:
            return _number(quarter, count, 2, letter)
        if count == 3:
            return f"Q{quarter}"
        if count == 4:
            return _QUARTERS[quarter - 1]
        return _text(str(quarter), count, letter)
    if letter == "E":
        return _text(_DAYS[moment.weekday()], count, letter)
    if letter == "a":
        if count > 1:
            raise PrefixError(f"Too many pattern letters: {letter}")
        return "AM" if moment.hour < 12 else "PM"
    if letter == "h":
        return _number(hour12 or 12, count, 2, letter)
    if letter == "K":
        return _number(hour12, count, 2, letter)
    if letter == "k":
        return _number(moment.hour or 24, count, 2, letter)
    if letter == "H":
        return _number(moment.hour, count, 2, letter)
    if letter == "m":
        return _number(moment.minute, count, 2, letter)
    if letter == "s":
        return _number(moment.second, count, 2, letter)
    if letter == "S":
        if count > 9:
            raise PrefixError(f"Too many pattern letters: {letter}")
        return f"{moment.microsecond * 1000:09d}"[:count]
    if letter == "A":
        millis = ((moment.hour * 60 + moment.minute) * 60 + moment.second) * 1000
        return _number(millis + moment.microsecond // 1000, count, 19, letter)
    if letter == "n":
        return _number(moment.microsecond * 1000, count, 19, letter)
    if letter == "N":
        seconds = (moment.hour * 60 + moment.minute) * 60 + moment.second
        return _number(seconds * 1_000_000_000 + moment.microsecond * 1000, count, 19, letter)
    if letter in _REFUSED_LETTERS:
        raise PrefixError(
            f"Timestamp pattern letter '{letter}' is not evaluated by this emulator "
            "(locale- or zone-dependent): use y, M, d, H, m, s and the like."
        )
    raise PrefixError(f"Unknown pattern letter: {letter}")


def _tokens(pattern: str) -> list[tuple[str, str | int]]:
    """('lit', text) and ('field', letter*count) tokens of a DateTimeFormatter pattern."""
    out: list[tuple[str, str | int]] = []
    position = 0
    while position < len(pattern):
        char = pattern[position]
        if char == "'":
            end = position + 1
            text: list[str] = []
            while True:
                if end >= len(pattern):
                    raise PrefixError(f"Pattern ends with an incomplete string literal: {pattern}")
                if pattern[end] == "'":
                    if end + 1 < len(pattern) and pattern[end + 1] == "'":
                        text.append("'")
                        end += 2
                        continue
                    break
                text.append(pattern[end])
                end += 1
            out.append(("lit", "".join(text) if end > position + 1 else "'"))
            position = end + 1
        elif char.isascii() and char.isalpha():
            end = position
            while end < len(pattern) and pattern[end] == char:
                end += 1
            out.append((char, end - position))
            position = end
        elif char in _RESERVED:
            raise PrefixError(f"Pattern character '{char}' is not supported in '{pattern}'")
        else:
            out.append(("lit", char))
            position += 1
    return out


def format_timestamp(pattern: str, moment: datetime) -> str:
    """``moment`` formatted like Java's ``DateTimeFormatter.ofPattern(pattern)`` (UTC)."""
    parts: list[str] = []
    for kind, value in _tokens(pattern):
        if kind == "lit":
            parts.append(str(value))
        else:
            parts.append(_field(kind, int(value), moment))
    return "".join(parts)


# --- prefixes ----------------------------------------------------------------------------------


def _namespaces(prefix: str) -> list[str]:
    return [m.group(1).strip() for m in EXPRESSION.finditer(prefix)]


def validate_prefixes(prefix: str, error_prefix: str) -> None:
    """Raise :class:`PrefixError` for the combinations Firehose refuses at create time."""
    for name, value in (("Prefix", prefix), ("ErrorOutputPrefix", error_prefix)):
        if "!{" in EXPRESSION.sub("", value):
            raise PrefixError(
                f"The sequence !{{ can only appear in !{{namespace:value}} expressions ({name})."
            )
        for namespace in _namespaces(value):
            if namespace.startswith("timestamp:"):
                try:
                    format_timestamp(namespace.removeprefix("timestamp:"), _WIDEST_INSTANT)
                except PrefixError as error:
                    raise PrefixError(f"{name}: {error}") from error
            elif namespace == "firehose:error-output-type":
                if name == "Prefix":
                    raise PrefixError(
                        "The expression !{firehose:error-output-type} is not allowed in Prefix."
                    )
            elif namespace != "firehose:random-string":
                raise PrefixError(f"Unsupported expression !{{{namespace}}} in {name}.")
    if _namespaces(prefix) and not error_prefix:
        raise PrefixError(
            "ErrorOutputPrefix cannot be null or empty when Prefix contains expressions."
        )
    error_namespaces = _namespaces(error_prefix)
    if error_namespaces and "firehose:error-output-type" not in error_namespaces:
        raise PrefixError(
            "ErrorOutputPrefix contains expressions, so it must contain at least one "
            "!{firehose:error-output-type}."
        )
    for name, value in (
        ("Prefix", effective_prefix(prefix)),
        ("ErrorOutputPrefix", effective_error_prefix(error_prefix, prefix)),
    ):
        widest = evaluate(value, _WIDEST_INSTANT, "format-conversion-failed")
        if len(widest) > MAX_EVALUATED_PREFIX:
            raise PrefixError(
                f"{name} can evaluate to {len(widest)} characters; the limit is "
                f"{MAX_EVALUATED_PREFIX}."
            )


def effective_prefix(prefix: str) -> str:
    """The Prefix Firehose actually evaluates (default time folders appended when needed)."""
    if any(ns.startswith("timestamp:") for ns in _namespaces(prefix)):
        return prefix
    return prefix + DEFAULT_TIME_PREFIX


def effective_error_prefix(error_prefix: str, prefix: str = "") -> str:
    """The ErrorOutputPrefix Firehose evaluates.

    Empty: ``<Prefix><error-output-type>/yyyy/MM/dd/HH/`` (the guide's example: Prefix
    ``myFirehosePrefix`` gives ``myFirehosePrefix/processing-failed/2018/08/27/``; its rule text
    omits the slash after the type; the folder form is the one observed). Without expressions
    (the guide is silent): ``<ErrorOutputPrefix><error-output-type>/yyyy/MM/dd/HH/``.
    """
    if not error_prefix:
        return prefix + DEFAULT_ERROR_PREFIX
    if _namespaces(error_prefix):
        return error_prefix
    return error_prefix + DEFAULT_ERROR_PREFIX


def random_string() -> str:
    return "".join(secrets.choice(RANDOM_ALPHABET) for _ in range(RANDOM_LENGTH))


def evaluate(
    prefix: str,
    oldest_arrival: datetime,
    error_output_type: str | None = None,
    random: Callable[[], str] = random_string,
) -> str:
    """Evaluate every expression of ``prefix`` for one delivered object.

    Raises :class:`PrefixError` if the result is longer than 512 characters (validation at
    create time makes that impossible for the prefixes this module accepts).
    """

    def replace(match: re.Match[str]) -> str:
        namespace = match.group(1).strip()
        if namespace.startswith("timestamp:"):
            return format_timestamp(namespace.removeprefix("timestamp:"), oldest_arrival)
        if namespace == "firehose:random-string":
            return random()  # a new string for every occurrence
        if namespace == "firehose:error-output-type" and error_output_type is not None:
            return error_output_type
        raise PrefixError(f"Cannot evaluate !{{{namespace}}} here.")

    evaluated = EXPRESSION.sub(replace, prefix)
    if len(evaluated) > MAX_EVALUATED_PREFIX:
        raise PrefixError(
            f"Evaluated prefix is {len(evaluated)} characters; the limit is "
            f"{MAX_EVALUATED_PREFIX}: {evaluated[:80]}..."
        )
    return evaluated


def object_name(
    stream_name: str,
    version: str,
    oldest_arrival: datetime,
    compression: str,
    file_extension: str = "",
) -> str:
    extension = file_extension or EXTENSIONS.get(compression, "")
    stamp = oldest_arrival.strftime("%Y-%m-%d-%H-%M-%S")
    return f"{stream_name}-{version}-{stamp}-{uuid.uuid4()}{extension}"
