"""Upload records as JSON lines, so a later step (or another process) can verify deliveries."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from scripts.loadgen.content import FileKind, FileSpec
from scripts.loadgen.upload import UploadRecord


def record_to_json(record: UploadRecord) -> dict[str, Any]:
    return {
        "key": record.spec.key,
        "kind": record.spec.kind.value,
        "size": record.spec.size,
        "seed": record.spec.seed,
        "version_id": record.version_id,
        "etag": record.etag,
        "sha256": record.sha256,
        "started_at": record.started_at,
        "completed_at": record.completed_at,
    }


def record_from_json(document: dict[str, Any]) -> UploadRecord:
    spec = FileSpec(
        key=str(document["key"]),
        kind=FileKind(document["kind"]),
        size=int(document["size"]),
        seed=int(document["seed"]),
    )
    version = document.get("version_id")
    return UploadRecord(
        spec=spec,
        version_id=None if version is None else str(version),
        etag=str(document["etag"]),
        sha256=str(document["sha256"]),
        started_at=float(document["started_at"]),
        completed_at=float(document["completed_at"]),
    )


def write_manifest(path: Path, records: Iterable[UploadRecord]) -> None:
    with path.open("w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record_to_json(record), ensure_ascii=False) + "\n")


def read_manifest(path: Path) -> list[UploadRecord]:
    with path.open(encoding="utf-8") as handle:
        return [record_from_json(json.loads(line)) for line in handle if line.strip()]
