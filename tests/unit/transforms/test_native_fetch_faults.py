"""Faults on Landing GETs, met by the fetcher the handler uses: the native one
(``transforms.crt_fetch.fetcher``, awscrt), through a proxy in front of the moto server that
stalls, throttles, refuses or slows chosen GETs on the wire (``faulty_s3``).

The SLO is 120 s from landing to delivery; one stalled GET must cost its batch a few seconds
(``fetch_stall_seconds`` per attempt, at most ``MAX_STALLED_ATTEMPTS`` attempts), not the rest
of the invocation.
"""

from __future__ import annotations

import hashlib
import time
from datetime import UTC, datetime
from typing import Any

import pytest

import pipeline.firehose
import transforms.fetch
from pipeline.aws import CALL_ALLOWANCE_SECONDS
from pipeline.deadline import Backoff, Deadline
from pipeline.references import ObjectReference
from tests.unit.conftest import PipelineAws
from tests.unit.transforms.conftest import NativeFetchAws
from tests.unit.transforms.faulty_s3 import Fault
from tests.unit.transforms.helpers import (
    firehose_bundle,
    firehose_event,
    members,
    reference,
    reput_references,
)
from transforms import crt_fetch
from transforms.batch import BatchSummary, process_batch
from transforms.config import TransformConfig

NOW = datetime(2026, 1, 2, 3, 5, 5, tzinfo=UTC)
#: the stall bound of these tests (the default is 5 s): short, so the tests are
STALL_SECONDS = 1


@pytest.fixture(autouse=True)
def _fast_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(transforms.fetch, "DEFAULT_BACKOFF", Backoff(0.001, 0.01))
    monkeypatch.setattr(pipeline.firehose, "DEFAULT_BACKOFF", Backoff(0.001, 0.01))


def upload(aws: PipelineAws, key: str, body: bytes) -> ObjectReference:
    version = aws.put(key, body)
    return reference(aws.landing, key, version, len(body), hashlib.md5(body).hexdigest())


def run(
    native: NativeFetchAws, refs: list[ObjectReference], seconds: float, **overrides: Any
) -> tuple[dict[str, Any], BatchSummary, float]:
    """``process_batch`` with the handler's fetcher; (response, summary, seconds taken)."""
    values: dict[str, Any] = {"fetch_stall_seconds": STALL_SECONDS, **overrides}
    settings = TransformConfig(
        archive_bucket=native.aws.archive,
        delivery_stream_names=(native.aws.stream,),
        **values,
    )
    fetcher = crt_fetch.fetcher(
        native.fetch_s3, settings.fetch_concurrency, settings.fetch_stall_seconds
    )
    started = time.monotonic()
    response, summary = process_batch(
        firehose_event(refs),
        settings,
        Deadline.after(seconds),
        native.aws.s3,
        native.aws.firehose,
        now=NOW,
        fetcher=fetcher,
    )
    return response, summary, time.monotonic() - started


def results(response: dict[str, Any]) -> list[str]:
    return [entry["result"] for entry in response["records"]]


def contents(response: dict[str, Any]) -> list[bytes]:
    return [content for _, content in members(firehose_bundle(response))]


def test_a_stalled_get_is_cancelled_and_fetched_on_retry_within_the_stall_bound(
    native_fetch_aws: NativeFetchAws,
) -> None:
    """S3 accepts the GET and sends nothing: the fetcher gives up on it after the stall bound
    and fetches the file on a new request; the batch is not held for its deadline (60 s)."""
    aws = native_fetch_aws.aws
    bodies = [f"stalled batch {i}\n".encode() * (i + 1) for i in range(5)]
    refs = [upload(aws, f"stall-once/{i}.txt", body) for i, body in enumerate(bodies)]
    stall = native_fetch_aws.proxy.add(Fault("stall-once/2.txt", stall=True, count=1))

    response, summary, elapsed = run(native_fetch_aws, refs, seconds=60.0)

    assert stall.seen == 1
    assert results(response) == ["Ok"] * 5
    assert contents(response) == bodies
    assert summary.fetch_retries == 1 and summary.deferred == 0
    assert elapsed < STALL_SECONDS + 3.0  # one stall bound, not the 50 s of work deadline


