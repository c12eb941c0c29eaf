"""One delivery stream's buffers and its delivery thread.

Records enter the processor buffer (or, without a processor, the destination buffer). A single
thread per stream flushes the processor buffer when it reaches ``BufferSizeInMBs`` or
``BufferIntervalInSeconds`` after its oldest record and hands the batch to one of at most
``processor_concurrency`` processor slots; a slot invokes the processor (retrying
``NumberOfRetries`` times), sends ``Ok`` records to the destination buffer, discards ``Dropped``
ones and writes failures to the error output. Firehose invokes the processor asynchronously per
buffered batch, so batches overlap when the function is slower than the buffer fills (AWS does
not document a number; ``1`` gives strictly serial invocations). The stream thread flushes the
destination buffer when it reaches ``SizeInMBs`` or ``IntervalInSeconds``. Every write goes
through LocalStack's S3, so bucket notifications fire as for any other put.
"""

from __future__ import annotations

import gzip
import logging
import threading
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from localstack_plugins.firehose import naming
from localstack_plugins.firehose.config import StreamConfig
from localstack_plugins.firehose.processor import (
    PROCESSING_FAILED,
    BufferedRecord,
    InvocationFailure,
    build_event,
    error_document,
    parse_response,
)

LOG = logging.getLogger(__name__)
ERROR_OUTPUT_TYPE = "processing-failed"
IDLE_WAIT_SECONDS = 1.0
S3_RETRY_MAX_SECONDS = 30.0


class Sinks(Protocol):
    """The I/O a stream needs: invoke its processor and write objects."""

    def invoke(self, lambda_arn: str, payload: bytes) -> tuple[bytes, bool]:
        """Synchronous invoke: (response payload, whether FunctionError was set)."""
        ...

    def put_object(self, config: StreamConfig, key: str, body: bytes) -> None: ...


@dataclass
class _Buffer:
    records: list[BufferedRecord] = field(default_factory=list)
    entered: list[float] = field(default_factory=list)  # monotonic time each record entered
    size: int = 0

    @property
    def since(self) -> float | None:
        """When the oldest buffered record entered (the interval counts from it, as on AWS)."""
        return self.entered[0] if self.entered else None

    def add(self, record: BufferedRecord, entered: float | None = None) -> None:
        self.records.append(record)
        self.entered.append(time.monotonic() if entered is None else entered)
        self.size += len(record.data)

    def put_back(self, records: list[BufferedRecord], entered: list[float]) -> None:
        """Return taken records to the front (a failed step must not lose them)."""
        self.records[:0] = records
        self.entered[:0] = entered
        self.size += sum(len(r.data) for r in records)

    def take(self, max_bytes: int | None = None) -> tuple[list[BufferedRecord], list[float]]:
        """Remove the oldest records up to ``max_bytes`` (at least one): (records, entry times).

        What stays keeps its own entry times, so a partial flush does not restart the interval.
        """
        count, size = 0, 0
        for record in self.records:
            if count and max_bytes is not None and size + len(record.data) > max_bytes:
                break
            count += 1
            size += len(record.data)
        taken, self.records = self.records[:count], self.records[count:]
        entered, self.entered = self.entered[:count], self.entered[count:]
        self.size -= size
        return taken, entered

    def due_in(self, size_limit: int, interval: float, now: float) -> float | None:
        """Seconds until this buffer must flush (0 = now); None when empty."""
        if not self.records or self.since is None:
            return None
        if self.size >= size_limit:
            return 0.0
        return max(0.0, self.since + interval - now)

    def state(self, size_limit: int, interval: float, now: float) -> dict[str, Any]:
        return {
            "records": len(self.records),
            "bytes": self.size,
            "flush_due_in_seconds": self.due_in(size_limit, interval, now),
        }


@dataclass
class _Counters:
    invocations: int = 0
    invocation_failures: int = 0
    delivered_records: int = 0
    dropped_records: int = 0
    failed_records: int = 0
    deliveries: int = 0
    error_deliveries: int = 0
    last_delivery_key: str | None = None
    last_delivery_at: float | None = None
    last_error_key: str | None = None


#: Records taken from a buffer with their entry times (to put them back on failure).
_Taken = tuple[list[BufferedRecord], list[float]]


