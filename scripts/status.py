"""`aggregator status`: one screen of pipeline health (AWS or LocalStack).

Stream state and buffering, the newest bundle in Archive, the Distribution backlog (count and
oldest age), DLQ depths, error-output objects, and alarms (in ALARM now, and state changes in the
last 24 hours). Each section is collected independently: one unreachable service shows as an
error line instead of hiding the rest.

Warming up. The backlog alarms treat missing data as breaching (no data means the monitor is not
running: "broken", not "idle"), so right after a deploy, before the monitor's first scheduled run
has published and the alarm has been evaluated again, they are in ALARM with no datapoint at all.
Such an alarm is shown as *warming up*, not firing, while the stack is younger than the alarm's
own window (``Period x EvaluationPeriods``) plus one evaluation: measured on the local stack, the
state turns OK about 100 s after ``deploy`` returns. After the window the same alarm fires.
"""

from __future__ import annotations

import argparse
import contextlib
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from pipeline.contract.metrics import GAUGES  # levels, not counts: their maximum, not a sum
from pipeline.contract.naming import stack_name
from pipeline.contract.prefixes import ERROR_ROOT
from scripts.consumer.drain import list_bundles
from scripts.session import delivery_stream_names

HELP = "one screen of pipeline health: stream, backlog, DLQs, error output, alarms"

LAST_BUNDLE_LOOKBACK_HOURS = 48
ERROR_PREFIX = ERROR_ROOT
ALARM_HISTORY = timedelta(hours=24)
METRICS_WINDOW = timedelta(hours=1)
#: how old files got: the percentiles an SLO is written in, and the worst (a sum of ages means
#: nothing); percentiles are optional, CloudWatch computes them, LocalStack and moto may not
AGE_STATISTICS = ("p95", "p99", "Maximum")
PERCENTILE_PREFIX = "p"
_LABELS = {"Sum": "sum", "Maximum": "max"}


def statistics_for(name: str) -> tuple[str, ...]:
    """The statistics that answer the operator's question about metric ``name``: Maximum for a
    level (backlog), percentiles and Maximum for a per-file age, Sum for a count."""
    if name in GAUGES:
        return ("Maximum",)
    if name.endswith("AgeSeconds"):
        return AGE_STATISTICS
    return ("Sum",)


@dataclass(frozen=True, slots=True)
class StreamStatus:
    name: str
    state: str
    buffer_mb: int | None
    buffer_seconds: int | None
    processor_buffer_mb: float | None
    processor_buffer_seconds: int | None


@dataclass(frozen=True, slots=True)
class Backlog:
    count: int
    bytes: int
    oldest_age_seconds: float | None


@dataclass(frozen=True, slots=True)
class ErrorOutput:
    count: int
    newest_key: str | None
    newest_time: str | None


@dataclass(frozen=True, slots=True)
class Alarm:
    name: str
    state: str
    reason: str
    updated: str


@dataclass(frozen=True, slots=True)
class MetricTotal:
    """One statistic of one pipeline metric over the last hour (see ``statistics_for``)."""

    name: str
    statistic: str
    value: float


@dataclass(frozen=True, slots=True)
class StatusReport:
    environment: str
    collected_at: str
    #: every delivery stream, in routing order (one failing to describe: a problem line)
    streams: tuple[StreamStatus, ...] = ()
    last_bundle_time: str | None = None
    backlog: Backlog | None = None
    dlq_depths: dict[str, int] = field(default_factory=dict)
    error_output: ErrorOutput | None = None
    alarms_firing: tuple[Alarm, ...] = ()
    #: in ALARM only for want of a first datapoint, on a stack deployed within the alarm's window
    alarms_warming_up: tuple[Alarm, ...] = ()
    alarm_changes_24h: tuple[Alarm, ...] = ()
    problems: tuple[str, ...] = ()
    metrics: tuple[MetricTotal, ...] = ()

    @property
    def healthy(self) -> bool:
        return not self.problems and not self.alarms_firing and not any(self.dlq_depths.values())


@dataclass(frozen=True, slots=True)
class Clients:
    s3: Any
    firehose: Any
    sqs: Any
    cloudwatch: Any


