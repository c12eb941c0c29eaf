"""`aggregator acceptance` on the deployed local stack: it passes on a healthy pipeline and fails,
naming the check, when the copier cannot write into Distribution (issue 22).

The command runs through ``scripts.cli.main`` exactly as an operator types it, against the
session's stack (the ``pipeline`` fixture: no extra deploy). ~2 minutes for the module.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pipeline.contract.prefixes import ACCEPTANCE_ROOT
from scripts.acceptance.faults import FaultEndpoint
from scripts.cli import main as cli_main
from tests.e2e.pipeline import Pipeline

pytestmark = pytest.mark.e2e

CHECKS = {
    "delivered",
    "distribution",
    "slo-distribution",
    "slo-durable",
    "consumer",
    "error-output",
    "dlq",
    "alarms",
    "duplicate-event",
}


def _acceptance(
    pipeline: Pipeline, report: Path, capsys: pytest.CaptureFixture[str], *extra: str
) -> tuple[int, dict[str, Any], str]:
    capsys.readouterr()
    code = cli_main(
        [
            "acceptance",
            "--env",
            "local",
            "--endpoint-url",
            pipeline.endpoint_url,
            "--scale",
            "small",
            "--json",
            "--report",
            str(report),
            *extra,
        ]
    )
    captured = capsys.readouterr()
    return code, json.loads(captured.out.strip().splitlines()[-1]), captured.err


def _landing_keys(pipeline: Pipeline, prefix: str) -> list[str]:
    listed = pipeline.s3.list_object_versions(Bucket=pipeline.landing, Prefix=prefix)
    return [v["Key"] for v in listed.get("Versions", []) + listed.get("DeleteMarkers", [])]


def test_a_small_run_on_the_healthy_local_stack_passes(
    pipeline: Pipeline, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    outside = f"e2e/acceptance-neighbour-{time.time_ns()}.txt"  # not the run's: never touched
    pipeline.s3.put_object(Bucket=pipeline.landing, Key=outside, Body=b"left alone")

    code, summary, err = _acceptance(pipeline, tmp_path, capsys)

    assert code == 0, (err, [c for c in summary["checks"] if c["status"] == "fail"])
    assert summary["passed"] and summary["failed_checks"] == []
    statuses = {check["name"]: check["status"] for check in summary["checks"]}
    assert set(statuses) == CHECKS
    assert set(statuses.values()) == {"pass"}  # the local stack allows the duplicate event
    names = [s["name"] for s in summary["scenarios"]]
    assert names == ["baseline", "burst", "size-mix", "hostile-keys", "overwrite"]
    files = sum(s["files"] for s in summary["scenarios"])
    assert summary["distribution"]["count"] == summary["durable"]["count"] == files
    assert summary["durable"]["p999"] <= 180
    assert summary["prefix"].startswith(ACCEPTANCE_ROOT)
    # the report folder, its path printed in the summary
    folder = Path(summary["report_dir"])
    assert folder.parent == tmp_path
    for name in ("report.md", "summary.json", "files.csv", "latency.png", "latency.csv"):
        assert (folder / name).stat().st_size > 0, name
    assert "passed" in (folder / "report.md").read_text(encoding="utf-8").splitlines()[0]
    assert len((folder / "files.csv").read_text(encoding="utf-8").splitlines()) == files + 1
    # cleaned up: nothing of the run is left in Landing, and nothing else was touched
    assert _landing_keys(pipeline, summary["prefix"]) == []
    assert summary["cleaned_up"] == files
    body = pipeline.s3.get_object(Bucket=pipeline.landing, Key=outside)["Body"].read()
    assert body == b"left alone"


@pytest.fixture
def fault_endpoint(pipeline: Pipeline) -> Iterator[FaultEndpoint]:
    endpoint = FaultEndpoint(pipeline.endpoint_url)
    endpoint.clear()
    yield endpoint
    endpoint.clear()


def _copier_dlq_depth(pipeline: Pipeline) -> int:
    sqs = pipeline.session.client("sqs")
    attributes = sqs.get_queue_attributes(
        QueueUrl=pipeline.outputs["CopierDLQUrl"],
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )


def test_a_denied_distribution_copy_fails_the_run_and_names_the_check(
    pipeline: Pipeline,
    fault_endpoint: FaultEndpoint,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The copier's CopyObject into Distribution is denied for the whole run (a broken bucket
    policy): nothing reaches Distribution, and the run says which checks failed."""
    [rule] = fault_endpoint.add(
        [
            {
                "service": "s3",
                "operation": "CopyObject",
                "bucket": pipeline.distribution,
                "error": {"code": "AccessDenied", "status": 403, "message": "Access Denied"},
            }
        ]
    )
    try:
        code, summary, err = _acceptance(pipeline, tmp_path, capsys, "--wait", "30")
        assert fault_endpoint.rules()[rule]["injected"] >= 1  # the fault really hit the copier
    finally:
        fault_endpoint.clear()  # the policy is fixed
        _redrive_copier_dlq(pipeline, capsys)

    assert code == 1
    assert not summary["passed"]
    assert {"delivered", "distribution", "slo-distribution"} <= set(summary["failed_checks"])
    assert "aggregator acceptance: check(s) failed: delivered" in err
    failed = {c["name"]: c for c in summary["checks"] if c["status"] == "fail"}
    assert failed["delivered"]["runbook"].startswith("docs/operations.md")
    assert (Path(summary["report_dir"]) / "report.md").exists()
    assert _landing_keys(pipeline, summary["prefix"]) == []  # cleaned up, failed or not


def _redrive_copier_dlq(pipeline: Pipeline, capsys: pytest.CaptureFixture[str]) -> None:
    """Leave the stack as found: the denied events parked in the copier DLQ are re-invoked
    (their bundles staged; later runs leave bundles from before them alone)."""
    deadline = time.monotonic() + 60
    while _copier_dlq_depth(pipeline):
        cli_main(
            [
                "redrive",
                "dlq",
                "--function",
                "copier",
                "--env",
                "local",
                "--endpoint-url",
                pipeline.endpoint_url,
                "--json",
                "--no-progress",
            ]
        )
        if time.monotonic() > deadline:
            break
        time.sleep(2)  # retried events may still be on their way to the DLQ
    capsys.readouterr()


def test_a_bounded_fault_soak_loses_nothing_and_counts_every_rule(
    pipeline: Pipeline,
    fault_endpoint: FaultEndpoint,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``make soak`` in small: 80 files at 20 files/s with 10 % of every call failing or slowed
    and the real consumer process killed (SIGKILL, SIGTERM) while it writes: every file on disk
    exactly once with its SHA-256, each rule's counts reported, no rule left behind."""
    code, summary, err = _acceptance(
        pipeline, tmp_path, capsys, "--faults", "10", "--files", "80", "--rate", "20"
    )

    statuses = {check["name"]: check["status"] for check in summary["checks"]}
    assert code == 0, (err, [c for c in summary["checks"] if c["status"] == "fail"])
    assert statuses["delivered"] == statuses["consumer"] == "pass"
    assert statuses["faults"] in {"pass", "note"}  # a rule that never fired is a note
    rules = summary["fault_rules"]
    assert len(rules) >= 8 and sum(rule["injected"] for rule in rules) > 0
    assert all(rule["injected"] <= rule["matched"] for rule in rules)
    assert sum(summary["kills"].values()) >= 1  # the consumer really was killed mid-run
    assert fault_endpoint.rules() == {}  # the run removed its rules
