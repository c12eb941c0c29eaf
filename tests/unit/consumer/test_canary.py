"""Canary members (issue 22): verified, recorded, timed, counted apart, never in the output folder
(kept in --canary-dir when given), never in a manifest, never handled twice."""

from __future__ import annotations

import gzip
import hashlib
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from pipeline.bundle import encode_member
from pipeline.contract.prefixes import CANARY_ROOT
from scripts import consume
from scripts.cli import EXIT_OK
from scripts.consumer.drain import DrainOptions, drain, list_bundles, state_dir
from scripts.consumer.ledger import Ledger
from scripts.consumer.metrics import ConsumerMetrics
from scripts.consumer.paths import relative_name
from tests.unit.consumer.bundles import (
    SourceFile,
    files_on_disk,
    ledger_file_count,
    meta_for,
    stage,
)
from tests.unit.consumer.conftest import BUCKET, consume_args
from tests.unit.consumer.test_metrics import _exposition, landed_bundle, parse, value

CANARY = SourceFile(f"{CANARY_ROOT}2026/12/08/00/canary-0001.json", b'{"canary": 1}')
NORMAL = [SourceFile("data/a.csv", b"a" * 700), SourceFile("data/b.csv", b"b" * 300)]


def test_a_mixed_bundle_delivers_the_normal_files_and_only_times_and_records_the_canary(
    cli: None, s3: Any, output: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stage(s3, BUCKET, "bundles/mixed.gz", landed_bundle([NORMAL[0], CANARY, NORMAL[1]], 30))
    folder, textfile = tmp_path / "manifests", tmp_path / "consumer.prom"
    args = consume_args(
        output, "--once", "--json", "--manifests", str(folder), "--metrics-file", str(textfile)
    )

    assert consume.run(args) == EXIT_OK

    assert files_on_disk(output) == {relative_name(f.key, f.version_id): f.content for f in NORMAL}
    assert list_bundles(s3, BUCKET) == []
    summary = json.loads(capsys.readouterr().out)
    assert (summary["files_written"], summary["files_canary"]) == (2, 1)
    (manifest,) = folder.glob("*.jsonl")
    assert [json.loads(line)["key"] for line in manifest.read_text().splitlines()] == [
        f.key for f in NORMAL
    ]
    samples = parse(textfile.read_text(encoding="utf-8"))
    assert value(samples, "canary_files_total") == 1
    assert value(samples, "canary_latency_seconds_count") == 1
    assert 30 <= value(samples, "canary_latency_seconds_sum") < 60
    assert value(samples, "canary_last_seen_timestamp_seconds") > 0
    assert value(samples, "files_delivered_total") == 2  # the canary is counted apart
    assert value(samples, "file_latency_seconds_count") == 2
    with Ledger(state_dir(output) / "ledger.db") as ledger:
        recorded = ledger.delivered(CANARY.key, CANARY.version_id)
        assert recorded is not None
        assert recorded.sha256 == CANARY.sha256
        assert ledger_file_count(ledger) == 3


def test_with_canary_dir_the_canary_is_kept_there_and_never_handled_twice(
    s3: Any, output: Path, ledger: Ledger, tmp_path: Path
) -> None:
    canaries = tmp_path / "canaries"
    options = DrainOptions(canary_dir=canaries)
    stage(s3, BUCKET, "bundles/1.gz", landed_bundle([CANARY, NORMAL[0]], 5))
    metrics = ConsumerMetrics()

    first = drain(s3, BUCKET, output, ledger, options, observer=metrics)
    stage(s3, BUCKET, "bundles/2.gz", landed_bundle([CANARY, NORMAL[1]], 5))  # a re-put member
    second = drain(s3, BUCKET, output, ledger, options, observer=metrics)

    assert (first.files_canary, second.files_canary) == (1, 0)
    assert second.files_duplicate == 1
    kept = canaries / relative_name(CANARY.key, CANARY.version_id)
    assert kept.read_bytes() == CANARY.content
    assert [p.name for p in kept.parent.iterdir()] == [kept.name]  # no temporary file left
    assert set(files_on_disk(output)) == {relative_name(f.key, f.version_id) for f in NORMAL}
    assert value(parse(_exposition(metrics)), "canary_files_total") == 1


def test_a_damaged_canary_rejects_its_bundle_and_is_not_kept(
    s3: Any, output: Path, ledger: Ledger, tmp_path: Path
) -> None:
    lie = replace(meta_for(CANARY), sha256=hashlib.sha256(b"something else").hexdigest())
    raw = encode_member(meta_for(NORMAL[0]), NORMAL[0].content) + encode_member(lie, CANARY.content)
    stage(s3, BUCKET, "bundles/bad.gz", gzip.compress(raw))
    canaries = tmp_path / "canaries"

    summary = drain(s3, BUCKET, output, ledger, DrainOptions(canary_dir=canaries))

    assert [p.kind for p in summary.rejected] == ["bundle_integrity"]
    assert summary.files_canary == 0
    assert ledger.delivered(CANARY.key, CANARY.version_id) is None
    assert [p for p in canaries.rglob("*") if p.is_file()] == []
    assert ledger.delivered(NORMAL[0].key, NORMAL[0].version_id) is not None  # verified before


def test_a_canary_dir_inside_the_output_is_refused(
    cli: None, output: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = consume_args(output, "--once", "--canary-dir", str(output / "canary"))
    assert consume.run(args) == consume.EXIT_CONFIG
    assert "--canary-dir" in capsys.readouterr().err
