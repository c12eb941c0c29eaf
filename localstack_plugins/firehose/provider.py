"""Faithful Firehose: LocalStack's provider with AWS's buffering, processor contract and limits.

Selected with ``PROVIDER_OVERRIDE_FIREHOSE=faithful``. DirectPut streams with an (Extended)S3
destination are delivered by :class:`~localstack_plugins.firehose.stream.StreamWorker`; every
other stream type keeps LocalStack's behaviour. Buffer state is readable for tests at
``GET /_aggregator/firehose/<stream name>``.
"""

from __future__ import annotations

import json
import os
import threading
import time
from typing import Any

from botocore.config import Config
from localstack.aws.api import CommonServiceException, RequestContext
from localstack.aws.api.firehose import (
    InvalidArgumentException,
    PutRecordBatchOutput,
    PutRecordBatchResponseEntry,
    PutRecordOutput,
)
from localstack.aws.connect import connect_to
from localstack.http import Request, Response, route
from localstack.services.edge import ROUTER
from localstack.services.firehose.provider import FirehoseProvider, next_sequence_number
from localstack.utils.aws.arns import extract_account_id_from_arn, extract_region_from_arn
from localstack.utils.aws.client_types import ServicePrincipal

from localstack_plugins.cloudwatch_batch import MetricBatcher, publish_to_cloudwatch
from localstack_plugins.firehose import limits, naming
from localstack_plugins.firehose.config import StreamConfig, s3_destination, stream_config
from localstack_plugins.firehose.processor import BufferedRecord
from localstack_plugins.firehose.stream import StreamWorker
from localstack_plugins.firehose.usage import PutUsage, record_usage
from pipeline.contract.quotas import PROCESSOR_CONCURRENCY_PER_STREAM

STATE_ROUTE = "/_aggregator/firehose/<stream_name>"
PROCESSOR_READ_TIMEOUT_SECONDS = 330
ROLE_CLIENT_SECONDS = 900.0
RETRY_DELAY_SECONDS = float(os.environ.get("FIREHOSE_PROCESSOR_RETRY_DELAY_SECONDS", "0.5"))
#: Processor invocations in flight per stream (pipeline/contract/quotas.py); tests override it.
PROCESSOR_CONCURRENCY = int(
    os.environ.get("FIREHOSE_PROCESSOR_CONCURRENCY") or PROCESSOR_CONCURRENCY_PER_STREAM
)
THROTTLED = "ServiceUnavailableException"
SLOW_DOWN = "Slow down."


class _LocalStackSinks:
    """Processor invocations and S3 writes through LocalStack's own internal clients.

    Clients are created once (a new client costs a new request parser on LocalStack's side);
    the S3 client of a stream's role is kept for ``ROLE_CLIENT_SECONDS`` (the assumed role's
    credentials last an hour), not assumed again for every object.
    """

    def __init__(self) -> None:
        self._s3_clients: dict[tuple[str, str, str], tuple[float, Any]] = {}
        self._lambda_clients: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()

    def _lambda(self, lambda_arn: str) -> Any:
        key = (
            str(extract_account_id_from_arn(lambda_arn)),
            str(extract_region_from_arn(lambda_arn)),
        )
        with self._lock:
            client = self._lambda_clients.get(key)
        if client is None:
            client = connect_to(
                aws_access_key_id=key[0],
                region_name=key[1],
                config=Config(
                    read_timeout=PROCESSOR_READ_TIMEOUT_SECONDS, retries={"max_attempts": 0}
                ),
            ).lambda_
            with self._lock:
                self._lambda_clients[key] = client
        return client

    def invoke(self, lambda_arn: str, payload: bytes) -> tuple[bytes, bool]:
        response = self._lambda(lambda_arn).invoke(FunctionName=lambda_arn, Payload=payload)
        return response["Payload"].read(), bool(response.get("FunctionError"))

    def _s3(self, config: StreamConfig) -> Any:
        key = (config.arn, config.role_arn or "", str(extract_region_from_arn(config.arn)))
        now = time.monotonic()
        with self._lock:
            cached = self._s3_clients.get(key)
            if cached is not None and now - cached[0] < ROLE_CLIENT_SECONDS:
                return cached[1]
        region = key[2]
        if config.role_arn:
            factory = connect_to.with_assumed_role(
                role_arn=config.role_arn,
                service_principal=ServicePrincipal("firehose"),
                region_name=region,
            )
        else:
            factory = connect_to(
                aws_access_key_id=extract_account_id_from_arn(config.arn), region_name=region
            )
        s3: Any = factory.s3
        s3 = s3.request_metadata(source_arn=config.arn, service_principal=ServicePrincipal.firehose)
        with self._lock:
            self._s3_clients[key] = (now, s3)
        return s3

    def put_object(self, config: StreamConfig, key: str, body: bytes) -> None:
        self._s3(config).put_object(Bucket=config.bucket, Key=key, Body=body)