# -------------------------------------------------------------------------------- collection


def collect_status(
    clients: Clients,
    outputs: dict[str, str],
    environment: str,
    now: datetime | None = None,
    deployed: datetime | None = None,
) -> StatusReport:
    """Gather every section; a failing section becomes a line in ``problems``.

    ``deployed``: when the stack was last created or updated (None: no alarm is warming up)."""
    now = now or datetime.now(UTC)
    problems: list[str] = []

    def attempt[T](what: str, action: Callable[[], T], default: T) -> T:
        try:
            return action()
        except Exception as error:  # noqa: BLE001 - reported, the other sections still show
            problems.append(f"{what}: {type(error).__name__}: {error}")
            return default

    archive = outputs.get("ArchiveBucketName", "")
    distribution = outputs.get("DistributionBucketName", "")
    names = delivery_stream_names(outputs)
    if not names:
        problems.append("stream: the stack has no DeliveryStreamNames output")
    described = [attempt(f"stream {n}", partial(_stream, clients.firehose, n), None) for n in names]
    streams = tuple(stream for stream in described if stream is not None)
    last_bundle = attempt("last bundle", lambda: _last_bundle(clients.s3, archive, now), None)
    backlog = attempt("backlog", lambda: _backlog(clients.s3, distribution, now), None)
    dlqs: dict[str, int] = {}
    for output_key in ("IngestDLQUrl", "CopierDLQUrl"):
        url = outputs.get(output_key)
        if url:
            depth = attempt(output_key, partial(_queue_depth, clients.sqs, url), None)
            if depth is not None:
                dlqs[output_key.removesuffix("Url")] = depth
    errors = attempt("error output", lambda: _error_output(clients.s3, archive), None)
    topic = outputs.get("AlarmTopicArn", "")
    no_alarms: dict[str, Any] = {}
    no_changes: tuple[Alarm, ...] = ()
    ours = attempt("alarms", partial(_our_alarms, clients.cloudwatch, topic), no_alarms)
    history = partial(_changes, clients.cloudwatch, list(ours), now)
    changes = attempt("alarm history", history, no_changes)
    no_metrics: tuple[MetricTotal, ...] = ()
    totals = attempt("metrics", partial(_pipeline_metrics, clients.cloudwatch, now), no_metrics)
    return StatusReport(
        environment=environment,
        collected_at=now.isoformat(timespec="seconds"),
        streams=streams,
        last_bundle_time=last_bundle,
        backlog=backlog,
        dlq_depths=dlqs,
        error_output=errors,
        alarms_firing=_in_alarm(ours, lambda alarm: not warming_up(alarm, deployed, now)),
        alarms_warming_up=_in_alarm(ours, lambda alarm: warming_up(alarm, deployed, now)),
        alarm_changes_24h=changes,
        problems=tuple(problems),
        metrics=totals,
    )


def _stream(firehose: Any, name: str) -> StreamStatus:
    description = firehose.describe_delivery_stream(DeliveryStreamName=name)
    stream = description["DeliveryStreamDescription"]
    destination = (stream.get("Destinations") or [{}])[0]
    s3 = destination.get("ExtendedS3DestinationDescription", {})
    hints = s3.get("BufferingHints", {})
    parameters: dict[str, str] = {}
    for processor in s3.get("ProcessingConfiguration", {}).get("Processors", []):
        for parameter in processor.get("Parameters", []):
            parameters[parameter["ParameterName"]] = parameter["ParameterValue"]
    return StreamStatus(
        name=name,
        state=str(stream.get("DeliveryStreamStatus", "?")),
        buffer_mb=hints.get("SizeInMBs"),
        buffer_seconds=hints.get("IntervalInSeconds"),
        processor_buffer_mb=_number(parameters.get("BufferSizeInMBs"), float),
        processor_buffer_seconds=_number(parameters.get("BufferIntervalInSeconds"), int),
    )


def _number[N: (int, float)](text: str | None, kind: type[N]) -> N | None:
    return None if text is None else kind(text)