class StreamWorker:
    """Buffers and delivery thread of one DirectPut stream with an S3 destination."""

    def __init__(
        self,
        region: str,
        describe: Callable[[], StreamConfig | None],
        sinks: Sinks,
        retry_delay_seconds: float,
        processor_concurrency: int = 1,
    ) -> None:
        self._region = region
        self._describe = describe
        self._sinks = sinks
        self._retry_delay = retry_delay_seconds
        self._lock = threading.Condition()
        self._incoming = _Buffer()
        self._ready = _Buffer()
        self._busy = False
        self._concurrency = max(1, processor_concurrency)
        self._in_flight = 0
        self._processors = ThreadPoolExecutor(
            max_workers=self._concurrency, thread_name_prefix="firehose-processor"
        )
        self._stopped = threading.Event()
        self._counters = _Counters()
        #: Set when a delivery or processing step raised: the stream stopped (see _fail).
        self.failure: str | None = None
        self._thread = threading.Thread(target=self._run, name="firehose-stream", daemon=True)
        self._thread.start()

    # --- API used by the provider ----------------------------------------------------------
    def add(self, records: list[BufferedRecord], has_processor: bool) -> None:
        with self._lock:
            target = self._incoming if has_processor else self._ready
            for record in records:
                target.add(record)
            self._lock.notify_all()

    def stop(self) -> None:
        self._stopped.set()
        with self._lock:
            self._lock.notify_all()
        self._processors.shutdown(wait=False)

    def state(self) -> dict[str, Any]:
        config = self._describe()
        now = time.monotonic()
        with self._lock:
            counters = dict(vars(self._counters))
            busy = self._busy or self._in_flight > 0
            state: dict[str, Any] = {"busy": busy, "processors_in_flight": self._in_flight}
            state.update(counters)
            if config is not None:
                processor = config.processor
                if processor is not None:
                    state["processor_buffer"] = self._incoming.state(
                        processor.size_bytes, processor.interval_seconds, now
                    )
                state["destination_buffer"] = self._ready.state(
                    config.size_bytes, config.interval_seconds, now
                )
            state["failure"] = self.failure
            state["idle"] = not busy and not self._incoming.records and not self._ready.records
        return state

    # --- delivery thread ---------------------------------------------------------------------
    def _next_work(self, config: StreamConfig) -> tuple[_Taken | None, _Taken | None, float]:
        """(processor batch, destination batch, seconds to wait if both are empty)."""
        now = time.monotonic()
        waits = [IDLE_WAIT_SECONDS]
        batch: _Taken | None = None
        processor = config.processor
        if processor is not None:
            due = self._incoming.due_in(processor.size_bytes, processor.interval_seconds, now)
            if due == 0.0 and self._in_flight < self._concurrency:
                batch = self._incoming.take(processor.size_bytes)
            elif due:  # due now with every slot busy: a finishing slot wakes the thread
                waits.append(due)
        elif self._incoming.records:  # processor removed by UpdateDestination
            records, entered = self._incoming.take()
            for record, since in zip(records, entered, strict=True):
                self._ready.add(record, since)
        deliver: _Taken | None = None
        due = self._ready.due_in(config.size_bytes, config.interval_seconds, now)
        if due == 0.0:
            # never more than SizeInMBs per object (a single larger record goes alone)
            deliver = self._ready.take(config.size_bytes)
        elif due is not None:
            waits.append(due)
        return batch, deliver, min(waits)

    def _fail(self, step: str, buffer: _Buffer, taken: _Taken) -> None:
        """An unexpected error inside the emulator: keep the records, stop, say so loudly.

        The records go back to the front of their buffer, the stream stops delivering, its
        state carries ``failure`` and every further put to it fails with ``InternalFailure``,
        so the test (or the demo) that caused it fails instead of missing records silently.
        """
        with self._lock:
            buffer.put_back(*taken)
            if self.failure is None:
                self.failure = f"{step} step failed: {traceback.format_exc(limit=5)}"
            self._stopped.set()
            self._lock.notify_all()

    def _run(self) -> None:
        while not self._stopped.is_set():
            config = self._describe()
            if config is None:
                return
            with self._lock:
                batch, deliver, wait = self._next_work(config)
                if batch is None and deliver is None:
                    self._lock.wait(timeout=wait)
                    continue
                if batch is not None:
                    self._in_flight += 1
                self._busy = deliver is not None
            if batch is not None:
                self._processors.submit(self._process_slot, config, batch)
            if deliver is None:
                continue
            try:
                self._deliver(config, deliver[0])
            except Exception:
                LOG.exception("firehose stream %s: delivery failed; stream stopped", config.name)
                self._fail("delivery", self._ready, deliver)
            finally:
                with self._lock:
                    self._busy = False

    def _process_slot(self, config: StreamConfig, batch: _Taken) -> None:
        try:
            self._process(config, batch[0])
        except Exception:
            LOG.exception("firehose stream %s: processing failed; stream stopped", config.name)
            self._fail("processing", self._incoming, batch)
        finally:
            with self._lock:
                self._in_flight -= 1
                self._lock.notify_all()

    def _process(self, config: StreamConfig, batch: list[BufferedRecord]) -> None:
        # complexity: invoke-with-retries, then sort the results; not split yet (issue 20, item 5)
        processor = config.processor
        assert processor is not None
        attempts = 0
        outcome: Any = None
        while attempts <= processor.retries and not self._stopped.is_set():
            attempts += 1
            with self._lock:
                self._counters.invocations += 1
            try:
                payload, function_error = self._sinks.invoke(
                    processor.lambda_arn, build_event(config.arn, self._region, batch)
                )
                outcome = parse_response(batch, payload, function_error)
            except Exception as error:  # noqa: BLE001 - any invoke failure is retried
                LOG.warning("firehose %s: processor invoke failed: %s", config.name, error)
                outcome = InvocationFailure("Lambda.InvokeError", str(error))
            if not isinstance(outcome, InvocationFailure):
                break
            with self._lock:
                self._counters.invocation_failures += 1
            if attempts <= processor.retries:
                self._stopped.wait(self._retry_delay)
        ending_ms = int(time.time() * 1000)
        if isinstance(outcome, InvocationFailure) or outcome is None:
            failure = outcome or InvocationFailure("Lambda.InvokeError", "stream stopped")
            failed = [(r, failure.code, failure.message) for r in batch]
            self._write_errors(config, failed, attempts, ending_ms, processor.lambda_arn)
            return
        by_id = {r.record_id: r for r in batch}
        failed = []
        ok: list[BufferedRecord] = []
        dropped = 0
        for result in outcome:
            original = by_id[result.record_id]
            if result.result == "Ok":
                ok.append(BufferedRecord(original.record_id, original.arrival_ms, result.data))
            elif result.result == "Dropped":
                dropped += 1
            else:
                failed.append((original, *PROCESSING_FAILED))
        with self._lock:
            self._counters.dropped_records += dropped
            for record in ok:
                self._ready.add(record)
        if failed:
            self._write_errors(config, failed, attempts, ending_ms, processor.lambda_arn)

    def _write_errors(
        self,
        config: StreamConfig,
        failed: list[tuple[BufferedRecord, str, str]],
        attempts: int,
        ending_ms: int,
        lambda_arn: str,
    ) -> None:
        body = b"".join(
            error_document(record, code, message, attempts, ending_ms, lambda_arn)
            for record, code, message in failed
        )
        oldest = min(record.arrival_ms for record, _, _ in failed)
        error_prefix = naming.effective_error_prefix(config.error_prefix, config.prefix)
        key = self._key(config, error_prefix, oldest, True)
        self._put(config, key, body)
        with self._lock:
            self._counters.failed_records += len(failed)
            self._counters.error_deliveries += 1
            self._counters.last_error_key = key

    def _deliver(self, config: StreamConfig, records: list[BufferedRecord]) -> None:
        oldest = min(r.arrival_ms for r in records)
        key = self._key(config, naming.effective_prefix(config.prefix), oldest, False)
        self._put(config, key, b"".join(r.data for r in records))
        with self._lock:
            self._counters.deliveries += 1
            self._counters.delivered_records += len(records)
            self._counters.last_delivery_key = key
            self._counters.last_delivery_at = time.time()

    def _key(self, config: StreamConfig, prefix: str, oldest_ms: int, error: bool) -> str:
        arrival = datetime.fromtimestamp(oldest_ms / 1000, UTC)
        evaluated = naming.evaluate(prefix, arrival, ERROR_OUTPUT_TYPE if error else None)
        name = naming.object_name(
            config.name, config.version, arrival, config.compression, config.file_extension
        )
        return evaluated + name

    def _put(self, config: StreamConfig, key: str, data: bytes) -> None:
        body = gzip.compress(data) if config.compression == "GZIP" else data
        delay = 0.5
        while True:
            try:
                self._sinks.put_object(config, key, body)
            except Exception as error:  # Firehose retries S3 until it succeeds
                if self._describe() is None:  # stream deleted: AWS discards its data too
                    LOG.warning("firehose %s: deleted, dropping %s: %s", config.name, key, error)
                    return
                if self._stopped.is_set():
                    raise RuntimeError(f"stream stopped while writing {key}") from error
                LOG.warning("firehose %s: S3 put failed, retrying: %s", config.name, error)
                self._stopped.wait(delay)
                delay = min(delay * 2, S3_RETRY_MAX_SECONDS)
            else:
                return
