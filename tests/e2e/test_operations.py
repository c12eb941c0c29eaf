"""SPEC's two operational acceptance scenarios: a consumer outage with catch-up, and a replay.

* **Consumer outage then catch-up** (NFR-04): nobody drains Distribution while several waves of
  files flow through the pipeline; every wave still reaches Distribution in full (nothing upstream
  waits for the consumer, nothing goes to the error output) and the backlog only grows, as
  ``aggregator status`` shows. Then the consumer starts and drains the backlog: every file once,
  byte for byte, Distribution empty, one ledger row per (key, version).
* **Replay of an archived bundle** (DR): after a delivery was consumed, ``aggregator replay --key``
  verifies the Archive copy against its recorded SHA-256 and stages it again in Distribution; the
  same consumer deletes it without writing a file twice (same inodes, same ledger), while a rebuilt
  consumer with an empty ledger gets every file back, byte for byte. A dry run changes nothing; a
  damaged Archive copy is refused (exit 1) and never staged; a Deep Archive copy is restored first
  (exit 75 while pending), then staged by re-running the same command.

Every test starts by draining what earlier tests may have left in Distribution (the consumer was
"up" until then), so counts of bundles and files are exact. Copies made in Archive for a test live
outside the copier's ``bundles/…gz`` trigger and are deleted (all versions) afterwards.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from scripts import cli
from scripts.consumer.drain import DrainSummary, drain, list_bundles, state_dir
from scripts.consumer.ledger import DeliveredFile, Ledger
from scripts.consumer.paths import destination
from scripts.delivery.verify import check_output
from scripts.loadgen import FileKind, MixConfig, UploadRecord, plan_mix
from tests.e2e.pipeline import Pipeline, Scenario, error_output_references, specs
from tests.unit.consumer.bundles import ledger_file_count

pytestmark = pytest.mark.e2e

SHA256_METADATA = "content-sha256"  # docs/architecture.md: the bundle's SHA-256, in hex
WAVES = 3
WAVE_FILES = 150
#: replay exit codes (docs/operations.md)
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_PENDING = 0, 1, 2, 75


def test_consumer_outage_then_catch_up(
    pipeline: Pipeline, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _drain_leftovers(pipeline, tmp_path / "before-outage")
    scenario = pipeline.scenario("outage", tmp_path)
    started = time.monotonic()

    # The consumer is down: waves of uploads, each must still reach Distribution in full.
    records: list[UploadRecord] = []
    backlog: set[str] = set()
    staged_at: list[float] = []  # when each wave was complete in Distribution
    for wave in range(WAVES):
        mix = plan_mix(
            MixConfig(
                count=WAVE_FILES,
                seed=7_000 + wave,
                prefix=f"{scenario.prefix}wave-{wave}/",
                large_size=None,
                hostile_keys=False,
            )
        )
        batch = scenario.upload(mix, concurrency=16)
        report = scenario.tracker.wait_for(batch, timeout=120)
        assert report.complete, (
            f"wave {wave}: {len(report.missing)} file(s) never reached Distribution while the "
            f"consumer was down, corrupt {len(report.corrupt)}, bad bundles {report.bad_bundles}"
        )
        now_staged = _distribution_keys(pipeline)
        assert backlog < now_staged, (
            f"wave {wave}: the backlog must only grow while nobody consumes; "
            f"gone: {sorted(backlog - now_staged)}"
        )
        backlog = now_staged
        records += batch
        staged_at.append(time.time())
    uploaded_in = time.monotonic() - started

    report = scenario.tracker.report(records)
    assert report.complete and report.uploaded == WAVES * WAVE_FILES
    # Each wave added bundles (the strict growth above); 6-11 in all were measured here.
    assert len(backlog) >= WAVES
    assert set(_bundles_of(report.delivered)) <= backlog
    errors = error_output_references(pipeline.s3, pipeline.archive)
    parked = {(ref.get("key"), ref.get("version_id")) for ref in errors}
    assert not parked & {r.identity for r in records}, "files went to the error output"
    asked_at = time.time()
    status = _status_backlog(pipeline, capsys)
    assert status["count"] == len(backlog), f"status sees {status}, Distribution holds {backlog}"
    # The first wave's bundles are still waiting: the backlog's age grows with the outage.
    assert status["oldest_age_seconds"] >= asked_at - staged_at[0] - 1, status

    # The consumer comes back and catches up.
    catch_up_started = time.monotonic()
    drained = scenario.consume()
    catch_up = time.monotonic() - catch_up_started
    assert drained.ok, f"consumer problems: {drained}"
    # At least the backlog (a late at-least-once duplicate bundle would be listed too).
    assert drained.bundles_listed >= len(backlog)
    assert drained.bundles_delivered + drained.bundles_duplicate == drained.bundles_listed
    assert drained.files_written == len(records), drained
    assert _distribution_keys(pipeline) == set(), "Distribution must be empty after the catch-up"

    check = check_output(scenario.output, records, destination)
    assert check.ok and len(check.verified) == len(records), (
        f"missing {[r.key for r in check.missing]}, different {[r.key for r in check.different]}"
    )
    output = scenario.output
    assert _files_under(output, scenario.prefix) == _expected_paths(output, records)
    with Ledger(_ledger_path(scenario.output)) as ledger:
        assert ledger_file_count(ledger) == len(records)
        for record in records:
            row = ledger.delivered(record.key, record.version_id)
            assert row is not None, f"{record.key} is not in the ledger"
            assert row.sha256 == record.sha256
            assert row.bundle_key in backlog
            expected = destination(scenario.output, record.key, record.version_id)
            assert scenario.output / row.path == expected

    again = scenario.consume()
    assert (again.bundles_listed, again.files_written) == (0, 0), again
    print(
        f"outage: {len(records)} files in {WAVES} waves staged as {len(backlog)} bundles in "
        f"{uploaded_in:.1f} s with no consumer; catch-up drained them in {catch_up:.1f} s "
        f"({drained.files_duplicate} duplicate member(s) skipped)"
    )


def test_replay_of_an_archived_bundle_is_delivered_exactly_once(
    pipeline: Pipeline, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario, records, bundles = _consumed_delivery(pipeline, tmp_path, "replay", seed=31)
    recorded = {key: _archived_sha256(pipeline, key) for key in bundles}
    before = _snapshot(scenario.output, records)
    with Ledger(_ledger_path(scenario.output)) as ledger:
        rows_before = _ledger_rows(ledger, records)
        files_before = ledger_file_count(ledger)

    # Usage errors and a dry run change nothing.
    assert _replay(pipeline, capsys)[0] == EXIT_USAGE
    code, items = _replay(pipeline, capsys, *_key_args(bundles), "--dry-run")
    assert code == EXIT_OK
    assert [(i["key"], i["action"]) for i in items] == [(k, "stage") for k in bundles]
    assert not set(bundles) & _distribution_keys(pipeline), "a dry run must not stage anything"

    # Replay: verified against the recorded SHA-256, staged under the same key, idempotent.
    code, items = _replay(pipeline, capsys, *_key_args(bundles))
    assert code == EXIT_OK, items
    assert [(i["key"], i["action"]) for i in items] == [(k, "staged") for k in bundles]
    for key in bundles:
        staged_sha256, content_sha256 = _distribution_sha256(pipeline, key)
        assert staged_sha256 == content_sha256 == recorded[key]
    code, items = _replay(pipeline, capsys, *_key_args(bundles))
    assert code == EXIT_OK
    assert [i["action"] for i in items] == ["already-staged"] * len(bundles)

    # The same consumer drains the replayed bundles without writing a file twice.
    drained = scenario.consume()
    assert drained.ok, drained
    assert drained.bundles_listed == len(bundles)
    assert (drained.bundles_duplicate, drained.files_written) == (len(bundles), 0), drained
    assert not set(bundles) & _distribution_keys(pipeline), "the replayed bundle was not deleted"
    assert _snapshot(scenario.output, records) == before, "a delivered file was written again"
    with Ledger(_ledger_path(scenario.output)) as ledger:
        assert _ledger_rows(ledger, records) == rows_before
        assert ledger_file_count(ledger) == files_before

    # A rebuilt on-premise host (empty folder and ledger) gets everything back from a replay.
    code, items = _replay(pipeline, capsys, *_key_args(bundles))
    assert code == EXIT_OK and [i["action"] for i in items] == ["staged"] * len(bundles)
    rebuilt = tmp_path / "rebuilt-host"
    restored = _consume_into(pipeline, rebuilt)
    assert restored.ok and restored.files_written == len(records), restored
    assert check_output(rebuilt, records, destination).ok
    assert _files_under(rebuilt, scenario.prefix) == _expected_paths(rebuilt, records)
    assert not set(bundles) & _distribution_keys(pipeline)


def test_replay_refuses_an_archive_copy_that_fails_its_recorded_sha256(
    pipeline: Pipeline, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, _, bundles = _consumed_delivery(pipeline, tmp_path, "replay-tampered", seed=32)
    recorded = _archived_sha256(pipeline, bundles[0])
    body = bytearray(_archived_body(pipeline, bundles[0]))
    body[len(body) // 2] ^= 0xFF
    tampered = _archive_copy_key("tampered", bundles[0])
    pipeline.s3.put_object(
        Bucket=pipeline.archive,
        Key=tampered,
        Body=bytes(body),
        Metadata={SHA256_METADATA: recorded},
    )
    try:
        code, items = _replay(pipeline, capsys, "--key", tampered)
        assert code == EXIT_FAILED
        assert items[0]["action"] == "failed" and "SHA-256 mismatch" in items[0]["detail"], items
        assert tampered not in _distribution_keys(pipeline), "a damaged bundle was staged"
    finally:
        _delete_all_versions(pipeline.s3, pipeline.archive, tampered)


def test_replay_restores_a_deep_archive_bundle_before_staging_it(
    pipeline: Pipeline, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario, records, bundles = _consumed_delivery(pipeline, tmp_path, "replay-cold", seed=33)
    recorded = _archived_sha256(pipeline, bundles[0])
    cold = _archive_copy_key("cold", bundles[0])
    pipeline.s3.copy_object(
        Bucket=pipeline.archive,
        Key=cold,
        CopySource={"Bucket": pipeline.archive, "Key": bundles[0]},
        StorageClass="DEEP_ARCHIVE",
        MetadataDirective="COPY",
    )
    before = _snapshot(scenario.output, records)
    try:
        code, items = _replay(pipeline, capsys, "--key", cold, "--dry-run")
        assert (code, items[0]["action"]) == (EXIT_OK, "request-restore"), items
        assert "Restore" not in pipeline.s3.head_object(Bucket=pipeline.archive, Key=cold)

        code, items = _replay(pipeline, capsys, "--key", cold, "--tier", "Bulk")
        assert (code, items[0]["action"]) == (EXIT_PENDING, "restore-requested"), items
        assert cold not in _distribution_keys(pipeline)

        # Re-running the same command continues. LocalStack completes a restore at once; on AWS
        # it takes hours and the command keeps answering "restoring" (exit 75) until then.
        code, items = _replay(pipeline, capsys, "--key", cold, "--tier", "Bulk")
        if items[0]["action"] == "restoring":
            assert code == EXIT_PENDING
            return
        assert (code, items[0]["action"]) == (EXIT_OK, "staged"), items
        assert _distribution_sha256(pipeline, cold) == (recorded, recorded)
        drained = scenario.consume(prefix=cold.split("/", 1)[0] + "/")
        assert drained.ok and (drained.bundles_duplicate, drained.files_written) == (1, 0)
        assert cold not in _distribution_keys(pipeline)
        assert _snapshot(scenario.output, records) == before
    finally:
        _delete_all_versions(pipeline.s3, pipeline.archive, cold)


# ------------------------------------------------------------------------------------ helpers


def _consumed_delivery(
    pipeline: Pipeline, tmp_path: Path, name: str, seed: int
) -> tuple[Scenario, list[UploadRecord], list[str]]:
    """A few files delivered and consumed: (scenario, uploads, their bundle keys)."""
    _drain_leftovers(pipeline, tmp_path / "before")
    scenario = pipeline.scenario(name, tmp_path)
    sizes = [1_000 + 137 * n for n in range(12)] + [0]
    records = scenario.upload(specs(scenario.prefix, FileKind.TEXT, sizes, seed=seed))
    outcome = scenario.deliver(records)
    bundles = _bundles_of(outcome.delivery.delivered)
    assert not set(bundles) & _distribution_keys(pipeline), "consumed bundles must be deleted"
    return scenario, records, bundles


def _drain_leftovers(pipeline: Pipeline, folder: Path) -> None:
    """Consume whatever earlier tests left in Distribution, so this test's counts are exact."""
    _consume_into(pipeline, folder)
    assert _distribution_keys(pipeline) == set(), "Distribution could not be emptied first"