class _StateRoutes:
    def __init__(self, provider: FaithfulFirehoseProvider) -> None:
        self._provider = provider

    @route(STATE_ROUTE, methods=["GET"])
    def stream_state(self, request: Request, stream_name: str) -> Response:
        states = self._provider.stream_states(stream_name)
        return Response(json.dumps({"streams": states}), mimetype="application/json")


class FaithfulFirehoseProvider(FirehoseProvider):
    def __init__(self) -> None:
        super().__init__()
        self._workers: dict[str, StreamWorker] = {}
        self._quotas: dict[str, limits.ThroughputQuota] = {}
        self._workers_lock = threading.Lock()
        self._sinks = _LocalStackSinks()
        self._metrics = MetricBatcher(publish_to_cloudwatch, name="firehose-metrics")
        ROUTER.add(_StateRoutes(self))

    # --- stream lifecycle ------------------------------------------------------------------
    def create_delivery_stream(self, context: RequestContext, *args: Any, **kwargs: Any) -> Any:
        destination = kwargs.get("extended_s3_destination_configuration") or kwargs.get(
            "s3_destination_configuration"
        )
        if destination:
            self._validate(
                destination.get("Prefix") or "", destination.get("ErrorOutputPrefix") or ""
            )
        return super().create_delivery_stream(context, *args, **kwargs)

    def update_destination(self, context: RequestContext, *args: Any, **kwargs: Any) -> Any:
        update = kwargs.get("extended_s3_destination_update") or kwargs.get("s3_destination_update")
        name = kwargs.get("delivery_stream_name") or (args[0] if args else "")
        if update and ("Prefix" in update or "ErrorOutputPrefix" in update):
            stream = self.get_store(context.account_id, context.region).delivery_streams.get(name)
            current = stream_config(stream) if stream else None
            prefix = update.get("Prefix", current.prefix if current else "")
            error_prefix = update.get("ErrorOutputPrefix", current.error_prefix if current else "")
            self._validate(prefix or "", error_prefix or "")
        return super().update_destination(context, *args, **kwargs)

    @staticmethod
    def _validate(prefix: str, error_prefix: str) -> None:
        try:
            naming.validate_prefixes(prefix, error_prefix)
        except naming.PrefixError as error:
            raise InvalidArgumentException(str(error)) from error

    def delete_delivery_stream(self, context: RequestContext, *args: Any, **kwargs: Any) -> Any:
        result = super().delete_delivery_stream(context, *args, **kwargs)
        with self._workers_lock:
            for arn in [a for a in self._workers if a.startswith(self._arn_prefix(context))]:
                if self._config(arn) is None:
                    self._workers.pop(arn).stop()
                    self._quotas.pop(arn, None)
        return result

    @staticmethod
    def _arn_prefix(context: RequestContext) -> str:
        return f"arn:aws:firehose:{context.region}:{context.account_id}:deliverystream/"

    def _config(self, arn: str) -> StreamConfig | None:
        _, _, _, region, account, resource = arn.split(":", 5)
        name = resource.split("/", 1)[1]
        stream = self.get_store(account, region).delivery_streams.get(name)
        return stream_config(stream) if stream else None

    def _worker(self, context: RequestContext, stream_name: str) -> tuple[StreamWorker, str] | None:
        """The worker of a DirectPut stream with an S3 destination (None: LocalStack's path)."""
        stream = self.get_store(context.account_id, context.region).delivery_streams.get(
            stream_name
        )
        if not stream or stream.get("DeliveryStreamType") not in (None, "DirectPut"):
            return None
        if not any(s3_destination(d) for d in stream.get("Destinations") or []):
            return None
        arn = str(stream["DeliveryStreamARN"])
        with self._workers_lock:
            worker = self._workers.get(arn)
            if worker is None:
                worker = StreamWorker(
                    context.region,
                    lambda: self._config(arn),
                    self._sinks,
                    RETRY_DELAY_SECONDS,
                    PROCESSOR_CONCURRENCY,
                )
                self._workers[arn] = worker
                self._quotas[arn] = limits.ThroughputQuota(limits.region_quota(context.region))
        return worker, arn

    # --- DirectPut -----------------------------------------------------------------------------
    @staticmethod
    def _raise(violation: limits.LimitViolation) -> None:
        if violation.code == "InvalidArgumentException":
            raise InvalidArgumentException(violation.message)
        raise CommonServiceException(violation.code, violation.message)

    def _accept(
        self,
        context: RequestContext,
        stream_name: str,
        payloads: list[bytes],
        *,
        put_record: bool = False,
    ) -> list[PutRecordBatchResponseEntry] | None:
        """Admit ``payloads`` against the quota (``put_record``: a throttled record fails it)."""
        found = self._worker(context, stream_name)
        if found is None:
            return None
        worker, arn = found
        if worker.failure is not None:
            raise CommonServiceException(
                "InternalFailure",
                f"The faithful Firehose emulator stopped stream {stream_name}: {worker.failure}",
                status_code=500,
            )
        config = self._config(arn)
        has_processor = config is not None and config.processor is not None
        quota = self._quotas[arn]
        if not quota.admit_call():
            self._record(context, stream_name, quota, PutUsage(False, 0, 0, len(payloads)))
            raise CommonServiceException(THROTTLED, SLOW_DOWN, status_code=503)
        entries: list[PutRecordBatchResponseEntry] = []
        accepted: list[BufferedRecord] = []
        now_ms = int(time.time() * 1000)
        for data in payloads:
            if not quota.admit(len(data)):
                entries.append(
                    PutRecordBatchResponseEntry(ErrorCode=THROTTLED, ErrorMessage=SLOW_DOWN)
                )
                continue
            record_id = str(next_sequence_number())
            accepted.append(BufferedRecord(record_id, now_ms, data))
            entries.append(PutRecordBatchResponseEntry(RecordId=record_id))
        worker.add(accepted, has_processor)
        throttled = len(payloads) - len(accepted)
        succeeded = not (put_record and throttled)
        usage = PutUsage(succeeded, len(accepted), sum(len(r.data) for r in accepted), throttled)
        self._record(context, stream_name, quota, usage)
        return entries

    def _record(
        self,
        context: RequestContext,
        stream_name: str,
        quota: limits.ThroughputQuota,
        usage: PutUsage,
    ) -> None:
        """The call's ``AWS/Firehose`` metrics (usage.py), published with the next flush."""
        record_usage(
            self._metrics, context.account_id, context.region, stream_name, quota.quota, usage
        )

    def put_record(
        self, context: RequestContext, delivery_stream_name: str, record: Any, **kwargs: Any
    ) -> PutRecordOutput:
        data = bytes(record.get("Data") or b"")
        violation = limits.check_record(len(data))
        if violation:
            self._raise(violation)
        entries = self._accept(context, delivery_stream_name, [data], put_record=True)
        if entries is None:
            return super().put_record(context, delivery_stream_name, record, **kwargs)
        entry = entries[0]
        if "ErrorCode" in entry:
            raise CommonServiceException(
                str(entry["ErrorCode"]), str(entry["ErrorMessage"]), status_code=503
            )
        return PutRecordOutput(RecordId=str(entry.get("RecordId")), Encrypted=False)

    def put_record_batch(
        self, context: RequestContext, delivery_stream_name: str, records: Any, **kwargs: Any
    ) -> PutRecordBatchOutput:
        payloads = [bytes(r.get("Data") or b"") for r in records]
        violation = limits.check_batch([len(p) for p in payloads])
        if violation:
            self._raise(violation)
        entries = self._accept(context, delivery_stream_name, payloads)
        if entries is None:
            return super().put_record_batch(context, delivery_stream_name, records, **kwargs)
        failed = sum(1 for e in entries if "ErrorCode" in e)
        return PutRecordBatchOutput(
            FailedPutCount=failed, Encrypted=False, RequestResponses=entries
        )

    # --- test visibility -----------------------------------------------------------------------
    def stream_states(self, stream_name: str) -> list[dict[str, Any]]:
        with self._workers_lock:
            matching = [
                (arn, w) for arn, w in self._workers.items() if arn.endswith(f"/{stream_name}")
            ]
        return [{"arn": arn, **worker.state()} for arn, worker in matching]
