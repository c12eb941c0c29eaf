"""The human-readable summary of a run (demo, benchmarks): pure formatting."""

from __future__ import annotations

from scripts.delivery.tracker import DeliveryReport
from scripts.delivery.verify import OutputCheck

MIB = 1 << 20
_SHOW = 5  # problems listed by name before "... and N more"


def summary_line(uploaded: int, verified: int, bundles: int, p95: float, p99: float) -> str:
    """The demo's last line (its format is part of the issue's contract)."""
    return (
        f"demo: {uploaded} uploaded, {verified} verified, {bundles} bundles, "
        f"p95 {p95:.1f} s, p99 {p99:.1f} s"
    )


def report_lines(delivery: DeliveryReport, check: OutputCheck | None) -> list[str]:
    """The report block: counts, bytes, latency, then every problem (a few by name)."""
    latency = delivery.latency
    ratio = delivery.bytes_in / delivery.bytes_out if delivery.bytes_out else 0.0
    lines = [
        f"files uploaded   {delivery.uploaded:>7}   {delivery.bytes_in / MIB:10.1f} MiB in",
        f"files delivered  {len(delivery.delivered):>7}   {delivery.bytes_out / MIB:10.1f} MiB out "
        f"in {delivery.bundles} bundles (in/out {ratio:.1f}x, {delivery.duplicates} duplicates)",
    ]
    if check is not None:
        lines.append(f"files verified   {len(check.verified):>7}   byte for byte, consumer output")
    lines.append(
        f"latency upload -> Distribution: p50 {latency.p50:.1f} s, p95 {latency.p95:.1f} s, "
        f"p99 {latency.p99:.1f} s, max {latency.max:.1f} s"
    )
    lines.append(
        f"share of latency before the bundle was in Archive (buffering): "
        f"{delivery.upstream_share:.0%}"
    )
    lines += _problems("never reached Distribution", [r.key for r in delivery.missing])
    lines += _problems(
        "reached Distribution with another SHA-256", [r.key for r, _ in delivery.corrupt]
    )
    lines += _problems("bundles that failed verification", list(delivery.bad_bundles))
    if check is not None:
        lines += _problems("missing from the consumer output", [r.key for r in check.missing])
        lines += _problems("differ in the consumer output", [r.key for r in check.different])
    return lines


def _problems(title: str, keys: list[str]) -> list[str]:
    if not keys:
        return []
    shown = [f"  {key!r}" for key in keys[:_SHOW]]
    more = [f"  ... and {len(keys) - _SHOW} more"] if len(keys) > _SHOW else []
    return [f"PROBLEM: {len(keys)} {title}:", *shown, *more]
