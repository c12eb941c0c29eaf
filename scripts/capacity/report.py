"""Render a :class:`CapacityReport` as text (one screen) or JSON (machine-readable)."""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

from scripts.capacity.constants import AS_OF, MIB
from scripts.capacity.model import (
    NEAR_LIMIT_RATIO,
    SLO_P95_SECONDS,
    CapacityReport,
    Latency,
    Resource,
)


def _number(value: float) -> str:
    if math.isinf(value):
        return "never" if value > 0 else "-inf"
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 1:
        return f"{value:,.1f}"
    return f"{value:.3g}"


def _bytes_rate(value: float) -> str:
    return f"{value / MIB:,.3f} MiB/s" if not math.isinf(value) else "never"


def _resource_line(item: Resource) -> str:
    use = _bytes_rate(item.use) if item.unit == "bytes/s" else f"{_number(item.use)} {item.unit}"
    limit = _bytes_rate(item.limit) if item.unit == "bytes/s" else _number(item.limit)
    flag = "OVER " if item.exceeded else "NEAR " if item.near else ""
    return (
        f"  {flag}{item.name}: {use} of {limit} ({item.utilisation:.1%}) at {item.evaluated_at}; "
        + (
            "never breaks"
            if math.isinf(item.break_files_per_second)
            else f"breaks at {_number(item.break_files_per_second)} files/s"
        )
    )


def _latency_line(label: str, latency: Latency) -> str:
    if math.isinf(latency.total):
        return f"  {label}: unbounded (a rate limit is exceeded: backlog grows)"
    verdict = "within" if latency.total <= SLO_P95_SECONDS else "MISSES"
    parts = ", ".join(
        f"{field.name.replace('_', ' ')} {getattr(latency, field.name):.1f}"
        for field in dataclasses.fields(latency)
    )
    return f"  {label}: {latency.total:.0f} s, {verdict} the {SLO_P95_SECONDS:.0f} s SLO ({parts})"


def render_text(report: CapacityReport) -> str:
    load = report.load
    flow = report.burst_flow
    first = report.first_to_break
    cost = report.cost
    lines = [
        f"capacity of {report.env} in {load.region}: {_number(load.files_per_second)} files/s "
        f"baseline, {_number(load.burst_files_per_second)} files/s burst, mean "
        f"{load.mean_size_bytes:,} bytes, {load.streams} stream(s)",
        f"  one reference = {report.reference_bytes} bytes (billed as "
        f"{report.billed_reference_bytes:,}); one processor response holds "
        f"{report.files_per_invocation} files; a full processor buffer "
        f"{report.references_per_buffer} references",
        f"  at burst, per stream: {flow.reputs_per_file:.2f} re-puts per file, "
        f"{_number(flow.invocations_per_second)} processor invocations/s of "
        f"~{flow.invocation_seconds:.2f} s, {_number(flow.bundles_per_second * 60)} bundles/min "
        f"of {flow.bundle_bytes / MIB:,.1f} MiB",
        "limits (use of limit at the load, and the total files/s where it breaks):",
        *(_resource_line(item) for item in report.resources),
        *(
            [
                f"  NEAR: at {NEAR_LIMIT_RATIO:.0%} or more of a per-second limit on average; "
                "arrivals clump, so expect throttled retries and added latency before 100 % "
                "(docs/capacity.md)"
            ]
            if any(item.near for item in report.resources)
            else []
        ),
        f"first to break: {first.name} at {_number(first.break_files_per_second)} files/s "
        f"({first.evaluated_at}; {first.headroom:.1f}x the given load); carried by: "
        f"{first.config_that_carries_it}",
        "worst-case latency (estimate):",
        _latency_line("baseline", report.latency_baseline),
        _latency_line("burst", report.latency_burst),
        f"monthly cost at baseline (USD, list prices as of {AS_OF}"
        + ("" if report.regional_prices else f"; no price table for {load.region}: us-east-1's")
        + "):",
        f"  firehose {cost.firehose:,.2f} · lambda {cost.lambda_:,.2f} · s3 requests "
        f"{cost.s3_requests:,.2f} · s3 storage {cost.s3_storage:,.2f} · transfer out "
        f"{cost.transfer_out:,.2f} · deep archive +{cost.deep_archive_added:,.2f} per month "
        f"retained · total {cost.total:,.2f}",
    ]
    return "\n".join(lines)


def _plain(value: Any) -> Any:
    if isinstance(value, float) and math.isinf(value):
        return None
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


def as_json(report: CapacityReport) -> dict[str, Any]:
    """The report as plain JSON data; an unbounded figure (never breaks, backlog) is null."""
    data = dataclasses.asdict(report)
    data["resources"] = [
        {
            **dataclasses.asdict(resource),
            "utilisation": resource.utilisation,
            "exceeded": resource.exceeded,
            "near_limit": resource.near,
            "headroom": resource.headroom,
        }
        for resource in report.resources
    ]
    data["first_to_break"] = report.first_to_break.name
    data["latency_baseline"]["total"] = report.latency_baseline.total
    data["latency_burst"]["total"] = report.latency_burst.total
    data["cost"]["total"] = report.cost.total
    data["slo_seconds"] = SLO_P95_SECONDS
    data["prices_as_of"] = AS_OF
    return dict(_plain(data))


def render_json(report: CapacityReport) -> str:
    return json.dumps(as_json(report), indent=2, sort_keys=True)
