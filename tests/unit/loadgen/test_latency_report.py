"""The demo's latency report: the CDF picture with the SLO lines, bundle sizes, and the CSVs."""

from __future__ import annotations

import csv
import hashlib
import math
import xml.etree.ElementTree as ET
from pathlib import Path

from scripts.delivery import Sighting, match
from scripts.delivery.plot import latency_axis, latency_figure, write_latency_report
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


def test_the_png_is_written_beside_the_svg(tmp_path: Path) -> None:
    report = write_latency_report(_report(), tmp_path / "report")  # type: ignore[arg-type]
    assert report.png == report.picture.with_suffix(".png")
    assert report.png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_axis_is_scaled_to_the_data() -> None:
    """Files that all arrive within 12 s fill the left part of the axis, not a sliver of it, and
    the SLO's 180 s bound stays on it."""
    fast = [2.0 + index / 20 for index in range(200)]  # 2 .. 12 s
    low, high = latency_axis(fast)
    share = (math.log(max(fast)) - math.log(low)) / (math.log(high) - math.log(low))
    assert share > 0.4  # a linear 0-195 s axis gave them 6 %
    assert low < min(fast) and high > 180.0


def test_labels_sit_inside_the_figure_and_no_plot_crosses_them() -> None:
    figure = latency_figure(_report())  # type: ignore[arg-type]
    figure.draw_without_rendering()  # constrained layout places the legend when drawn
    frame = figure.bbox
    (legend,) = figure.legends
    box = legend.get_window_extent()
    assert frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0 and box.y1 <= frame.y1
    for axes in figure.axes:  # each plot with its ticks and labels: none may overlap the legend
        assert not box.overlaps(axes.get_tightbbox()), axes.get_title()
    texts = [text.get_text() for text in legend.get_texts()]
    assert any(text.startswith("SLO 99.9% ≤ 180 s") for text in texts)
