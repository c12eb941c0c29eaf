"""LocalStack's internal Lambda invokes, handed to the Lambda provider without the request chain.

Two LocalStack components invoke functions through an internal boto client: S3's event
notifications (``InvocationType=Event``: the event is queued) and the poller that runs queued
events (``RequestResponse``). Even in memory, each of those requests is serialized, routed,
parsed, enriched, dispatched and its response serialized and parsed again: at tens of files per
second that is about a third of the process's CPU. :class:`DirectLambdaClient` offers the part of
the client they use (``invoke``, ``custom_headers``, ``request_metadata``, ``exceptions``) and
calls :meth:`LambdaProvider.invoke` directly with a request context carrying what the chain
would have set (account, region, request id, trace header): the same validation, queueing,
concurrency accounting, errors and results; only the wire format is skipped.
"""

from __future__ import annotations

import functools
import io
import json
import logging
from typing import Any

LOG = logging.getLogger(__name__)
USER_AGENT = "localstack-internal/direct-invoke"


def _lambda_provider() -> Any:
    from localstack.services.plugins import SERVICE_PLUGINS

    service: Any = SERVICE_PLUGINS.get_service("lambda")
    return service._provider  # the provider instance; no public accessor


@functools.cache
def _lambda_service_model() -> Any:
    from localstack.aws.spec import load_service

    return load_service("lambda")


class _Exceptions:
    """``client.exceptions``: the provider raises LocalStack's own API exceptions."""

    def __init__(self) -> None:
        from localstack.aws.api import lambda_

        self.TooManyRequestsException = lambda_.TooManyRequestsException
        self.ResourceNotFoundException = lambda_.ResourceNotFoundException


class DirectLambdaClient:
    """The slice of an internal boto Lambda client that LocalStack's invokers use."""

    def __init__(self, account_id: str, region: str, headers: dict[str, str] | None = None) -> None:
        self._account_id = account_id
        self._region = region
        self._headers = dict(headers or {})
        self.exceptions = _Exceptions()

    def custom_headers(self, headers: dict[str, str]) -> DirectLambdaClient:
        return DirectLambdaClient(self._account_id, self._region, {**self._headers, **headers})

    def request_metadata(self, **_: Any) -> DirectLambdaClient:
        """Source ARN / service principal: only used for IAM, which LocalStack does not enforce."""
        return self

    def _context(self) -> Any:
        from localstack.aws.api import RequestContext
        from localstack.http import Request
        from localstack.utils.strings import long_uid
        from localstack.utils.xray.trace_header import TraceHeader

        request = Request("POST", "/", headers={"User-Agent": USER_AGENT, **self._headers})
        context = RequestContext(request)
        context.service = _lambda_service_model()
        context.operation = context.service.operation_model("Invoke")
        context.account_id = self._account_id
        context.region = self._region
        context.request_id = self._headers.get("X-Amz-Request-Id") or long_uid()
        trace = TraceHeader.from_header_str(  # type: ignore[no-untyped-call]
            self._headers.get("X-Amzn-Trace-Id")
        )
        context.trace_context["aws_trace_header"] = trace.ensure_root_exists()
        return context

    def invoke(
        self,
        FunctionName: str,
        Payload: bytes | str | None = None,
        InvocationType: str | None = None,
        Qualifier: str | None = None,
    ) -> dict[str, Any]:
        payload = Payload.encode() if isinstance(Payload, str) else Payload
        response = dict(
            _lambda_provider().invoke(
                self._context(),
                function_name=FunctionName,
                invocation_type=InvocationType or "RequestResponse",
                payload=io.BytesIO(payload) if payload is not None else None,
                qualifier=Qualifier,
            )
        )
        if "Payload" in response:
            body = response["Payload"]
            response["Payload"] = io.BytesIO(body if isinstance(body, bytes) else b"")
        return response


def install() -> None:
    """S3's Lambda notifier and the asynchronous-invoke poller use :class:`DirectLambdaClient`."""
    from localstack.services.lambda_.invocation import event_manager
    from localstack.services.s3 import notifications
    from localstack.utils.aws.arns import parse_arn

    original_poller_init = event_manager.Poller.__init__

    def poller_init(self: Any, version_manager: Any, event_queue_url: str) -> None:
        original_poller_init(self, version_manager, event_queue_url)
        function_id = version_manager.function_version.id
        self.lambda_client = DirectLambdaClient(function_id.account, function_id.region)

    def notify(self: Any, ctx: Any, config: Any) -> None:
        payload = json.dumps(self._get_event_payload(ctx, config.get("Id")))
        lambda_arn = config["LambdaFunctionArn"]
        arn = parse_arn(lambda_arn)
        client = DirectLambdaClient(arn["account"], arn["region"])
        try:
            client.invoke(FunctionName=lambda_arn, InvocationType="Event", Payload=payload)
        except Exception:
            LOG.exception(
                "S3 notification of bucket %s to Lambda function %s not sent",
                ctx.bucket_name,
                lambda_arn,
            )

    event_manager.Poller.__init__ = poller_init  # type: ignore[method-assign]
    notifications.LambdaNotifier.notify = notify  # type: ignore[method-assign]
