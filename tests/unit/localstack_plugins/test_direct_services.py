"""Lambda logs stored straight into the CloudWatch Logs backend (no LocalStack process needed)."""

from __future__ import annotations

import random
import time

from localstack.services.logs.models import get_moto_logs_backend

from localstack_plugins import direct_services

REGION = "eu-west-2"


def _account() -> str:
    """A fresh account per test: the in-memory backends are process-wide."""
    return str(random.randrange(10**11, 10**12))


def _events(*messages: str) -> list[dict[str, object]]:
    now = int(time.time() * 1000)
    return [{"timestamp": now, "message": message} for message in messages]


def test_events_are_stored_and_a_missing_group_and_stream_are_created() -> None:
    account = _account()
    group, stream = "/aws/lambda/f", "2026/12/01/[$LATEST]abc"

    assert direct_services.put_log_events(account, REGION, group, stream, _events("a\n", "b\n"))
    assert direct_services.put_log_events(account, REGION, group, stream, _events("c\n"))

    stored = get_moto_logs_backend(account, REGION).groups[group].streams[stream].events
    assert [event.message for event in stored] == ["a\n", "b\n", "c\n"]


def test_a_group_with_metric_filters_is_left_to_the_provider() -> None:
    account = _account()
    backend = get_moto_logs_backend(account, REGION)
    backend.create_log_group("/aws/lambda/g", {})
    backend.create_log_stream("/aws/lambda/g", "s")
    transformations = [{"metricName": "M", "metricNamespace": "N", "metricValue": "1"}]
    backend.put_metric_filter("f", "ERROR", "/aws/lambda/g", transformations)  # type: ignore[arg-type]

    assert not direct_services.put_log_events(account, REGION, "/aws/lambda/g", "s", _events("x"))
    assert backend.groups["/aws/lambda/g"].streams["s"].events == []
