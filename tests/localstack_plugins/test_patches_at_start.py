"""``local up`` stops, naming the patch, when a fidelity patch's target was renamed.

The launcher checks the registry before LocalStack starts, so this starts no LocalStack: the
process exits after importing LocalStack's modules (a few seconds). The speed-patch case (skipped
with a warning, the stack runs) is checked at unit level (tests/unit/localstack_plugins/
test_patches.py) to avoid a second stack.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from scripts import local
from tests.localstack_plugins import renamed_target_launch

ROOT = Path(__file__).resolve().parents[2]


def test_local_up_fails_naming_a_fidelity_patch_whose_target_was_renamed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(local, "LAUNCH_MODULE", renamed_target_launch.__name__)
    environment = {
        "PYTHONPATH": str(ROOT),
        renamed_target_launch.RENAME_VARIABLE: (
            "localstack.services.s3.provider:S3Provider.list_object_versions"
        ),
    }
    with pytest.raises(local.LocalStackError) as raised:
        local.start(port=local.free_port(), state_dir=tmp_path, environment=environment)
    message = str(raised.value)
    assert "fidelity patch 's3-listing-raw-markers' cannot apply" in message
    assert "S3Provider.list_object_versions not found" in message
    assert local.status(tmp_path) is None
