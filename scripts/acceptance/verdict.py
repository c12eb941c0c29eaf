"""The verdict of an acceptance run: named checks over what was measured. Pure functions.

Every check is a :class:`Check` with a name an operator can look up (docs/operations.md, "First
deploy on a real account", maps each to its runbook). The run passes only when no check failed;
a ``skip`` (the environment does not allow a scenario) or a ``note`` (a fault rule that never
fired) is reported but does not fail the run.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from pipeline.contract.slo import SLO_P95_SECONDS, SLO_P999_SECONDS
from scripts.delivery.stats import percentile
from scripts.delivery.tracker import DeliveryReport
from scripts.delivery.verify import OutputCheck
from scripts.loadgen import UploadRecord
from scripts.status import StatusReport

PASS, FAIL, SKIP, NOTE = "pass", "fail", "skip", "note"

#: check name -> where an operator goes when it fails (docs/operations.md headings)
RUNBOOKS: dict[str, str] = {
    "delivered": "docs/operations.md#runbook-files-are-late and the consumer's summary",
    "distribution": "docs/operations.md#runbook-the-error-output-or-a-dlq-is-not-empty",
    "slo-distribution": "docs/operations.md#runbook-files-are-late",
    "slo-durable": "docs/operations.md#aggregator-consume (consumer host, disk, network)",
    "consumer": "docs/operations.md#host-faults-what-is-promised-and-what-you-do",
    "error-output": "docs/operations.md#runbook-the-error-output-or-a-dlq-is-not-empty",
    "dlq": "docs/operations.md#runbook-the-error-output-or-a-dlq-is-not-empty",
    "alarms": "docs/operations.md#logs-and-the-alarms-runbooks",
    "duplicate-event": "docs/operations.md#runbook-function-errors",
    "faults": "docs/reliability.md (fault soak)",
}


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    status: str  # pass | fail | skip | note
    detail: str

    @property
    def runbook(self) -> str:
        return RUNBOOKS.get(self.name, "docs/operations.md")


@dataclass(frozen=True, slots=True)
class Percentiles:
    """Nearest-rank percentiles of one latency, seconds."""

    count: int
    p50: float
    p95: float
    p99: float
    p999: float
    max: float

    def text(self) -> str:
        return (
            f"p50 {self.p50:.1f} s  p95 {self.p95:.1f} s  p99 {self.p99:.1f} s  "
            f"p99.9 {self.p999:.1f} s  max {self.max:.1f} s  ({self.count} files)"
        )


def percentiles(values: Iterable[float]) -> Percentiles | None:
    ordered = sorted(values)
    if not ordered:
        return None
    return Percentiles(
        count=len(ordered),
        p50=percentile(ordered, 0.50),
        p95=percentile(ordered, 0.95),
        p99=percentile(ordered, 0.99),
        p999=percentile(ordered, 0.999),
        max=ordered[-1],
    )


@dataclass(frozen=True, slots=True)
class Durable:
    """One file the consumer's ledger records as durably on disk."""

    sha256: str
    at: float  # epoch seconds: the ledger row was committed


@dataclass(frozen=True, slots=True)
class BundleShape:
    bundles: int
    files_min: int
    files_median: float
    files_max: int


@dataclass(frozen=True, slots=True)
class DuplicateEvent:
    """The ingest function invoked once more with one object's S3 event."""

    status: str  # "invoked", "skipped" (not allowed here) or "failed"
    key: str | None = None
    detail: str = ""


@dataclass(frozen=True, slots=True)
class RuleCount:
    """One fault rule (``--faults``) and how often it matched and fired."""

    what: str
    matched: int
    injected: int


@dataclass(frozen=True, slots=True)
class Observed:
    """Everything a verdict is drawn from (gathered by :mod:`.runner`)."""

    records: tuple[UploadRecord, ...]
    delivery: DeliveryReport
    durable: Mapping[tuple[str, str | None], Durable]
    output: OutputCheck
    extra_on_disk: tuple[str, ...]  # files under the run's folder nobody uploaded
    consumer_problems: tuple[str, ...]
    before: StatusReport
    after: StatusReport
    run_started: str  # ISO 8601, to tell alarm changes of the run from older ones
    duplicate: DuplicateEvent
    local: bool = False
    rules: tuple[RuleCount, ...] = ()
    kills: Mapping[str, int] = field(default_factory=dict)


def distribution_latencies(delivery: DeliveryReport) -> list[float]:
    return [item.latency for item in delivery.delivered]


