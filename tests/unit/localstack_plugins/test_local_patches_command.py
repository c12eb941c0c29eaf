"""``aggregator local patches [--json]``: the registry, with whether each patch applied."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from localstack_plugins import patches
from scripts import local


def _run(state_dir: Path, as_json: bool, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    args = argparse.Namespace(action="patches", port=1, state_dir=state_dir, json=as_json)
    code = local.run(args)
    return code, capsys.readouterr().out


def test_without_a_running_stack_every_patch_is_checked_and_none_applied(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = _run(tmp_path, True, capsys)
    document = json.loads(out)
    assert code == 0
    assert [row["name"] for row in document["patches"]] == [p.name for p in patches.REGISTRY]
    assert {row["applied"] for row in document["patches"]} == {None}
    assert all(row["kind"] and row["reason"] and row["written_for"] for row in document["patches"])


def test_a_running_stack_reports_what_it_applied(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    outcomes = patches.plan(patches.REGISTRY)  # what the launcher applies on the pinned version
    report = {"error": None, "speed": True, "patches": patches.report(outcomes)}
    (tmp_path / local.PATCH_REPORT_FILE).write_text(json.dumps(report))
    running = local.Endpoint("http://127.0.0.1:1", 1, 1, tmp_path, tmp_path / local.LOG_FILE)
    monkeypatch.setattr(local, "status", lambda state_dir: running)
    code, out = _run(tmp_path, True, capsys)
    rows = json.loads(out)["patches"]
    assert code == 0
    assert len(rows) == len(patches.REGISTRY)
    assert all(row["applied"] is True for row in rows)
    code, text = _run(tmp_path, False, capsys)
    assert "applied     fidelity       s3-listing-raw-markers" in text


def test_a_skipped_speed_patch_is_shown_by_up_and_status(tmp_path: Path) -> None:
    skipped = patches.Outcome(patches.REGISTRY[0], False, ("sys:setswitchinterval not found",))
    report = {"error": None, "patches": patches.report([skipped])}
    (tmp_path / local.PATCH_REPORT_FILE).write_text(json.dumps(report))
    assert local.skipped_patches(tmp_path) == [
        "speed patch gil-switch-interval skipped: sys:setswitchinterval not found"
    ]


def test_the_cli_and_the_launcher_agree_on_the_variable_names() -> None:
    from localstack_plugins import launch

    assert local.PATCH_REPORT_VARIABLE == launch.REPORT_VARIABLE
    assert local.SPEED_PATCHES_VARIABLE == launch.SPEED_VARIABLE
    # the telemetry file's variable is imported from localstack_plugins.telemetry: one definition