def _last_bundle(s3: Any, bucket: str, now: datetime) -> str | None:
    """Newest bundle in Archive, looking back hour folder by hour folder (bounded listing)."""
    for hours_back in range(LAST_BUNDLE_LOOKBACK_HOURS + 1):
        hour = now - timedelta(hours=hours_back)
        prefix = f"bundles/{hour:%Y/%m/%d/%H}/"
        newest: datetime | None = None
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                modified = item["LastModified"]
                newest = modified if newest is None or modified > newest else newest
        if newest is not None:
            return newest.isoformat(timespec="seconds")
    return None


def _backlog(s3: Any, bucket: str, now: datetime) -> Backlog:
    bundles = list_bundles(s3, bucket)
    oldest = bundles[0].last_modified if bundles else None
    return Backlog(
        count=len(bundles),
        bytes=sum(b.size for b in bundles),
        oldest_age_seconds=None if oldest is None else round(now.timestamp() - oldest, 1),
    )


def _queue_depth(sqs: Any, url: str) -> int:
    attributes = sqs.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes.get("ApproximateNumberOfMessages", 0)) + int(
        attributes.get("ApproximateNumberOfMessagesNotVisible", 0)
    )


def _error_output(s3: Any, bucket: str) -> ErrorOutput:
    count = 0
    newest: tuple[datetime, str] | None = None
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=ERROR_PREFIX):
        for item in page.get("Contents", []):
            count += 1
            if newest is None or item["LastModified"] > newest[0]:
                newest = (item["LastModified"], str(item["Key"]))
    return ErrorOutput(
        count=count,
        newest_key=None if newest is None else newest[1],
        newest_time=None if newest is None else newest[0].isoformat(timespec="seconds"),
    )


def _our_alarms(cloudwatch: Any, topic_arn: str) -> dict[str, Any]:
    """This stack's alarms: those notifying its alarm topic."""
    ours: dict[str, Any] = {}
    for page in cloudwatch.get_paginator("describe_alarms").paginate():
        for alarm in page.get("MetricAlarms", []) + page.get("CompositeAlarms", []):
            if topic_arn and topic_arn in alarm.get("AlarmActions", []):
                ours[alarm["AlarmName"]] = alarm
    return ours


def _in_alarm(ours: dict[str, Any], chosen: Callable[[dict[str, Any]], bool]) -> tuple[Alarm, ...]:
    return tuple(
        Alarm(
            name=name,
            state=str(alarm["StateValue"]),
            reason=str(alarm.get("StateReason", "")),
            updated=_iso(alarm.get("StateUpdatedTimestamp")),
        )
        for name, alarm in sorted(ours.items())
        if alarm["StateValue"] == "ALARM" and chosen(alarm)
    )


def warm_up_ends(alarm: dict[str, Any], deployed: datetime) -> datetime:
    """When a just-deployed alarm must have seen data: its window plus one evaluation (a minute)."""
    window = int(alarm.get("Period", 60)) * int(alarm.get("EvaluationPeriods", 1))
    return deployed + timedelta(seconds=window + 60)


def warming_up(alarm: dict[str, Any], deployed: datetime | None, now: datetime) -> bool:
    """In ALARM only because no datapoint exists yet, on a stack younger than the alarm's window.

    Only alarms that treat missing data as breaching can be in that state; an alarm that has seen
    one datapoint, or a stack older than the window, is judged as it is."""
    if deployed is None or alarm.get("TreatMissingData") != "breaching":
        return False
    return not _recent_datapoints(alarm) and now < warm_up_ends(alarm, deployed)


def _recent_datapoints(alarm: dict[str, Any]) -> list[Any]:
    """The datapoints of the last evaluation (StateReasonData); ``[None]`` if it does not say."""
    try:
        data = json.loads(str(alarm.get("StateReasonData") or "{}"))
    except ValueError:
        return [None]
    points = data.get("recentDatapoints") if isinstance(data, dict) else None
    return points if isinstance(points, list) else [None]


def _changes(cloudwatch: Any, names: list[str], now: datetime) -> tuple[Alarm, ...]:
    changes: list[Alarm] = []
    for name in sorted(names):
        history = cloudwatch.describe_alarm_history(
            AlarmName=name,
            HistoryItemType="StateUpdate",
            StartDate=now - ALARM_HISTORY,
            EndDate=now,
            MaxRecords=10,
        )
        for item in history.get("AlarmHistoryItems", []):
            changes.append(
                Alarm(name, "change", str(item.get("HistorySummary", "")), _iso(item["Timestamp"]))
            )
    changes.sort(key=lambda alarm: alarm.updated, reverse=True)
    return tuple(changes)


