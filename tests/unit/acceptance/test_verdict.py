"""The verdict's checks and the run's plan: pure functions, no AWS."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.contract.prefixes import ACCEPTANCE_ROOT
from scripts.acceptance.faults import fault_rules, soak_scenario
from scripts.acceptance.scenarios import SCALES, plan_scenarios, run_prefix
from scripts.acceptance.verdict import (
    FAIL,
    NOTE,
    PASS,
    DuplicateEvent,
    Durable,
    Observed,
    RuleCount,
    check_alarms,
    check_faults,
    check_slo,
    checks,
    percentiles,
)
from scripts.consumer.paths import destination
from scripts.delivery.tracker import Sighting, match
from scripts.delivery.verify import OutputCheck
from scripts.loadgen import FileKind, FileSpec, UploadRecord
from scripts.status import Alarm, ErrorOutput, StatusReport

PREFIX = run_prefix("20260131T080000Z-abcdef")


def _record(n: int, completed_at: float = 100.0) -> UploadRecord:
    spec = FileSpec(f"{PREFIX}f-{n}", FileKind.TEXT, 10, n)
    return UploadRecord(spec, f"v{n}", "etag", f"sha-{n}", completed_at - 1, completed_at)


def _status(**changes: object) -> StatusReport:
    return StatusReport(
        "local",
        "2026-01-31T08:00:00+00:00",
        error_output=ErrorOutput(0, None, None),
        dlq_depths={"IngestDLQ": 0, "CopierDLQ": 0},
        **changes,  # type: ignore[arg-type]
    )


def _observed(records: list[UploadRecord], seen: list[UploadRecord], late: float) -> Observed:
    sightings = [
        Sighting(r.key, r.version_id, r.sha256, r.size, "bundles/b.gz", r.completed_at + late, None)
        for r in seen
    ]
    durable = {r.identity: Durable(r.sha256, r.completed_at + late + 1) for r in seen}
    missing = tuple(r for r in records if r not in seen)
    return Observed(
        records=tuple(records),
        delivery=match(records, sightings, {}),
        durable=durable,
        output=OutputCheck(verified=tuple(seen), missing=missing, different=()),
        extra_on_disk=(),
        consumer_problems=(),
        before=_status(),
        after=_status(),
        run_started="2026-01-31T08:00:00+00:00",
        duplicate=DuplicateEvent("invoked", records[0].key),
    )


def test_a_run_where_everything_arrived_in_time_passes_every_check() -> None:
    records = [_record(n) for n in range(20)]
    found = checks(_observed(records, records, late=5.0))
    assert {check.status for check in found} == {PASS}, found


def test_one_file_missing_fails_delivery_distribution_and_both_slos() -> None:
    records = [_record(n) for n in range(20)]
    found = {c.name: c for c in checks(_observed(records, records[1:], late=5.0))}
    failed = {name for name, check in found.items() if check.status == FAIL}
    # 1 of 20 never arrived: more than the 0.1 % the p99.9 line allows
    assert failed == {"delivered", "distribution", "slo-distribution", "slo-durable"}
    assert "f-0" in found["delivered"].detail
    assert found["delivered"].runbook.startswith("docs/operations.md")


def test_the_slo_lines() -> None:
    on_time = percentiles([1.0] * 999 + [180.0])
    assert on_time is not None and check_slo("s", "x", on_time, 1000).status == PASS
    slow_tail = percentiles([1.0] * 998 + [181.0, 181.0])
    assert slow_tail is not None and check_slo("s", "x", slow_tail, 1000).status == FAIL
    slow = percentiles([121.0] * 51 + [1.0] * 949)
    assert slow is not None and check_slo("s", "x", slow, 1000).status == FAIL
    assert check_slo("s", "x", None, 3).status == FAIL


def test_alarms_that_went_off_during_the_run_fail_it_older_ones_do_not() -> None:
    started = "2026-01-31T08:00:00+00:00"
    old = Alarm("stack-CopierErrorsAlarm", "ALARM", "r", "2026-01-31T07:00:00+00:00")
    before = _status(alarms_firing=(old,))
    change = Alarm("stack-FreshnessAlarm", "change", "Alarm updated from OK to ALARM", started)
    after = _status(alarms_firing=(old,), alarm_changes_24h=(change,))
    verdict = check_alarms(before, after, started)
    assert verdict.status == FAIL and "stack-FreshnessAlarm" in verdict.detail
    assert check_alarms(before, _status(alarms_firing=(old,)), started).status == PASS
    backlog = Alarm("stack-BacklogAgeAlarm-1", "ALARM", "r", started)
    after = _status(alarms_firing=(backlog,))
    assert check_alarms(_status(), after, started).status == FAIL
    assert check_alarms(_status(), after, started, ("BacklogAgeAlarm",)).status == PASS


def test_a_fault_rule_that_never_fired_is_reported_not_failed() -> None:
    fired = RuleCount("copier CopyObject", 40, 2)
    silent = RuleCount("Archive UploadPart", 0, 0)
    verdict = check_faults([fired, silent], {"SIGKILL": 1})
    assert verdict is not None and verdict.status == NOTE
    assert "never fired: Archive UploadPart" in verdict.detail
    only_fired = check_faults([fired], {})
    assert only_fired is not None and only_fired.status == PASS
    assert check_faults([], {}) is None


def test_every_key_of_a_run_lives_under_its_prefix_and_lands_inside_the_output(
    tmp_path: Path,
) -> None:
    planned = plan_scenarios(SCALES["small"], PREFIX, inline_max_bytes=1_000_000)
    files = [spec for scenario in planned for spec in scenario.files]
    assert all(spec.key.startswith(PREFIX) for spec in files)
    assert PREFIX.startswith(ACCEPTANCE_ROOT)
    keys = [spec.key for spec in files]
    assert any("/../" in key for key in keys)
    assert any(key.startswith(PREFIX + "/") for key in keys)  # the "leading slash" one
    assert any(len(key.encode()) >= 900 for key in keys)
    assert any(" " in key for key in keys) and any(not key.isascii() for key in keys)
    sizes = {spec.size for spec in files}
    assert {0, 1_000_001, SCALES["small"].large_bytes} <= sizes
    assert keys.count(f"{PREFIX}overwrite/same-key.txt") == 2
    run_folder = tmp_path / PREFIX.rstrip("/")
    for spec in files:  # the consumer's path of each stays inside the run's folder
        assert run_folder in destination(tmp_path, spec.key, "v1").parents
    assert SCALES["full"].large_bytes == 100 << 20
    assert (SCALES["full"].baseline_files, SCALES["full"].burst_files) == (600, 3000)


def test_a_run_prefix_is_one_component() -> None:
    with pytest.raises(ValueError, match="one path component"):
        run_prefix("a/b")


def test_the_fault_plan_covers_every_call_at_the_asked_rate() -> None:
    outputs = {
        "LandingBucketName": "landing",
        "ArchiveBucketName": "archive",
        "DistributionBucketName": "distribution",
        "DeliveryStreamNames": "stream-1,stream-2",
    }
    rules = fault_rules(5, outputs)
    assert {rule["fraction"] for _, rule in rules} == {0.05}
    calls = {
        (r["service"], r.get("operation"), r.get("bucket") or r.get("stream")) for _, r in rules
    }
    assert {
        ("s3", "GetObject", "landing"),
        ("s3", "UploadPart", "archive"),
        ("s3", "CopyObject", "distribution"),
        ("s3", "GetObject", "distribution"),
        ("s3", "DeleteObject", "distribution"),
        ("firehose", "PutRecordBatch", "stream-1"),
        ("firehose", "PutRecordBatch", "stream-2"),
        ("lambda", "Invoke", None),
    } <= calls
    assert any("latency_seconds" in rule for _, rule in rules)
    soak = soak_scenario(PREFIX, 50, 10.0)
    assert len(soak.files) == 50 and all(f.key.startswith(PREFIX) for f in soak.files)
