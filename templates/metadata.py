"""Scanner suppressions attached to resources, each with its written justification."""

from __future__ import annotations

from typing import Any


def checkov_skips(**reasons: str) -> dict[str, Any]:
    """``Metadata`` for a resource: ``checkov_skips(CKV_AWS_18="why")``, sorted for determinism."""
    return {
        "checkov": {"skip": [{"id": check, "comment": reasons[check]} for check in sorted(reasons)]}
    }


def merge(*parts: dict[str, Any]) -> dict[str, Any]:
    """Merge metadata dictionaries (e.g. checkov and cfn-lint sections)."""
    merged: dict[str, Any] = {}
    for part in parts:
        merged.update(part)
    return merged
