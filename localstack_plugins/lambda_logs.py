"""Lambda's CloudWatch Logs, sent in batches: one ``PutLogEvents`` per stream for what is queued.

LocalStack's log handler sends one ``PutLogEvents`` request per invocation (through the whole
request chain); at tens of invocations per second that is a large share of the process's CPU.
:func:`install` replaces its loop with one that collects what arrives within ``BATCH_SECONDS`` of
the first queued item, groups it by log stream (order kept) and sends each stream's events in as
few requests as CloudWatch Logs allows (10,000 events, 1,048,576 bytes counting 26 bytes per
event). The stored events are the same; they appear up to ``BATCH_SECONDS`` later (on AWS, Lambda
logs also reach CloudWatch Logs seconds after the invocation). Log lines in CloudWatch's Embedded
Metric Format are also published as metrics (:mod:`localstack_plugins.lambda_emf`), as CloudWatch
Logs does on AWS. Both reach their service without an internal client's request round trip
(:mod:`localstack_plugins.direct_services`) unless only LocalStack's provider can take them.
"""

from __future__ import annotations

import contextlib
import functools
import queue
import time
from collections.abc import Callable, Iterator
from typing import Any

from localstack_plugins import direct_services, lambda_emf
from localstack_plugins.cloudwatch_batch import publish_to_cloudwatch
from localstack_plugins.telemetry import FAILURES

MAX_EVENTS = 10_000
MAX_BYTES = 1_048_576
EVENT_OVERHEAD_BYTES = 26
MAX_ITEMS_PER_ROUND = 1_000
BATCH_SECONDS = 1.0

Event = dict[str, Any]


def events_of(logs: str, timestamp_ms: int) -> list[Event]:
    """One event per non-empty line, newline kept (LocalStack's own split)."""
    return [
        {"timestamp": timestamp_ms, "message": line + "\n"} for line in logs.split("\n") if line
    ]


def batches(events: list[Event]) -> Iterator[list[Event]]:
    """``events`` cut into ``PutLogEvents``-sized batches, in order."""
    batch: list[Event] = []
    size = 0
    for event in events:
        event_size = len(event["message"].encode()) + EVENT_OVERHEAD_BYTES
        if batch and (len(batch) >= MAX_EVENTS or size + event_size > MAX_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(event)
        size += event_size
    if batch:
        yield batch


def _put(
    client: Callable[[], Any],
    account: str,
    region: str,
    group: str,
    stream: str,
    events: list[Event],
) -> None:
    for batch in batches(events):
        if direct_services.put_log_events(account, region, group, stream, batch):
            continue
        logs = client()
        try:
            logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=batch)
        except logs.exceptions.ResourceNotFoundException:
            with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
                logs.create_log_group(logGroupName=group)
            logs.create_log_stream(logGroupName=group, logStreamName=stream)
            logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=batch)


class _MetricsPublisher:
    """``put_metric_data`` of the account and region, as :func:`lambda_emf.publish` calls it."""

    def __init__(self, account: str, region: str) -> None:
        self._account = account
        self._region = region

    def put_metric_data(self, Namespace: str, MetricData: list[dict[str, Any]]) -> None:
        publish_to_cloudwatch(self._account, self._region, Namespace, MetricData)


def _publish_metrics(handler: Any, items: list[Any], shutdown: object) -> None:
    """CloudWatch metrics of the EMF documents among the queued logs (as CloudWatch Logs on AWS)."""
    data = [
        datum
        for item in items
        if item is not shutdown
        for datum in lambda_emf.metrics_in(item.logs)
    ]
    if not data:
        return
    account = str(handler.role_arn).split(":")[4]
    try:
        lambda_emf.publish(_MetricsPublisher(account, str(handler.region)), data)
    except Exception as error:  # noqa: BLE001 - like a rejected EMF document on AWS: logged
        FAILURES.record("PutMetricData of Lambda EMF logs", error)


def install() -> None:
    from localstack.aws.connect import connect_to
    from localstack.services.lambda_.invocation import logs
    from localstack.utils.aws.client_types import ServicePrincipal

    def run_log_loop(self: Any, *args: Any, **kwargs: Any) -> None:
        account = str(self.role_arn).split(":")[4]

        @functools.cache
        def client() -> Any:  # the function's role, as LocalStack's own loop; only when needed
            return connect_to.with_assumed_role(
                region_name=self.region,
                role_arn=self.role_arn,
                service_principal=ServicePrincipal("lambda"),
            ).logs

        while not self._shutdown_event.is_set():
            items = [self.log_queue.get()]
            window_ends = time.monotonic() + BATCH_SECONDS
            while len(items) < MAX_ITEMS_PER_ROUND and items[-1] is not logs.QUEUE_SHUTDOWN:
                try:
                    items.append(self.log_queue.get(timeout=window_ends - time.monotonic()))
                except (queue.Empty, ValueError):  # window over (ValueError: negative timeout)
                    break
            stop = any(item is logs.QUEUE_SHUTDOWN for item in items)
            now_ms = int(time.time() * 1000)
            by_stream: dict[tuple[str, str], list[Event]] = {}
            for item in items:
                if item is not logs.QUEUE_SHUTDOWN:
                    events = events_of(item.logs, now_ms)
                    by_stream.setdefault((item.log_group, item.log_stream), []).extend(events)
            _publish_metrics(self, items, logs.QUEUE_SHUTDOWN)
            for (group, stream), events in by_stream.items():
                if not events:
                    continue
                try:
                    _put(client, account, str(self.region), group, stream, events)
                except Exception as error:  # noqa: BLE001 - like LocalStack: log and go on
                    FAILURES.record(f"PutLogEvents {group}", error)
            if stop:
                return

    logs.LogHandler.run_log_loop = run_log_loop  # type: ignore[method-assign]
