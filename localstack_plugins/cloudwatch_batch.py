"""Metric data points aggregated in the LocalStack process and sent to CloudWatch once a second.

AWS services publish their own metrics (``AWS/Lambda``, ``AWS/Firehose``, ...) without the caller
doing anything; an emulator that sends a ``PutMetricData`` request per event (one request, one
SQLite transaction each) spends a large share of the process's CPU at tens of events per second.
A :class:`MetricBatcher` adds the events up per metric and dimension set instead, and a single
thread sends each second's sums as ``StatisticValues`` (``SampleCount``, ``Sum``, ``Minimum``,
``Maximum``): ``Sum``, ``SampleCount``, ``Minimum`` and ``Maximum`` over any period are the same as
with one data point per event; only the timestamps are rounded to the flush second (AWS itself
aggregates its service metrics per minute). A publish that fails is logged at WARNING once per
cause and counted (:mod:`localstack_plugins.telemetry`).
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from localstack_plugins import direct_services
from localstack_plugins.telemetry import FAILURES

FLUSH_SECONDS = 1.0
#: PutMetricData takes at most 1,000 metric data items per request (CloudWatch API reference)
MAX_ITEMS_PER_REQUEST = 1000

#: (account, region, namespace) -> the MetricData items of one flush
Publish = Callable[[str, str, str, list[dict[str, Any]]], None]


@dataclass(frozen=True, slots=True)
class MetricKey:
    """One metric of one resource: where it is published and under which dimensions."""

    account: str
    region: str
    namespace: str
    name: str
    dimensions: tuple[tuple[str, str], ...]
    unit: str = "None"


@dataclass(slots=True)
class _Statistics:
    count: float
    total: float
    minimum: float
    maximum: float

    def add(self, value: float, count: float) -> None:
        self.count += count
        self.total += value * count
        self.minimum = min(self.minimum, value)
        self.maximum = max(self.maximum, value)


class MetricBatcher:
    """Adds up data points per :class:`MetricKey`; publishes them every ``flush_seconds``."""

    def __init__(
        self, publish: Publish, name: str = "metric-batcher", flush_seconds: float = FLUSH_SECONDS
    ) -> None:
        self._publish = publish
        self._name = name
        self._flush_seconds = flush_seconds
        self._pending: dict[MetricKey, _Statistics] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def add(self, key: MetricKey, value: float, count: float = 1) -> None:
        """``count`` data points of ``value`` (``count`` events of 1 for a counter)."""
        with self._lock:
            statistics = self._pending.get(key)
            if statistics is None:
                self._pending[key] = _Statistics(count, value * count, value, value)
            else:
                statistics.add(value, count)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()

    def flush(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, {}
        stamp = datetime.now(UTC)
        grouped: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
        for key, statistics in pending.items():
            grouped.setdefault((key.account, key.region, key.namespace), []).append(
                _item(key, statistics, stamp)
            )
        for (account, region, namespace), items in grouped.items():
            for start in range(0, len(items), MAX_ITEMS_PER_REQUEST):
                try:
                    self._publish(
                        account, region, namespace, items[start : start + MAX_ITEMS_PER_REQUEST]
                    )
                except Exception as error:  # noqa: BLE001 - metrics never break the service
                    FAILURES.record(f"PutMetricData {namespace}", error)  # warned, counted

    def _run(self) -> None:
        while True:
            time.sleep(self._flush_seconds)
            self.flush()


def _item(key: MetricKey, statistics: _Statistics, stamp: datetime) -> dict[str, Any]:
    return {
        "MetricName": key.name,
        "Dimensions": [{"Name": name, "Value": value} for name, value in key.dimensions],
        "Timestamp": stamp,
        "StatisticValues": {
            "SampleCount": statistics.count,
            "Sum": statistics.total,
            "Minimum": statistics.minimum,
            "Maximum": statistics.maximum,
        },
        "Unit": key.unit,
    }


def publish_to_cloudwatch(
    account: str, region: str, namespace: str, items: list[dict[str, Any]]
) -> None:
    """One ``PutMetricData`` of ``account`` and ``region``: handed to the CloudWatch provider
    directly (:mod:`localstack_plugins.direct_services`), else through an internal client."""
    if direct_services.put_metric_data(account, region, namespace, items):
        return
    _cloudwatch(account, region).put_metric_data(Namespace=namespace, MetricData=items)


@functools.cache
def _cloudwatch(account: str, region: str) -> Any:
    """One internal CloudWatch client per account and region (a client costs a request parser)."""
    from localstack.aws.connect import connect_to

    return connect_to(aws_access_key_id=account, region_name=region).cloudwatch
