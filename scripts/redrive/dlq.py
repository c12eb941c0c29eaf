"""`aggregator redrive dlq`: re-invoke a function with the events its DLQ kept.

The ingest and copier functions are invoked asynchronously by S3; after Lambda's retries the
failed event lands, wrapped in an invocation record, in the function's on-failure queue. Per
message:

* not an invocation record, or a record of another function → reported and left in the queue;
* sent after this run started (most likely a new failure of an event this run re-invoked) →
  left for the next run, so one run never loops on an event that keeps failing;
* otherwise the function is invoked with the original ``requestPayload``
  (``InvocationType=Event``: Lambda queues it, retries it and, should it fail again, sends a new
  record to the same queue) and the message is deleted **only after** Lambda accepted the
  invocation (HTTP 202).

Messages this run leaves are made visible again at the end, so a re-run sees them at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from botocore.exceptions import BotoCoreError, ClientError

from scripts.redrive.invocations import (
    InvocationRecord,
    InvocationRecordError,
    parse_invocation_record,
)
from scripts.session import error_reason

#: SQS ReceiveMessage returns at most 10 messages per call
RECEIVE_BATCH = 10
#: Invoke answers 202 when Lambda queued an asynchronous invocation
ACCEPTED = 202

DlqAction = Literal[
    "reinvoked",  # invocation accepted, message deleted
    "would-reinvoke",  # --dry-run
    "left-new",  # sent during this run: left for the next one
    "unreadable",  # not an invocation record: left
    "foreign",  # a record of another function: left
    "invoke-failed",  # Lambda refused the invocation: left
    "delete-failed",  # invoked, but the message stays (it will be redriven again)
]
FAILED_ACTIONS: frozenset[str] = frozenset(
    {"unreadable", "foreign", "invoke-failed", "delete-failed"}
)


@dataclass(frozen=True, slots=True)
class DlqTarget:
    queue_url: str
    function_name: str


@dataclass(frozen=True, slots=True)
class DlqSettings:
    dry_run: bool = False
    max_messages: int | None = None
    #: seconds a received message stays hidden while this run works on it
    visibility_timeout: int = 300
    #: long-poll wait of each receive; an empty answer ends the run
    wait_seconds: int = 2
    #: messages sent at or after this time (ms since the epoch) are left alone
    started_ms: int | None = None


@dataclass(frozen=True, slots=True)
class DlqOutcome:
    message_id: str
    action: DlqAction
    request_id: str = ""
    condition: str = ""
    detail: str = ""

    @property
    def failed(self) -> bool:
        return self.action in FAILED_ACTIONS


def redrive_queue(
    sqs: Any,
    lambda_client: Any,
    target: DlqTarget,
    settings: DlqSettings,
    advance: Callable[[DlqOutcome], None] = lambda _: None,
) -> list[DlqOutcome]:
    """Work through the queue (up to ``max_messages``); returns one outcome per message seen."""
    started_ms = settings.started_ms if settings.started_ms is not None else _now_ms()
    outcomes: list[DlqOutcome] = []
    release: list[str] = []
    try:
        while settings.max_messages is None or len(outcomes) < settings.max_messages:
            wanted = RECEIVE_BATCH
            if settings.max_messages is not None:
                wanted = min(wanted, settings.max_messages - len(outcomes))
            messages = sqs.receive_message(
                QueueUrl=target.queue_url,
                MaxNumberOfMessages=wanted,
                WaitTimeSeconds=settings.wait_seconds,
                VisibilityTimeout=settings.visibility_timeout,
                MessageSystemAttributeNames=["SentTimestamp", "ApproximateReceiveCount"],
            ).get("Messages", [])
            if not messages:
                break
            for message in messages:
                outcome = _handle(sqs, lambda_client, target, settings, started_ms, message)
                if outcome.action != "reinvoked":
                    release.append(str(message["ReceiptHandle"]))
                outcomes.append(outcome)
                advance(outcome)
    finally:
        _release(sqs, target.queue_url, release)
    return outcomes


def _handle(
    sqs: Any,
    lambda_client: Any,
    target: DlqTarget,
    settings: DlqSettings,
    started_ms: int,
    message: dict[str, Any],
) -> DlqOutcome:
    message_id = str(message.get("MessageId", ""))
    sent = int(message.get("Attributes", {}).get("SentTimestamp", 0) or 0)
    try:
        record = parse_invocation_record(str(message.get("Body", "")))
    except InvocationRecordError as error:
        return DlqOutcome(message_id, "unreadable", detail=str(error))

    def outcome(action: DlqAction, detail: str = "") -> DlqOutcome:
        return DlqOutcome(message_id, action, record.request_id, record.condition, detail)

    if record.function_name != target.function_name:
        return outcome("foreign", f"record of {record.function_name}, not {target.function_name}")
    if sent >= started_ms:
        return outcome("left-new", "sent during this run; run again later")
    if settings.dry_run:
        return outcome("would-reinvoke", _failure(record))
    try:
        response = lambda_client.invoke(
            FunctionName=target.function_name,
            InvocationType="Event",
            Payload=record.payload_bytes(),
        )
    except (ClientError, BotoCoreError) as error:
        reason = error_reason(error)
        return outcome("invoke-failed", f"Invoke: {reason}; the message stays in the queue")
    status = int(response.get("StatusCode", 0))
    if status != ACCEPTED:
        return outcome("invoke-failed", f"Invoke answered {status}, not {ACCEPTED}")
    try:
        sqs.delete_message(QueueUrl=target.queue_url, ReceiptHandle=message["ReceiptHandle"])
    except (ClientError, BotoCoreError) as error:
        reason = error_reason(error)
        return outcome("delete-failed", f"re-invoked, but DeleteMessage failed: {reason}")
    return outcome("reinvoked", _failure(record))


def _failure(record: InvocationRecord) -> str:
    """What went wrong originally (metadata only: error type and message, no payload)."""
    parts = [record.condition or "?", f"{record.approximate_invoke_count} attempt(s)"]
    if record.error_type or record.error_message:
        parts.append(f"{record.error_type or 'Error'}: {record.error_message or ''}".strip())
    return ", ".join(parts)


def _release(sqs: Any, queue_url: str, receipts: list[str]) -> None:
    """Make the messages this run left visible again (best effort: they reappear anyway)."""
    for start in range(0, len(receipts), RECEIVE_BATCH):
        entries = [
            {"Id": str(index), "ReceiptHandle": receipt, "VisibilityTimeout": 0}
            for index, receipt in enumerate(receipts[start : start + RECEIVE_BATCH])
        ]
        try:
            sqs.change_message_visibility_batch(QueueUrl=queue_url, Entries=entries)
        except (ClientError, BotoCoreError):
            continue  # they become visible when their visibility timeout ends


def _now_ms() -> int:
    return int(time.time() * 1000)