def _pipeline_metrics(cloudwatch: Any, now: datetime) -> tuple[MetricTotal, ...]:
    """The functions' own metrics (EMF, namespace ``S3Aggregator``) over ``METRICS_WINDOW``, each
    with the statistics of :func:`statistics_for`; one value per (name, statistic) across the
    metric's dimension sets: sums added, maxima and percentiles the largest (for a percentile, an
    upper bound)."""
    from templates.names import METRICS_NAMESPACE

    found = [
        metric
        for page in cloudwatch.get_paginator("list_metrics").paginate(Namespace=METRICS_NAMESPACE)
        for metric in page.get("Metrics", [])
    ]
    wanted = [(m, stat) for m in found for stat in statistics_for(m["MetricName"])]
    plain = [(m, stat) for m, stat in wanted if not stat.startswith(PERCENTILE_PREFIX)]
    percentiles = [(m, stat) for m, stat in wanted if stat.startswith(PERCENTILE_PREFIX)]
    totals: dict[tuple[str, str], float] = {}
    _add_values(totals, _metric_values(cloudwatch, plain, now))
    # optional: LocalStack and moto may not compute percentiles (the line then shows max only)
    with contextlib.suppress(Exception):
        _add_values(totals, _metric_values(cloudwatch, percentiles, now))
    order = {stat: index for index, stat in enumerate(("Sum", *AGE_STATISTICS))}
    return tuple(
        MetricTotal(name, stat, value)
        for (name, stat), value in sorted(totals.items(), key=lambda i: (i[0][0], order[i[0][1]]))
    )


def _metric_values(
    cloudwatch: Any, wanted: list[tuple[dict[str, Any], str]], now: datetime
) -> list[tuple[str, str, list[float]]]:
    """(name, statistic, values) of each wanted (metric, statistic) over the window."""
    found = []
    for start in range(0, len(wanted), 500):  # GetMetricData takes 500 queries per call
        chunk = wanted[start : start + 500]
        queries = [
            {
                "Id": f"m{index}",
                "MetricStat": {
                    "Metric": metric,
                    "Period": int(METRICS_WINDOW.total_seconds()),
                    "Stat": stat,
                },
            }
            for index, (metric, stat) in enumerate(chunk)
        ]
        results = cloudwatch.get_metric_data(
            MetricDataQueries=queries, StartTime=now - METRICS_WINDOW, EndTime=now
        )["MetricDataResults"]
        for result in results:
            metric, stat = chunk[int(result["Id"][1:])]
            values = [float(v) for v in result.get("Values", []) if v is not None]
            found.append((str(metric["MetricName"]), stat, values))
    return found


def _add_values(
    totals: dict[tuple[str, str], float], found: list[tuple[str, str, list[float]]]
) -> None:
    for name, stat, values in found:
        if not values:
            continue
        key = (name, stat)
        if stat == "Sum":
            totals[key] = totals.get(key, 0.0) + sum(values)
        else:
            totals[key] = max(totals.get(key, values[0]), *values)


def _iso(value: Any) -> str:
    return value.isoformat(timespec="seconds") if isinstance(value, datetime) else str(value or "")


# ---------------------------------------------------------------------------------- render


def render(report: StatusReport) -> str:
    """The one-screen text view: one line (or a few) per section, in a fixed order."""
    lines = [
        f"{stack_name(report.environment)}   (collected {report.collected_at})",
        "",
        *map(_stream_line, report.streams),
        f"last bundle   {report.last_bundle_time or 'none in the last 48 h'}",
        *_backlog_lines(report.backlog),
        _dlq_line(report.dlq_depths),
        *_error_output_lines(report.error_output),
        *_alarm_lines(report),
        *_metrics_lines(report.metrics),
        *(f"ERROR         {problem}" for problem in report.problems),
        "",
        "health        " + ("OK" if report.healthy else "ATTENTION NEEDED"),
    ]
    return "\n".join(lines)


