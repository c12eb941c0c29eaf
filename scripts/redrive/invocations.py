"""Lambda on-failure destination records, as they arrive in the functions' DLQs (pure parsing).

When an asynchronous invocation exhausts its retries (or the event gets too old) Lambda sends an
*invocation record* to the on-failure destination; for an SQS destination it is the message body::

    {"version": "1.0", "timestamp": "2026-01-31T08:00:05.568Z",
     "requestContext": {"requestId": "…", "functionArn": "arn:aws:lambda:eu-west-2:1…:function:
                        s3-aggregator-prod-ingest:$LATEST", "condition": "RetriesExhausted",
                        "approximateInvokeCount": 3},
     "requestPayload": {…the original event…},
     "responseContext": {"statusCode": 200, "executedVersion": "$LATEST",
                         "functionError": "Unhandled"},
     "responsePayload": {"errorMessage": "…", "errorType": "…", "stackTrace": […]}}

``responseContext``/``responsePayload`` are absent when the function never ran (e.g.
``EventAgeExceeded``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


class InvocationRecordError(ValueError):
    """A DLQ message is not a Lambda invocation record this tool can redrive."""


@dataclass(frozen=True, slots=True)
class InvocationRecord:
    """The parts of a Lambda invocation record the redrive needs and reports."""

    timestamp: str
    request_id: str
    function_arn: str
    condition: str
    approximate_invoke_count: int
    request_payload: Any
    function_error: str | None
    error_type: str | None
    error_message: str | None

    @property
    def function_name(self) -> str:
        """The function name from ``functionArn`` (qualifier dropped)."""
        parts = self.function_arn.split(":")
        return parts[6] if len(parts) > 6 and parts[5] == "function" else self.function_arn

    def payload_bytes(self) -> bytes:
        """The original event, as the Invoke ``Payload``."""
        return json.dumps(self.request_payload, separators=(",", ":")).encode("utf-8")


def parse_invocation_record(body: str) -> InvocationRecord:
    """Parse an SQS message body; raise :class:`InvocationRecordError` if it is not a record."""
    try:
        document: Any = json.loads(body)
    except json.JSONDecodeError as error:
        raise InvocationRecordError(f"message body is not JSON: {error}") from error
    if not isinstance(document, dict):
        raise InvocationRecordError("message body is not a JSON object")
    context = document.get("requestContext")
    if not isinstance(context, dict):
        raise InvocationRecordError(
            "no requestContext: not a Lambda on-failure destination record (a plain DLQ "
            "message holds only the event; redrive it by hand with aws lambda invoke)"
        )
    if "requestPayload" not in document:
        raise InvocationRecordError("no requestPayload: nothing to re-invoke with")
    arn = context.get("functionArn")
    if not isinstance(arn, str) or not arn:
        raise InvocationRecordError("requestContext.functionArn is missing")
    response = document.get("responseContext")
    response_payload = document.get("responsePayload")
    function_error = response.get("functionError") if isinstance(response, dict) else None
    error_type = error_message = None
    if isinstance(response_payload, dict):
        error_type = _optional_str(response_payload.get("errorType"))
        error_message = _optional_str(response_payload.get("errorMessage"))
    count = context.get("approximateInvokeCount", 0)
    return InvocationRecord(
        timestamp=str(document.get("timestamp", "")),
        request_id=str(context.get("requestId", "")),
        function_arn=arn,
        condition=str(context.get("condition", "")),
        approximate_invoke_count=count if isinstance(count, int) else 0,
        request_payload=document["requestPayload"],
        function_error=_optional_str(function_error),
        error_type=error_type,
        error_message=error_message,
    )


def _optional_str(value: Any) -> str | None:
    return value if isinstance(value, str) else None
