"""cfn-lint and checkov on every environment's templates: nothing failed, every skip justified."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from templates.config import available_environments
from tests.templates.variants import scanned_variants

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CHECKOV_PROJECT = PROJECT_ROOT / "tools" / "checkov"
CFN_LINT = Path(sys.executable).parent / "cfn-lint"


def _templates(rendered_dir: Path) -> list[Path]:
    files = sorted(rendered_dir.glob("*/*.json"))
    assert {path.parent.name for path in files} == set(available_environments())
    variants = sorted(rendered_dir.glob("variants/*/*/*.json"))
    assert {path.parents[1].name for path in variants} == set(scanned_variants())
    return files + variants


def test_cfn_lint_reports_no_errors_and_no_warnings(rendered_dir: Path) -> None:
    files = _templates(rendered_dir)
    result = subprocess.run(
        [str(CFN_LINT), "--format", "parseable", *map(str, files)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.stdout.strip() == "", result.stdout  # no error, no warning, no informational
    assert result.returncode == 0, result.stderr


def _uv() -> str:
    bundled = PROJECT_ROOT / ".tools" / "bin" / "uv"
    found = str(bundled) if bundled.is_file() else shutil.which("uv")
    if found is None:
        pytest.fail("uv not found: run `make setup`")
    return found


def _checkov(directory: Path) -> list[dict[str, Any]]:
    result = subprocess.run(
        [
            _uv(), "run", "--frozen", "--no-sync", "--project", str(CHECKOV_PROJECT),
            "checkov", "--directory", str(directory), "--framework", "cloudformation",
            "--skip-download", "--output", "json",
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=PROJECT_ROOT,
    )  # fmt: skip
    if not result.stdout.strip().startswith(("[", "{")):
        pytest.fail("checkov did not run (set it up with `make setup`):\n" + result.stderr[-2000:])
    reports = json.loads(result.stdout)
    return reports if isinstance(reports, list) else [reports]


def test_checkov_has_no_failed_checks_and_every_skip_is_justified(rendered_dir: Path) -> None:
    reports = _checkov(rendered_dir)
    failed = [
        f"{check['check_id']} {check['resource']} ({check['file_path']})"
        for report in reports
        for check in report["results"]["failed_checks"]
    ]
    assert not failed, "checkov failed checks:\n" + "\n".join(failed)
    skipped = [check for report in reports for check in report["results"]["skipped_checks"]]
    passed = sum(len(report["results"]["passed_checks"]) for report in reports)
    assert passed > 100  # the scan really looked at the resources
    scanned = {c["file_path"] for r in reports for c in r["results"]["passed_checks"]}
    assert {f"/variants/{name}/" for name in scanned_variants()} <= {
        "/" + "/".join(Path(path).parts[-4:-2]) + "/" for path in scanned if "variants" in path
    }
    assert {report["summary"]["parsing_errors"] for report in reports} == {0}
    for check in skipped:
        comment = (check.get("check_result") or {}).get("suppress_comment", "")
        assert len(comment) > 40, f"{check['check_id']} on {check['resource']} lacks a reason"
