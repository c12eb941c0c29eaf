"""`aggregator status`'s screen, whole: every section in its place (render is one helper each)."""

from __future__ import annotations

from scripts.status import (
    Alarm,
    Backlog,
    ErrorOutput,
    MetricTotal,
    StatusReport,
    StreamStatus,
    render,
)

AT = "2026-01-31T07:30:00+00:00"


def test_every_section_is_rendered_in_order() -> None:
    report = StatusReport(
        environment="prod",
        collected_at="2026-01-31T08:00:00+00:00",
        streams=(StreamStatus("s3-aggregator-prod-0", "ACTIVE", 64, 60, 1.0, 30),),
        last_bundle_time="2026-01-31T07:59:00+00:00",
        backlog=Backlog(3, 12345, 3725.0),
        dlq_depths={"IngestDLQ": 0, "CopierDLQ": 2},
        error_output=ErrorOutput(1, "errors/x.gz", "2026-01-31T07:00:00+00:00"),
        alarms_firing=(Alarm("Backlog", "ALARM", "threshold crossed", AT),),
        alarm_changes_24h=(Alarm("Backlog", "change", "OK to ALARM", AT),),
        problems=("metrics: AccessDenied: no",),
        metrics=(
            MetricTotal("FilesBundled", "Sum", 1500.0),
            MetricTotal("DistributionBacklogCount", "Maximum", 0.0),
            MetricTotal("Idle", "Sum", 0.0),
        ),
    )
    assert render(report).splitlines() == [
        "s3-aggregator-prod   (collected 2026-01-31T08:00:00+00:00)",
        "",
        "stream        s3-aggregator-prod-0: ACTIVE; buffer 64 MB / 60 s; "
        "processor buffer 1.0 MB / 30 s",
        "last bundle   2026-01-31T07:59:00+00:00",
        "distribution  3 bundle(s) waiting, 12,345 bytes, oldest 1h02m05s",
        "DLQs          IngestDLQ 0, CopierDLQ 2",
        "error output  1 object(s) (newest errors/x.gz at 2026-01-31T07:00:00+00:00)",
        "alarms        1 in ALARM",
        f"  ALARM  Backlog: threshold crossed (since {AT})",
        f"  {AT}  Backlog: OK to ALARM",
        "metrics (1 h) FilesBundled sum 1,500, DistributionBacklogCount max 0",
        "ERROR         metrics: AccessDenied: no",
        "",
        "health        ATTENTION NEEDED",
    ]


def test_sections_without_data_are_short() -> None:
    assert render(StatusReport("local", "now")).splitlines() == [
        "s3-aggregator-local   (collected now)",
        "",
        "last bundle   none in the last 48 h",
        "DLQs          -",
        "alarms        0 in ALARM",
        "metrics (1 h) -",
        "",
        "health        OK",
    ]
