"""The session's LocalStack runs with or without the speed patches, as asked, and says so.

``AGGREGATOR_TEST_SPEED_PATCHES=0 pytest -m e2e -k "single_file or fifty_file"`` runs the e2e smoke
scenarios on a LocalStack without them (docs/localstack.md, "The patch registry").
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from scripts import local
from tests.integration.conftest import SPEED_PATCHES_VARIABLE


def test_the_session_stack_applied_every_patch_the_switch_asks_for(
    localstack: str, localstack_state_dir: Path | None
) -> None:
    if localstack_state_dir is None:
        pytest.skip("an external LocalStack: its patches are not this session's")
    report = local.patch_report(localstack_state_dir)
    assert report is not None and report["error"] is None
    speed = os.environ.get(SPEED_PATCHES_VARIABLE) != "0"
    rows = report["patches"]
    assert isinstance(rows, list) and rows
    for row in rows:
        expected = speed or row["kind"] != "speed"
        assert row["applied"] is expected, row
