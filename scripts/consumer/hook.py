"""The ``--on-bundle CMD`` hook: run ``CMD <manifest path>`` after each manifest, retried until it
succeeds, a bounded number of times, across restarts.

Before a manifest is written, a *pending* record for it is written atomically into the consumer's
state folder (``hooks-pending/<manifest name>.json``); the hook's success removes it. A failure
(non-zero exit, a timeout, a command that cannot start) is logged, counted, and the record keeps
the attempts: :meth:`HookRunner.retry_pending` (at the start of every pass, so after a restart
too) runs it again, and after :data:`MAX_ATTEMPTS` failures the record moves to
``hooks-failed/`` and is no longer tried (an ERROR log line names the manifest and the command to
run by hand). A record whose manifest does not exist (the consumer was killed between the two
writes) is dropped: the bundle is still in Distribution and is delivered again, with its record.

The hook runs after the bundle's files are durable and recorded and never changes that: a failing
hook does not un-deliver a file, and the bundle is marked done and deleted from Distribution
whatever the hook does. A hook may run more than once for one manifest (a crash after it succeeded
but before its record was removed): make it idempotent, e.g. keyed on the manifest's name.
"""

from __future__ import annotations

import contextlib
import json
import logging
import shlex
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from scripts.consumer.hostfaults import host_operation
from scripts.consumer.manifest import write_atomically

LOG = logging.getLogger("aggregator.consumer")

PENDING_DIR = "hooks-pending"
FAILED_DIR = "hooks-failed"
#: runs of one manifest's hook before it is given up (the first run, then one per pass)
MAX_ATTEMPTS = 5
DEFAULT_TIMEOUT_SECONDS = 60.0
_OUTPUT_TAIL = 500  # characters of the hook's output kept in the log line


@dataclass(frozen=True, slots=True)
class HookOutcome:
    ok: bool
    detail: str  # "exit 3: <stderr tail>", "timed out after 60 s", ...


class HookObserver(Protocol):
    """What the runner reports (the metrics implement it)."""

    def hook_failed(self, abandoned: bool) -> None: ...
    def hooks_waiting(self, count: int) -> None: ...


class _Silent:
    def hook_failed(self, abandoned: bool) -> None:
        pass

    def hooks_waiting(self, count: int) -> None:
        pass


class HookRunner:
    """Runs ``command`` (a shell-like string, split with :func:`shlex.split`, no shell) with a
    manifest's path as its last argument; keeps the pending records in ``state_dir``."""

    def __init__(
        self,
        command: str,
        state_dir: Path,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        observer: HookObserver | None = None,
        run: Callable[[list[str], float], HookOutcome] | None = None,
    ) -> None:
        self._argv = shlex.split(command)
        if not self._argv:
            raise ValueError("--on-bundle needs a command")
        self._pending = state_dir / PENDING_DIR
        self._failed = state_dir / FAILED_DIR
        self._timeout = timeout
        self._observer: HookObserver = observer or _Silent()
        self._run = run or run_command

    def prepare(self, manifest: Path) -> None:
        """Record that ``manifest``'s hook must run (before the manifest is written)."""
        record = self._record(manifest)
        if not record.exists():
            self._write(record, manifest, attempts=0, last_error="")

    def run(self, manifest: Path) -> bool:
        """Run the hook for a manifest just written; a failure stays pending. True on success."""
        ok = self._attempt(self._record(manifest), manifest)
        self._report_waiting()
        return ok

    def retry_pending(self) -> int:
        """Run the hook of every pending manifest again (oldest first); how many succeeded."""
        with host_operation(self._pending):
            records = sorted(self._pending.glob("*.json")) if self._pending.is_dir() else []
        succeeded = 0
        for record in records:
            try:
                manifest = Path(json.loads(record.read_text(encoding="utf-8"))["manifest"])
            except (OSError, ValueError, KeyError, TypeError):
                LOG.warning("unreadable pending hook record removed", extra={"path": str(record)})
                record.unlink(missing_ok=True)
                continue
            if not manifest.exists():  # killed between the record and the manifest
                record.unlink(missing_ok=True)
                continue
            succeeded += self._attempt(record, manifest)
        self._report_waiting()
        return succeeded

    def pending(self) -> list[str]:
        """Names of the manifests whose hook has not succeeded yet."""
        if not self._pending.is_dir():
            return []
        return sorted(p.name.removesuffix(".json") for p in self._pending.glob("*.json"))

    # ------------------------------------------------------------------------------ internals

    def _attempt(self, record: Path, manifest: Path) -> bool:
        attempts = self._attempts(record) + 1
        outcome = self._run([*self._argv, str(manifest)], self._timeout)
        if outcome.ok:
            with host_operation(record):
                record.unlink(missing_ok=True)
            return True
        abandoned = attempts >= MAX_ATTEMPTS
        self._observer.hook_failed(abandoned)
        if abandoned:
            with host_operation(self._failed):
                self._failed.mkdir(parents=True, exist_ok=True)
                record.replace(self._failed / record.name)
            LOG.error(
                "--on-bundle hook failed every attempt; given up (run it by hand)",
                extra={
                    "manifest": str(manifest),
                    "attempts": attempts,
                    "reason": outcome.detail,
                    "command": shlex.join([*self._argv, str(manifest)]),
                },
            )
        else:
            self._write(record, manifest, attempts, outcome.detail)
            LOG.warning(
                "--on-bundle hook failed; retried at the next pass (the files are delivered)",
                extra={"manifest": str(manifest), "attempts": attempts, "reason": outcome.detail},
            )
        return False

    def _record(self, manifest: Path) -> Path:
        return self._pending / f"{manifest.name}.json"

    @staticmethod
    def _attempts(record: Path) -> int:
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            return int(json.loads(record.read_text(encoding="utf-8"))["attempts"])
        return 0

    @staticmethod
    def _write(record: Path, manifest: Path, attempts: int, last_error: str) -> None:
        data = {"manifest": str(manifest), "attempts": attempts, "last_error": last_error}
        write_atomically(record, (json.dumps(data) + "\n").encode())

    def _report_waiting(self) -> None:
        self._observer.hooks_waiting(len(self.pending()))


def run_command(argv: list[str], timeout: float) -> HookOutcome:
    """Run ``argv`` (no shell, stdin closed); ok when it exits 0 within ``timeout`` seconds."""
    try:
        result = subprocess.run(
            argv,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return HookOutcome(False, f"timed out after {timeout:g} s")
    except OSError as error:
        return HookOutcome(False, f"cannot run {argv[0]!r}: {error}")
    if result.returncode != 0:
        tail = (result.stderr or result.stdout).strip()[-_OUTPUT_TAIL:]
        return HookOutcome(False, f"exit {result.returncode}: {tail}")
    return HookOutcome(True, "")
