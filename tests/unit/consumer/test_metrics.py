"""Prometheus metrics and `--check`, from real passes over a moto Distribution, parsed back with
prometheus_client's own parser (from the textfile and from the HTTP endpoint)."""

from __future__ import annotations

import gzip
import json
import os
import re
import signal
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from botocore.exceptions import EndpointConnectionError
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from pipeline.bundle import encode_member
from scripts import consume
from scripts.cli import EXIT_OK
from scripts.consumer.drain import DrainOptions, DurableMember, drain, list_bundles, state_dir
from scripts.consumer.ledger import DeliveredFile, Ledger
from scripts.consumer.metrics import (
    PASS_FAILED,
    PASS_OK,
    ConsumerMetrics,
    PassStatus,
    StatusFile,
    check_health,
    read_status,
    status_path,
)
from tests.moto_server import free_port
from tests.unit.consumer.bundles import SourceFile, build_bundle, files_on_disk, meta_for, stage
from tests.unit.consumer.conftest import BUCKET, consume_args

P = "aggregator_consumer_"
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    """Every sample of an exposition text, by (name, labels)."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(P + name, frozenset(labels.items()))]


def landed_bundle(files: list[SourceFile], seconds_ago: float) -> bytes:
    """A bundle whose members landed ``seconds_ago`` (their metadata's event time)."""
    landed = (datetime.now(UTC) - timedelta(seconds=seconds_ago)).isoformat()
    raw = b"".join(
        encode_member(
            meta_for(source).__class__(**{**_fields(meta_for(source)), "event_time": landed}),
            source.content,
        )
        for source in files
    )
    return gzip.compress(raw, compresslevel=1, mtime=0)


def _fields(meta: Any) -> dict[str, Any]:
    return {name: getattr(meta, name) for name in meta.__slots__}


def stage_mixed_traffic(s3: Any) -> list[SourceFile]:
    """Two good bundles (5 distinct files, one duplicate member), one damaged bundle (its
    recorded SHA-256 matches: unpacking finds the damage after its one member, which is kept),
    one failing download verification, one object that is not a bundle. Returns the files that
    must be delivered."""
    first = [SourceFile(f"m/{n}", bytes([65 + n]) * (100 * n + 1)) for n in range(3)]
    second = [SourceFile("m/big", b"b" * 300_000), SourceFile("m/empty", b"")]
    stage(s3, BUCKET, "bundles/1.gz", landed_bundle([*first, first[0]], seconds_ago=40))
    stage(s3, BUCKET, "bundles/2.gz", landed_bundle(second, seconds_ago=40))
    kept = SourceFile("bad/x", b"x" * 5000)
    stage(s3, BUCKET, "bundles/3-damaged.gz", landed_bundle([kept], seconds_ago=40)[:-5])
    stage(s3, BUCKET, "bundles/4-wrong-sum.gz", build_bundle([SourceFile("y", b"y")]), "0" * 64)
    stage(s3, BUCKET, "bundles/notes.txt", b"not a bundle")
    return [*first, *second, kept]


def test_textfile_after_a_real_pass_counts_files_bytes_latency_and_rejections(
    cli: None, s3: Any, output: Path, tmp_path: Path
) -> None:
    delivered = stage_mixed_traffic(s3)
    textfile = tmp_path / "node_exporter" / "aggregator_consumer.prom"

    code = consume.run(
        consume_args(output, "--once", "--metrics-file", str(textfile), "--batch-files", "2")
    )

    assert code == consume.EXIT_BUNDLE_PROBLEMS  # two rejected bundles
    assert len(files_on_disk(output)) == len(delivered)
    samples = parse(textfile.read_text(encoding="utf-8"))
    assert value(samples, "files_delivered_total") == len(delivered) == 6
    assert value(samples, "delivered_bytes_total") == sum(len(f.content) for f in delivered)
    # one latency observation per delivered file, each ~40 s (landing -> durable)
    assert value(samples, "file_latency_seconds_count") == len(delivered)
    mean = value(samples, "file_latency_seconds_sum") / len(delivered)
    assert 40 <= mean < 70
    assert value(samples, "file_latency_seconds_bucket", le="30.0") == 0
    assert value(samples, "file_latency_seconds_bucket", le="90.0") == len(delivered)
    assert value(samples, "bundles_delivered_total") == 2
    assert value(samples, "files_duplicate_total") == 1
    assert value(samples, "bundles_rejected_total", reason="bundle_integrity") == 1
    assert value(samples, "bundles_rejected_total", reason="bundle_rejected") == 1
    assert value(samples, "rejected_bundles") == 2
    assert value(samples, "distribution_backlog_bundles") == 4  # listed at the start, .gz only
    assert 0 <= value(samples, "distribution_oldest_age_seconds") < 60
    assert value(samples, "passes_total", result="problems") == 1
    assert value(samples, "pass_duration_seconds_count") == 1
    assert time.time() - value(samples, "last_success_timestamp_seconds") < 60
    assert value(samples, "canary_files_total") == 0


def test_a_second_pass_sees_the_rejected_bundles_again_without_counting_them_twice(
    s3: Any, output: Path, ledger: Ledger
) -> None:
    stage_mixed_traffic(s3)
    metrics = ConsumerMetrics()
    drain(s3, BUCKET, output, ledger, observer=metrics)
    metrics.finished(drain(s3, BUCKET, output, ledger, observer=metrics))

    samples = parse(_exposition(metrics))
    assert value(samples, "bundles_rejected_total", reason="bundle_integrity") == 1
    assert value(samples, "rejected_bundles") == 2  # still in Distribution, still reported
    assert value(samples, "distribution_backlog_bundles") == 2


def _exposition(metrics: ConsumerMetrics) -> str:
    return generate_latest(metrics.registry).decode()


def test_the_http_endpoint_serves_the_same_counts_while_the_daemon_runs(
    cli: None, s3: Any, output: Path
) -> None:
    delivered = stage_mixed_traffic(s3)
    port = free_port()
    scraped: list[str] = []

    def list_objects(**_: Any) -> None:
        if len(scraped) == 0 and (state_dir(output) / "consumer-status.json").exists():
            url = f"http://127.0.0.1:{port}/metrics"
            with urllib.request.urlopen(url, timeout=10) as response:  # the first pass ended
                scraped.append(response.read().decode())
            os.kill(os.getpid(), signal.SIGTERM)

    s3.meta.events.register("before-call.s3.ListObjectsV2", list_objects)
    args = consume_args(output, "--interval", "0.05", "--metrics-port", str(port))

    assert consume.run(args) == EXIT_OK
    samples = parse(scraped[0])
    assert value(samples, "files_delivered_total") == len(delivered)
    assert value(samples, "file_latency_seconds_count") == len(delivered)
    assert value(samples, "bundles_rejected_total", reason="bundle_integrity") == 1
    with pytest.raises(OSError):  # the endpoint closed with the daemon
        urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2)


