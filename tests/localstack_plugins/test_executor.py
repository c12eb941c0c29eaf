"""Host Lambda executor: results, errors, limits, logs and isolation as Lambda reports them."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import pytest

from tests.localstack_plugins.support import client, create_function, wait_for

SOURCE = """
import json, os, sys, time

print("init ran")

def handler(event, context):
    action = event.get("action")
    print("handling", action)
    if action == "fail":
        raise ValueError("bad input " + str(event.get("n")))
    if action == "sleep":
        time.sleep(event["seconds"])
    if action == "big":
        return "x" * event["bytes"]
    if action == "memory":
        block = bytearray(event["mb"] * 1024 * 1024)
        for i in range(0, len(block), 4096):
            block[i] = 1
    if action == "exit":
        os._exit(3)
    if action == "imports":
        found = {}
        for name in ("boto3", "vendored_lib", "localstack", "pytest"):
            try:
                __import__(name)
                found[name] = True
            except ImportError:
                found[name] = False
        return found
    return {
        "echo": event,
        "request_id": context.aws_request_id,
        "function_arn": context.invoked_function_arn,
        "remaining_ms": context.get_remaining_time_in_millis(),
        "endpoint": os.environ.get("AWS_ENDPOINT_URL"),
        "task_root": os.environ.get("LAMBDA_TASK_ROOT"),
        "cwd": os.getcwd(),
        "version": "%d.%d" % sys.version_info[:2],
    }
"""


@pytest.fixture(scope="module")
def function(localstack: str) -> str:
    return create_function(
        localstack,
        SOURCE,
        extra_files={"vendored_lib/__init__.py": "VALUE = 1\n"},
        timeout=2,
        memory=128,
    )


def _invoke(endpoint: str, arn: str, event: dict[str, Any]) -> tuple[dict[str, Any], Any, str]:
    response = client("lambda", endpoint).invoke(
        FunctionName=arn, Payload=json.dumps(event), LogType="Tail"
    )
    logs = base64.b64decode(response["LogResult"]).decode()
    return response, json.loads(response["Payload"].read()), logs


def test_invoke_returns_the_handler_result_with_context(localstack: str, function: str) -> None:
    response, payload, logs = _invoke(localstack, function, {"action": "echo", "n": 1})

    assert response["StatusCode"] == 200
    assert "FunctionError" not in response
    assert payload["echo"] == {"action": "echo", "n": 1}
    assert payload["function_arn"] == function
    assert 0 < payload["remaining_ms"] <= 2000
    assert payload["endpoint"] == localstack
    assert payload["cwd"] == payload["task_root"]
    assert payload["version"] == "3.13"
    request_id = payload["request_id"]
    assert f"START RequestId: {request_id}" in logs
    assert "handling echo" in logs
    assert f"END RequestId: {request_id}" in logs
    assert f"REPORT RequestId: {request_id}" in logs


def test_warm_invocations_are_fast(localstack: str, function: str) -> None:
    _invoke(localstack, function, {"action": "echo"})
    started = time.monotonic()
    for _ in range(5):
        _invoke(localstack, function, {"action": "echo"})
    assert (time.monotonic() - started) / 5 < 1.0


def test_unhandled_error_is_reported_like_lambda(localstack: str, function: str) -> None:
    response, payload, logs = _invoke(localstack, function, {"action": "fail", "n": 7})

    assert response["FunctionError"] == "Unhandled"
    assert payload["errorType"] == "ValueError"
    assert payload["errorMessage"] == "bad input 7"
    assert any("app.py" in frame for frame in payload["stackTrace"])
    assert not any("worker.py" in frame for frame in payload["stackTrace"])
    assert "[ERROR] ValueError: bad input 7" in logs


def test_timeout_kills_the_invocation_and_the_next_one_works(
    localstack: str, function: str
) -> None:
    started = time.monotonic()
    response, payload, logs = _invoke(localstack, function, {"action": "sleep", "seconds": 30})
    took = time.monotonic() - started

    assert response["FunctionError"] == "Unhandled"
    assert payload["errorType"] == "Sandbox.Timedout"
    assert "Task timed out after 2.00 seconds" in payload["errorMessage"]
    assert "Task timed out after 2.00 seconds" in logs
    assert 2.0 <= took < 10.0
    again, payload, _ = _invoke(localstack, function, {"action": "echo"})
    assert "FunctionError" not in again
    assert payload["echo"] == {"action": "echo"}


def test_memory_limit_is_enforced(localstack: str, function: str) -> None:
    response, payload, _ = _invoke(localstack, function, {"action": "memory", "mb": 400})

    assert response["FunctionError"] == "Unhandled"
    assert payload["errorType"] == "Runtime.OutOfMemory"


def test_response_over_6_mb_fails(localstack: str, function: str) -> None:
    response, payload, _ = _invoke(localstack, function, {"action": "big", "bytes": 6_400_000})

    assert response["FunctionError"] == "Unhandled"
    assert payload["errorType"] == "Function.ResponseSizeTooLarge"


def test_runtime_exit_is_reported(localstack: str, function: str) -> None:
    response, payload, _ = _invoke(localstack, function, {"action": "exit"})

    assert response["FunctionError"] == "Unhandled"
    assert payload["errorType"] == "Runtime.ExitError"
    assert "exit status 3" in payload["errorMessage"]


def test_only_the_function_package_is_importable(localstack: str, function: str) -> None:
    _, payload, _ = _invoke(localstack, function, {"action": "imports"})

    assert payload == {"boto3": False, "vendored_lib": True, "localstack": False, "pytest": False}


def test_import_error_is_an_init_error(localstack: str) -> None:
    arn = create_function(localstack, "import not_installed_anywhere\n", name="broken")
    response = client("lambda", localstack).invoke(FunctionName=arn, Payload=b"{}")
    payload = json.loads(response["Payload"].read())

    assert response["FunctionError"] == "Unhandled"
    assert payload["errorType"] == "Runtime.ImportModuleError"
    assert "not_installed_anywhere" in payload["errorMessage"]


def test_logs_reach_cloudwatch(localstack: str, function: str) -> None:
    _, payload, _ = _invoke(localstack, function, {"action": "echo", "marker": "cw"})
    logs = client("logs", localstack)
    group = "/aws/lambda/" + function.rsplit(":", 1)[-1]

    def found() -> bool:
        try:
            events = logs.filter_log_events(logGroupName=group).get("events", [])
        except logs.exceptions.ResourceNotFoundException:
            return False  # the group is created with the function's first shipped logs
        return any(payload["request_id"] in e["message"] for e in events)

    wait_for(found, timeout=20, what="the invocation's logs in CloudWatch Logs")
