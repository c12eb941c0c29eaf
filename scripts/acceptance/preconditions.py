"""What must hold before an acceptance run starts; each refusal says what to do instead.

* ``prod`` is refused outright (a usage error, exit 2): acceptance takes Distribution over for its
  run, which production cannot give up; production has the canary (``[canary]``).
* the stack is deployed (its outputs read) and healthy (:func:`scripts.status.collect_status`:
  every section readable, every stream ACTIVE, every DLQ empty, no alarm in ALARM; on the shared
  local stack only the first two, see :func:`health_problems`) — else exit 1.
* off the local stack, acceptance owns Distribution for the run, so Distribution must be empty
  and no consumer may be draining it. A draining consumer leaves no trace in an empty bucket, so
  it is inferred from the copier's own metric: bundles were staged in the last
  :data:`DRAIN_LOOKBACK` (``BundlesStaged`` > 0) yet Distribution is empty — something took them.
  A consumer that idles (nothing staged lately) cannot be seen from AWS; the run itself notices
  one when a bundle it saw disappears before it consumed it (reported by the run, check
  ``consumer``). The local stack is shared with the test suite and the demo, so there the run only
  consumes the bundles that appear after it started.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pipeline.contract.metrics import BUNDLES_STAGED, NAMESPACE
from pipeline.errors import AggregatorError, UsageError
from scripts.status import StatusReport

PROD_ENV = "prod"
LOCAL_ENV = "local"
#: how far back staged bundles count as evidence of a consumer draining an empty Distribution
DRAIN_LOOKBACK = timedelta(minutes=30)


class RefusedError(AggregatorError, RuntimeError):
    """A precondition does not hold (exit 1); the message says what to do."""


@dataclass(frozen=True, slots=True)
class DistributionState:
    """What Distribution looks like before the run."""

    objects: int  # objects found (counting stops at a small number)
    sample: tuple[str, ...]
    staged_recently: float  # BundlesStaged summed over DRAIN_LOOKBACK


def refuse_environment(env: str) -> None:
    """``prod`` is never a target of acceptance (exit 2)."""
    if env == PROD_ENV:
        raise UsageError(
            "refusing env prod: acceptance takes Distribution over for its run and puts test "
            "files through the pipeline; production is watched by the canary instead "
            "([canary] interval_minutes in templates/environments/prod.toml) — run acceptance "
            "on dev (or local) before promoting"
        )


def health_problems(status: StatusReport, strict: bool = True) -> list[str]:
    """Why the stack is not healthy enough to judge a run on it (empty: healthy). On the shared
    local stack (``strict`` False) alarms and DLQ messages are not a refusal: the emulator keeps
    the monitor's missing-data alarms in ALARM and earlier tests may leave messages; the run's
    ``alarms`` and ``dlq`` checks still fail on any that appear during the run."""
    problems = [f"cannot read {problem}" for problem in status.problems]
    if strict:
        problems += [f"alarm {alarm.name} is in {alarm.state}" for alarm in status.alarms_firing]
        problems += [
            f"{queue} holds {depth} message(s)"
            for queue, depth in status.dlq_depths.items()
            if depth
        ]
    problems += [
        f"stream {stream.name} is {stream.state}"
        for stream in status.streams
        if stream.state != "ACTIVE"
    ]
    return problems


def check_healthy(status: StatusReport) -> None:
    problems = health_problems(status, strict=status.environment != LOCAL_ENV)
    if problems:
        raise RefusedError(
            f"the {status.environment} stack is not healthy ({'; '.join(problems)}): fix it first "
            f"(`aggregator status --env {status.environment}`, docs/operations.md runbooks), "
            "then run acceptance again"
        )


def distribution_state(
    s3: Any, cloudwatch: Any, bucket: str, now: datetime | None = None
) -> DistributionState:
    """A few of Distribution's objects, and the bundles staged over :data:`DRAIN_LOOKBACK`."""
    listed = s3.list_objects_v2(Bucket=bucket, MaxKeys=5).get("Contents", [])
    now = now or datetime.now(UTC)
    start = now - DRAIN_LOOKBACK
    staged = 0.0
    metrics = cloudwatch.list_metrics(Namespace=NAMESPACE, MetricName=BUNDLES_STAGED)
    for metric in metrics.get("Metrics", []):
        points = cloudwatch.get_metric_statistics(
            Namespace=NAMESPACE,
            MetricName=BUNDLES_STAGED,
            Dimensions=metric.get("Dimensions", []),
            StartTime=start,
            EndTime=now,
            Period=int(DRAIN_LOOKBACK.total_seconds()),
            Statistics=["Sum"],
        )
        staged += sum(float(point.get("Sum", 0.0)) for point in points.get("Datapoints", []))
    return DistributionState(
        objects=len(listed),
        sample=tuple(str(item["Key"]) for item in listed[:3]),
        staged_recently=staged,
    )


def check_distribution_owned(state: DistributionState, env: str, bucket: str) -> None:
    """Off the local stack: Distribution empty and no consumer draining it."""
    if state.objects:
        raise RefusedError(
            f"Distribution ({bucket}) is not empty (e.g. {', '.join(state.sample)}): acceptance "
            "consumes everything staged during its run into a folder of its own, so it needs "
            "Distribution to itself — let the on-premise consumer drain it and stop it "
            f"(`make status ENV={env}` shows the backlog), then run acceptance again"
        )
    if state.staged_recently > 0:
        minutes = int(DRAIN_LOOKBACK.total_seconds() // 60)
        raise RefusedError(
            f"a consumer is draining Distribution ({bucket}): {state.staged_recently:.0f} "
            f"bundle(s) were staged in the last {minutes} min and none is left — stop the "
            "on-premise consumer for the duration of the run (it would take the acceptance "
            f"bundles), wait {minutes} min without traffic, then run acceptance again"
        )
