"""Faithful Firehose buffers, DirectPut quotas and loud failures (no LocalStack needed)."""

from __future__ import annotations

import base64
import dataclasses
import json
import threading
import time
from typing import Any

import pytest

from localstack_plugins.firehose import limits
from localstack_plugins.firehose.config import MB, ProcessorConfig, StreamConfig
from localstack_plugins.firehose.processor import BufferedRecord
from localstack_plugins.firehose.stream import StreamWorker, _Buffer
from pipeline.contract.quotas import DirectPutQuota


def _record(index: int, size: int) -> BufferedRecord:
    return BufferedRecord(str(index), 0, b"x" * size)


def test_interval_counts_from_the_oldest_record_left_after_a_partial_flush() -> None:
    buffer = _Buffer()
    for index, entered in enumerate((100.0, 101.0, 107.0)):
        buffer.add(_record(index, 400_000), entered)

    taken, _ = buffer.take(max_bytes=1 * MB)

    assert [r.record_id for r in taken] == ["0", "1"]
    assert buffer.since == 107.0  # not the time of the flush
    assert buffer.due_in(size_limit=5 * MB, interval=10.0, now=110.0) == pytest.approx(7.0)


def test_a_flush_never_exceeds_the_size_limit() -> None:
    buffer = _Buffer()
    for index in range(7):
        buffer.add(_record(index, 300_000), float(index))
    sizes = []
    while buffer.records:
        taken, _ = buffer.take(max_bytes=1 * MB)
        sizes.append(sum(len(r.data) for r in taken))
    assert sizes == [900_000, 900_000, 300_000]
    assert buffer.size == 0


def test_a_record_larger_than_the_limit_is_flushed_alone() -> None:
    buffer = _Buffer()
    buffer.add(_record(0, 2 * MB), 0.0)
    buffer.add(_record(1, 10), 0.0)
    taken, _ = buffer.take(max_bytes=1 * MB)
    assert [r.record_id for r in taken] == ["0"]


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_region_quotas_follow_the_aws_quota_page() -> None:
    assert limits.region_quota("eu-west-2", {}) == DirectPutQuota(1024 * 1024, 1000, 100_000)
    assert limits.region_quota("us-east-1", {}) == DirectPutQuota(5 * 1024 * 1024, 2000, 500_000)
    scaled = limits.region_quota(
        "eu-west-2",
        {
            "FIREHOSE_DIRECT_PUT_BYTES_PER_SECOND": "1000",
            "FIREHOSE_DIRECT_PUT_REQUESTS_PER_SECOND": "2",
            "FIREHOSE_DIRECT_PUT_RECORDS_PER_SECOND": "0",
        },
    )
    assert scaled == DirectPutQuota(1000, 2, 0)


def test_request_rate_throttles_whole_calls_and_refills() -> None:
    clock = _Clock()
    quota = limits.ThroughputQuota(DirectPutQuota(0, 2, 0), clock)
    assert [quota.admit_call() for _ in range(3)] == [True, True, False]
    clock.now = 0.5
    assert quota.admit_call() is True
    assert quota.admit_call() is False


def test_bytes_and_records_throttle_single_records() -> None:
    clock = _Clock()
    quota = limits.ThroughputQuota(DirectPutQuota(1000, 0, 3), clock)
    assert [quota.admit(400) for _ in range(3)] == [True, True, False]  # bytes
    clock.now = 1.0
    assert [quota.admit(1) for _ in range(4)] == [True, True, True, False]  # records


