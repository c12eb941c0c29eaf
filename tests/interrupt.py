"""pytest plugin: SIGTERM stops the run like Ctrl-C, so session fixtures are still torn down.

Python's default SIGTERM action ends the process at once, skipping every fixture finalizer — the
session's embedded LocalStack among them. CI runners and ``timeout`` send SIGTERM first; with
this plugin pytest reports the run as interrupted and tears down as on ``KeyboardInterrupt``.
(A SIGKILL skips all clean-up; ``localstack_plugins/owner.py`` covers that case.)
"""

from __future__ import annotations

import signal
import threading
from types import FrameType

import pytest


def _interrupt(signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"stopped by signal {signum}")


def pytest_configure(config: pytest.Config) -> None:
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _interrupt)
