"""The demo's latency report: a picture where people would rather look than read, plus its data.

:func:`write_latency_report` writes into one folder:

- ``latency.svg`` — left: the CDF of upload → Distribution latency with the SLO lines (95 % within
  120 s, 99.9 % within 180 s); right: the bundles' sizes (files and MiB per bundle);
- ``latency.csv`` — one row per delivered file (key, bytes, bundle, latency in seconds);
- ``bundles.csv`` — one row per bundle (key, files, bytes of content).

Drawn with matplotlib (operator-side `report` dependency group; never in the Lambda package),
through its object API and the Agg/SVG backends only: no display, no pyplot state.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from pipeline.contract.slo import SLO_TARGETS
from scripts.delivery.stats import percentile
from scripts.delivery.tracker import DeliveryReport

#: (fraction of files, seconds): the SLO of SPEC.md (pipeline/contract/slo.py)
SLO = tuple((target.fraction, float(target.seconds)) for target in SLO_TARGETS)
MIB = 1024 * 1024


@dataclass(frozen=True)
class LatencyReport:
    picture: Path
    files_csv: Path
    bundles_csv: Path


def _bundles(report: DeliveryReport) -> dict[str, tuple[int, int]]:
    """Bundle key -> (files, content bytes) over the delivered files."""
    found: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for delivery in report.delivered:
        entry = found[delivery.sighting.bundle_key]
        entry[0] += 1
        entry[1] += delivery.record.size
    return {key: (files, size) for key, (files, size) in sorted(found.items())}


def write_csvs(report: DeliveryReport, folder: Path) -> tuple[Path, Path]:
    files_csv, bundles_csv = folder / "latency.csv", folder / "bundles.csv"
    with files_csv.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["key", "bytes", "bundle", "latency_seconds"])
        for delivery in sorted(report.delivered, key=lambda d: d.latency):
            writer.writerow(
                [
                    delivery.record.key,
                    delivery.record.size,
                    delivery.sighting.bundle_key,
                    f"{delivery.latency:.3f}",
                ]
            )
    with bundles_csv.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["bundle", "files", "bytes"])
        for key, (files, size) in _bundles(report).items():
            writer.writerow([key, files, size])
    return files_csv, bundles_csv


def write_latency_report(report: DeliveryReport, folder: Path) -> LatencyReport:
    """Write the picture and the CSVs into ``folder`` (created); returns their paths."""
    import matplotlib  # heavy (~1 s to import): only when a report is asked for
    from matplotlib.figure import Figure

    folder.mkdir(parents=True, exist_ok=True)
    files_csv, bundles_csv = write_csvs(report, folder)
    latencies = sorted(delivery.latency for delivery in report.delivered)
    bundles = _bundles(report)

    figure = Figure(figsize=(11, 4.5), layout="constrained")
    cdf, sizes = figure.subplots(1, 2, width_ratios=(3, 2))
    if latencies:
        shares = [(index + 1) / len(latencies) for index in range(len(latencies))]
        cdf.step(latencies, shares, where="post", color="#1f77b4", label="files delivered")
    top = max([*latencies, SLO[-1][1]]) * 1.1
    for (fraction, seconds), color in zip(SLO, ("#ff7f0e", "#d62728"), strict=True):
        measured = percentile(latencies, fraction) if latencies else 0.0
        cdf.axvline(seconds, color=color, linestyle="--", linewidth=1)
        cdf.axhline(fraction, color=color, linestyle=":", linewidth=1)
        cdf.annotate(
            f"SLO {fraction:.1%} ≤ {seconds:.0f} s (measured {measured:.1f} s)",
            xy=(seconds, fraction),
            xytext=(4, -14 if fraction < 0.99 else 4),
            textcoords="offset points",
            color=color,
            fontsize=8,
        )
    cdf.set(
        xlim=(0, top),
        ylim=(0, 1.02),
        xlabel="upload → Distribution latency (s)",
        ylabel="share of files",
        title=f"Latency CDF ({len(latencies)} files)",
    )
    cdf.grid(alpha=0.3)
    cdf.legend(loc="lower right", fontsize=8)

    counts = [files for files, _ in bundles.values()]
    megabytes = [size / MIB for _, size in bundles.values()]
    positions = range(1, len(counts) + 1)
    sizes.bar(positions, counts, color="#2ca02c", label="files per bundle")
    sizes.set(xlabel="bundle (in key order)", ylabel="files", title=f"{len(counts)} bundles")
    volume = sizes.twinx()
    volume.plot(positions, megabytes, "o-", color="#9467bd", markersize=3, label="MiB per bundle")
    volume.set_ylabel("MiB of content")
    sizes.legend(loc="upper left", fontsize=8)
    volume.legend(loc="upper right", fontsize=8)

    picture = folder / "latency.svg"
    with matplotlib.rc_context({"svg.hashsalt": "s3-aggregator"}):  # deterministic element ids
        figure.savefig(picture, format="svg", metadata={"Date": None})
    return LatencyReport(picture, files_csv, bundles_csv)
