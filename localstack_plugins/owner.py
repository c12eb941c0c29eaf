"""Stop the embedded LocalStack when the process that started it is gone.

``aggregator local up`` starts a LocalStack meant to outlive the command. The test suite and
``aggregator demo`` start one they own: they stop it when they finish, but a ``SIGKILL`` (an
out-of-memory kill, a CI timeout) skips their clean-up. For those, the launcher gets the owner's
pid in ``AGGREGATOR_LOCALSTACK_OWNER_PID`` and a daemon thread watches it: when the owner is gone,
the launcher's whole process group (LocalStack and its Lambda workers) gets ``SIGKILL``. Nothing
graceful is left to do then: nobody is using the instance, and a ``SIGTERM`` first would let the
launcher exit (taking this thread with it) before a worker that ignores ``SIGTERM``.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

OWNER_PID_VARIABLE = "AGGREGATOR_LOCALSTACK_OWNER_PID"
POLL_SECONDS = 1.0


def alive(pid: int) -> bool:
    """True while ``pid`` exists (a zombie counts as gone: it has exited)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
        state = stat.rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    except OSError:  # no /proc: fall back to a signal-0 probe
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    return state != "Z"


def watch(owner_pid: int, on_gone: Callable[[], None], poll_seconds: float = POLL_SECONDS) -> None:
    """Call ``on_gone`` (in a daemon thread) once ``owner_pid`` has exited."""

    def run() -> None:
        while alive(owner_pid):
            time.sleep(poll_seconds)
        on_gone()

    threading.Thread(target=run, name="owner-watch", daemon=True).start()


def kill_own_group() -> None:
    """SIGKILL this process's group (the launcher leads its own session and group)."""
    os.killpg(os.getpgid(0), signal.SIGKILL)


def install() -> None:
    """Watch the owner named in the environment, if any."""
    value = os.environ.get(OWNER_PID_VARIABLE)
    if value:
        watch(int(value), kill_own_group)
