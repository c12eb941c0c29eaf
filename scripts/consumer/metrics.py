"""The consumer's health in the on-premise ecosystem's format: Prometheus metrics and a status file.

:class:`ConsumerMetrics` is the drain's observer (:class:`scripts.consumer.drain.DrainObserver`):
the drain tells it what it listed, which files it made durable, what it rejected and how the pass
ended; it keeps the counters in its own :class:`~prometheus_client.CollectorRegistry` (no global
state) and exposes them over HTTP (:meth:`ConsumerMetrics.serve`) or as a node_exporter textfile
(:meth:`ConsumerMetrics.write_textfile`, atomic). docs/operations.md lists every metric.

The status file (:func:`write_status`, next to the ledger) is what ``aggregator consume --check``
reads (:func:`check_health`): when the last pass ended, when the last *successful* one did, and the
poll interval, so a monitor needs no Prometheus to tell a running consumer from a dead one.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import start_http_server, write_to_textfile

from pipeline.contract.slo import SLO_P95_SECONDS, SLO_P999_SECONDS
from scripts.consumer.hostfaults import HostFaultError, host_operation
from scripts.consumer.manifest import ManifestHandoff, write_atomically

if TYPE_CHECKING:
    from scripts.consumer.drain import BundleProblem, DrainSummary, DurableMember, ListedBundle

LOG = logging.getLogger("aggregator.consumer")

PREFIX = "aggregator_consumer"
#: the status file ``--check`` reads, in the ledger's folder
STATUS_NAME = "consumer-status.json"
DEFAULT_MAX_INTERVALS = 3
#: landing -> durable on disk: the SLO's 120 s / 180 s to Distribution plus the consumer's poll
LATENCY_BUCKETS = (
    5.0,
    15.0,
    30.0,
    60.0,
    90.0,
    float(SLO_P95_SECONDS),
    150.0,
    float(SLO_P999_SECONDS),
    240.0,
    300.0,
    600.0,
    1800.0,
    3600.0,
    float("inf"),
)
PASS_BUCKETS = (0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, float("inf"))

#: the ``result`` label of ``passes_total``; a pass "succeeds" when it ran to its end (rejected or
#: failed bundles are reported by their own metrics, they do not make the consumer unhealthy)
PASS_OK, PASS_PROBLEMS, PASS_HOST_FAULT, PASS_FAILED = "ok", "problems", "host_fault", "failed"


class ConsumerMetrics:
    """The consumer's Prometheus metrics (names in docs/operations.md, "Metrics")."""

    def __init__(
        self,
        registry: CollectorRegistry | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        self._clock = clock
        reg = self.registry

        def counter(name: str, doc: str, labels: Sequence[str] = ()) -> Counter:
            return Counter(f"{PREFIX}_{name}", doc, labelnames=labels, registry=reg)

        def gauge(name: str, doc: str) -> Gauge:
            return Gauge(f"{PREFIX}_{name}", doc, registry=reg)

        def histogram(name: str, doc: str, buckets: Sequence[float]) -> Histogram:
            return Histogram(f"{PREFIX}_{name}", doc, buckets=buckets, registry=reg)

        self.bundles_delivered = counter("bundles_delivered", "Bundles delivered and recorded")
        self.bundles_duplicate = counter(
            "bundles_duplicate", "Bundles already delivered (a replay or a second staging)"
        )
        self.files_delivered = counter(
            "files_delivered", "Files made durable in the output folder and recorded"
        )
        self.bytes_delivered = counter("delivered_bytes", "Bytes of the files delivered")
        self.files_duplicate = counter(
            "files_duplicate", "Members skipped: that key and version was already delivered"
        )
        self.bundles_rejected = counter(
            "bundles_rejected",
            "Bundles rejected (newly) by reason: kept in Distribution, not unpacked",
            labels=("reason",),
        )
        self.rejected_waiting = gauge(
            "rejected_bundles", "Rejected bundles still in Distribution at the last pass"
        )
        self.passes = counter("passes", "Passes over Distribution by result", labels=("result",))
        self.last_success = gauge(
            "last_success_timestamp_seconds", "When the last successful pass ended (unix time)"
        )
        self.backlog = gauge(
            "distribution_backlog_bundles", "Bundles in Distribution at the start of the last pass"
        )
        self.oldest_age = gauge(
            "distribution_oldest_age_seconds",
            "Age of the oldest bundle in Distribution at the start of the last pass",
        )
        self.pass_duration = histogram(
            "pass_duration_seconds", "Duration of a pass over Distribution", PASS_BUCKETS
        )
        self.latency = histogram(
            "file_latency_seconds",
            "Per file: landing event time to durable on disk",
            LATENCY_BUCKETS,
        )
        self.latency_unmeasured = counter(
            "file_latency_unmeasured", "Files delivered whose landing event time is unreadable"
        )
        self.canary_files = counter(
            "canary_files", "Canary members verified and recorded (never in the output folder)"
        )
        self.canary_latency = histogram(
            "canary_latency_seconds",
            "Per canary file: landing event time to verified (and durable, with --canary-dir)",
            LATENCY_BUCKETS,
        )
        self.canary_last_seen = gauge(
            "canary_last_seen_timestamp_seconds", "When the last canary member was handled"
        )
        self.manifests = counter("manifests_written", "Manifests written for the downstream")
        self.hook_failures = counter(
            "hook_failures", "--on-bundle hook runs that failed (non-zero exit or timeout)"
        )
        self.hooks_abandoned = counter(
            "hooks_abandoned", "Manifests whose --on-bundle hook failed every attempt"
        )
        self.hooks_pending = gauge(
            "hooks_pending", "Manifests whose --on-bundle hook has not succeeded yet"
        )

    # ------------------------------------------------------------------ the drain's observer

    def listed(self, bundles: Sequence[ListedBundle]) -> None:
        self.backlog.set(len(bundles))
        oldest = min((b.last_modified for b in bundles), default=None)
        self.oldest_age.set(0.0 if oldest is None else max(0.0, self._clock() - oldest))

    def durable(self, members: Sequence[DurableMember], now: float) -> None:
        """Files the writer confirmed durable (and the ledger recorded) at ``now``."""
        files = size = unmeasured = 0
        for member in members:
            latency = _seconds_since(member.event_time, now)
            if member.canary:
                self.canary_files.inc()
                self.canary_last_seen.set(now)
                if latency is not None:
                    self.canary_latency.observe(latency)
                continue
            files += 1
            size += member.delivered.size
            if latency is None:
                unmeasured += 1
            else:
                self.latency.observe(latency)
        self.files_delivered.inc(files)
        self.bytes_delivered.inc(size)
        self.latency_unmeasured.inc(unmeasured)

    def rejected(self, problem: BundleProblem) -> None:
        self.bundles_rejected.labels(reason=problem.kind or "unknown").inc()

    def manifest_written(self) -> None:
        self.manifests.inc()

    def hook_failed(self, abandoned: bool) -> None:
        self.hook_failures.inc()
        if abandoned:
            self.hooks_abandoned.inc()

    def hooks_waiting(self, count: int) -> None:
        self.hooks_pending.set(count)

    def finished(self, summary: DrainSummary) -> str:
        """The pass ended (with or without problems); returns its ``result`` label."""
        self.bundles_delivered.inc(summary.bundles_delivered)
        self.bundles_duplicate.inc(summary.bundles_duplicate)
        self.files_duplicate.inc(summary.files_duplicate)
        self.rejected_waiting.set(len(summary.rejected))
        self.pass_duration.observe(summary.seconds)
        if summary.host_fault is not None:
            result = PASS_HOST_FAULT
        else:
            result = PASS_OK if summary.ok else PASS_PROBLEMS
            self.last_success.set(self._clock())
        self.passes.labels(result=result).inc()
        return result

    def failed(self) -> None:
        """The pass could not run (e.g. Distribution could not be listed)."""
        self.passes.labels(result=PASS_FAILED).inc()

    # ----------------------------------------------------------------------------- exporting

    def serve(self, port: int, address: str = "127.0.0.1") -> Any:
        """Serve ``/metrics`` on ``address:port`` from a daemon thread; returns the server
        (``server_port`` is the bound port; ``shutdown()`` stops it)."""
        server, _thread = start_http_server(port, addr=address, registry=self.registry)
        return server

    def write_textfile(self, path: Path) -> None:
        """The node_exporter textfile, replaced atomically (a ``.prom`` file)."""
        with host_operation(path):
            path.parent.mkdir(parents=True, exist_ok=True)
            write_to_textfile(str(path), self.registry)


def _seconds_since(event_time: str, now: float) -> float | None:
    try:
        moment = datetime.fromisoformat(event_time)
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None
    return max(0.0, now - moment.timestamp())


# ---------------------------------------------------------------------------------- --check


@dataclass(frozen=True, slots=True)
class PassStatus:
    """What the daemon leaves for ``aggregator consume --check`` (after each pass, and while a
    long pass delivers bundles, at most once per interval)."""

    last_pass_at: float  # unix seconds: when the last pass ended
    last_result: str
    last_success_at: float | None  # when the last pass that ran to its end ended
    progress_at: float | None  # when the pass in hand last delivered a bundle
    interval_seconds: float
    pid: int


def status_path(ledger_path: Path) -> Path:
    return ledger_path.parent / STATUS_NAME


def read_status(path: Path) -> PassStatus:
    """The status file; raises OSError (absent, unreadable), ValueError or TypeError (not ours)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise TypeError("not a JSON object")

    def moment(name: str) -> float | None:
        value = data.get(name)
        return None if value is None else float(value)

    try:
        return PassStatus(
            last_pass_at=float(data["last_pass_at"]),
            last_result=str(data["last_result"]),
            last_success_at=moment("last_success_at"),
            progress_at=moment("progress_at"),
            interval_seconds=float(data["interval_seconds"]),
            pid=int(data["pid"]),
        )
    except (KeyError, TypeError) as error:
        raise ValueError(f"missing or bad field: {error}") from error


class StatusFile:
    """Writes :class:`PassStatus` atomically; a host fault writing it is logged by the caller."""

    def __init__(
        self, path: Path, interval: float, pid: int, clock: Callable[[], float] = time.time
    ) -> None:
        self.path, self._interval, self._pid, self._clock = path, interval, pid, clock
        self._status: PassStatus | None = None

    def pass_ended(self, result: str) -> None:
        now = self._clock()
        success = now if result in (PASS_OK, PASS_PROBLEMS) else None
        if success is None and self._status is not None:
            success = self._status.last_success_at
        self._write(PassStatus(now, result, success, None, self._interval, self._pid))

    def progressed(self) -> None:
        """A bundle was delivered in a pass still running: refreshed at most once an interval."""
        now, status = self._clock(), self._status
        last = None if status is None else (status.progress_at or status.last_pass_at)
        if last is not None and now - last < self._interval:
            return
        if status is None:
            status = PassStatus(now, "running", None, None, self._interval, self._pid)
        self._write(replace(status, progress_at=now))

    def _write(self, status: PassStatus) -> None:
        self._status = status
        write_atomically(self.path, (json.dumps(asdict(status), sort_keys=True) + "\n").encode())


def check_health(status: PassStatus, now: float, max_intervals: int) -> str | None:
    """None when the last successful pass ended (or a long pass last delivered a bundle) within
    ``max_intervals`` poll intervals, else the one-line reason."""
    allowed = max_intervals * status.interval_seconds
    alive = max(status.last_success_at or 0.0, status.progress_at or 0.0)
    if not alive:
        return (
            f"no successful pass yet (last pass ended {now - status.last_pass_at:.0f} s ago: "
            f"{status.last_result}); see the consumer's log"
        )
    age = now - alive
    if age > allowed:
        return (
            f"last successful pass {age:.0f} s ago, more than {max_intervals} x "
            f"{status.interval_seconds:g} s (last pass: {status.last_result}, ended "
            f"{now - status.last_pass_at:.0f} s ago); is the consumer running? see its log"
        )
    return None


class Telemetry:
    """The daemon's side of it all: the metrics, the status file and the textfile, updated after
    each pass (a failure to write either is logged, never stops delivery), and the hand-off."""

    def __init__(
        self,
        metrics: ConsumerMetrics,
        status: StatusFile | None = None,
        textfile: Path | None = None,
        handoff: ManifestHandoff | None = None,
    ) -> None:
        self.metrics, self._status, self._textfile = metrics, status, textfile
        self.handoff = handoff  # the manifests and the hook, when --manifests is given

    def pass_ended(self, summary: DrainSummary) -> None:
        result = self.metrics.finished(summary)
        self._publish(lambda status: status.pass_ended(result))

    def pass_failed(self) -> None:
        self.metrics.failed()
        self._publish(lambda status: status.pass_ended(PASS_FAILED))

    def bundle_done(self) -> None:
        if self._status is not None:
            self._guarded(self._status.progressed)

    def _publish(self, update: Callable[[StatusFile], None]) -> None:
        status = self._status
        if status is not None:
            self._guarded(lambda: update(status))
        textfile = self._textfile
        if textfile is not None:
            self._guarded(lambda: self.metrics.write_textfile(textfile))

    @staticmethod
    def _guarded(write: Callable[[], None]) -> None:
        try:
            write()
        except (HostFaultError, OSError) as error:
            LOG.warning(
                "could not write the consumer's status or metrics file; delivery goes on",
                extra={"reason": str(error)},
            )
