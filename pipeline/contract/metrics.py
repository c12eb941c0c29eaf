"""The pipeline's own CloudWatch metrics: their namespace and names, the one home of each.

The functions emit them (Powertools EMF, dimension ``service`` = the function); the templates'
alarms and dashboard, ``aggregator status`` and the tests read them by these names.
"""

from __future__ import annotations

#: the namespace of every metric the functions emit (their ``POWERTOOLS_METRICS_NAMESPACE``)
NAMESPACE = "S3Aggregator"

# --- ingest
REFERENCES_PUT = "ReferencesPut"
REFERENCES_REJECTED = "ReferencesRejected"

# --- transform
FILES_INLINED = "FilesInlined"
FILES_DIRECT = "FilesDirect"
DIRECT_BUNDLES = "DirectBundles"
FETCH_RETRIES = "FetchRetries"
#: files put back into the stream (Dropped + re-put) in one invocation
FILES_DEFERRED = "FilesDeferred"
#: now - S3 event time of the oldest reference packed (inline or direct) in one invocation;
#: a re-put does not reset it, unlike Firehose's DataFreshness
OLDEST_REFERENCE_AGE_SECONDS = "OldestReferenceAgeSeconds"
#: one per failure reason class (transforms/outcomes.py maps the reasons to these)
OBJECTS_MISSING = "ObjectsMissing"
OBJECTS_ACCESS_DENIED = "ObjectsAccessDenied"
REFERENCES_UNREADABLE = "ReferencesUnreadable"
FILES_DEFERRED_TOO_OFTEN = "FilesDeferredTooOften"
FILES_TOO_OLD = "FilesTooOld"
OBJECTS_UNREADABLE = "ObjectsUnreadable"
REPUTS_FAILED = "ReputsFailed"

# --- copier
BUNDLES_STAGED = "BundlesStaged"
BUNDLE_BYTES = "BundleBytes"
#: one value per file: landing to staged in Distribution, seconds (the SLO's measure)
FILE_AGE_SECONDS = "FileAgeSeconds"
#: the oldest file of one staged bundle, seconds
BUNDLE_MAX_FILE_AGE_SECONDS = "BundleMaxFileAgeSeconds"
#: a staged bundle whose file ages could not be measured
FILE_AGE_UNMEASURED = "FileAgeUnmeasured"
#: canary files (Landing keys under ``_canary/``) in one staged bundle; no data while none
#: arrives, which the CanaryMissing alarm treats as breaching ("broken, not idle")
CANARIES_DELIVERED = "CanariesDelivered"
#: one value per canary file: landing to staged in Distribution, seconds (also in FileAgeSeconds)
CANARY_AGE_SECONDS = "CanaryAgeSeconds"

# --- canary
#: canary files put into Landing by the scheduled canary function
CANARIES_PUT = "CanariesPut"

# --- monitor (gauges: read as Maximum, not Sum)
DISTRIBUTION_BACKLOG_COUNT = "DistributionBacklogCount"
DISTRIBUTION_OLDEST_AGE_SECONDS = "DistributionOldestAgeSeconds"
GAUGES = frozenset({DISTRIBUTION_BACKLOG_COUNT, DISTRIBUTION_OLDEST_AGE_SECONDS})
