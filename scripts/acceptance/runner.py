"""The shell of an acceptance run: upload the scenarios, watch Distribution, consume, measure.

One thread (:class:`ConsumeLoop`) owns Distribution for the run: each cycle it lists the bundles
(those present before the run are left alone on the shared local stack), makes sure the
:class:`~scripts.delivery.DeliveryTracker` has read them (a watcher thread polls it every
:data:`CYCLE_SECONDS`: the upload -> Distribution time), then hands each listed bundle, by its
exact key, to the consumer (the real drain, into a temporary folder with its own ledger; or, with
``--faults``, the real ``aggregator consume --once`` process, killed now and then) and reads the
ledger's commit times (upload -> durable write). The main thread uploads, invokes the duplicate
event, and waits — polling, with a deadline — until every file is durable.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

from botocore.exceptions import ClientError

from pipeline.bundle import NULL_VERSION
from pipeline.contract.prefixes import BUNDLE_ROOT
from pipeline.contract.slo import SLO_P999_SECONDS
from scripts.acceptance.scenarios import Scenario
from scripts.acceptance.verdict import DuplicateEvent, Durable
from scripts.consumer.drain import DrainOptions, drain, list_candidates, state_dir
from scripts.consumer.ledger import Ledger
from scripts.delivery import DeliveryTracker
from scripts.loadgen import UploadRecord, upload_all
from scripts.session import error_code

LOG = logging.getLogger("aggregator.acceptance")

#: seconds between the loop's cycles (bounds the resolution of upload -> Distribution)
CYCLE_SECONDS = 0.5
#: after the last upload, how long the run waits for the last file (the SLO's p99.9 and a margin)
GRACE_SECONDS = SLO_P999_SECONDS + 60
#: tries of one tracker poll that meets S3 errors
POLL_ATTEMPTS = 8
#: how long a duplicate event's extra copy is waited for once everything else is durable
DUPLICATE_WAIT_SECONDS = 30.0

#: drain one bundle (by exact key); returns problem lines (empty: delivered and deleted)
DrainOne = Callable[[str], list[str]]


@dataclass(frozen=True, slots=True)
class Uploaded:
    """One scenario's uploads and the rate the client reached."""

    scenario: Scenario
    records: tuple[UploadRecord, ...]
    seconds: float

    @property
    def reached_rate(self) -> float:
        return len(self.records) / self.seconds if self.seconds > 0 else 0.0


def upload_scenarios(
    s3: Any, bucket: str, scenarios: Sequence[Scenario], progress: bool
) -> list[Uploaded]:
    done = []
    for scenario in scenarios:
        started = time.monotonic()
        records = upload_all(
            s3,
            bucket,
            scenario.files,
            rate=scenario.rate,
            concurrency=scenario.concurrency,
            progress=progress,
            description=scenario.name,
        )
        if records:
            seconds = records[-1].completed_at - records[0].started_at
        else:
            seconds = time.monotonic() - started
        done.append(Uploaded(scenario, tuple(records), seconds))
    return done


def read_durable(ledger_path: Path, prefix: str) -> dict[tuple[str, str | None], Durable]:
    """The ledger's files under ``prefix`` with their SHA-256 and commit time (read-only)."""
    if not ledger_path.exists():
        return {}
    uri = f"{ledger_path.absolute().as_uri()}?mode=ro"
    connection = sqlite3.connect(uri, uri=True, timeout=30)
    try:
        rows = connection.execute(
            "SELECT key, version, sha256, delivered_at FROM files WHERE substr(key, 1, ?) = ?",
            (len(prefix), prefix),
        ).fetchall()
    finally:
        connection.close()
    found: dict[tuple[str, str | None], Durable] = {}
    for key, version, sha256, delivered_at in rows:
        identity = (str(key), None if version == NULL_VERSION else str(version))
        at = datetime.fromisoformat(str(delivered_at)).timestamp()
        found[identity] = Durable(str(sha256), at)
    return found


def in_process_drain(s3: Any, bucket: str, output: Path) -> tuple[DrainOne, Callable[[], None]]:
    """The consumer's drain, in this process, one bundle key at a time; and its closer. The
    ledger is opened by the first call (SQLite connections stay in the thread that made them:
    the loop's)."""
    output.mkdir(parents=True, exist_ok=True)
    opened: list[Ledger] = []

    def one(key: str) -> list[str]:
        if not opened:
            opened.append(Ledger(state_dir(output) / "ledger.db"))
        summary = drain(s3, bucket, output, opened[0], DrainOptions(prefix=key))
        return summary_problems(key, summary.to_dict())

    def close() -> None:
        for ledger in opened:
            ledger.close()

    return one, close


