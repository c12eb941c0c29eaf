"""AWS error codes with one meaning everywhere: the one home of "not found" and "access denied".

S3 answers a missing object, a missing version and a version that is a delete marker with
different codes depending on the call (GET/HEAD, versioned or not): ``NoSuchKey``,
``NoSuchVersion``, a bare ``404``/``NotFound`` for HEAD, ``405``/``MethodNotAllowed`` for a
delete-marker version. Without ``s3:ListBucket`` S3 answers ``AccessDenied`` for a missing key,
which is why access denied is its own outcome, reported as such, never folded into "missing".
"""

from __future__ import annotations

NOT_FOUND_CODES = frozenset(
    {"NoSuchKey", "NoSuchVersion", "404", "NotFound", "405", "MethodNotAllowed"}
)
ACCESS_DENIED_CODES = frozenset({"AccessDenied", "403", "Forbidden", "AllAccessDisabled"})


class AggregatorError(Exception):
    """Base of every error this project raises on purpose; the CLI maps its kinds to exit codes.

    Subclass :class:`ConfigError`, :class:`UsageError` or :class:`TransientError`, never this
    class directly: the kind decides the exit code (``scripts/cli.py``'s table).
    """


class ConfigError(AggregatorError, ValueError):
    """A configuration value (config file, Lambda environment) is invalid: fix it, then retry."""


class UsageError(AggregatorError, ValueError):
    """A command was called wrongly (arguments, missing confirmation): call it differently."""


class TransientError(AggregatorError):
    """A condition that may clear by itself (a lock, a full disk, throttling): run again later."""
