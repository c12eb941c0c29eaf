"""Firehose S3 prefixes: the roots, the expression grammar, one validator and one evaluator.

Every side uses this module: the template validation (deploy time), the transform (cold start and
the keys of direct bundles) and the emulator (``localstack_plugins/firehose/naming.py``), so a
prefix deploy accepts is a prefix the transform and the emulator evaluate, the same way.

Rules from the Firehose developer guide, "Custom prefixes for Amazon S3 objects" (semantic rules):

- ``!{timestamp:<Java DateTimeFormatter pattern>}`` is evaluated, in UTC, at the approximate
  arrival time of the oldest record of the delivered object; text in single quotes is literal
  (``''`` is one quote); every instance in one prefix evaluates to the same instant;
- ``!{firehose:random-string}`` is an 11-character random string;
- ``!{firehose:error-output-type}`` (``ErrorOutputPrefix`` only) is e.g. ``processing-failed``;
- a ``Prefix`` without a timestamp expression gets ``yyyy/MM/dd/HH/`` appended;
- the sequence ``!{`` may only start an expression; an ``ErrorOutputPrefix`` with expressions must
  contain ``!{firehose:error-output-type}``; a ``Prefix`` with expressions needs an
  ``ErrorOutputPrefix``; ``Prefix`` may not contain ``error-output-type``;
- with no ``ErrorOutputPrefix``, failures go to ``<Prefix><error-output-type>/yyyy/MM/dd/HH/``;
- neither prefix may be longer than 512 characters once evaluated.

Pattern letters evaluated (Java ``DateTimeFormatter`` semantics, English text): ``G u y D M L d Q
q E a h K k H m s S A n N``. The locale-dependent week fields (``Y w W e c F``) and the zone/offset
fields (``V v z O X x Z``) are refused instead of being evaluated differently from AWS; so are
optional sections (``[`` ``]``) and the reserved ``# { }``.

Parsing (:func:`parse_pattern`, :func:`parse_prefix`) returns data and raises every refusal;
formatting (:func:`format_timestamp`, :func:`evaluate`) only reads that data.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

#: Every bundle key starts with this; the copier is notified for it (docs/architecture.md).
BUNDLE_ROOT = "bundles/"
#: The literal start of the template's ErrorOutputPrefix (Firehose's error output in Archive).
ERROR_ROOT = "errors/"
#: Reserved Landing prefixes (docs/operations.md "Reserved Landing prefixes"): objects under them
#: flow through the real path like any other file, but are written by the pipeline's own checks,
#: not by the external party. The canary's scheduled put (issue 22) lands under CANARY_ROOT; the
#: consumer verifies canary members and does not hand them to the output folder.
CANARY_ROOT = "_canary/"
#: ``aggregator acceptance`` writes its files under ``ACCEPTANCE_ROOT<run-id>/`` and touches nothing
#: outside its own run prefix.
ACCEPTANCE_ROOT = "_acceptance/"
RESERVED_LANDING_ROOTS = (CANARY_ROOT, ACCEPTANCE_ROOT)


def is_canary_key(key: str) -> bool:
    """Whether a Landing key is a canary object (written by the scheduled canary put)."""
    return key.startswith(CANARY_ROOT)


#: The one syntax of an expression: ``!{namespace:value}``.
EXPRESSION = re.compile(r"!\{([^}]*)\}")
DEFAULT_TIME_PREFIX = "!{timestamp:yyyy/MM/dd/HH}/"
ERROR_OUTPUT_TYPE_EXPRESSION = "!{firehose:error-output-type}"
DEFAULT_ERROR_PREFIX = ERROR_OUTPUT_TYPE_EXPRESSION + "/" + DEFAULT_TIME_PREFIX
RANDOM_STRING = "firehose:random-string"
ERROR_OUTPUT_TYPE = "firehose:error-output-type"
TIMESTAMP = "timestamp:"
RANDOM_LENGTH = 11
#: "Neither Prefix nor ErrorOutputPrefix can be greater than 512 characters after they're
#: evaluated."
MAX_EVALUATED_PREFIX = 512
#: The longest evaluation of the text fields (September, Wednesday, PM, 4th quarter, ...).
WIDEST_INSTANT = datetime(2000, 9, 27, 23, 59, 59, 999999)

_MONTHS = (
    *("January", "February", "March", "April", "May", "June", "July"),
    *("August", "September", "October", "November", "December"),
)
_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_QUARTERS = ("1st quarter", "2nd quarter", "3rd quarter", "4th quarter")
_REFUSED_LETTERS = frozenset("YwWecFVvzOXxZ")
_RESERVED = frozenset("[]#{}")


class PrefixError(ValueError):
    """A Prefix or ErrorOutputPrefix Firehose would reject (the message is AWS-like)."""


class BundlePrefixError(PrefixError):
    """A Prefix Firehose accepts but this pipeline does not (outside ``bundles/``, ...)."""


# --- DateTimeFormatter patterns: parse -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Text:
    """Literal text of a pattern (a quoted literal or a character that is not a letter)."""

    text: str


@dataclass(frozen=True, slots=True)
class Field:
    """A run of one pattern letter: ``yyyy`` is ``Field("y", 4)``."""

    letter: str
    count: int


Token = Text | Field

#: the most letters of each kind Java's DateTimeFormatter accepts (one more: "Too many")
MAX_LETTERS = {
    **dict.fromkeys("uy", 19),
    **dict.fromkeys("GMLQqE", 5),
    "D": 3,
    **dict.fromkeys("dhKkHms", 2),
    "a": 1,
    "S": 9,
    **dict.fromkeys("AnN", 19),
}


def _quoted(pattern: str, start: int) -> tuple[str, int]:
    """The literal of the quote at ``start`` and the position after its closing quote."""
    end = start + 1
    text: list[str] = []
    while end < len(pattern):
        if pattern[end] != "'":
            text.append(pattern[end])
            end += 1
        elif pattern[end + 1 : end + 2] == "'":
            text.append("'")
            end += 2
        else:
            return ("".join(text) if end > start + 1 else "'"), end + 1
    raise PrefixError(f"Pattern ends with an incomplete string literal: {pattern}")


def _field(pattern: str, start: int) -> tuple[Field, int]:
    letter = pattern[start]
    end = start
    while end < len(pattern) and pattern[end] == letter:
        end += 1
    count = end - start
    if letter in _REFUSED_LETTERS:
        raise PrefixError(
            f"Timestamp pattern letter '{letter}' is not evaluated (locale- or zone-dependent): "
            "use y, M, d, H, m, s and the like."
        )
    if letter not in MAX_LETTERS:
        raise PrefixError(f"Unknown pattern letter: {letter}")
    if count > MAX_LETTERS[letter]:
        raise PrefixError(f"Too many pattern letters: {letter}")
    return Field(letter, count), end


def parse_pattern(pattern: str) -> tuple[Token, ...]:
    """The tokens of a DateTimeFormatter pattern; :class:`PrefixError` for what cannot run."""
    tokens: list[Token] = []
    position = 0
    while position < len(pattern):
        char = pattern[position]
        if char == "'":
            text, position = _quoted(pattern, position)
            tokens.append(Text(text))
        elif char.isascii() and char.isalpha():
            field, position = _field(pattern, position)
            tokens.append(field)
        elif char in _RESERVED:
            raise PrefixError(f"Pattern character '{char}' is not supported in '{pattern}'")
        else:
            tokens.append(Text(char))
            position += 1
    return tuple(tokens)


# --- DateTimeFormatter patterns: format ----------------------------------------------------------


def _pad(value: int, count: int) -> str:
    return str(value).zfill(count)


def _text(full: str, count: int) -> str:
    """Short (1-3 letters), full (4) or narrow (5) text."""
    return full[:3] if count <= 3 else full if count == 4 else full[0]


def _year(count: int, moment: datetime) -> str:
    return f"{moment.year % 100:02d}" if count == 2 else _pad(moment.year, count)


def _era(count: int, moment: datetime) -> str:
    return "AD" if count <= 3 else _text("Anno Domini", count)


def _month(count: int, moment: datetime) -> str:
    if count <= 2:
        return _pad(moment.month, count)
    return _text(_MONTHS[moment.month - 1], count)


def _quarter(count: int, moment: datetime) -> str:
    quarter = (moment.month - 1) // 3 + 1
    if count <= 2:
        return _pad(quarter, count)
    return f"Q{quarter}" if count == 3 else _QUARTERS[quarter - 1] if count == 4 else str(quarter)


def _milli_of_day(moment: datetime) -> int:
    seconds = (moment.hour * 60 + moment.minute) * 60 + moment.second
    return seconds * 1000 + moment.microsecond // 1000


def _nano_of_day(moment: datetime) -> int:
    seconds = (moment.hour * 60 + moment.minute) * 60 + moment.second
    return seconds * 1_000_000_000 + moment.microsecond * 1000


_FORMATTERS: dict[str, Callable[[int, datetime], str]] = {
    "G": _era,
    "u": _year,
    "y": _year,
    "D": lambda count, moment: _pad(moment.timetuple().tm_yday, count),
    "M": _month,
    "L": _month,
    "d": lambda count, moment: _pad(moment.day, count),
    "Q": _quarter,
    "q": _quarter,
    "E": lambda count, moment: _text(_DAYS[moment.weekday()], count),
    "a": lambda count, moment: "AM" if moment.hour < 12 else "PM",
    "h": lambda count, moment: _pad(moment.hour % 12 or 12, count),
    "K": lambda count, moment: _pad(moment.hour % 12, count),
    "k": lambda count, moment: _pad(moment.hour or 24, count),
    "H": lambda count, moment: _pad(moment.hour, count),
    "m": lambda count, moment: _pad(moment.minute, count),
    "s": lambda count, moment: _pad(moment.second, count),
    "S": lambda count, moment: f"{moment.microsecond * 1000:09d}"[:count],
    "A": lambda count, moment: _pad(_milli_of_day(moment), count),
    "n": lambda count, moment: _pad(moment.microsecond * 1000, count),
    "N": lambda count, moment: _pad(_nano_of_day(moment), count),
}


def format_tokens(tokens: tuple[Token, ...], moment: datetime) -> str:
    """Parsed tokens formatted at ``moment`` (UTC); never raises."""
    return "".join(
        token.text if isinstance(token, Text) else _FORMATTERS[token.letter](token.count, moment)
        for token in tokens
    )


def format_timestamp(pattern: str, moment: datetime) -> str:
    """``moment`` formatted like Java's ``DateTimeFormatter.ofPattern(pattern)`` (UTC)."""
    return format_tokens(parse_pattern(pattern), moment)