def durable_latencies(
    records: Iterable[UploadRecord], durable: Mapping[tuple[str, str | None], Durable]
) -> list[float]:
    found = []
    for record in records:
        entry = durable.get(record.identity)
        if entry is not None:
            found.append(max(0.0, entry.at - record.completed_at))
    return found


def bundle_shape(delivery: DeliveryReport) -> BundleShape | None:
    per_bundle = Counter(item.sighting.bundle_key for item in delivery.delivered)
    if not per_bundle:
        return None
    counts = sorted(per_bundle.values())
    return BundleShape(len(counts), counts[0], statistics.median(counts), counts[-1])


def _names(records: Sequence[UploadRecord], limit: int = 3) -> str:
    shown = ", ".join(
        repr(record.key if len(record.key) <= 60 else "..." + record.key[-57:])
        for record in records[:limit]
    )
    more = f" and {len(records) - limit} more" if len(records) > limit else ""
    return shown + more


def check_delivered(observed: Observed) -> Check:
    """Every uploaded version on disk exactly once, with its bytes and its SHA-256."""
    records = observed.records
    not_durable = [r for r in records if r.identity not in observed.durable]
    wrong_sha = [
        r
        for r in records
        if r.identity in observed.durable and observed.durable[r.identity].sha256 != r.sha256
    ]
    problems = []
    if not_durable:
        problems.append(f"{len(not_durable)} never recorded as written: {_names(not_durable)}")
    if wrong_sha:
        problems.append(f"{len(wrong_sha)} recorded with another SHA-256: {_names(wrong_sha)}")
    if observed.output.missing:
        missing = list(observed.output.missing)
        problems.append(f"{len(missing)} not on disk: {_names(missing)}")
    if observed.output.different:
        different = list(observed.output.different)
        problems.append(f"{len(different)} differ on disk: {_names(different)}")
    if observed.extra_on_disk:
        extra = observed.extra_on_disk
        problems.append(f"{len(extra)} unexpected file(s) on disk, e.g. {extra[0]!r}")
    if problems:
        return Check("delivered", FAIL, "; ".join(problems))
    return Check(
        "delivered",
        PASS,
        f"{len(records)} files on disk exactly once, bytes and SHA-256 verified",
    )


def check_distribution(delivery: DeliveryReport) -> Check:
    problems = []
    if delivery.missing:
        missing = list(delivery.missing)
        problems.append(f"{len(missing)} never seen in Distribution: {_names(missing)}")
    if delivery.corrupt:
        corrupt = [record for record, _ in delivery.corrupt]
        problems.append(f"{len(corrupt)} with another SHA-256: {_names(corrupt)}")
    if delivery.bad_bundles:
        problems.append(
            f"{len(delivery.bad_bundles)} bundle(s) failed verification: {delivery.bad_bundles[0]}"
        )
    if problems:
        return Check("distribution", FAIL, "; ".join(problems))
    extra = (
        f", {delivery.duplicates} extra copy(ies) (at-least-once)" if delivery.duplicates else ""
    )
    return Check(
        "distribution",
        PASS,
        f"{len(delivery.delivered)} files in {delivery.bundles} bundles, SHA-256 verified{extra}",
    )


def check_slo(name: str, what: str, figures: Percentiles | None, expected: int) -> Check:
    """95 % within SLO_P95_SECONDS and 99.9 % within SLO_P999_SECONDS; a file that never got
    there counts as late (so a run with missing files cannot pass on the ones that arrived)."""
    if figures is None:
        return Check(name, FAIL, f"no file reached {what}")
    late = expected - figures.count
    p95_ok = figures.p95 <= SLO_P95_SECONDS and late <= expected * 0.05
    p999_ok = figures.p999 <= SLO_P999_SECONDS and late <= expected * 0.001
    slo = f"(SLO: p95 <= {SLO_P95_SECONDS} s, p99.9 <= {SLO_P999_SECONDS} s)"
    missing = f", {late} never arrived" if late > 0 else ""
    status = PASS if p95_ok and p999_ok else FAIL
    return Check(
        name, status, f"{what}: p95 {figures.p95:.1f} s, p99.9 {figures.p999:.1f} s{missing} {slo}"
    )


def check_consumer(problems: Sequence[str]) -> Check:
    if problems:
        more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
        return Check("consumer", FAIL, problems[0] + more)
    return Check("consumer", PASS, "every bundle verified, unpacked and deleted")


