"""`redrive dlq` against moto's SQS.

moto's Lambda ``Invoke`` needs Docker, which these machines do not have, so the Lambda client
alone is a real botocore client with a ``botocore.stub.Stubber`` on it: it checks the exact
``Invoke`` parameters (function, ``InvocationType=Event``, the original payload) and answers
202 or an error. Everything else (receive, delete, visibility) is moto's SQS.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.stub import ANY, Stubber

from scripts.cli import main
from scripts.redrive.dlq import DlqOutcome, DlqSettings, DlqTarget, redrive_queue
from tests.unit.conftest import REGION
from tests.unit.redrive.conftest import RedriveAws, now_ms
from tests.unit.redrive.documents import invocation_record, s3_event

INGEST = "s3-aggregator-unit-ingest"
COPIER = "s3-aggregator-unit-copier"


@pytest.fixture
def lambda_stub(redrive_aws: RedriveAws) -> Iterator[tuple[Any, Stubber]]:
    config = Config(retries={"mode": "standard", "total_max_attempts": 1})
    client = boto3.client("lambda", region_name=REGION, config=config)
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def _send(aws: RedriveAws, body: str) -> None:
    aws.sqs.send_message(QueueUrl=aws.ingest_dlq, MessageBody=body)


def _expect_invoke(stubber: Stubber, payload: Any, status: int = 202) -> None:
    stubber.add_response(
        "invoke",
        {"StatusCode": status},
        {
            "FunctionName": INGEST,
            "InvocationType": "Event",
            "Payload": json.dumps(payload, separators=(",", ":")).encode(),
        },
    )


def _settings(**overrides: Any) -> DlqSettings:
    values: dict[str, Any] = {"wait_seconds": 0, "started_ms": now_ms() + 1}
    values.update(overrides)
    return DlqSettings(**values)


def _redrive_ingest(aws: RedriveAws, client: Any, **overrides: Any) -> list[DlqOutcome]:
    """Run the DLQ redrive over the ingest function's queue with :func:`_settings`."""
    return redrive_queue(aws.sqs, client, DlqTarget(aws.ingest_dlq, INGEST), _settings(**overrides))


def _remaining_bodies(aws: RedriveAws) -> list[str]:
    """Every message still in the queue (visible now: the run released what it left)."""
    messages = aws.sqs.receive_message(
        QueueUrl=aws.ingest_dlq, MaxNumberOfMessages=10, WaitTimeSeconds=0
    ).get("Messages", [])
    return sorted(str(m["Body"]) for m in messages)


def test_records_are_reinvoked_with_their_payload_and_deleted(
    redrive_aws: RedriveAws, lambda_stub: tuple[Any, Stubber]
) -> None:
    client, stubber = lambda_stub
    events = [s3_event("landing", f"file-{i}.txt") for i in range(3)]
    for event in events:
        _send(redrive_aws, invocation_record(INGEST, event))
    unreadable = json.dumps(events[0])  # a plain DLQ message: no invocation record
    foreign = invocation_record(COPIER, events[1])
    _send(redrive_aws, unreadable)
    _send(redrive_aws, foreign)
    expected = {"FunctionName": INGEST, "InvocationType": "Event", "Payload": ANY}
    for _ in events:  # the receive order is SQS's: payloads are checked below, in any order
        stubber.add_response("invoke", {"StatusCode": 202}, expected)
    payloads: list[Any] = []
    client.meta.events.register(
        "before-parameter-build.lambda.Invoke",
        lambda params, **_: payloads.append(json.loads(params["Payload"])),
    )
    outcomes = _redrive_ingest(redrive_aws, client)
    actions = sorted(o.action for o in outcomes)
    assert actions == ["foreign", "reinvoked", "reinvoked", "reinvoked", "unreadable"]
    assert sorted(payloads, key=json.dumps) == sorted(events, key=json.dumps)
    assert all(o.condition == "RetriesExhausted" for o in outcomes if o.action == "reinvoked")
    assert _remaining_bodies(redrive_aws) == sorted([unreadable, foreign])
    assert [o.failed for o in outcomes if o.action in ("foreign", "unreadable")] == [True, True]


