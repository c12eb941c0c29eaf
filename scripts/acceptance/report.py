"""What an acceptance run shows: a one-screen summary, a JSON document, and a report folder.

The folder holds ``report.md`` (the summary and every check with its runbook), ``summary.json``
(the ``--json`` document), ``files.csv`` (one row per uploaded file: scenario, sizes, SHA-256,
both latencies, bundle) and the latency picture and CSVs of :mod:`scripts.delivery.plot`
(``latency.png``/``.svg``, ``latency.csv``, ``bundles.csv``).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pipeline.contract.slo import SLO_P95_SECONDS, SLO_P999_SECONDS
from scripts.acceptance.verdict import (
    FAIL,
    BundleShape,
    Check,
    Durable,
    Percentiles,
    RuleCount,
    failed,
)
from scripts.delivery.tracker import DeliveryReport
from scripts.loadgen import UploadRecord

MIB = 1 << 20


@dataclass(frozen=True, slots=True)
class ScenarioLine:
    name: str
    what: str
    files: int
    bytes: int
    asked_rate: float | None
    reached_rate: float
    seconds: float


@dataclass(frozen=True, slots=True)
class RunSummary:
    """Everything the summary, the JSON and the markdown say (one source for the three)."""

    run_id: str
    environment: str
    scale: str
    prefix: str
    started: str
    wall_seconds: float
    scenarios: tuple[ScenarioLine, ...]
    distribution: Percentiles | None
    durable: Percentiles | None
    bundles: BundleShape | None
    file_age_cloudwatch: Mapping[str, float]
    checks: tuple[Check, ...]
    cleaned_up: int | None  # Landing objects deleted; None with --keep
    report_dir: str
    faults_percent: float = 0.0
    fault_rules: tuple[RuleCount, ...] = ()
    kills: Mapping[str, int] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return not failed(self.checks)

    def to_json(self) -> dict[str, Any]:
        document = asdict(self)
        document["checks"] = [{**asdict(check), "runbook": check.runbook} for check in self.checks]
        document["passed"] = self.passed
        document["failed_checks"] = [check.name for check in failed(self.checks)]
        document["slo"] = {"p95_seconds": SLO_P95_SECONDS, "p999_seconds": SLO_P999_SECONDS}
        return document


def _rate(line: ScenarioLine) -> str:
    asked = f" (asked {line.asked_rate:g})" if line.asked_rate else ""
    return f"{line.reached_rate:.1f} files/s{asked}"


def _age_text(view: Mapping[str, float]) -> str:
    if not view:
        return "no datapoints (yet) in CloudWatch"
    parts = [f"{int(view['SampleCount'])} samples"] if "SampleCount" in view else []
    for statistic in ("p50", "p95", "p99", "p99.9", "Maximum"):
        if statistic in view:
            label = "max" if statistic == "Maximum" else statistic
            parts.append(f"{label} {view[statistic]:.1f} s")
    missing = [s for s in ("p95", "p99.9") if s not in view]
    note = " (percentiles not computed by this CloudWatch)" if missing else ""
    return "  ".join(parts) + note


def summary_lines(summary: RunSummary) -> list[str]:
    """The one-screen summary."""
    verdict = "PASSED" if summary.passed else "FAILED"
    lines = [
        f"acceptance {verdict}: env {summary.environment}, scale {summary.scale}, run "
        f"{summary.run_id} ({summary.wall_seconds:.0f} s wall)",
        "",
        "scenarios:",
    ]
    for line in summary.scenarios:
        lines.append(
            f"  {line.name:<13}{line.files:>6} files {line.bytes / MIB:>8.1f} MiB  "
            f"{_rate(line):<30} {line.what}"
        )
    dist = summary.distribution.text() if summary.distribution else "none"
    durable = summary.durable.text() if summary.durable else "none"
    lines += [
        "",
        f"upload -> Distribution   {dist}",
        f"upload -> durable write  {durable}",
        f"CloudWatch FileAgeSeconds {_age_text(summary.file_age_cloudwatch)}",
    ]
    if summary.bundles:
        b = summary.bundles
        lines.append(
            f"bundles                  {b.bundles}, files per bundle min {b.files_min} / "
            f"median {b.files_median:g} / max {b.files_max}"
        )
    if summary.fault_rules:
        lines += ["", f"faults ({summary.faults_percent:g} % of each call):"]
        for rule in summary.fault_rules:
            lines.append(f"  {rule.injected:>5} injected / {rule.matched:>6} matched  {rule.what}")
        killed = ", ".join(f"{n} x {name}" for name, n in sorted(summary.kills.items()))
        lines.append(f"  consumer killed mid-run: {killed or 'never'}")
    lines += ["", "checks:"]
    for check in summary.checks:
        lines.append(f"  {check.status.upper():<5} {check.name:<17} {check.detail}")
        if check.status == FAIL:
            lines.append(f"        runbook: {check.runbook}")
    cleaned = (
        "Landing objects kept (--keep)"
        if summary.cleaned_up is None
        else f"{summary.cleaned_up} Landing object version(s) under {summary.prefix} deleted"
    )
    lines += ["", cleaned, f"report: {summary.report_dir}"]
    return lines


def markdown(summary: RunSummary) -> str:
    verdict = "passed" if summary.passed else "FAILED"
    lines = [
        f"# Acceptance run {summary.run_id}: {verdict}",
        "",
        f"Environment `{summary.environment}`, scale `{summary.scale}`, started "
        f"{summary.started}, {summary.wall_seconds:.0f} s wall; Landing prefix "
        f"`{summary.prefix}`"
        + (f"; faults injected at {summary.faults_percent:g} %" if summary.faults_percent else "")
        + ".",
        "",
        "## Scenarios",
        "",
        "| scenario | files | MiB | rate reached (asked) | what |",
        "|---|---:|---:|---|---|",
    ]
    for line in summary.scenarios:
        lines.append(
            f"| {line.name} | {line.files} | {line.bytes / MIB:.1f} | {_rate(line)} | {line.what} |"
        )
    lines += [
        "",
        f"## Latency (SLO: 95 % within {SLO_P95_SECONDS} s, 99.9 % within {SLO_P999_SECONDS} s)",
        "",
        "| measure | files | p50 | p95 | p99 | p99.9 | max |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, figures in (
        ("upload -> Distribution", summary.distribution),
        ("upload -> durable write", summary.durable),
    ):
        if figures is None:
            lines.append(f"| {name} | 0 | | | | | |")
            continue
        lines.append(
            f"| {name} | {figures.count} | {figures.p50:.1f} s | {figures.p95:.1f} s | "
            f"{figures.p99:.1f} s | {figures.p999:.1f} s | {figures.max:.1f} s |"
        )
    lines += [
        "",
        f"CloudWatch `FileAgeSeconds` over the run: {_age_text(summary.file_age_cloudwatch)}.",
        "",
    ]
    if summary.bundles:
        b = summary.bundles
        lines += [
            f"Bundles: {b.bundles}; files per bundle min {b.files_min}, median "
            f"{b.files_median:g}, max {b.files_max}.",
            "",
        ]
    if summary.fault_rules:
        lines += [
            f"## Faults ({summary.faults_percent:g} % of each call)",
            "",
            "| rule | matched | injected |",
            "|---|---:|---:|",
        ]
        lines += [f"| {r.what} | {r.matched} | {r.injected} |" for r in summary.fault_rules]
        killed = ", ".join(f"{n} x {name}" for name, n in sorted(summary.kills.items()))
        lines += ["", f"Consumer killed mid-run: {killed or 'never'}.", ""]
    lines += [
        "![latency](latency.png)",
        "",
        "## Checks",
        "",
        "| check | result | detail | runbook |",
        "|---|---|---|---|",
    ]
    for check in summary.checks:
        detail = check.detail.replace("|", "\\|")
        lines.append(f"| {check.name} | {check.status} | {detail} | {check.runbook} |")
    lines += ["", "Files: `files.csv` (one row per upload), `latency.csv`, `bundles.csv`.", ""]
    return "\n".join(lines)


def write_files_csv(
    path: Path,
    scenario_of: Mapping[tuple[str, str | None], str],
    records: Sequence[UploadRecord],
    delivery: DeliveryReport,
    durable: Mapping[tuple[str, str | None], Durable],
) -> None:
    seen = {item.record.identity: item for item in delivery.delivered}
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(
            [
                "scenario",
                "key",
                "version_id",
                "bytes",
                "sha256",
                "uploaded_at",
                "distribution_seconds",
                "durable_seconds",
                "bundle",
            ]
        )
        for record in records:
            item = seen.get(record.identity)
            entry = durable.get(record.identity)
            writer.writerow(
                [
                    scenario_of.get(record.identity, ""),
                    record.key,
                    record.version_id or "",
                    record.size,
                    record.sha256,
                    f"{record.completed_at:.3f}",
                    "" if item is None else f"{item.latency:.3f}",
                    "" if entry is None else f"{max(0.0, entry.at - record.completed_at):.3f}",
                    "" if item is None else item.sighting.bundle_key,
                ]
            )


def write_report(
    folder: Path,
    summary: RunSummary,
    scenario_of: Mapping[tuple[str, str | None], str],
    records: Sequence[UploadRecord],
    delivery: DeliveryReport,
    durable: Mapping[tuple[str, str | None], Durable],
) -> Path:
    """Write the report folder; the path of ``report.md``."""
    from scripts.delivery.plot import write_latency_report

    folder.mkdir(parents=True, exist_ok=True)
    write_latency_report(delivery, folder)
    write_files_csv(folder / "files.csv", scenario_of, records, delivery, durable)
    (folder / "summary.json").write_text(
        json.dumps(summary.to_json(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    report = folder / "report.md"
    report.write_text(markdown(summary), encoding="utf-8")
    return report