def summary_problems(key: str, summary: dict[str, Any]) -> list[str]:
    """Problem lines of one drain summary (``DrainSummary.to_dict()`` or ``consume --json``)."""
    problems = []
    for kind in ("rejected", "failed", "undeleted"):
        for item in summary.get(kind) or ():
            problems.append(f"bundle {item['key']} {kind}: {item['reason']}")
    fault = summary.get("host_fault")
    if fault:
        problems.append(f"host fault {fault['kind']} at {fault['path']}: {fault['message']}")
    if not problems and int(summary.get("bundles_listed", 0)) == 0:
        problems.append(
            f"bundle {key} disappeared before acceptance consumed it: another consumer is "
            "draining Distribution — stop it for the run"
        )
    return problems


@dataclass
class ConsumeLoop:
    """Owns Distribution for the run (see the module)."""

    s3: Any
    bucket: str
    tracker: DeliveryTracker
    drain_one: DrainOne
    ledger_path: Path
    prefix: str
    leave_alone: frozenset[str]
    #: called in the loop's thread when it ends (closes the ledger the drain opened there)
    finish: Callable[[], None] = lambda: None
    problems: list[str] = field(default_factory=list)
    durable: dict[tuple[str, str | None], Durable] = field(default_factory=dict)
    consumed: set[str] = field(default_factory=set)
    pending: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _error: BaseException | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> None:
        """The consumer thread, and a watcher that polls Distribution every CYCLE_SECONDS so a
        consumer busy with a large bundle (or a killed process) does not delay the sightings."""
        self._threads = [
            threading.Thread(target=self._run, name="acceptance-consume", daemon=True),
            threading.Thread(target=self._watch, name="acceptance-watch", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()
        if self._error is not None:
            raise self._error

    def cycle(self) -> None:
        listed, _ = list_candidates(self.s3, self.bucket, BUNDLE_ROOT)
        keys = [b.key for b in listed if b.key not in self.leave_alone]
        # after the listing (and after any poll of the watcher in progress: they take turns):
        # every listed bundle is read by the tracker before it is consumed
        self._poll()
        for key in keys:
            if self._stop.is_set():
                break
            problems = self.drain_one(key)
            with self._lock:
                self.problems.extend(problems)
                self.consumed.add(key)
        durable = read_durable(self.ledger_path, self.prefix)
        listed_after, _ = list_candidates(self.s3, self.bucket, BUNDLE_ROOT)
        with self._lock:
            self.durable = durable
            self.pending = sum(1 for b in listed_after if b.key not in self.leave_alone)

    def _poll(self) -> None:
        """One tracker poll; an S3 error (``--faults`` injects them into its GETs too) is
        retried, since a bundle it could not read must not be consumed unseen."""
        for attempt in range(POLL_ATTEMPTS):
            try:
                self.tracker.poll_once()
            except ClientError:
                if attempt == POLL_ATTEMPTS - 1:
                    raise
                self._stop.wait(CYCLE_SECONDS)
            else:
                return

    def snapshot(self) -> tuple[dict[tuple[str, str | None], Durable], int]:
        with self._lock:
            return dict(self.durable), self.pending

    def raise_error(self) -> None:
        if self._error is not None:
            raise self._error

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                self.cycle()
                self._stop.wait(CYCLE_SECONDS)
        except BaseException as error:  # noqa: BLE001 - re-raised in the caller by stop/wait
            self._error = error
        finally:
            self.finish()

    def _watch(self) -> None:
        try:
            while not self._stop.is_set():
                self._poll()
                self._stop.wait(CYCLE_SECONDS)
        except BaseException as error:  # noqa: BLE001 - re-raised in the caller by stop/wait
            self._error = error


def wait_until_durable(
    loop: ConsumeLoop,
    records: Sequence[UploadRecord],
    deadline: float,
    expect_duplicate: bool,
    progress: Callable[[int, int], None] | None = None,
) -> None:
    """Poll (with ``deadline``, a ``time.monotonic`` value) until every record is durable, the
    duplicate's extra copy was seen (up to :data:`DUPLICATE_WAIT_SECONDS` more) and no bundle
    of the run is left in Distribution."""
    wanted = {record.identity for record in records}
    duplicate_deadline: float | None = None
    while True:
        loop.raise_error()
        durable, pending = loop.snapshot()
        done = len(wanted & durable.keys())
        if progress is not None:
            progress(done, len(wanted))
        now = time.monotonic()
        if done == len(wanted) and pending == 0:
            if not expect_duplicate or loop.tracker.report(records).duplicates > 0:
                return
            duplicate_deadline = duplicate_deadline or now + DUPLICATE_WAIT_SECONDS
            if now >= duplicate_deadline:
                return
        if now >= deadline:
            return
        time.sleep(CYCLE_SECONDS)  # poll interval of the loop's state


def s3_event(bucket: str, key: str, version_id: str | None, head: dict[str, Any]) -> dict[str, Any]:
    """The S3 notification of one object, as S3 sends it (the key URL-encoded)."""
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "eventTime": head["LastModified"].strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                "eventName": "ObjectCreated:Put",
                "userIdentity": {"principalId": "aggregator-acceptance"},
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "configurationId": "aggregator-acceptance-duplicate",
                    "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
                    "object": {
                        "key": quote_plus(key, safe="/"),
                        "size": head["ContentLength"],
                        "eTag": str(head["ETag"]).strip('"'),
                        "versionId": version_id,
                        "sequencer": f"{time.time_ns():020X}",
                    },
                },
            }
        ]
    }


