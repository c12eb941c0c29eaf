"""Faults injected into the real services of the deployed local stack; nothing may be lost.

Each test sets rules through the fault hook of the LocalStack plugins
(:mod:`localstack_plugins.faults`, ``/_localstack/aggregator/faults``): the services themselves
answer with the AWS error (or the delay), so the functions see exactly what AWS would send. For
each fault the end state is asserted: every landed version delivered exactly once by the
consumer, or parked in the error output from which ``aggregator redrive errors`` brings it back —
and the matching count moved (the fault's own counter, the transform's summaries that feed its
metrics; for the SlowDown, AccessDenied and stalled-GET tests, the metric itself in CloudWatch,
where the LocalStack plugins publish the functions' EMF lines). docs/reliability.md holds the
table. Files are small: the module runs in ~2 minutes.
"""

from __future__ import annotations

import contextlib
import json
import time
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from scripts.cli import main as cli_main
from scripts.loadgen import FileKind, UploadRecord
from tests.e2e.pipeline import (
    Outcome,
    Pipeline,
    error_output_references,
    function_named,
    log_lines,
    specs,
    transform_summaries,
)
from transforms.crt_fetch import MAX_STALLED_ATTEMPTS
from transforms.outcomes import DEFERRED_METRIC, FailureReason

pytestmark = pytest.mark.e2e


class FaultHook:
    """Client of the fault endpoint of the local stack."""

    def __init__(self, endpoint_url: str) -> None:
        self._url = endpoint_url.rstrip("/") + "/_localstack/aggregator/faults"

    def _call(self, method: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self._url, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read() or b"{}")

    def add(self, *rules: dict[str, Any]) -> list[int]:
        ids: list[int] = self._call("POST", {"rules": list(rules)})["ids"]
        return ids

    def rules(self) -> dict[int, dict[str, Any]]:
        return {rule["id"]: rule for rule in self._call("GET")["rules"]}

    def clear(self) -> None:
        self._call("DELETE")


@pytest.fixture
def faults(pipeline: Pipeline) -> Iterator[FaultHook]:
    hook = FaultHook(pipeline.endpoint_url)
    hook.clear()
    yield hook
    hook.clear()  # never leave a fault behind for the next test


def _stream(pipeline: Pipeline) -> str:
    return pipeline.outputs["DeliveryStreamName"]


def _since_ms() -> int:
    return int(time.time() * 1000) - 1000


def _summaries_until(
    pipeline: Pipeline, since_ms: int, done: Any, timeout: float = 30
) -> list[dict[str, Any]]:
    """The transform's summaries since ``since_ms``, polled until ``done(summaries)``."""
    deadline = time.monotonic() + timeout
    while True:
        summaries = transform_summaries(pipeline, since_ms)
        if done(summaries) or time.monotonic() > deadline:
            return summaries
        time.sleep(1)  # poll interval for CloudWatch Logs


def _failures(summaries: list[dict[str, Any]], reason: str) -> int:
    return sum(int(s.get("failures", {}).get(reason, 0)) for s in summaries)


def _total(summaries: list[dict[str, Any]], count: str) -> int:
    """The sum of one of the summaries' counts (``fetch_retries``, ``deferred``, ``failed``)."""
    return sum(int(s.get(count, 0)) for s in summaries)


def _wait_until(done: Callable[[], bool], timeout: float, failure: str, poll: float = 1) -> None:
    """Poll ``done`` every ``poll`` s until it holds; after ``timeout`` s, fail with ``failure``."""
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, failure
        time.sleep(poll)


def _parked(pipeline: Pipeline) -> set[tuple[Any, Any]]:
    """The (key, version) of every reference in the error output."""
    return {
        (ref.get("key"), ref.get("version_id"))
        for ref in error_output_references(pipeline.s3, pipeline.archive)
    }


def _in_error_output(pipeline: Pipeline, record: UploadRecord, timeout: float = 60) -> None:
    _wait_until(
        lambda: record.identity in _parked(pipeline),
        timeout,
        f"{record.key} never reached the error output",
    )