def test_metrics_endpoint_binds_the_address_given(s3: Any, output: Path, ledger: Ledger) -> None:
    stage(s3, BUCKET, "bundles/a.gz", landed_bundle([SourceFile("k", b"v" * 10)], 5))
    metrics = ConsumerMetrics()
    server = metrics.serve(0, "127.0.0.1")
    try:
        summary = drain(s3, BUCKET, output, ledger, DrainOptions(), observer=metrics)
        metrics.finished(summary)
        assert server.server_address[0] == "127.0.0.1"
        url = f"http://127.0.0.1:{server.server_port}/metrics"
        with urllib.request.urlopen(url, timeout=10) as response:
            samples = parse(response.read().decode())
    finally:
        server.shutdown()
        server.server_close()
    assert value(samples, "files_delivered_total") == summary.files_written == 1
    assert value(samples, "delivered_bytes_total") == 10
    assert value(samples, "file_latency_seconds_count") == 1


# -------------------------------------------------------------------------------------- --check


def test_check_fails_before_any_pass_and_passes_after_one(
    cli: None, s3: Any, output: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert consume.run(consume_args(output, "--check")) == consume.EXIT_BUNDLE_PROBLEMS
    assert "UNHEALTHY: no readable consumer status" in capsys.readouterr().out

    stage(s3, BUCKET, "bundles/a.gz", build_bundle([SourceFile("k", b"v")]))
    assert consume.run(consume_args(output, "--once")) == EXIT_OK
    capsys.readouterr()

    assert consume.run(consume_args(output, "--check")) == EXIT_OK
    assert capsys.readouterr().out.startswith("OK: consumer pid")


def test_check_fails_when_the_last_success_is_older_than_n_intervals(
    cli: None, output: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ledger = tmp_path / "state" / "ledger.db"
    ended = time.time() - 100
    StatusFile(status_path(ledger), interval=30, pid=1, clock=lambda: ended).pass_ended(PASS_OK)

    args = ["--ledger", str(ledger), "--check"]
    assert consume.run(consume_args(output, *args)) == consume.EXIT_BUNDLE_PROBLEMS
    out = capsys.readouterr().out
    assert out.startswith("UNHEALTHY: last successful pass 100 s ago, more than 3 x 30 s")
    assert len(out.splitlines()) == 1
    assert consume.run(consume_args(output, *args, "--max-intervals", "4")) == EXIT_OK


def test_a_failed_pass_keeps_the_last_success_and_a_long_pass_shows_progress(
    tmp_path: Path,
) -> None:
    now = [1_000.0]
    status = StatusFile(tmp_path / "s.json", interval=10, pid=7, clock=lambda: now[0])
    status.pass_ended(PASS_OK)
    now[0] = 1_025.0
    status.pass_ended(PASS_FAILED)
    written = json.loads((tmp_path / "s.json").read_text())
    assert (written["last_success_at"], written["last_result"]) == (1_000.0, PASS_FAILED)

    now[0] = 1_040.0  # a long pass delivering a backlog: alive, though no pass ended
    status.progressed()
    read = read_status(tmp_path / "s.json")
    assert check_health(read, 1_045.0, 3) is None
    assert check_health(read, 1_071.0, 3) is not None


def test_check_health_without_any_success_names_the_last_result() -> None:
    status = PassStatus(100.0, "host_fault", None, None, 30.0, 1)
    reason = check_health(status, 110.0, 3)
    assert reason is not None
    assert "no successful pass yet" in reason
    assert "host_fault" in reason


def test_the_alert_rules_name_only_metrics_the_consumer_exports() -> None:
    rules_file = Path(__file__).resolve().parents[3] / "docs" / "prometheus-rules.yml"
    rules = yaml.safe_load(rules_file.read_text(encoding="utf-8"))["groups"][0]["rules"]
    exported = {
        sample.name
        for family in text_string_to_metric_families(_exposition(ConsumerMetrics()))
        for sample in family.samples
    } | {P + "bundles_rejected_total"}  # labelled: no sample before the first rejection
    named = {name for rule in rules for name in re.findall(P + r"\w+", rule["expr"])}
    assert len(rules) >= 4
    assert named, "no consumer metric in the rules"
    assert named <= exported, named - exported


def test_a_metrics_port_in_use_is_refused_before_anything_is_touched(
    cli: None, s3: Any, output: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stage(s3, BUCKET, "bundles/a.gz", build_bundle([SourceFile("k", b"v")]))
    holder = ConsumerMetrics().serve(0, "127.0.0.1")
    try:
        args = consume_args(output, "--once", "--metrics-port", str(holder.server_port))
        assert consume.run(args) == consume.EXIT_CONFIG
    finally:
        holder.shutdown()
        holder.server_close()
    assert "cannot serve metrics on 127.0.0.1:" in capsys.readouterr().err
    assert [b.key for b in list_bundles(s3, BUCKET)] == ["bundles/a.gz"]


def test_a_file_without_a_readable_event_time_is_delivered_and_counted_unmeasured() -> None:
    def member(event_time: str) -> DurableMember:
        return DurableMember(DeliveredFile("k", "v", "0" * 64, 3, "k~v", "b.gz"), event_time)

    metrics = ConsumerMetrics()
    metrics.durable([member(""), member("2026-01-01T00:00:00"), member("2026-01-01T00:00:00Z")], 0)

    samples = parse(_exposition(metrics))
    assert value(samples, "files_delivered_total") == 3
    assert value(samples, "delivered_bytes_total") == 9
    assert value(samples, "file_latency_unmeasured_total") == 2  # no time, no time zone
    assert value(samples, "file_latency_seconds_count") == 1


def test_a_failed_listing_is_counted_and_the_next_pass_succeeds(
    cli: None, s3: Any, output: Path, tmp_path: Path
) -> None:
    stage(s3, BUCKET, "bundles/a.gz", landed_bundle([SourceFile("k", b"v")], 5))
    textfile = tmp_path / "consumer.prom"
    listings: list[str] = []

    def list_objects(**_: Any) -> None:
        listings.append("call")
        if len(listings) == 1:
            raise EndpointConnectionError(endpoint_url="https://s3.example")
        if len(listings) == 3:
            os.kill(os.getpid(), signal.SIGTERM)

    s3.meta.events.register("before-call.s3.ListObjectsV2", list_objects)
    args = consume_args(output, "--interval", "0.05", "--metrics-file", str(textfile))

    assert consume.run(args) == EXIT_OK
    samples = parse(textfile.read_text(encoding="utf-8"))
    assert value(samples, "passes_total", result="failed") == 1
    assert value(samples, "passes_total", result="ok") >= 1
    assert value(samples, "files_delivered_total") == 1
    status = read_status(state_dir(output) / "consumer-status.json")
    assert status.last_result == PASS_OK
    assert check_health(status, time.time(), 3) is None