def invoke_duplicate(
    s3: Any, lambda_client: Any, function: str, bucket: str, record: UploadRecord
) -> DuplicateEvent:
    """Invoke the ingest function once more with ``record``'s event (S3 may deliver twice)."""
    head = s3.head_object(Bucket=bucket, Key=record.key, VersionId=record.version_id)
    event = s3_event(bucket, record.key, record.version_id, head)
    try:
        response = lambda_client.invoke(FunctionName=function, Payload=json.dumps(event).encode())
    except ClientError as error:
        if error_code(error) in {"AccessDeniedException", "AccessDenied"}:
            return DuplicateEvent(
                "skipped",
                record.key,
                f"not allowed to invoke {function} here ({error_code(error)}): scenario skipped",
            )
        return DuplicateEvent("failed", record.key, f"invoking {function}: {error}")
    if "FunctionError" in response:
        payload = response["Payload"].read().decode("utf-8", "replace")[:300]
        return DuplicateEvent("failed", record.key, f"{function} failed: {payload}")
    return DuplicateEvent("invoked", record.key)


def delete_run_objects(s3: Any, bucket: str, prefix: str) -> int:
    """Delete every version and delete marker under ``prefix`` (and nothing else); how many."""
    if not prefix:
        raise ValueError("refusing to delete without a prefix")
    deleted = 0
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix):
        entries = [
            {"Key": item["Key"], "VersionId": item["VersionId"]}
            for item in page.get("Versions", []) + page.get("DeleteMarkers", [])
            if str(item["Key"]).startswith(prefix)
        ]
        for start in range(0, len(entries), 1000):
            s3.delete_objects(
                Bucket=bucket, Delete={"Objects": entries[start : start + 1000], "Quiet": True}
            )
        deleted += len(entries)
    return deleted


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


#: the CloudWatch statistics of FileAgeSeconds shown next to the client's own figures
AGE_STATISTICS = ("SampleCount", "Maximum", "p50", "p95", "p99", "p99.9")


def file_age_view(cloudwatch: Any, start: datetime, end: datetime) -> dict[str, float]:
    """The copier's ``FileAgeSeconds`` over [start, end], per statistic (an upper bound across
    its dimension sets; counts added). Percentiles are absent where the service does not compute
    them (LocalStack); every file staged in the window counts, the run's and any other."""
    from pipeline.contract.metrics import FILE_AGE_SECONDS, NAMESPACE

    metrics = cloudwatch.list_metrics(Namespace=NAMESPACE, MetricName=FILE_AGE_SECONDS)
    found: dict[str, float] = {}
    period = max(60, int((end - start).total_seconds() // 60 + 2) * 60)
    for metric in metrics.get("Metrics", []):
        for statistic in AGE_STATISTICS:
            query = {
                "Id": "q",
                "MetricStat": {"Metric": metric, "Period": period, "Stat": statistic},
            }
            try:
                result = cloudwatch.get_metric_data(
                    MetricDataQueries=[query], StartTime=start, EndTime=end
                )["MetricDataResults"]
            except ClientError:
                if statistic.startswith("p"):
                    break  # percentiles not computed here (LocalStack): not asked again
                continue
            values = [float(v) for item in result for v in item.get("Values", [])]
            if not values:
                continue
            if statistic == "SampleCount":
                found[statistic] = found.get(statistic, 0.0) + sum(values)
            else:
                found[statistic] = max(found.get(statistic, values[0]), *values)
    return found