def _consume_into(pipeline: Pipeline, folder: Path) -> DrainSummary:
    folder.mkdir(parents=True, exist_ok=True)
    with Ledger(_ledger_path(folder)) as ledger:
        return drain(pipeline.s3, pipeline.distribution, folder, ledger)


def _ledger_path(output: Path) -> Path:
    return state_dir(output) / "ledger.db"


def _distribution_keys(pipeline: Pipeline) -> set[str]:
    return {bundle.key for bundle in list_bundles(pipeline.s3, pipeline.distribution)}


def _bundles_of(deliveries: Sequence[Any]) -> list[str]:
    return sorted({delivery.sighting.bundle_key for delivery in deliveries})


def _files_under(output: Path, prefix: str) -> list[Path]:
    folder = output / prefix.rstrip("/")
    return sorted(path for path in folder.rglob("*") if path.is_file())


def _expected_paths(output: Path, records: Sequence[UploadRecord]) -> list[Path]:
    return sorted(destination(output, r.key, r.version_id) for r in records)


def _snapshot(output: Path, records: Sequence[UploadRecord]) -> dict[str, tuple[int, int, int]]:
    """Inode, modification time and size of every delivered file."""
    snapshot: dict[str, tuple[int, int, int]] = {}
    for record in records:
        stat = os.stat(destination(output, record.key, record.version_id))
        snapshot[record.key] = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
    return snapshot


