"""The demo's latency report: a picture where people would rather look than read, plus its data.

:func:`write_latency_report` writes into one folder:

- ``latency.svg`` and ``latency.png`` — left: the CDF of upload → Distribution latency on a log
  axis scaled to the data, with the SLO lines (95 % within 120 s, 99.9 % within 180 s) and the
  measured percentiles; right: the bundles' sizes (files and MiB per bundle); one legend below;
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
from typing import Any

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
    png: Path


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


def latency_axis(latencies: list[float]) -> tuple[float, float]:
    """The CDF's x range on a log scale: from just under the fastest file to past both the slowest
    file and the SLO's last bound, so files that all arrive in seconds fill the picture's left
    half instead of a sliver of a linear 0-200 s axis, and the SLO lines still show."""
    low = max(min(latencies) / 1.5, 0.05) if latencies else 0.1
    high = max([*latencies, SLO[-1][1]]) * 1.3
    return low, high


def _draw_cdf(cdf: Any, latencies: list[float]) -> None:
    from matplotlib.ticker import FuncFormatter, LogLocator

    if latencies:
        shares = [(index + 1) / len(latencies) for index in range(len(latencies))]
        cdf.step(latencies, shares, where="post", color="#1f77b4", label="files delivered")
    for (fraction, seconds), color in zip(SLO, ("#ff7f0e", "#d62728"), strict=True):
        measured = percentile(latencies, fraction) if latencies else 0.0
        label = f"SLO {fraction:.1%} ≤ {seconds:.0f} s (measured {measured:.1f} s)"
        cdf.axvline(seconds, color=color, linestyle="--", linewidth=1, label=label)
        if latencies:  # where the measured percentile sits on the curve
            cdf.plot([measured], [fraction], marker="o", markersize=4, color=color, linestyle="")
    cdf.set_xscale("log")
    cdf.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))  # 1 2 5 10 20 50 100 200
    cdf.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    cdf.set(
        xlim=latency_axis(latencies),
        ylim=(0, 1.02),
        xlabel="upload → Distribution latency (s, log scale)",
        ylabel="share of files",
        title=f"Latency CDF ({len(latencies)} files)",
    )
    cdf.grid(alpha=0.3, which="both")


def _draw_bundles(sizes: Any, bundles: dict[str, tuple[int, int]]) -> None:
    counts = [files for files, _ in bundles.values()]
    megabytes = [size / MIB for _, size in bundles.values()]
    positions = range(1, len(counts) + 1)
    sizes.bar(positions, counts, color="#2ca02c", label="files per bundle")
    sizes.set(xlabel="bundle (in key order)", ylabel="files", title=f"{len(counts)} bundles")
    volume = sizes.twinx()
    volume.plot(positions, megabytes, "o-", color="#9467bd", markersize=3, label="MiB per bundle")
    volume.set_ylabel("MiB of content")


def latency_figure(report: DeliveryReport) -> Any:
    """The picture: the CDF and the bundle sizes, every label in one legend below the plots,
    inside the figure, so no line crosses a label and none runs out of the frame."""
    from matplotlib.figure import Figure

    latencies = sorted(delivery.latency for delivery in report.delivered)
    figure = Figure(figsize=(11, 5.2), layout="constrained")
    cdf, sizes = figure.subplots(1, 2, width_ratios=(3, 2))
    _draw_cdf(cdf, latencies)
    _draw_bundles(sizes, _bundles(report))
    handles = [handle for axes in figure.axes for handle in axes.get_legend_handles_labels()[0]]
    figure.legend(handles=handles, loc="outside lower center", ncols=3, fontsize=8)
    return figure


def write_latency_report(report: DeliveryReport, folder: Path) -> LatencyReport:
    """Write the picture (SVG and PNG) and the CSVs into ``folder`` (created); their paths."""
    import matplotlib  # heavy (~1 s to import): only when a report is asked for

    folder.mkdir(parents=True, exist_ok=True)
    files_csv, bundles_csv = write_csvs(report, folder)
    figure = latency_figure(report)
    picture, png = folder / "latency.svg", folder / "latency.png"
    with matplotlib.rc_context({"svg.hashsalt": "s3-aggregator"}):  # deterministic element ids
        figure.savefig(picture, format="svg", metadata={"Date": None})
    figure.savefig(png, format="png", dpi=110, metadata={"Software": None})
    return LatencyReport(picture, files_csv, bundles_csv, png)
