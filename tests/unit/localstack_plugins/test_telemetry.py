"""Failed publishes of the emulator's own metrics and logs: warned once per cause and counted."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

import pytest

from localstack_plugins import cloudwatch_batch, telemetry
from localstack_plugins.cloudwatch_batch import MetricBatcher, MetricKey
from localstack_plugins.telemetry import FailureCounter, failures_in
from scripts import local


def test_each_cause_is_warned_once_and_every_failure_counted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    counter = FailureCounter(tmp_path / "failures.json")
    with caplog.at_level(logging.WARNING, logger=telemetry.__name__):
        for _ in range(3):
            counter.record("PutMetricData AWS/Firehose", ConnectionError("refused"))
        counter.record("PutLogEvents /aws/lambda/f", ValueError("bad"))
    assert counter.counts() == {
        "PutMetricData AWS/Firehose: ConnectionError": 3,
        "PutLogEvents /aws/lambda/f: ValueError": 1,
    }
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert [r.getMessage().split(" failed")[0] for r in warnings] == [
        "PutMetricData AWS/Firehose",
        "PutLogEvents /aws/lambda/f",
    ]
    assert failures_in(tmp_path / "failures.json") == counter.counts()


def test_a_metric_batch_that_cannot_be_published_is_counted_not_dropped_silently(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    counter = FailureCounter()
    monkeypatch.setattr(cloudwatch_batch, "FAILURES", counter)

    def publish(*_: Any) -> None:
        raise RuntimeError("CloudWatch provider gone")

    batcher = MetricBatcher(publish)
    key = MetricKey("1", "eu-west-2", "AWS/Firehose", "IncomingRecords", (("S", "s"),), "Count")
    with caplog.at_level(logging.WARNING):
        for _ in range(2):
            batcher.add(key, 1)
            batcher.flush()
    assert counter.counts() == {"PutMetricData AWS/Firehose: RuntimeError": 2}
    assert "CloudWatch provider gone" in caplog.text


def test_nothing_written_reads_as_no_failures(tmp_path: Path) -> None:
    assert failures_in(tmp_path / "absent.json") == {}


def test_local_status_shows_the_counts(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    counter = FailureCounter(tmp_path / local.TELEMETRY_FILE)
    counter.record("PutMetricData AWS/Lambda", RuntimeError("x"))
    counter.record("PutMetricData AWS/Lambda", RuntimeError("x"))
    running = local.Endpoint("http://127.0.0.1:1", 1, 1, tmp_path, tmp_path / local.LOG_FILE)
    monkeypatch.setattr(local, "status", lambda state_dir: running)
    args = argparse.Namespace(action="status", port=1, state_dir=tmp_path, json=False)
    assert local.run(args) == 0
    out = capsys.readouterr().out
    assert "2 failed publishes of its own metrics and logs" in out
    assert "2 x PutMetricData AWS/Lambda: RuntimeError" in out