class _Sinks:
    """Records what the worker writes (the worker's own I/O interface, not an AWS service)."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.lock = threading.Lock()

    def invoke(self, lambda_arn: str, payload: bytes) -> tuple[bytes, bool]:
        raise AssertionError("no processor in these tests")

    def put_object(self, config: StreamConfig, key: str, body: bytes) -> None:
        with self.lock:
            self.objects[key] = body


def _config(prefix: str) -> StreamConfig:
    return StreamConfig(
        name="s",
        arn="arn:aws:firehose:eu-west-2:000000000000:deliverystream/s",
        version="1",
        bucket="b",
        prefix=prefix,
        error_prefix="e/!{firehose:error-output-type}/",
        compression="UNCOMPRESSED",
        file_extension="",
        role_arn="",
        size_bytes=1 * MB,
        interval_seconds=0.05,
        processor=None,
    )


def _wait(condition: Any, what: str) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.01)


def test_a_failing_delivery_step_keeps_the_records_and_stops_loudly() -> None:
    sinks = _Sinks()
    # an evaluated prefix over 512 characters makes the delivery step raise
    worker = StreamWorker("eu-west-2", lambda: _config("x" * 600), sinks, 0.01)
    try:
        worker.add([_record(1, 10), _record(2, 10)], has_processor=False)
        _wait(lambda: worker.failure is not None, "the failure to be recorded")
        state = worker.state()
        assert "delivery step failed" in state["failure"]
        assert "PrefixError" in state["failure"]
        assert state["destination_buffer"]["records"] == 2  # nothing lost
        assert state["idle"] is False
        assert sinks.objects == {}
    finally:
        worker.stop()


def test_a_healthy_worker_delivers_objects_no_larger_than_size_in_mbs() -> None:
    sinks = _Sinks()
    worker = StreamWorker("eu-west-2", lambda: _config("p/"), sinks, 0.01)
    try:
        worker.add([_record(i, 400_000) for i in range(5)], has_processor=False)
        _wait(lambda: worker.state()["delivered_records"] == 5, "five records delivered")
        assert worker.failure is None
        assert sorted(len(body) for body in sinks.objects.values()) == [
            400_000,
            800_000,
            800_000,
        ]
    finally:
        worker.stop()


class _EchoProcessor(_Sinks):
    """Answers every invocation with ``Ok`` records after ``release`` is set; counts overlap."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()
        self.in_flight = 0
        self.most_in_flight = 0
        self.batch_bytes: list[int] = []

    def invoke(self, lambda_arn: str, payload: bytes) -> tuple[bytes, bool]:
        event = json.loads(payload)
        with self.lock:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
            self.batch_bytes.append(sum(len(base64.b64decode(r["data"])) for r in event["records"]))
        self.release.wait(10)
        with self.lock:
            self.in_flight -= 1
        records = [
            {"recordId": r["recordId"], "result": "Ok", "data": r["data"]} for r in event["records"]
        ]
        return json.dumps({"records": records}).encode(), False


def _processed_config(processor_bytes: int) -> StreamConfig:
    config = _config("p/")
    processor = ProcessorConfig("arn:aws:lambda:eu-west-2:0:function:f", processor_bytes, 0.05, 0)
    return dataclasses.replace(config, processor=processor, size_bytes=64 * MB)


def test_processor_batches_stay_within_buffer_size_and_five_run_at_once() -> None:
    sinks = _EchoProcessor()
    config = _processed_config(200_000)
    worker = StreamWorker("eu-west-2", lambda: config, sinks, 0.01, processor_concurrency=5)
    try:
        worker.add([_record(i, 90_000) for i in range(20)], has_processor=True)
        # the worker counts an invocation when it starts its thread, the processor when the call
        # arrives: wait for both, then no sixth may have arrived while five are outstanding
        _wait(
            lambda: worker.state()["processors_in_flight"] == 5 and sinks.in_flight == 5,
            "five invocations in flight",
        )
        assert sinks.most_in_flight == 5
        sinks.release.set()
        _wait(lambda: worker.state()["idle"], "every batch processed")
        assert max(sinks.batch_bytes) <= 200_000
        assert sum(sinks.batch_bytes) == 20 * 90_000
        assert sinks.most_in_flight == 5
    finally:
        sinks.release.set()
        worker.stop()
