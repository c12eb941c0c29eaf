"""Fault injection for the crash-safety tests: die abruptly at a named step of the consumer.

Set ``AGGREGATOR_CONSUMER_CRASH_AT=<step>`` and the consumer calls ``os._exit(86)`` the first time
it reaches that step: no cleanup, no flush, no ``finally`` blocks, like ``kill -9``. Unset (the
normal case), :func:`crash_point` does nothing.
"""

from __future__ import annotations

import os

CRASH_VARIABLE = "AGGREGATOR_CONSUMER_CRASH_AT"
CRASH_EXIT_CODE = 86

#: Every step at which the consumer can be killed, in the order they happen for one bundle.
STEPS = (
    "download",  # part of the bundle is in the local temporary file
    "verified",  # the whole bundle is downloaded and its SHA-256 checked
    "begun",  # the ledger says the bundle is in progress, nothing unpacked yet
    "renamed",  # a batch of files is renamed into place and fsync'd, not yet in the ledger
    "recorded",  # a batch of files is recorded in the ledger (more may follow)
    "unpacked",  # every member is on disk and recorded; the bundle is not yet marked done
    "finished",  # the bundle is marked done in the ledger, not yet deleted from Distribution
    "deleted",  # the bundle is deleted from Distribution
)


def crash_point(step: str) -> None:
    """Exit the process at once if the crash variable names ``step``."""
    if os.environ.get(CRASH_VARIABLE) == step:
        os._exit(CRASH_EXIT_CODE)