# --- prefixes: parse -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Timestamp:
    """``!{timestamp:<pattern>}``, parsed."""

    tokens: tuple[Token, ...]


@dataclass(frozen=True, slots=True)
class Namespace:
    """``!{firehose:random-string}`` or ``!{firehose:error-output-type}``."""

    name: str


Part = Text | Timestamp | Namespace


def _expression(namespace: str, name: str) -> Timestamp | Namespace:
    if namespace.startswith(TIMESTAMP):
        try:
            return Timestamp(parse_pattern(namespace.removeprefix(TIMESTAMP)))
        except PrefixError as error:
            raise PrefixError(f"{name}: {error}") from error
    if namespace in (RANDOM_STRING, ERROR_OUTPUT_TYPE):
        return Namespace(namespace)
    raise PrefixError(f"Unsupported expression !{{{namespace}}} in {name}.")


def parse_prefix(prefix: str, name: str = "Prefix") -> tuple[Part, ...]:
    """The literal text and expressions of ``prefix``; :class:`PrefixError` for what Firehose
    refuses in one prefix (stray ``!{``, unknown namespaces, patterns that cannot be evaluated).
    """
    parts: list[Part] = []
    position = 0
    for match in EXPRESSION.finditer(prefix):
        parts.append(Text(prefix[position : match.start()]))
        parts.append(_expression(match.group(1).strip(), name))
        position = match.end()
    parts.append(Text(prefix[position:]))
    if any(isinstance(part, Text) and "!{" in part.text for part in parts):
        raise PrefixError(
            f"The sequence !{{ can only appear in !{{namespace:value}} expressions ({name})."
        )
    return tuple(part for part in parts if not (isinstance(part, Text) and not part.text))


