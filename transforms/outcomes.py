"""Why a record ends as ``ProcessingFailed``: the reason classes, each with its own metric.

Firehose writes the original record to the error output with its own ``errorCode`` and
``errorMessage`` (``Lambda.ProcessingFailed``); the transform's reason never reaches it. So the
reason travels here: one structured log line per failed record (key, version id, record id,
reason class, detail) and one metric per reason class (named in pipeline/contract/metrics.py).
"""

from __future__ import annotations

import enum

from pipeline.contract import metrics


class FailureReason(enum.Enum):
    """A reason class: its value is the log field, :attr:`metric` the metric name."""

    MISSING = "missing"
    ACCESS_DENIED = "access-denied"
    UNREADABLE_REFERENCE = "unreadable-reference"
    TOO_MANY_DEFERRALS = "too-many-deferrals"
    TOO_OLD = "too-old"
    READ_FAILED = "read-failed"
    REPUT_FAILED = "reput-failed"

    @property
    def metric(self) -> str:
        return _METRICS[self]


_METRICS = {
    FailureReason.MISSING: metrics.OBJECTS_MISSING,
    FailureReason.ACCESS_DENIED: metrics.OBJECTS_ACCESS_DENIED,
    FailureReason.UNREADABLE_REFERENCE: metrics.REFERENCES_UNREADABLE,
    FailureReason.TOO_MANY_DEFERRALS: metrics.FILES_DEFERRED_TOO_OFTEN,
    FailureReason.TOO_OLD: metrics.FILES_TOO_OLD,
    FailureReason.READ_FAILED: metrics.OBJECTS_UNREADABLE,
    FailureReason.REPUT_FAILED: metrics.REPUTS_FAILED,
}

#: the names pipeline/contract/metrics.py gives them (imported here by the handler and alarms)
DEFERRED_METRIC = metrics.FILES_DEFERRED
OLDEST_REFERENCE_AGE_METRIC = metrics.OLDEST_REFERENCE_AGE_SECONDS
