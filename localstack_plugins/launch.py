"""Entry point of the embedded LocalStack process: ``python -m localstack_plugins.launch``.

Runs LocalStack's own runtime entry point in host mode after launch-time patches, applied through
their registry (:mod:`localstack_plugins.patches`: version and targets checked first; the state
folder gets ``patches.json``, what applied). Two keep it on this machine's loopback and inside the
project's state folder:

- the twisted gateway listens on every interface whatever ``GATEWAY_LISTEN`` says; it is made to
  bind to the configured host (127.0.0.1);
- S3 object data defaults to the fixed folder ``/tmp/localstack-s3-storage``, shared by every
  instance on the machine; it is moved under ``TMPDIR`` (the state folder).

Three remove throughput limits that are artefacts of LocalStack, not of AWS (measured; see
docs/localstack.md, "Throughput"):

- S3 event notifications of every bucket go through one FIFO pool of 3 threads, so a burst of
  landing events delays the notifications of other buckets by minutes; the pool gets
  ``S3_NOTIFICATION_THREADS`` threads;
- asynchronous Lambda invocations are run by a pool of ``min(32, cpus + 4)`` threads per function
  (6 here), which caps every function at 6 concurrent executions; the pool gets
  ``LAMBDA_ASYNC_INVOKERS`` threads (concurrency limits are still enforced by LocalStack's
  counting service, as reserved/account concurrency on AWS);
- CloudWatch metric data is committed to SQLite with an fsync per call; the store is ephemeral
  (``PERSISTENCE=0``), so it is written without fsync;
- Lambda's ``AWS/Lambda`` invocation metrics cost a thread and a ``PutMetricData`` per invocation;
  they are counted and published once per second (:mod:`localstack_plugins.lambda_metrics`);
- Lambda's CloudWatch Logs cost a ``PutLogEvents`` per invocation; what is queued is sent in
  batches per stream (:mod:`localstack_plugins.lambda_logs`), and their EMF documents become
  metrics as on AWS (:mod:`localstack_plugins.lambda_emf`);
- metric alarms are evaluated every minute as on AWS, not every ``EvaluationPeriods x Period``,
  and their history carries real UTC timestamps (:mod:`localstack_plugins.cloudwatch_alarms`);
- a fault-injection hook (:mod:`localstack_plugins.faults`), inert until a test sets a rule
  through ``/_localstack/aggregator/faults``;
- S3's Lambda notifications and the asynchronous-invoke poller call the Lambda provider directly
  instead of sending a request through the whole chain (:mod:`localstack_plugins.direct_invoke`);
- the response serializer parses every timestamp *string* it writes to a header (S3's
  ``Last-Modified`` on every GET/HEAD) with dateutil (~6 % of the CPU while the transform
  fetches); equal strings now share one parse (an LRU cache of a pure function);
- the response serializer matches the ``Accept`` header against its MIME types with werkzeug
  for every response (~12 % of the process's CPU in a backlog); equal headers share one match;
- twisted formats an access-log line per request that nothing reads, parses every
  ``Content-Type`` with ``email.message`` and asks twice per request whether the connection is
  TLS; the line is skipped, the parse cached per value, the answer kept per connection;
- the in-memory client (``IN_MEMORY_CLIENT=1``: internal requests skip HTTP) reads a response
  body by copying the rest of it for every 8 KiB (quadratic: ~1 GB of copying for a 4 MB
  processor response); it reads it by offset instead.

One restores AWS behaviour: CloudFormation security groups get their inline ingress/egress rules
(:mod:`localstack_plugins.security_group_rules`).
One makes CloudFormation faithful: ``DeletionPolicy: RetainExceptOnCreate`` keeps the resource
when its stack is deleted (:mod:`localstack_plugins.cfn_retain`).
One makes S3 faithful: a re-sent ``CompleteMultipartUpload`` never commits a second, short
version of the object (:mod:`localstack_plugins.s3_multipart`).

The environment (``GATEWAY_LISTEN``, ``FILESYSTEM_ROOT``, executor and provider selection, ...)
is prepared by :mod:`scripts.local`.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from localstack_plugins import owner, patches

#: where the launcher writes what applied (set by :mod:`scripts.local`)
REPORT_VARIABLE = "AGGREGATOR_PATCH_REPORT"
#: "0" runs LocalStack without the speed patches (``aggregator local up --no-speed-patches``)
SPEED_VARIABLE = "AGGREGATOR_SPEED_PATCHES"
#: comma-separated speed patches to leave out (the per-patch A/B of ``make bench-patches``)
SKIP_VARIABLE = "AGGREGATOR_SKIP_SPEED_PATCHES"
#: exit code of a launch stopped because a patch that must apply cannot
PATCH_EXIT_CODE = 3


def _write_report(document: dict[str, object]) -> None:
    path = os.environ.get(REPORT_VARIABLE)
    if path:
        Path(path).write_text(json.dumps(document, indent=1))


def apply_patches() -> None:
    """Apply the registry; on a patch that must apply and cannot, report it and exit."""
    speed = os.environ.get(SPEED_VARIABLE, "1") != "0"
    try:
        outcomes = patches.apply(speed=speed, skip=os.environ.get(SKIP_VARIABLE, ""))
    except patches.PatchError as error:
        _write_report({"error": str(error), "patches": []})
        print(f"aggregator launch: {error}", file=sys.stderr, flush=True)
        raise SystemExit(PATCH_EXIT_CODE) from error
    _write_report({"error": None, "speed": speed, "patches": patches.report(outcomes)})


def main() -> None:
    owner.install()
    apply_patches()
    from localstack.runtime.main import main as localstack_main

    localstack_main()  # type: ignore[no-untyped-call]


if __name__ == "__main__":
    main()
