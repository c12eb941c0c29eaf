"""`aggregator consume` as a process: one instance per folder, the summary, daemon mode."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import EndpointConnectionError

from scripts import consume
from scripts.cli import EXIT_LOCKED, EXIT_OK
from scripts.consumer.drain import list_bundles, state_dir
from scripts.consumer.lock import exclusive
from tests.unit.consumer.bundles import SourceFile, build_bundle, files_on_disk, stage
from tests.unit.consumer.conftest import BUCKET, consume_args


def test_a_second_consumer_on_the_same_folder_exits_at_once_touching_nothing(
    cli: None, s3: Any, output: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stage(s3, BUCKET, "bundles/a.gz", build_bundle([SourceFile("k", b"v")]))
    in_flight = state_dir(output) / "tmp" / "first-consumer.part"
    in_flight.parent.mkdir(parents=True)
    in_flight.write_bytes(b"the first consumer's temporary file")

    with exclusive([state_dir(output) / consume.LOCK_NAME]):  # the first consumer
        assert consume.run(consume_args(output, "--once")) == EXIT_LOCKED

    assert "another consumer" in capsys.readouterr().err
    assert in_flight.read_bytes() == b"the first consumer's temporary file"
    assert [b.key for b in list_bundles(s3, BUCKET)] == ["bundles/a.gz"]
    assert consume.run(consume_args(output, "--once")) == EXIT_OK  # the lock died with it


def test_a_consumer_sharing_the_ledger_is_refused_too(
    cli: None, tmp_path: Path, output: Path
) -> None:
    ledger = tmp_path / "shared" / "ledger.db"
    with exclusive([ledger.with_name("ledger.db.lock")]):
        args = consume_args(tmp_path / "other-output", "--once", "--ledger", str(ledger))
        assert consume.run(args) == EXIT_LOCKED


def test_text_and_json_summaries_count_delivered_duplicates_rejected_skipped(
    cli: None, s3: Any, output: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = build_bundle([SourceFile("k", b"v")])
    stage(s3, BUCKET, "bundles/1-good.gz", good)
    stage(s3, BUCKET, "bundles/2-copy.gz", good)
    stage(s3, BUCKET, "bundles/3-bad.gz", good[:-5])
    stage(s3, BUCKET, "bundles/notes.txt", b"not a bundle")

    assert consume.run(consume_args(output, "--once")) == consume.EXIT_BUNDLE_PROBLEMS
    text = capsys.readouterr().out
    assert "1 bundle(s) delivered, 1 already delivered" in text
    assert "1 rejected, 1 skipped (not bundles)" in text
    rejected = [line for line in text.splitlines() if "REJECTED" in line]
    assert len(rejected) == 1
    assert rejected[0].startswith("  REJECTED (kept in Distribution) bundles/3-bad.gz: ")
    assert "--retry-rejected" in text

    assert consume.run(consume_args(output, "--once", "--json")) == consume.EXIT_BUNDLE_PROBLEMS
    counts = json.loads(capsys.readouterr().out)["counts"]
    assert counts == {"delivered": 0, "duplicates": 0, "rejected": 1, "skipped": 1, "failed": 0}


def test_retry_rejected_verifies_a_rejected_bundle_again(
    cli: None, s3: Any, output: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    gets: list[str] = []
    s3.meta.events.register(
        "provide-client-params.s3.GetObject", lambda params, **_: gets.append(params["Key"])
    )
    stage(s3, BUCKET, "bundles/bad.gz", b"\x1f\x8b not really gzip")
    consume.run(consume_args(output, "--once"))
    consume.run(consume_args(output, "--once"))
    assert gets == ["bundles/bad.gz"]  # remembered
    consume.run(consume_args(output, "--once", "--retry-rejected"))
    assert gets == ["bundles/bad.gz", "bundles/bad.gz"]
    capsys.readouterr()


def test_daemon_survives_a_failed_listing_and_stops_cleanly_on_sigterm(
    cli: None,
    s3: Any,
    output: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(consume, "_FIRST_BACKOFF", 0.01)
    stage(s3, BUCKET, "bundles/a.gz", build_bundle([SourceFile("k", b"v")]))
    listings: list[int] = []

    def list_objects(**_: Any) -> None:
        listings.append(1)
        if len(listings) == 1:
            raise EndpointConnectionError(endpoint_url="https://s3.example")
        if len(listings) == 3:
            os.kill(os.getpid(), signal.SIGTERM)  # the operator stops the daemon

    s3.meta.events.register("before-call.s3.ListObjectsV2", list_objects)

    assert consume.run(consume_args(output, "--interval", "0.05")) == EXIT_OK

    assert len(listings) == 3  # failed, retried (delivered), then stopped during the third
    assert "retrying" in capsys.readouterr().err
    assert files_on_disk(output) == {"k~v1": b"v"}


def test_sigint_stops_between_files_leaving_the_rest_for_the_next_run(
    cli: None, s3: Any, output: Path
) -> None:
    stage(s3, BUCKET, "bundles/1.gz", build_bundle([SourceFile("a", b"1")]))
    stage(s3, BUCKET, "bundles/2.gz", build_bundle([SourceFile("b", b"2")]))

    def interrupt(**_: Any) -> None:
        os.kill(os.getpid(), signal.SIGINT)

    s3.meta.events.register("before-call.s3.DeleteObject", interrupt)  # while bundle 1 ends

    assert consume.run(consume_args(output, "--interval", "60")) == EXIT_OK
    assert files_on_disk(output) == {"a~v1": b"1"}
    assert [b.key for b in list_bundles(s3, BUCKET)] == ["bundles/2.gz"]


def test_the_daemon_prints_nothing_for_an_idle_poll(
    cli: None, s3: Any, output: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    listings: list[int] = []

    def list_objects(**_: Any) -> None:
        listings.append(1)
        if len(listings) == 2:  # the first poll found the bundle; the second is idle
            os.kill(os.getpid(), signal.SIGTERM)

    stage(s3, BUCKET, "bundles/a.gz", build_bundle([SourceFile("k", b"v")]))
    s3.meta.events.register("before-call.s3.ListObjectsV2", list_objects)

    assert consume.run(consume_args(output, "--interval", "0.05")) == EXIT_OK

    out = capsys.readouterr().out
    assert len(listings) == 2
    assert out.count("consume: s3://") == 1, out  # the delivering pass only