def test_the_exact_original_payload_is_sent(
    redrive_aws: RedriveAws, lambda_stub: tuple[Any, Stubber]
) -> None:
    client, stubber = lambda_stub
    event = s3_event("landing", "dir/with space+plus.txt")
    _send(redrive_aws, invocation_record(INGEST, event, "EventAgeExceeded", with_response=False))
    _expect_invoke(stubber, event)
    [outcome] = _redrive_ingest(redrive_aws, client)
    assert (outcome.action, outcome.condition) == ("reinvoked", "EventAgeExceeded")
    assert _remaining_bodies(redrive_aws) == []


def test_a_refused_invocation_keeps_the_message(
    redrive_aws: RedriveAws, lambda_stub: tuple[Any, Stubber]
) -> None:
    client, stubber = lambda_stub
    body = invocation_record(INGEST, s3_event("landing", "a"))
    _send(redrive_aws, body)
    stubber.add_client_error("invoke", "TooManyRequestsException", "Rate exceeded", 429)
    [outcome] = _redrive_ingest(redrive_aws, client)
    assert outcome.action == "invoke-failed"
    assert "TooManyRequestsException" in outcome.detail
    assert _remaining_bodies(redrive_aws) == [body]


def test_dry_run_invokes_nothing_and_keeps_everything(
    redrive_aws: RedriveAws, lambda_stub: tuple[Any, Stubber]
) -> None:
    client, _ = lambda_stub  # no stubbed answer: any Invoke would fail the test
    bodies = [invocation_record(INGEST, s3_event("landing", k)) for k in ("a", "b")]
    for body in bodies:
        _send(redrive_aws, body)
    outcomes = _redrive_ingest(redrive_aws, client, dry_run=True)
    assert [o.action for o in outcomes] == ["would-reinvoke", "would-reinvoke"]
    assert "ReferencesNotPutError" in outcomes[0].detail
    assert _remaining_bodies(redrive_aws) == sorted(bodies)


def test_max_bounds_the_run(redrive_aws: RedriveAws, lambda_stub: tuple[Any, Stubber]) -> None:
    client, stubber = lambda_stub
    events = [s3_event("landing", k) for k in ("a", "b", "c")]
    for event in events:
        _send(redrive_aws, invocation_record(INGEST, event))
    stubber.add_response("invoke", {"StatusCode": 202})
    outcomes = _redrive_ingest(redrive_aws, client, max_messages=1)
    assert [o.action for o in outcomes] == ["reinvoked"]
    assert len(_remaining_bodies(redrive_aws)) == 2


def test_messages_sent_during_the_run_are_left(
    redrive_aws: RedriveAws, lambda_stub: tuple[Any, Stubber]
) -> None:
    client, _ = lambda_stub
    body = invocation_record(INGEST, s3_event("landing", "a"))
    _send(redrive_aws, body)
    # as if the message arrived after the run started
    outcomes = _redrive_ingest(redrive_aws, client, started_ms=0)
    assert [o.action for o in outcomes] == ["left-new"]
    assert not outcomes[0].failed
    assert _remaining_bodies(redrive_aws) == [body]


def test_cli_dlq_dry_run(redrive_aws: RedriveAws, capsys: pytest.CaptureFixture[str]) -> None:
    _send(redrive_aws, invocation_record(INGEST, s3_event("landing", "a")))
    argv = ["redrive", "dlq", "--env", "unit", "--function", "ingest"]
    argv += ["--queue-url", redrive_aws.ingest_dlq, "--dry-run", "--json", "--no-progress"]
    assert main(argv) == 0
    captured = capsys.readouterr()
    outcome, summary = (json.loads(line) for line in captured.out.splitlines())
    assert outcome["action"] == "would-reinvoke"
    assert summary["summary"]["actions"] == {"would-reinvoke": 1}
    assert f"redrive dlq {INGEST}: 1 message(s): 1 would-reinvoke" in captured.err
    _send(redrive_aws, invocation_record(COPIER, s3_event("landing", "b")))
    assert main(argv) == 1  # the copier's record in the ingest queue is reported, left
    assert len(_remaining_bodies(redrive_aws)) == 2