def _namespaces(parts: tuple[Part, ...]) -> list[str]:
    """The namespace of each expression (``timestamp:`` for every timestamp), in order."""
    return [
        part.name if isinstance(part, Namespace) else TIMESTAMP
        for part in parts
        if not isinstance(part, Text)
    ]


def static_prefix(prefix: str) -> str:
    """The literal part of a prefix before its first ``!{…}`` expression."""
    return prefix.split("!{", 1)[0]


def effective_prefix(prefix: str) -> str:
    """The Prefix Firehose actually evaluates (default time folders appended when needed)."""
    if TIMESTAMP in _namespaces(parse_prefix(prefix)):
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
    if _namespaces(parse_prefix(error_prefix, "ErrorOutputPrefix")):
        return error_prefix
    return error_prefix + DEFAULT_ERROR_PREFIX


# --- prefixes: format ----------------------------------------------------------------------------


def format_parts(
    parts: tuple[Part, ...],
    moment: datetime,
    random: Callable[[], str],
    error_output_type: str | None = None,
) -> str:
    """Parsed parts evaluated for one object; ``random`` is called for each random string."""
    out: list[str] = []
    for part in parts:
        if isinstance(part, Text):
            out.append(part.text)
        elif isinstance(part, Timestamp):
            out.append(format_tokens(part.tokens, moment))
        elif part.name == RANDOM_STRING:
            out.append(random())
        elif error_output_type is not None:
            out.append(error_output_type)
        else:
            raise PrefixError(f"Cannot evaluate !{{{part.name}}} here.")
    return "".join(out)


