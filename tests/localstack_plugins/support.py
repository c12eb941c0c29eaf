"""Helpers of the plugin tests: clients, function packages, polling with a deadline."""

from __future__ import annotations

import io
import json
import time
import urllib.request
import uuid
import zipfile
from collections.abc import Callable
from typing import Any

import boto3
from botocore.config import Config

REGION = "eu-west-2"
ROLE_ARN = "arn:aws:iam::000000000000:role/test"


def client(service: str, endpoint: str) -> Any:
    factory: Any = boto3.client  # one helper for every service: opt out of the overloads
    return factory(
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"max_attempts": 2, "mode": "standard"}, read_timeout=120),
    )


def unique(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}"


def zip_package(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path, text in files.items():
            archive.writestr(path, text)
    return buffer.getvalue()


def create_function(
    endpoint: str,
    source: str,
    *,
    extra_files: dict[str, str] | None = None,
    timeout: int = 10,
    memory: int = 128,
    name: str = "fn",
) -> str:
    """Create a python3.13 function whose module ``app`` holds ``source``; return its ARN."""
    lam = client("lambda", endpoint)
    function_name = unique(name)
    arn = lam.create_function(
        FunctionName=function_name,
        Runtime="python3.13",
        Role=ROLE_ARN,
        Handler="app.handler",
        Code={"ZipFile": zip_package({"app.py": source, **(extra_files or {})})},
        Timeout=timeout,
        MemorySize=memory,
    )["FunctionArn"]
    lam.get_waiter("function_active_v2").wait(FunctionName=function_name)
    return str(arn)


def wait_for[T](
    probe: Callable[[], T | None], timeout: float = 30.0, interval: float = 0.1, what: str = ""
) -> T:
    """Poll ``probe`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what or probe}")
        time.sleep(interval)


def stream_state(endpoint: str, stream: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{endpoint}/_aggregator/firehose/{stream}", timeout=5) as r:
        streams = json.load(r)["streams"]
    assert len(streams) == 1, streams
    # the emulator stops a stream whose delivery step raised: fail the test that caused it
    assert streams[0].get("failure") is None, streams[0]["failure"]
    return dict(streams[0])
