"""CloudWatch metrics from the Embedded Metric Format (EMF) lines of Lambda logs, as on AWS.

On AWS, CloudWatch Logs turns every log event that is an EMF document into metric data (the
functions emit them through Powertools ``Metrics``); LocalStack stores the log line and nothing
else, so alarms on those metrics see no data (the backlog alarms, whose missing data is
breaching, stay in ALARM) and dashboards stay empty. :func:`metrics_in` extracts the metric data
of a batch of log text following the EMF specification
(https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html);
:mod:`localstack_plugins.lambda_logs` publishes it with ``PutMetricData`` when it ships the
logs (so metrics appear within about a second of the invocation, as on AWS within seconds).

Specification points honoured: a document is a JSON object with ``_aws.Timestamp`` (epoch ms) and
``_aws.CloudWatchMetrics`` (directives of ``Namespace``, ``Dimensions`` — a list of dimension sets,
each a list of root member names whose values are strings — and ``Metrics`` with ``Name``,
optional ``Unit`` and ``StorageResolution``); a metric's value is the root member of its name, a
number or a list of up to 100 numbers; each dimension set gives one metric (an empty set: no
dimensions). An invalid document yields nothing (CloudWatch rejects it the same way); a line
that is not JSON is an ordinary log line.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

MAX_METRICS_PER_DIRECTIVE = 100
MAX_DIMENSIONS_PER_SET = 30
MAX_VALUES_PER_METRIC = 100
#: PutMetricData accepts 1,000 metric data per request.
MAX_DATA_PER_CALL = 1000
UNITS = frozenset(
    {
        "Seconds",
        "Microseconds",
        "Milliseconds",
        "Bytes",
        "Kilobytes",
        "Megabytes",
        "Gigabytes",
        "Terabytes",
        "Bits",
        "Kilobits",
        "Megabits",
        "Gigabits",
        "Terabits",
        "Percent",
        "Count",
        "Bytes/Second",
        "Kilobytes/Second",
        "Megabytes/Second",
        "Gigabytes/Second",
        "Terabytes/Second",
        "Bits/Second",
        "Kilobits/Second",
        "Megabits/Second",
        "Gigabits/Second",
        "Terabits/Second",
        "Count/Second",
        "None",
    }
)


@dataclass(frozen=True)
class MetricDatum:
    namespace: str
    name: str
    unit: str
    dimensions: tuple[tuple[str, str], ...]
    values: tuple[float, ...]
    timestamp: datetime
    storage_resolution: int

    def to_api(self) -> dict[str, Any]:
        return {
            "MetricName": self.name,
            "Dimensions": [{"Name": k, "Value": v} for k, v in self.dimensions],
            "Timestamp": self.timestamp,
            "Values": list(self.values),
            "Unit": self.unit,
            "StorageResolution": self.storage_resolution,
        }


def _values(raw: object) -> tuple[float, ...] | None:
    items = raw if isinstance(raw, list) else [raw]
    if not items or len(items) > MAX_VALUES_PER_METRIC:
        return None
    values: list[float] = []
    for item in items:
        if isinstance(item, bool) or not isinstance(item, int | float):
            return None
        if not math.isfinite(item):
            return None
        values.append(float(item))
    return tuple(values)


def _directive(
    document: dict[str, Any], directive: object, timestamp: datetime
) -> list[MetricDatum] | None:
    """The metric data of one ``CloudWatchMetrics`` directive (None: the document is invalid)."""
    if not isinstance(directive, dict):
        return None
    namespace, sets, metrics = (
        directive.get("Namespace"),
        directive.get("Dimensions"),
        directive.get("Metrics"),
    )
    if not isinstance(namespace, str) or not namespace or not isinstance(sets, list):
        return None
    if not isinstance(metrics, list) or len(metrics) > MAX_METRICS_PER_DIRECTIVE:
        return None
    dimension_sets = _dimension_sets(document, sets)
    if dimension_sets is None:
        return None
    data: list[MetricDatum] = []
    for metric in metrics:
        found = _metric(document, metric, namespace, dimension_sets, timestamp)
        if found is None:
            return None
        data.extend(found)
    return data


def _dimension_sets(
    document: dict[str, Any], sets: list[Any]
) -> list[tuple[tuple[str, str], ...]] | None:
    """Each dimension set with the document's values (one empty set when there are none)."""
    dimension_sets: list[tuple[tuple[str, str], ...]] = []
    for names in sets:
        if not isinstance(names, list) or len(names) > MAX_DIMENSIONS_PER_SET:
            return None
        if not all(isinstance(name, str) for name in names):
            return None
        values = [document.get(name) for name in names]
        if not all(isinstance(value, str) and value for value in values):
            return None
        dimension_sets.append(tuple(zip(names, values, strict=True)))  # type: ignore[arg-type]
    return dimension_sets or [()]


def _metric(
    document: dict[str, Any],
    metric: object,
    namespace: str,
    dimension_sets: list[tuple[tuple[str, str], ...]],
    timestamp: datetime,
) -> list[MetricDatum] | None:
    """One metric definition, once per dimension set (None: it is invalid)."""
    if not isinstance(metric, dict) or not isinstance(metric.get("Name"), str):
        return None
    unit = metric.get("Unit", "None")
    resolution = metric.get("StorageResolution", 60)
    numbers = _values(document.get(metric["Name"]))
    if not isinstance(unit, str) or unit not in UNITS:
        return None
    if resolution not in (1, 60) or numbers is None:
        return None
    return [
        MetricDatum(namespace, metric["Name"], str(unit), dims, numbers, timestamp, int(resolution))
        for dims in dimension_sets
    ]


def parse_document(line: str) -> list[MetricDatum]:
    """The metric data of one log line (empty: not an EMF document, or an invalid one)."""
    text = line.strip()
    if not text.startswith("{") or '"_aws"' not in text:
        return []
    try:
        document = json.loads(text)
    except ValueError:
        return []
    meta = document.get("_aws") if isinstance(document, dict) else None
    if not isinstance(meta, dict):
        return []
    stamp, directives = meta.get("Timestamp"), meta.get("CloudWatchMetrics")
    if isinstance(stamp, bool) or not isinstance(stamp, int | float):
        return []
    if not isinstance(directives, list):
        return []
    timestamp = datetime.fromtimestamp(stamp / 1000, UTC)
    found: list[MetricDatum] = []
    for directive in directives:
        data = _directive(document, directive, timestamp)
        if data is None:
            return []
        found.extend(data)
    return found


def metrics_in(logs: str) -> list[MetricDatum]:
    """Every metric datum of the EMF documents in ``logs`` (one log event per line)."""
    return [datum for line in logs.split("\n") for datum in parse_document(line)]


def calls(data: Iterable[MetricDatum]) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """(namespace, MetricData) for each ``PutMetricData`` call publishing ``data``."""
    by_namespace: dict[str, list[dict[str, Any]]] = {}
    for datum in data:
        by_namespace.setdefault(datum.namespace, []).append(datum.to_api())
    for namespace, items in by_namespace.items():
        for start in range(0, len(items), MAX_DATA_PER_CALL):
            yield namespace, items[start : start + MAX_DATA_PER_CALL]


def publish(cloudwatch: Any, data: Iterable[MetricDatum]) -> int:
    """Send ``data`` with ``PutMetricData``; returns the number of calls made."""
    count = 0
    for namespace, items in calls(data):
        cloudwatch.put_metric_data(Namespace=namespace, MetricData=items)
        count += 1
    return count
