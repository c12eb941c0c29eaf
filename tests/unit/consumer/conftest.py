from __future__ import annotations

import argparse
import copy
import logging
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.server import ThreadedMotoServer

from scripts import consume
from scripts.consumer.ledger import Ledger
from tests.moto_server import free_port

BUCKET = "distribution"


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-2")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AGGREGATOR_CONSUMER_CRASH_AT", raising=False)


@pytest.fixture
def s3(aws_env: None) -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3", region_name="eu-west-2")
        client.create_bucket(
            Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-2"}
        )
        yield client


@pytest.fixture
def output(tmp_path: Path) -> Path:
    return tmp_path / "out"


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    with Ledger(tmp_path / "ledger.db") as opened:
        yield opened


@pytest.fixture
def cli(s3: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """consume.run() against the moto bucket, backoff from 10 ms; its logger and signal handlers
    are undone afterwards."""
    monkeypatch.setattr(consume, "_resolve", lambda _args: (s3, BUCKET))
    monkeypatch.setattr(consume, "_FIRST_BACKOFF", 0.01)
    logger = logging.getLogger("aggregator")
    for attribute in ("handlers", "level", "propagate"):
        monkeypatch.setattr(logger, attribute, copy.copy(getattr(logger, attribute)))
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    yield
    for sig, handler in saved.items():
        signal.signal(sig, handler)


def consume_args(output: Path, *extra: str) -> argparse.Namespace:
    """``aggregator consume --output OUTPUT --no-progress EXTRA...`` as parsed arguments."""
    parser = argparse.ArgumentParser()
    consume.add_arguments(parser)
    return parser.parse_args(["--output", str(output), "--no-progress", *extra])


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    """A moto S3 server on loopback, for tests that run the consumer as a real process."""
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()
