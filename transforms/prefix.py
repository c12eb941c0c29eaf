"""Firehose's custom prefix expressions, evaluated for direct bundles as Firehose evaluates them.

A direct bundle (a file too large to inline, written by the transform itself) must land where
Firehose would have put it: under the stream's configured ``Prefix``. Firehose evaluates
``!{timestamp:<Java DateTimeFormatter pattern>}`` in UTC at the arrival time of the oldest record
(for a direct bundle: its reference's record), ``!{firehose:random-string}`` as 11 random
characters (here: derived from the reference, so a retried batch rewrites the same key), and
appends ``yyyy/MM/dd/HH/`` to a prefix without a timestamp expression.
"""

from __future__ import annotations

import re
from datetime import datetime

EXPRESSION = re.compile(r"!\{([^}]*)\}")
DEFAULT_TIME_FOLDERS = "!{timestamp:yyyy/MM/dd/HH}/"
#: the DateTimeFormatter fields a prefix may use, as strftime directives
_JAVA_FIELDS = {
    "yyyy": "%Y",
    "yy": "%y",
    "MM": "%m",
    "dd": "%d",
    "HH": "%H",
    "mm": "%M",
    "ss": "%S",
}
_LETTER_RUN = re.compile(r"([A-Za-z])\1*")


class PrefixExpressionError(ValueError):
    """A prefix expression Firehose (and so the direct path) cannot evaluate."""


def strftime_pattern(java_pattern: str) -> str:
    out: list[str] = []
    position = 0
    for match in _LETTER_RUN.finditer(java_pattern):
        out.append(java_pattern[position : match.start()].replace("%", "%%"))
        field = match.group(0)
        if field not in _JAVA_FIELDS:
            raise PrefixExpressionError(
                f"unsupported timestamp field {field!r} in {java_pattern!r} "
                f"(use {', '.join(_JAVA_FIELDS)})"
            )
        out.append(_JAVA_FIELDS[field])
        position = match.end()
    out.append(java_pattern[position:].replace("%", "%%"))
    return "".join(out)


def effective(expression: str) -> str:
    """The prefix Firehose evaluates: time folders appended when there is no timestamp."""
    namespaces = [m.group(1).strip() for m in EXPRESSION.finditer(expression)]
    if any(namespace.startswith("timestamp:") for namespace in namespaces):
        return expression
    return expression + DEFAULT_TIME_FOLDERS


def validate(expression: str) -> None:
    """Raise :class:`PrefixExpressionError` unless every expression can be evaluated."""
    for match in EXPRESSION.finditer(expression):
        namespace = match.group(1).strip()
        if namespace.startswith("timestamp:"):
            strftime_pattern(namespace.removeprefix("timestamp:"))
        elif namespace != "firehose:random-string":
            raise PrefixExpressionError(f"unsupported expression !{{{namespace}}} in a Prefix")


def evaluate(expression: str, arrival: datetime, random_string: str) -> str:
    """The prefix for one object arriving at ``arrival`` (UTC)."""

    def replace(match: re.Match[str]) -> str:
        namespace = match.group(1).strip()
        if namespace.startswith("timestamp:"):
            return arrival.strftime(strftime_pattern(namespace.removeprefix("timestamp:")))
        if namespace == "firehose:random-string":
            return random_string
        raise PrefixExpressionError(f"unsupported expression !{{{namespace}}} in a Prefix")

    return EXPRESSION.sub(replace, effective(expression))
