"""How redrive outcomes are printed: one line per item (text or JSON lines) and a summary."""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any, TextIO

from scripts.redrive.dlq import DlqOutcome
from scripts.redrive.errors import ObjectOutcome, Problem


class Progress:
    """A tqdm bar on stderr (off when not a terminal or when disabled)."""

    def __init__(self, total: int, unit: str, enabled: bool) -> None:
        self._bar: Any = None
        if enabled and total > 1:
            from tqdm import tqdm

            self._bar = tqdm(total=total, unit=unit, desc="redrive", file=sys.stderr, disable=None)

    def advance(self, postfix: dict[str, int] | None = None) -> None:
        if self._bar is None:
            return
        if postfix:
            self._bar.set_postfix(postfix, refresh=False)
        self._bar.update(1)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def _problem_line(problem: Problem) -> str:
    label = problem.kind.upper()
    return f"    {label:<13} line {problem.line}: {problem.detail}"


def print_errors(
    outcomes: Sequence[ObjectOutcome], as_json: bool, dry_run: bool, out: TextIO
) -> None:
    prefix = "DRY RUN: " if dry_run else ""
    for outcome in outcomes:
        if as_json:
            print(json.dumps({**asdict(outcome), "failed": outcome.failed}), file=out)
            continue
        counts = f"refs={outcome.references} put={outcome.put} dup={outcome.duplicates}"
        detail = f" ({outcome.detail})" if outcome.detail else ""
        print(f"{prefix}{outcome.status:<17} {outcome.key} {counts}{detail}", file=out)
        for problem in outcome.problems:
            print(_problem_line(problem), file=out)


def errors_summary(outcomes: Sequence[ObjectOutcome], dry_run: bool) -> str:
    statuses = Counter(o.status for o in outcomes)
    kinds = Counter(p.kind for o in outcomes for p in o.problems)
    put = sum(o.put for o in outcomes)
    verb = "would re-put" if dry_run else "re-put"
    objects = ", ".join(f"{n} {s}" for s, n in sorted(statuses.items())) or "none found"
    lost = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())) or "no problems"
    return f"redrive errors: {len(outcomes)} object(s): {objects}; references: {put} {verb}, {lost}"


def errors_summary_record(outcomes: Sequence[ObjectOutcome], dry_run: bool) -> dict[str, object]:
    """The last ``--json`` line of ``redrive errors``: what the run did, also when it found no
    work (so a script always gets one line to read)."""
    return {
        "summary": {
            "command": "redrive errors",
            "dry_run": dry_run,
            "objects": len(outcomes),
            "statuses": dict(sorted(Counter(o.status for o in outcomes).items())),
            "references_put": sum(o.put for o in outcomes),
            "problems": dict(sorted(Counter(p.kind for o in outcomes for p in o.problems).items())),
        }
    }


def print_dlq(outcomes: Sequence[DlqOutcome], as_json: bool, dry_run: bool, out: TextIO) -> None:
    prefix = "DRY RUN: " if dry_run else ""
    for outcome in outcomes:
        if as_json:
            print(json.dumps({**asdict(outcome), "failed": outcome.failed}), file=out)
            continue
        detail = f" ({outcome.detail})" if outcome.detail else ""
        request = f" request {outcome.request_id}" if outcome.request_id else ""
        print(
            f"{prefix}{outcome.action:<15} message {outcome.message_id}{request}{detail}", file=out
        )


def dlq_summary_record(
    outcomes: Sequence[DlqOutcome], function_name: str, dry_run: bool
) -> dict[str, object]:
    """The last ``--json`` line of ``redrive dlq`` (also when the queue was empty)."""
    return {
        "summary": {
            "command": "redrive dlq",
            "function": function_name,
            "dry_run": dry_run,
            "messages": len(outcomes),
            "actions": dict(sorted(Counter(o.action for o in outcomes).items())),
        }
    }


def dlq_summary(outcomes: Sequence[DlqOutcome], function_name: str) -> str:
    actions = Counter(o.action for o in outcomes)
    text = ", ".join(f"{n} {a}" for a, n in sorted(actions.items())) or "queue empty"
    return f"redrive dlq {function_name}: {len(outcomes)} message(s): {text}"
