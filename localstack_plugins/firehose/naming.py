"""Firehose S3 object keys: prefix expressions and the default object name (pure functions).

- ``!{timestamp:<Java DateTimeFormatter pattern>}`` is evaluated, in UTC, at the approximate
  arrival time of the oldest record of the delivered batch;
- ``!{firehose:random-string}`` is an 11-character random string, the same within one key;
- ``!{firehose:error-output-type}`` (error prefix only) is e.g. ``processing-failed``;
- a prefix without a timestamp expression gets ``yyyy/MM/dd/HH/`` appended, as Firehose does;
- object name: ``<stream>-<version>-<yyyy-MM-dd-HH-mm-ss>-<uuid>`` plus the file extension
  (``.gz`` for GZIP unless ``FileExtension`` says otherwise).
"""

from __future__ import annotations

import re
import secrets
import string
import uuid
from collections.abc import Callable
from datetime import datetime

EXPRESSION = re.compile(r"!\{([^}]*)\}")
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
DEFAULT_TIME_PREFIX = "!{timestamp:yyyy/MM/dd/HH}/"
DEFAULT_ERROR_PREFIX = "!{firehose:error-output-type}/" + DEFAULT_TIME_PREFIX
EXTENSIONS = {"GZIP": ".gz", "ZIP": ".zip", "Snappy": ".snappy", "HADOOP_SNAPPY": ".snappy"}
RANDOM_ALPHABET = string.ascii_letters + string.digits


class PrefixError(ValueError):
    """A Prefix or ErrorOutputPrefix Firehose would reject (message is AWS-like)."""


def java_pattern_to_strftime(pattern: str) -> str:
    """Translate the DateTimeFormatter fields Firehose users put in prefixes to strftime."""
    out: list[str] = []
    position = 0
    for match in _LETTER_RUN.finditer(pattern):
        out.append(pattern[position : match.start()].replace("%", "%%"))
        field = match.group(0)
        if field not in _JAVA_FIELDS:
            raise PrefixError(f"Unsupported timestamp pattern '{field}' in '{pattern}'")
        out.append(_JAVA_FIELDS[field])
        position = match.end()
    out.append(pattern[position:].replace("%", "%%"))
    return "".join(out)


def _namespaces(prefix: str) -> list[str]:
    return [m.group(1).strip() for m in EXPRESSION.finditer(prefix)]


def validate_prefixes(prefix: str, error_prefix: str) -> None:
    """Raise :class:`PrefixError` for the combinations Firehose refuses at create time."""
    for name, value in (("Prefix", prefix), ("ErrorOutputPrefix", error_prefix)):
        for namespace in _namespaces(value):
            if namespace.startswith("timestamp:"):
                java_pattern_to_strftime(namespace.removeprefix("timestamp:"))
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


def effective_prefix(prefix: str) -> str:
    """The Prefix Firehose actually evaluates (default time folders appended when needed)."""
    if any(ns.startswith("timestamp:") for ns in _namespaces(prefix)):
        return prefix
    return prefix + DEFAULT_TIME_PREFIX


def effective_error_prefix(error_prefix: str) -> str:
    if not error_prefix:
        return DEFAULT_ERROR_PREFIX
    if _namespaces(error_prefix):
        return error_prefix
    return error_prefix + DEFAULT_ERROR_PREFIX


def random_string() -> str:
    return "".join(secrets.choice(RANDOM_ALPHABET) for _ in range(11))


def evaluate(
    prefix: str,
    oldest_arrival: datetime,
    error_output_type: str | None = None,
    random: Callable[[], str] = random_string,
) -> str:
    """Evaluate every expression of ``prefix`` for one delivered object."""
    token = random()

    def replace(match: re.Match[str]) -> str:
        namespace = match.group(1).strip()
        if namespace.startswith("timestamp:"):
            fmt = java_pattern_to_strftime(namespace.removeprefix("timestamp:"))
            return oldest_arrival.strftime(fmt)
        if namespace == "firehose:random-string":
            return token
        if namespace == "firehose:error-output-type" and error_output_type is not None:
            return error_output_type
        raise PrefixError(f"Cannot evaluate !{{{namespace}}} here.")

    return EXPRESSION.sub(replace, prefix)


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
