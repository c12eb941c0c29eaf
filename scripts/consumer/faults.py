"""Fault injection for the crash-safety tests: die abruptly at a named step of the consumer.

Set ``AGGREGATOR_CONSUMER_CRASH_AT=<step>`` and the consumer calls ``os._exit(86)`` the first time
it reaches that step: no cleanup, no flush, no ``finally`` blocks, like ``kill -9``. Unset (the
normal case), :func:`crash_point` does nothing. The steps, in the order they happen for one
bundle: ``download``, ``verified``, ``begun``, ``renamed``, ``recorded``, ``unpacked``,
``finished``, ``deleted`` (tests/unit/consumer/test_crash.py kills the consumer at each).
"""

from __future__ import annotations

import os

CRASH_VARIABLE = "AGGREGATOR_CONSUMER_CRASH_AT"
CRASH_EXIT_CODE = 86


def crash_point(step: str) -> None:
    """Exit the process at once if the crash variable names ``step``."""
    if os.environ.get(CRASH_VARIABLE) == step:
        os._exit(CRASH_EXIT_CODE)
