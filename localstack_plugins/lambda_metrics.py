"""Lambda's ``AWS/Lambda`` invocation metrics, published once per second instead of per call.

LocalStack publishes ``Invocations`` (and ``Errors``) for every invocation by starting a thread
that sends its own ``PutMetricData`` request (one SQLite transaction each): at tens of
invocations per second that is a large share of the process's CPU. :func:`install` makes the
version manager count instead; a single thread sends the counts every second as one
``PutMetricData`` per function (``Values=[1]``, ``Counts=[n]``). The stored data points, and so
``Sum``/``SampleCount`` for any period, are the same; only the timestamps are rounded to the
flush second (AWS itself aggregates Lambda metrics per minute). The call skips the internal
client's request round trip (:mod:`localstack_plugins.direct_services`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from localstack_plugins import direct_services

LOG = logging.getLogger(__name__)
FLUSH_SECONDS = 1.0
NAMESPACE = "AWS/Lambda"

#: (account, region, function name, metric name)
MetricKey = tuple[str, str, str, str]


class MetricBatcher:
    """Counts metric data points and publishes them periodically through ``publish``."""

    def __init__(self, publish: Callable[[str, str, str, dict[str, int]], None]) -> None:
        self._publish = publish
        self._counts: Counter[MetricKey] = Counter()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def count(self, account: str, region: str, function: str, *metrics: str) -> None:
        with self._lock:
            for metric in metrics:
                self._counts[(account, region, function, metric)] += 1
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="lambda-metrics", daemon=True
                )
                self._thread.start()

    def flush(self) -> None:
        with self._lock:
            counts, self._counts = self._counts, Counter()
        by_function: dict[tuple[str, str, str], dict[str, int]] = {}
        for (account, region, function, metric), count in counts.items():
            by_function.setdefault((account, region, function), {})[metric] = count
        for (account, region, function), metrics in by_function.items():
            try:
                self._publish(account, region, function, metrics)
            except Exception as error:  # noqa: BLE001 - metrics never break invocations
                LOG.debug("Lambda metrics for %s not published: %s", function, error)

    def _run(self) -> None:
        while True:
            time.sleep(FLUSH_SECONDS)
            self.flush()


def publish_to_cloudwatch(
    account: str, region: str, function: str, metrics: dict[str, int]
) -> None:
    stamp = datetime.now(UTC)
    data = [
        {
            "MetricName": metric,
            "Dimensions": [{"Name": "FunctionName", "Value": function}],
            "Timestamp": stamp,
            "Values": [1.0],
            "Counts": [float(count)],
        }
        for metric, count in sorted(metrics.items())
    ]
    if direct_services.put_metric_data(account, region, NAMESPACE, data):
        return
    from localstack.aws.connect import connect_to

    client: Any = connect_to(aws_access_key_id=account, region_name=region).cloudwatch
    client.put_metric_data(Namespace=NAMESPACE, MetricData=data)


def install() -> MetricBatcher:
    """Route the version manager's per-invocation metrics through one batcher."""
    from localstack.services.lambda_.invocation import version_manager

    batcher = MetricBatcher(publish_to_cloudwatch)
    original_start_thread = getattr(version_manager, "start_thread")  # noqa: B009

    def record_invocation(function_name: str, account_id: str, region_name: str) -> None:
        batcher.count(account_id, region_name, function_name, "Invocations")

    def record_error(function_name: str, account_id: str, region_name: str) -> None:
        batcher.count(account_id, region_name, function_name, "Invocations", "Errors")

    def start_thread(method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Counting is a dict update: no thread per invocation for it."""
        if str(kwargs.get("name", "")).startswith("record-cloudwatch-metric"):
            method()
            return None
        return original_start_thread(method, *args, **kwargs)

    patches = {
        "record_cw_metric_invocation": record_invocation,
        "record_cw_metric_error": record_error,
        "start_thread": start_thread,
    }
    for name, replacement in patches.items():
        setattr(version_manager, name, replacement)
    return batcher
