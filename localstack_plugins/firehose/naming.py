"""Firehose S3 object keys for the emulator: prefix expressions and the default object name.

The expression grammar, its validator and its evaluator are the project's one copy in
:mod:`pipeline.contract.prefixes` (the rules of the Firehose guide are listed there); this module
adds what only the emulator needs: fresh random strings and Firehose's default object name
(``<stream>-<version>-<yyyy-MM-dd-HH-mm-ss>-<uuid>`` plus the file extension, ``.gz`` for GZIP
unless ``FileExtension`` says otherwise).
"""

from __future__ import annotations

import secrets
import string
import uuid
from collections.abc import Callable
from datetime import datetime

from pipeline.contract import prefixes
from pipeline.contract.prefixes import (
    DEFAULT_ERROR_PREFIX,
    DEFAULT_TIME_PREFIX,
    ERROR_OUTPUT_TYPE_EXPRESSION,
    EXPRESSION,
    MAX_EVALUATED_PREFIX,
    RANDOM_LENGTH,
    PrefixError,
    effective_error_prefix,
    effective_prefix,
    format_timestamp,
    validate_prefixes,
)

__all__ = [
    "DEFAULT_ERROR_PREFIX",
    "DEFAULT_TIME_PREFIX",
    "ERROR_OUTPUT_TYPE_EXPRESSION",
    "EXPRESSION",
    "EXTENSIONS",
    "MAX_EVALUATED_PREFIX",
    "PrefixError",
    "effective_error_prefix",
    "effective_prefix",
    "evaluate",
    "format_timestamp",
    "object_name",
    "random_string",
    "validate_prefixes",
]

EXTENSIONS = {"GZIP": ".gz", "ZIP": ".zip", "Snappy": ".snappy", "HADOOP_SNAPPY": ".snappy"}
RANDOM_ALPHABET = string.ascii_letters + string.digits


def random_string() -> str:
    return "".join(secrets.choice(RANDOM_ALPHABET) for _ in range(RANDOM_LENGTH))


def evaluate(
    prefix: str,
    oldest_arrival: datetime,
    error_output_type: str | None = None,
    random: Callable[[], str] = random_string,
) -> str:
    """Evaluate every expression of ``prefix`` for one delivered object (a new random string for
    every occurrence, as Firehose does)."""
    return prefixes.evaluate(
        prefix, oldest_arrival, random=random, error_output_type=error_output_type
    )


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