def check_error_output(before: StatusReport, after: StatusReport) -> Check:
    if after.error_output is None or before.error_output is None:
        return Check("error-output", FAIL, "could not read the error output (see status problems)")
    new = after.error_output.count - before.error_output.count
    if new > 0:
        return Check(
            "error-output",
            FAIL,
            f"{new} new object(s) in the error output, newest {after.error_output.newest_key}",
        )
    return Check("error-output", PASS, "nothing new in the error output")


def check_dlqs(before: StatusReport, after: StatusReport) -> Check:
    grown = {
        queue: depth - before.dlq_depths.get(queue, 0)
        for queue, depth in after.dlq_depths.items()
        if depth > before.dlq_depths.get(queue, 0)
    }
    if grown:
        text = ", ".join(f"{queue} +{count}" for queue, count in sorted(grown.items()))
        return Check("dlq", FAIL, f"messages reached a DLQ: {text}")
    return Check("dlq", PASS, "every DLQ stayed empty")


#: on the shared local stack acceptance leaves the bundles of others in Distribution, so the
#: alarms on the Distribution backlog say nothing about the run there (alarm logical ids)
LOCAL_UNJUDGED_ALARMS = ("BacklogCountAlarm", "BacklogAgeAlarm")


def check_alarms(
    before: StatusReport, after: StatusReport, run_started: str, unjudged: Sequence[str] = ()
) -> Check:
    """An alarm that went to ALARM during the run fails it; one already in ALARM before, or whose
    name holds one of ``unjudged``, is named but not held against the run."""
    ignored = {alarm.name for alarm in before.alarms_firing}
    ignored |= {
        alarm.name
        for alarm in (*after.alarms_firing, *after.alarm_changes_24h)
        if any(part in alarm.name for part in unjudged)
    }
    fired = {
        alarm.name
        for alarm in after.alarm_changes_24h
        if "to ALARM" in alarm.reason and alarm.updated >= run_started
    }
    fired |= {alarm.name for alarm in after.alarms_firing}
    fired -= ignored
    noted = f" (not judged: {', '.join(sorted(ignored))})" if ignored else ""
    if fired:
        names = ", ".join(sorted(fired))
        return Check("alarms", FAIL, f"alarm(s) went off during the run: {names}{noted}")
    return Check("alarms", PASS, f"no alarm went off{noted}")


def check_duplicate(duplicate: DuplicateEvent, delivery: DeliveryReport) -> Check:
    if duplicate.status == "skipped":
        return Check("duplicate-event", SKIP, duplicate.detail)
    if duplicate.status != "invoked":
        return Check("duplicate-event", FAIL, duplicate.detail)
    seen = f"{delivery.duplicates} extra copy(ies) reached Distribution"
    return Check(
        "duplicate-event", PASS, f"ingest invoked again for {duplicate.key!r}: {seen}, written once"
    )


def check_faults(rules: Sequence[RuleCount], kills: Mapping[str, int]) -> Check | None:
    if not rules and not kills:
        return None
    silent = [rule.what for rule in rules if rule.injected == 0]
    injected = sum(rule.injected for rule in rules)
    killed = ", ".join(f"{count} x {signal}" for signal, count in sorted(kills.items()))
    text = f"{injected} fault(s) injected by {len(rules)} rule(s); consumer killed: {killed or '0'}"
    if silent:
        return Check("faults", NOTE, f"{text}; never fired: {', '.join(silent)}")
    return Check("faults", PASS, text)


def checks(observed: Observed) -> list[Check]:
    """Every check of the run, in the order of the summary."""
    expected = len(observed.records)
    found = [
        check_delivered(observed),
        check_distribution(observed.delivery),
        check_slo(
            "slo-distribution",
            "upload -> Distribution",
            percentiles(distribution_latencies(observed.delivery)),
            expected,
        ),
        check_slo(
            "slo-durable",
            "upload -> durable write",
            percentiles(durable_latencies(observed.records, observed.durable)),
            expected,
        ),
        check_consumer(observed.consumer_problems),
        check_error_output(observed.before, observed.after),
        check_dlqs(observed.before, observed.after),
        check_alarms(
            observed.before,
            observed.after,
            observed.run_started,
            LOCAL_UNJUDGED_ALARMS if observed.local else (),
        ),
        check_duplicate(observed.duplicate, observed.delivery),
    ]
    fault_check = check_faults(observed.rules, observed.kills)
    if fault_check is not None:
        found.append(fault_check)
    return found


def failed(found: Iterable[Check]) -> list[Check]:
    return [check for check in found if check.status == FAIL]
