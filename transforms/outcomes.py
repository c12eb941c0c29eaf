"""Why a record ends as ``ProcessingFailed``: the reason classes, each with its own metric.

Firehose writes the original record to the error output with its own ``errorCode`` and
``errorMessage`` (``Lambda.ProcessingFailed``); the transform's reason never reaches it. So the
reason travels here: one structured log line per failed record (key, version id, record id,
reason class, detail) and one metric per reason class, all named in this one place.
"""

from __future__ import annotations

import enum


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
    FailureReason.MISSING: "ObjectsMissing",
    FailureReason.ACCESS_DENIED: "ObjectsAccessDenied",
    FailureReason.UNREADABLE_REFERENCE: "ReferencesUnreadable",
    FailureReason.TOO_MANY_DEFERRALS: "FilesDeferredTooOften",
    FailureReason.TOO_OLD: "FilesTooOld",
    FailureReason.READ_FAILED: "ObjectsUnreadable",
    FailureReason.REPUT_FAILED: "ReputsFailed",
}

#: files put back into the stream (Dropped + re-put) in one invocation
DEFERRED_METRIC = "FilesDeferred"
#: now - S3 event time of the oldest reference packed (inline or direct) in one invocation;
#: a re-put does not reset it, unlike Firehose's DataFreshness
OLDEST_REFERENCE_AGE_METRIC = "OldestReferenceAgeSeconds"