def _stream_line(s: StreamStatus) -> str:
    return (
        f"stream        {s.name}: {s.state}; buffer {s.buffer_mb} MB / {s.buffer_seconds} s; "
        f"processor buffer {s.processor_buffer_mb} MB / {s.processor_buffer_seconds} s"
    )


def _backlog_lines(b: Backlog | None) -> list[str]:
    if b is None:
        return []
    age = "-" if b.oldest_age_seconds is None else _duration(b.oldest_age_seconds)
    return [f"distribution  {b.count} bundle(s) waiting, {b.bytes:,} bytes, oldest {age}"]


def _dlq_line(depths: dict[str, int]) -> str:
    dlqs = ", ".join(f"{name} {depth}" for name, depth in depths.items()) or "-"
    return f"DLQs          {dlqs}"


def _error_output_lines(e: ErrorOutput | None) -> list[str]:
    if e is None:
        return []
    newest = f" (newest {e.newest_key} at {e.newest_time})" if e.newest_key else ""
    return [f"error output  {e.count} object(s){newest}"]


def _alarm_lines(report: StatusReport) -> list[str]:
    warming = len(report.alarms_warming_up)
    return [
        f"alarms        {len(report.alarms_firing)} in ALARM"
        + (f", {warming} warming up (no data yet on a new deployment)" if warming else ""),
        *(f"  ALARM  {a.name}: {a.reason} (since {a.updated})" for a in report.alarms_firing),
        *(f"  WARMING UP  {a.name}: {a.reason}" for a in report.alarms_warming_up),
        *(f"  {a.updated}  {a.name}: {a.reason}" for a in report.alarm_changes_24h[:10]),
    ]


def _metrics_lines(metrics: tuple[MetricTotal, ...]) -> list[str]:
    """Counts and levels on one line, each value after its statistic; every age on a line of its
    own, its percentiles and maximum beside the SLO they are judged against."""
    ages: dict[str, list[MetricTotal]] = {}
    others = []
    for metric in metrics:
        if metric.name.endswith("AgeSeconds") and metric.name not in GAUGES:
            ages.setdefault(metric.name, []).append(metric)
        elif metric.value or metric.statistic != "Sum":
            others.append(f"{metric.name} {_label(metric.statistic)} {_number_text(metric.value)}")
    lines = [f"metrics (1 h) {', '.join(others) or '-'}"]
    for name, values in ages.items():
        shown = ", ".join(f"{_label(m.statistic)} {_number_text(m.value)} s" for m in values)
        lines.append(f"  {name} {shown}   ({_slo_text()})")
    return lines


def _label(statistic: str) -> str:
    return _LABELS.get(statistic, statistic)


def _slo_text() -> str:
    from templates.alarms import SLO_PERCENTILES

    return "SLO " + ", ".join(f"{stat} <= {seconds} s" for stat, seconds in SLO_PERCENTILES)


def _number_text(value: float) -> str:
    return f"{value:,.0f}" if value.is_integer() else f"{value:,.3g}"


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


# -------------------------------------------------------------------------------------- CLI


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--env", default="local", help="environment (default: local)")
    parser.add_argument("--endpoint-url", help="AWS endpoint (default: the environment's)")
    parser.add_argument("--json", action="store_true", help="the report as JSON")


def run(args: argparse.Namespace) -> int:
    from scripts.session import EnvSession, deployed_at, describe_stack, outputs_of

    # an unreachable endpoint, a missing stack or an AWS error: reported by scripts.cli (exit 1)
    session = EnvSession.from_args(args, interactive=True)
    stack = describe_stack(session)
    outputs = outputs_of(stack)
    clients = Clients(
        s3=session.client("s3"),
        firehose=session.client("firehose"),
        sqs=session.client("sqs"),
        cloudwatch=session.client("cloudwatch"),
    )
    report = collect_status(clients, outputs, args.env, deployed=deployed_at(stack))
    if args.json:
        print(json.dumps({**asdict(report), "healthy": report.healthy}, default=str))
    else:
        print(render(report))
    return 0 if report.healthy else 1