def _redrive(pipeline: Pipeline, capsys: pytest.CaptureFixture[str], *command: str) -> list[Any]:
    """``aggregator redrive <command> --json``: its JSON lines."""
    capsys.readouterr()
    arguments = ["redrive", *command, "--env", "local", "--endpoint-url", pipeline.endpoint_url]
    cli_main([*arguments, "--json", "--no-progress"])
    out = capsys.readouterr().out
    records = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert "summary" in records[-1], out  # the last line sums the run up
    return records[:-1]


def _redrive_errors(pipeline: Pipeline, capsys: pytest.CaptureFixture[str]) -> list[Any]:
    """``aggregator redrive errors`` over the whole error output (earlier tests' MISSING
    references make it exit non-zero: the outcome for our file is what is asserted)."""
    return _redrive(pipeline, capsys, "errors")


def _landing_get_fault(pipeline: Pipeline, key_prefix: str, **fault: Any) -> dict[str, Any]:
    """A rule on the transform's GETs from Landing under ``key_prefix``; ``fault`` holds its
    ``error``, ``count`` or ``latency_seconds``."""
    return {
        "service": "s3",
        "operation": "GetObject",
        "bucket": pipeline.landing,
        "key_prefix": key_prefix,
        **fault,
    }


def _configure(client: Any, function: str, timeout: int, variables: dict[str, str]) -> None:
    client.update_function_configuration(
        FunctionName=function, Timeout=timeout, Environment={"Variables": variables}
    )
    client.get_waiter("function_updated_v2").wait(
        FunctionName=function, WaiterConfig={"Delay": 1, "MaxAttempts": 60}
    )


@contextlib.contextmanager
def _transform_configured(
    pipeline: Pipeline, faults: FaultHook, timeout: int, **variables: str
) -> Iterator[str]:
    """The transform (its name is yielded) with ``timeout`` and these environment ``variables``
    for the block; then the faults are cleared and the function's configuration restored."""
    client = pipeline.session.client("lambda")
    transform = function_named(pipeline, "transform")
    original = client.get_function_configuration(FunctionName=transform)
    saved = dict(original["Environment"]["Variables"])
    _configure(client, transform, timeout, {**saved, **variables})
    try:
        yield transform
    finally:
        faults.clear()
        _configure(client, transform, int(original["Timeout"]), saved)


def test_landing_get_slowdown_burst_is_retried(
    pipeline: Pipeline, faults: FaultHook, tmp_path: Path
) -> None:
    scenario = pipeline.scenario("fault-slowdown", tmp_path)
    slowdown = {"code": "SlowDown", "status": 503, "message": "Please reduce your rate."}
    [rule] = faults.add(_landing_get_fault(pipeline, scenario.prefix, error=slowdown, count=12))
    retries_before = _metric_total(pipeline, "transform", "FetchRetries")
    since = _since_ms()
    records = scenario.upload(specs(scenario.prefix, FileKind.TEXT, [2_000] * 8, seed=81))
    outcome = scenario.deliver(records)
    assert faults.rules()[rule]["injected"] == 12
    assert outcome.delivery.duplicates == 0
    summaries = _summaries_until(pipeline, since, lambda s: _total(s, "fetch_retries") >= 12)
    assert _total(summaries, "fetch_retries") >= 12
    _metric_moves(pipeline, "transform", "FetchRetries", retries_before, 12)


def test_firehose_throttling_of_put_record_batch_is_retried(
    pipeline: Pipeline, faults: FaultHook, tmp_path: Path
) -> None:
    scenario = pipeline.scenario("fault-throttle", tmp_path)
    [rule] = faults.add(
        {
            "service": "firehose",
            "operation": "PutRecordBatch",
            "stream": _stream(pipeline),
            "error": {"code": "ServiceUnavailableException", "status": 503},
            "count": 4,
        }
    )
    records = scenario.upload(specs(scenario.prefix, FileKind.BINARY, [3_000] * 6, seed=82))
    outcome = scenario.deliver(records)
    assert faults.rules()[rule]["injected"] == 4
    assert outcome.delivery.duplicates == 0