def _ledger_rows(ledger: Ledger, records: Sequence[UploadRecord]) -> list[DeliveredFile | None]:
    return [ledger.delivered(record.key, record.version_id) for record in records]


def _status_backlog(pipeline: Pipeline, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    """The Distribution backlog as ``aggregator status --json`` shows it to an operator."""
    capsys.readouterr()
    cli.main(["status", "--env", "local", "--endpoint-url", pipeline.endpoint_url, "--json"])
    report = json.loads(capsys.readouterr().out)
    backlog = report.get("backlog")
    assert isinstance(backlog, dict), f"status has no backlog section: {report.get('problems')}"
    return backlog


def _replay(
    pipeline: Pipeline, capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, list[dict[str, Any]]]:
    """Run ``aggregator replay --json`` on the local stack: (exit code, one dict per bundle)."""
    capsys.readouterr()
    argv = ["replay", "--env", "local", "--endpoint-url", pipeline.endpoint_url, "--json"]
    code = cli.main([*argv, *args])
    out = capsys.readouterr().out
    return code, [json.loads(line) for line in out.splitlines() if line.strip()]


def _key_args(keys: Sequence[str]) -> list[str]:
    return [arg for key in keys for arg in ("--key", key)]


def _archived_sha256(pipeline: Pipeline, key: str) -> str:
    """The bundle's recorded SHA-256 in Archive, checked against its content here too."""
    response = pipeline.s3.get_object(Bucket=pipeline.archive, Key=key)
    recorded = str(response["Metadata"].get(SHA256_METADATA, ""))
    actual = hashlib.sha256(response["Body"].read()).hexdigest()
    assert recorded == actual, f"Archive {key}: recorded {recorded!r}, content {actual}"
    return recorded


def _distribution_sha256(pipeline: Pipeline, key: str) -> tuple[str, str]:
    """(recorded ``content-sha256``, SHA-256 of the content) of a bundle in Distribution."""
    response = pipeline.s3.get_object(Bucket=pipeline.distribution, Key=key)
    recorded = str(response["Metadata"].get(SHA256_METADATA, ""))
    return recorded, hashlib.sha256(response["Body"].read()).hexdigest()


def _archived_body(pipeline: Pipeline, key: str) -> bytes:
    return bytes(pipeline.s3.get_object(Bucket=pipeline.archive, Key=key)["Body"].read())


def _archive_copy_key(kind: str, key: str) -> str:
    """A key for a copy of a bundle in Archive, outside the copier's ``bundles/`` trigger.

    It keeps the ``.gz`` name, so the consumer takes it when told this prefix (``--prefix``).
    """
    return f"e2e-{kind}/{uuid.uuid4().hex}/{key.rsplit('/', 1)[-1]}"


def _delete_all_versions(s3: Any, bucket: str, key: str) -> None:
    listing = s3.list_object_versions(Bucket=bucket, Prefix=key)
    for entry in listing.get("Versions", []) + listing.get("DeleteMarkers", []):
        if entry["Key"] == key:
            s3.delete_object(Bucket=bucket, Key=key, VersionId=entry["VersionId"])
