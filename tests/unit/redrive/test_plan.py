"""The planning half of `Redriver.redrive`: what an error object holds, decided before any put."""

from __future__ import annotations

from scripts.redrive.documents import UnreadableLine
from scripts.redrive.errors import Problem, plan_object
from tests.unit.redrive.documents import reference

PRESENT = reference("landing", "a.csv", "v1")
GONE = reference("landing", "b.csv", "v2")
LATER = reference("landing", "c.csv", None)


def test_references_are_sorted_into_recoverable_ones_and_problems() -> None:
    missing = Problem("missing", 2, "s3://landing/b.csv version v2 no longer exists", GONE)
    plan = plan_object(
        4,
        [UnreadableLine(3, "not JSON")],
        1,
        [(1, PRESENT, None), (2, GONE, missing), (4, LATER, None)],
    )
    assert plan.recoverable == ((1, PRESENT), (4, LATER))
    assert [(p.kind, p.line) for p in plan.problems] == [("unreadable", 3), ("missing", 2)]
    dry = plan.outcome("errors/x")
    assert (dry.status, dry.references, dry.put, dry.duplicates) == ("would-redrive", 4, 2, 1)
    assert [(p.kind, p.line) for p in dry.problems] == [("missing", 2), ("unreadable", 3)]


def test_records_firehose_rejected_become_put_failed_problems_in_line_order() -> None:
    plan = plan_object(2, [], 0, [(1, PRESENT, None), (5, LATER, None)])
    outcome = plan.outcome("errors/x", {LATER.to_record()})
    assert outcome.put == 1
    assert [(p.kind, p.line, p.reference) for p in outcome.problems] == [("put-failed", 5, LATER)]
