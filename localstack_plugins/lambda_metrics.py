"""Lambda's ``AWS/Lambda`` invocation metrics, published once per second instead of per call.

LocalStack publishes ``Invocations`` (and ``Errors``) for every invocation by starting a thread
that sends its own ``PutMetricData`` request (one SQLite transaction each): at tens of
invocations per second that is a large share of the process's CPU. :func:`install` makes the
version manager count into a :class:`~localstack_plugins.cloudwatch_batch.MetricBatcher`
instead: one ``PutMetricData`` per second with each function's counts. The stored data points,
and so ``Sum``/``SampleCount`` for any period, are the same; only the timestamps are rounded to
the flush second (AWS itself aggregates Lambda metrics per minute). The request skips the internal
client's round trip (:mod:`localstack_plugins.direct_services`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from localstack_plugins.cloudwatch_batch import MetricBatcher, MetricKey, publish_to_cloudwatch

NAMESPACE = "AWS/Lambda"


def invocation_metric(account: str, region: str, function: str, metric: str) -> MetricKey:
    return MetricKey(account, region, NAMESPACE, metric, (("FunctionName", function),), "Count")


def install() -> MetricBatcher:
    """Route the version manager's per-invocation metrics through one batcher."""
    from localstack.services.lambda_.invocation import version_manager

    batcher = MetricBatcher(publish_to_cloudwatch, name="lambda-metrics")
    original_start_thread = getattr(version_manager, "start_thread")  # noqa: B009

    def record_invocation(function_name: str, account_id: str, region_name: str) -> None:
        batcher.add(invocation_metric(account_id, region_name, function_name, "Invocations"), 1)

    def record_error(function_name: str, account_id: str, region_name: str) -> None:
        for metric in ("Invocations", "Errors"):
            batcher.add(invocation_metric(account_id, region_name, function_name, metric), 1)

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
