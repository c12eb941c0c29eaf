"""Firehose's custom prefix expressions, evaluated for direct bundles as Firehose evaluates them.

A direct bundle (a file too large to inline, written by the transform itself) must land where
Firehose would have put it: under the stream's configured ``Prefix``. The grammar, the validator
and the evaluator are the project's one copy, :mod:`pipeline.contract.prefixes` (the template
validation and the emulator use the same; ``TransformConfig.from_env`` validates the prefix with
it at cold start). Here ``!{firehose:random-string}`` is derived from the reference (the same 11
characters for every occurrence), so a retried batch rewrites the same key, and
``yyyy/MM/dd/HH/`` is appended to a prefix without a timestamp expression, as Firehose does.
"""

from __future__ import annotations

from datetime import datetime

from pipeline.contract import prefixes


def evaluate(expression: str, arrival: datetime, random_string: str) -> str:
    """The prefix for one object arriving at ``arrival`` (UTC)."""
    return prefixes.evaluate(
        prefixes.effective_prefix(expression), arrival, random=lambda: random_string
    )