def evaluate(
    prefix: str,
    oldest_arrival: datetime,
    *,
    random: Callable[[], str],
    error_output_type: str | None = None,
) -> str:
    """Evaluate every expression of ``prefix`` for one delivered object (no default folders:
    pass :func:`effective_prefix` for that).

    Raises :class:`PrefixError` if the result is longer than 512 characters (validation makes
    that impossible for the prefixes :func:`validate_prefixes` accepts).
    """
    evaluated = format_parts(parse_prefix(prefix), oldest_arrival, random, error_output_type)
    if len(evaluated) > MAX_EVALUATED_PREFIX:
        raise PrefixError(
            f"Evaluated prefix is {len(evaluated)} characters; the limit is "
            f"{MAX_EVALUATED_PREFIX}: {evaluated[:80]}..."
        )
    return evaluated


# --- validation ----------------------------------------------------------------------------------


def _widest(prefix: str, name: str) -> None:
    widest = format_parts(
        parse_prefix(prefix, name), WIDEST_INSTANT, lambda: "r" * RANDOM_LENGTH, "x" * 24
    )
    if len(widest) > MAX_EVALUATED_PREFIX:
        raise PrefixError(
            f"{name} can evaluate to {len(widest)} characters; the limit is {MAX_EVALUATED_PREFIX}."
        )


def validate_prefixes(prefix: str, error_prefix: str) -> None:
    """Raise :class:`PrefixError` for the combinations Firehose refuses at create time."""
    namespaces = _namespaces(parse_prefix(prefix, "Prefix"))
    error_namespaces = _namespaces(parse_prefix(error_prefix, "ErrorOutputPrefix"))
    if ERROR_OUTPUT_TYPE in namespaces:
        raise PrefixError("The expression !{firehose:error-output-type} is not allowed in Prefix.")
    if namespaces and not error_prefix:
        raise PrefixError(
            "ErrorOutputPrefix cannot be null or empty when Prefix contains expressions."
        )
    if error_namespaces and ERROR_OUTPUT_TYPE not in error_namespaces:
        raise PrefixError(
            "ErrorOutputPrefix contains expressions, so it must contain at least one "
            "!{firehose:error-output-type}."
        )
    _widest(effective_prefix(prefix), "Prefix")
    _widest(effective_error_prefix(error_prefix, prefix), "ErrorOutputPrefix")


def validate_bundle_prefix(expression: str) -> None:
    """The bundle ``Prefix`` rules every side checks: under :data:`BUNDLE_ROOT`, ending ``/``
    (one folder per time bucket), a Prefix Firehose accepts (error prefix checked separately).
    """
    if not expression.startswith(BUNDLE_ROOT) or not expression.endswith("/"):
        raise BundlePrefixError(f"a prefix starting with {BUNDLE_ROOT!r} and ending '/'")
    if ERROR_OUTPUT_TYPE_EXPRESSION in expression:
        raise BundlePrefixError(
            f"no {ERROR_OUTPUT_TYPE_EXPRESSION} (allowed only in the error prefix)"
        )
    parse_prefix(expression)
    _widest(effective_prefix(expression), "Prefix")
