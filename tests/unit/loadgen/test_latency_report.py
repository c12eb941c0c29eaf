"""The demo's latency report: the CDF picture with the SLO lines, bundle sizes, and the CSVs."""

from __future__ import annotations

import csv
import hashlib
import xml.etree.ElementTree as ET
from pathlib import Path

from scripts.delivery import Sighting, match
from scripts.delivery.plot import write_latency_report
from scripts.delivery.tracker import BundleSeen
from scripts.loadgen import FileKind, FileSpec, UploadRecord
from scripts.loadgen.content import content_bytes

LATENCIES = [5.0, 20.0, 60.0, 130.0]


def _report() -> object:
    records, sightings = [], []
    for index, latency in enumerate(LATENCIES):
        spec = FileSpec(f"demo/{index}.txt", FileKind.TEXT, 1000 * (index + 1), seed=index)
        record = UploadRecord(
            spec=spec,
            version_id="v1",
            etag='"e"',
            sha256=hashlib.sha256(content_bytes(spec)).hexdigest(),
            started_at=99.0,
            completed_at=100.0,
        )
        records.append(record)
        sightings.append(
            Sighting(
                key=record.key,
                version_id="v1",
                sha256=record.sha256,
                size=record.size,
                bundle_key=f"bundles/{index // 2}.gz",
                seen_at=100.0 + latency,
                archived_at=None,
            )
        )
    bundles = {f"bundles/{n}.gz": BundleSeen(f"bundles/{n}.gz", 10, 2, 0.0) for n in range(2)}
    return match(records, sightings, bundles)


def test_report_writes_the_picture_and_the_data(tmp_path: Path) -> None:
    report = write_latency_report(_report(), tmp_path / "report")  # type: ignore[arg-type]

    with report.files_csv.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [float(row["latency_seconds"]) for row in rows] == LATENCIES
    with report.bundles_csv.open(encoding="utf-8") as handle:
        bundles = list(csv.DictReader(handle))
    assert [(b["bundle"], b["files"]) for b in bundles] == [
        ("bundles/0.gz", "2"),
        ("bundles/1.gz", "2"),
    ]
    assert int(bundles[1]["bytes"]) == 3000 + 4000

    svg = report.picture.read_text(encoding="utf-8")
    ET.fromstring(svg)  # well-formed SVG
    text = " ".join(svg.split())
    assert "SLO 95.0% ≤ 120 s" in text and "SLO 99.9% ≤ 180 s" in text
    assert "(measured 130.0 s)" in text  # nearest-rank p95 of the four files
    assert "2 bundles" in text and "Latency CDF (4 files)" in text


def test_report_is_deterministic(tmp_path: Path) -> None:
    first = write_latency_report(_report(), tmp_path / "a").picture.read_bytes()  # type: ignore[arg-type]
    second = write_latency_report(_report(), tmp_path / "b").picture.read_bytes()  # type: ignore[arg-type]
    assert first == second
