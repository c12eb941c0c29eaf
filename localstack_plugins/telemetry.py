"""Failed publishes of the emulator's own telemetry: logged once per cause, counted, shown.

The metrics and logs AWS services publish by themselves (``AWS/Firehose``, ``AWS/Lambda``, the
functions' CloudWatch Logs and their EMF metrics) are published inside the LocalStack process by
:mod:`localstack_plugins.cloudwatch_batch` and :mod:`localstack_plugins.lambda_logs`. A publish
that fails must not break the service, nor vanish without a word: the alarms, ``aggregator
status`` and the capacity bench read those metrics. :data:`FAILURES` logs the first failure of
each cause (what was published, the error's type) at WARNING, counts every one, and writes the
counts to the file named by :data:`TELEMETRY_FILE_VARIABLE` (the state folder's
``telemetry-failures.json``), which ``aggregator local status`` reads (:func:`failures_in`).
Standard library only: the CLI imports this module without LocalStack.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path

LOG = logging.getLogger(__name__)
TELEMETRY_FILE_VARIABLE = "AGGREGATOR_TELEMETRY_FILE"


class FailureCounter:
    """Counts failed publishes per cause; warns on the first of each cause."""

    def __init__(self, path: Path | None = None) -> None:
        self._path = path
        self._lock = threading.Lock()
        self._counts: dict[str, int] = {}
        self._last: dict[str, str] = {}

    def record(self, what: str, error: BaseException) -> None:
        cause = f"{what}: {type(error).__name__}"
        with self._lock:
            first = cause not in self._counts
            self._counts[cause] = self._counts.get(cause, 0) + 1
            self._last[cause] = str(error)[:500]
            document = {
                cause: {"count": count, "last_error": self._last[cause]}
                for cause, count in self._counts.items()
            }
            if self._path is not None:
                try:
                    self._path.write_text(json.dumps(document, indent=1))
                except OSError as write_error:  # the count stays in the log then
                    LOG.warning("telemetry failure counts not written: %s", write_error)
        if first:
            LOG.warning(
                "%s failed (%s); further failures of this cause are only counted "
                "(aggregator local status shows the counts)",
                what,
                error,
            )

    def counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)


def _default_path() -> Path | None:
    value = os.environ.get(TELEMETRY_FILE_VARIABLE)
    return Path(value) if value else None


FAILURES = FailureCounter(_default_path())


def failures_in(path: Path) -> dict[str, int]:
    """The counts per cause written to ``path`` (empty when nothing failed)."""
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(document, dict):
        return {}
    return {
        str(cause): int(entry.get("count", 0))
        for cause, entry in document.items()
        if isinstance(entry, dict)
    }