def test_access_denied_is_parked_with_its_reason_then_redriven(
    pipeline: Pipeline, faults: FaultHook, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario = pipeline.scenario("fault-denied", tmp_path)
    files = specs(scenario.prefix, FileKind.TEXT, [1_500] * 4, seed=83)
    denied = {"code": "AccessDenied", "status": 403, "message": "Access Denied"}
    faults.add(_landing_get_fault(pipeline, files[0].key, error=denied))
    denied_before = _metric_total(pipeline, "transform", FailureReason.ACCESS_DENIED.metric)
    since = _since_ms()
    records = scenario.upload(files)
    victim, others = records[0], records[1:]
    scenario.deliver(others)
    _in_error_output(pipeline, victim)
    summaries = _summaries_until(pipeline, since, lambda s: _failures(s, "access-denied") >= 1)
    assert _failures(summaries, "access-denied") == 1
    assert _failures(summaries, "missing") == 0  # ... and it is not reported missing
    _metric_moves(pipeline, "transform", FailureReason.ACCESS_DENIED.metric, denied_before, 1)

    faults.clear()  # the role is fixed
    _redrive_errors(pipeline, capsys)
    scenario.deliver(records)  # the victim too, each file exactly once on disk


def test_a_file_that_never_finishes_ends_in_the_error_output_not_in_a_loop(
    pipeline: Pipeline, faults: FaultHook, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every GET of one file is throttled: it is deferred MAX_DEFERRALS times (here 1, with a
    short transform timeout so each attempt gives up quickly), then ProcessingFailed."""
    with _transform_configured(pipeline, faults, 25, MAX_DEFERRALS="1"):
        scenario = pipeline.scenario("fault-never", tmp_path)
        files = specs(scenario.prefix, FileKind.TEXT, [1_000] * 3, seed=84)
        slowdown = {"code": "SlowDown", "status": 503}
        [rule] = faults.add(_landing_get_fault(pipeline, files[0].key, error=slowdown))
        since = _since_ms()
        records = scenario.upload(files)
        victim = records[0]
        scenario.deliver(records[1:], timeout=180)
        _in_error_output(pipeline, victim, timeout=180)
        summaries = _summaries_until(
            pipeline, since, lambda s: _failures(s, "too-many-deferrals") >= 1
        )
        assert _failures(summaries, "too-many-deferrals") == 1  # FilesDeferredTooOften moved
        # deferred exactly MAX_DEFERRALS (1) times, then given up on: no loop
        assert _total(summaries, "deferred") == 1
        assert faults.rules()[rule]["injected"] > 2
    _redrive_errors(pipeline, capsys)
    scenario.deliver(records, timeout=180)


def test_a_processor_that_keeps_failing_parks_its_batch_for_redrive(
    pipeline: Pipeline, faults: FaultHook, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Firehose's invocations of the transform fail 4 times: the first attempt and its 3
    retries (NumberOfRetries) of one batch. That whole batch goes to the error output (as AWS
    does), nothing else is blocked, and the redrive delivers it: every file exactly once."""
    scenario = pipeline.scenario("fault-processor", tmp_path)
    # only the transform: without the speed patches S3's notifications invoke the ingest
    # function through the gateway too (localstack_plugins/direct_invoke.py)
    [rule] = faults.add(
        {
            "service": "lambda",
            "operation": "Invoke",
            "function": function_named(pipeline, "transform"),
            "error": {"code": "ServiceException", "status": 500},
            "count": 4,
        }
    )
    records = scenario.upload(specs(scenario.prefix, FileKind.TEXT, [1_200] * 3, seed=85))
    _wait_until(
        lambda: faults.rules()[rule]["injected"] >= 4,
        60,
        "the processor was not invoked four times",
        poll=0.5,
    )
    _wait_until(
        lambda: not _parked(pipeline).isdisjoint(record.identity for record in records),
        60,
        "the failed batch never reached errors/",
    )
    faults.clear()
    _redrive_errors(pipeline, capsys)
    outcome = scenario.deliver(records)
    assert outcome.delivery.duplicates == 0


def _distribution_copy_fault(
    pipeline: Pipeline, code: str, status: int, count: int
) -> dict[str, Any]:
    """A rule on the copier's write to Distribution (the server-side copy of a small bundle):
    the Archive self-copy that records content-sha256 is in another bucket and goes through."""
    return {
        "service": "s3",
        "operation": "CopyObject",
        "bucket": pipeline.distribution,
        "error": {"code": code, "status": status, "message": "fault injected"},
        "count": count,
    }


def _assert_retried_after_tagging(pipeline: Pipeline, since: int, failures: int) -> set[str]:
    """The copier's ``bundle not staged`` lines: ``failures`` of them, each bundle staged later.

    The retry hashes the bundle again: the event names the version the failed invocation read,
    and its content-sha256 went onto the newer version its self-copy wrote (docs/reliability.md).
    """
    deadline = time.monotonic() + 30
    while True:
        failed = log_lines(pipeline, "copier", since, "bundle not staged")
        staged = log_lines(pipeline, "copier", since, "bundle staged")
        keys = {str(line.get("key")) for line in failed}
        retried = [line for line in staged if line.get("key") in keys]
        if len(failed) >= failures and len(retried) >= len(keys):
            break
        assert time.monotonic() < deadline, f"copier logs: {failed} failed, {retried} retried"
        time.sleep(1)  # poll interval for CloudWatch Logs
    assert len(failed) == failures
    assert retried, "the failed bundle was never staged"
    return keys


def _assert_carried_our_files(outcome: Outcome, keys: set[str]) -> None:
    """The retried bundles are the ones that carried the scenario's files; the tracker verified
    their content-sha256 against their content (``bad_bundles`` is empty, assert_delivered)."""
    carriers = {delivery.sighting.bundle_key for delivery in outcome.delivery.delivered}
    assert keys <= carriers, (keys, carriers)


def test_a_copier_crash_after_tagging_archive_is_retried_by_lambda(
    pipeline: Pipeline, faults: FaultHook, tmp_path: Path
) -> None:
    """The copier records content-sha256 on the Archive bundle, then its Distribution copy fails
    (500 InternalError on every attempt of botocore's 3): the invocation fails after tagging.
    Lambda's asynchronous retry stages the bundle: it reaches Distribution once with a
    content-sha256 that verifies, every file delivered once."""
    scenario = pipeline.scenario("fault-copier-crash", tmp_path)
    [rule] = faults.add(_distribution_copy_fault(pipeline, "InternalError", 500, 3))
    since = _since_ms()
    records = scenario.upload(specs(scenario.prefix, FileKind.TEXT, [1_500] * 4, seed=86))
    # the first retry waits LAMBDA_RETRY_BASE_DELAY (5 s in the test session, 60 s in AWS)
    outcome = scenario.deliver(records, timeout=150)
    assert faults.rules()[rule]["injected"] == 3
    assert outcome.delivery.duplicates == 0
    keys = _assert_retried_after_tagging(pipeline, since, failures=1)
    _assert_carried_our_files(outcome, keys)


def _queue_depth(pipeline: Pipeline, queue_url: str) -> int:
    attributes = pipeline.session.client("sqs").get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )


def test_a_distribution_write_denied_for_a_while_is_parked_in_the_dlq_then_redriven(
    pipeline: Pipeline, faults: FaultHook, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """AccessDenied on the copier's Distribution write for its first invocation and both of
    Lambda's retries (MaximumRetryAttempts=2): the event goes to the copier DLQ (whose depth the
    CopierDLQDepthAlarm watches). Once the policy is fixed, ``aggregator redrive dlq --function
    copier`` re-invokes it: the bundle reaches Distribution once, every file delivered once."""
    scenario = pipeline.scenario("fault-copier-denied", tmp_path)
    queue = pipeline.outputs["CopierDLQUrl"]
    before = _queue_depth(pipeline, queue)
    [rule] = faults.add(_distribution_copy_fault(pipeline, "AccessDenied", 403, 3))
    since = _since_ms()
    records = scenario.upload(specs(scenario.prefix, FileKind.BINARY, [2_000] * 4, seed=87))
    # retries after 1x and 2x LAMBDA_RETRY_BASE_DELAY (5 s here): the DLQ in ~20 s
    _wait_until(
        lambda: _queue_depth(pipeline, queue) > before,
        240,
        "the denied copier event never reached its DLQ",
    )
    assert faults.rules()[rule]["injected"] == 3
    assert not scenario.tracker.wait_for(records, 0).delivered  # nothing staged meanwhile
    faults.clear()  # the policy is fixed

    lines = _redrive(pipeline, capsys, "dlq", "--function", "copier")
    assert [line["action"] for line in lines].count("reinvoked") >= 1, lines
    outcome = scenario.deliver(records)
    assert outcome.delivery.duplicates == 0
    assert _queue_depth(pipeline, queue) == before
    keys = _assert_retried_after_tagging(pipeline, since, failures=3)
    _assert_carried_our_files(outcome, keys)


def test_a_stalled_landing_get_is_cancelled_at_the_stall_bound_and_the_batch_answers(
    pipeline: Pipeline, faults: FaultHook, tmp_path: Path
) -> None:
    """Landing GETs of one file hang longer than the whole invocation (40 s each, transform
    timeout 25 s, ``FETCH_STALL_SECONDS=2`` for the test). The native fetcher cancels each GET
    after 2 s without a byte and tries again, at most ``MAX_STALLED_ATTEMPTS`` times in one
    invocation, then defers the file: the batch answers in seconds with the others delivered
    (``FilesDeferred`` moves in CloudWatch); once S3 is fast the file is delivered, each once,
    and no invocation timed out."""
    with _transform_configured(pipeline, faults, 25, FETCH_STALL_SECONDS="2") as transform:
        scenario = pipeline.scenario("fault-stall", tmp_path)
        files = specs(scenario.prefix, FileKind.TEXT, [1_000] * 3, seed=88)
        [rule] = faults.add(_landing_get_fault(pipeline, files[0].key, latency_seconds=40.0))
        deferred_before = _metric_total(pipeline, "transform", DEFERRED_METRIC)
        since = _since_ms()
        records = scenario.upload(files)
        summaries = _summaries_until(pipeline, since, lambda s: _total(s, "deferred") >= 1, 90)
        assert _total(summaries, "deferred") >= 1
        stalled = [
            line
            for line in log_lines(pipeline, "transform", since, "record deferred")
            if line.get("key") == files[0].key
        ]
        assert stalled, "the stalled file was not deferred"
        reason = str(stalled[0].get("reason"))
        assert f"stalled {MAX_STALLED_ATTEMPTS} times" in reason, reason
        assert "no byte of the response for 2 s" in reason, reason
        assert faults.rules()[rule]["injected"] >= MAX_STALLED_ATTEMPTS
        _metric_moves(pipeline, "transform", DEFERRED_METRIC, deferred_before, 1)
        faults.clear()  # S3 is fast again
        outcome = scenario.deliver(records, timeout=120)
        assert outcome.delivery.duplicates == 0
        summaries = transform_summaries(pipeline, since)
        assert _total(summaries, "failed") == 0
        logs = pipeline.session.client("logs")
        timed_out = [
            event["message"]
            for page in logs.get_paginator("filter_log_events").paginate(
                logGroupName=f"/aws/lambda/{transform}", startTime=since
            )
            for event in page.get("events", [])
            if "Task timed out" in str(event.get("message", ""))  # Lambda's timeout line
        ]
        assert not timed_out, timed_out


def _metric_total(pipeline: Pipeline, part: str, metric: str) -> float:
    """The sum of function ``part``'s metric in CloudWatch over the last hours, under the
    namespace and ``service`` dimension its Powertools metrics are published with (read from
    its environment). Tests compare it before and after a fault: the metric moved."""
    function = function_named(pipeline, part)
    variables = pipeline.session.client("lambda").get_function_configuration(FunctionName=function)[
        "Environment"
    ]["Variables"]
    now = datetime.now(UTC)
    points = pipeline.session.client("cloudwatch").get_metric_statistics(
        Namespace=variables["POWERTOOLS_METRICS_NAMESPACE"],
        MetricName=metric,
        Dimensions=[{"Name": "service", "Value": variables["POWERTOOLS_SERVICE_NAME"]}],
        StartTime=now - timedelta(hours=3),
        EndTime=now + timedelta(minutes=5),
        Period=3600,
        Statistics=["Sum"],
    )["Datapoints"]
    return sum(float(point.get("Sum", 0.0)) for point in points)


def _metric_moves(pipeline: Pipeline, part: str, metric: str, before: float, by: float) -> None:
    """Poll CloudWatch until function ``part``'s ``metric`` is at least ``before + by``."""
    _wait_until(
        lambda: _metric_total(pipeline, part, metric) >= before + by,
        60,
        f"{metric} of the {part} function did not move by {by} in CloudWatch",
    )