def test_a_get_stalled_mid_body_is_cancelled_and_fetched_on_retry(
    native_fetch_aws: NativeFetchAws,
) -> None:
    """Headers and half of the body arrive, then nothing: the bound counts from the last byte."""
    aws = native_fetch_aws.aws
    body = b"0123456789" * 20_000
    ref = upload(aws, "stall-mid-body/big.bin", body)
    stall = native_fetch_aws.proxy.add(Fault("stall-mid-body/", stall_mid_body=True, count=1))

    response, summary, elapsed = run(native_fetch_aws, [ref], seconds=60.0)

    assert stall.seen == 1
    assert results(response) == ["Ok"] and contents(response) == [body]
    assert summary.fetch_retries == 1
    assert elapsed < STALL_SECONDS + 3.0


def test_a_get_that_stalls_every_time_is_deferred_after_bounded_retries(
    native_fetch_aws: NativeFetchAws,
) -> None:
    aws = native_fetch_aws.aws
    refs = [upload(aws, f"stall-always/{i}.txt", f"file {i}".encode()) for i in range(4)]
    stall = native_fetch_aws.proxy.add(Fault("stall-always/1.txt", stall=True))

    response, summary, elapsed = run(native_fetch_aws, refs, seconds=60.0)

    assert stall.seen == crt_fetch.MAX_STALLED_ATTEMPTS
    assert results(response) == ["Ok", "Dropped", "Ok", "Ok"]
    assert summary.deferred == 1 and summary.failed == 0
    assert elapsed < crt_fetch.MAX_STALLED_ATTEMPTS * STALL_SECONDS + 3.0
    assert refs[1].deferred() in reput_references(aws.stream_records())


def test_throttled_gets_are_retried_within_the_deadline(native_fetch_aws: NativeFetchAws) -> None:
    aws = native_fetch_aws.aws
    refs = [upload(aws, f"throttled/f{i}", b"x" * i) for i in range(4)]
    proxy = native_fetch_aws.proxy
    slowdown = proxy.add(Fault("throttled/f", error=(503, "SlowDown"), count=4))
    internal = proxy.add(Fault("throttled/f", error=(500, "InternalError"), count=1))

    response, summary, _ = run(native_fetch_aws, refs, seconds=60.0, fetch_concurrency=1)

    assert results(response) == ["Ok"] * 4
    assert (slowdown.seen, internal.seen) == (4, 1)
    assert summary.fetch_retries == 5
    assert contents(response) == [b"x" * i for i in range(4)]


def test_gets_throttled_past_the_deadline_are_deferred_not_lost(
    native_fetch_aws: NativeFetchAws,
) -> None:
    aws = native_fetch_aws.aws
    refs = [upload(aws, f"throttled-for-good/f{i}", b"data") for i in range(3)]
    native_fetch_aws.proxy.add(Fault("throttled-for-good/", error=(503, "SlowDown")))

    # 16 s left: 10 s are reserved for the re-put, 5 s per GET allowance -> retries stop in ~1 s
    response, summary, elapsed = run(native_fetch_aws, refs, seconds=16.0)

    assert results(response) == ["Dropped"] * 3
    assert summary.deferred == 3 and elapsed < 16.0 - CALL_ALLOWANCE_SECONDS
    reput = reput_references(aws.stream_records())
    assert all(ref.deferred() in reput for ref in refs)


def test_access_denied_is_its_own_outcome_not_missing(native_fetch_aws: NativeFetchAws) -> None:
    aws = native_fetch_aws.aws
    denied = upload(aws, "denied/secret.txt", b"secret")
    kept = upload(aws, "denied/kept.txt", b"kept")
    native_fetch_aws.proxy.add(Fault("denied/secret.txt", error=(403, "AccessDenied")))

    response, summary, _ = run(native_fetch_aws, [denied, kept], seconds=60.0)

    assert results(response) == ["ProcessingFailed", "Ok"]
    assert summary.failures == {"access-denied": 1} and summary.missing == 0


def test_slow_s3_the_batch_answers_in_time_with_the_unfinished_files_deferred(
    native_fetch_aws: NativeFetchAws,
) -> None:
    """Every GET takes 1.5 s (a slow first byte, below the stall bound): the batch answers
    before its deadline and defers what it could not fetch."""
    aws = native_fetch_aws.aws
    refs = [upload(aws, f"slow/{i}", b"slow") for i in range(30)]
    native_fetch_aws.proxy.add(Fault("slow/", latency_seconds=1.5))

    response, summary, elapsed = run(
        native_fetch_aws, refs, seconds=20.0, fetch_concurrency=2, fetch_stall_seconds=5
    )

    assert elapsed < 20.0 - CALL_ALLOWANCE_SECONDS  # answered with time to spare
    assert set(results(response)) == {"Ok", "Dropped"}
    assert summary.inlined >= 2 and summary.deferred >= 15
    assert summary.inlined + summary.deferred == 30
