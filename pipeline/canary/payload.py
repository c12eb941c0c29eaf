"""The canary file: its Landing key and its JSON body, written by the canary and checked by its
receiver (the consumer). Pure: no clock, no AWS.

The key is ``_canary/<yyyy>/<MM>/<dd>/<HHMMSS>Z-<run id>.json`` (under
:data:`~pipeline.contract.prefixes.CANARY_ROOT`, so ``is_canary_key`` recognises it). The body
says who put it and when; the end-to-end latency is measured from the Landing event time (the
member's ``event_time``), like every other file's, not from ``put_at``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from pipeline.contract.prefixes import CANARY_ROOT

#: the body's ``format``: a receiver refuses a body of another format
FORMAT = "s3-aggregator-canary/1"
#: a run id is the Lambda request id (a retry of the same event overwrites the same key)
RUN_ID_PATTERN = re.compile(r"^[A-Za-z0-9-]{1,64}$")


class CanaryBodyError(ValueError):
    """A canary file whose body is not a canary body: the file was not written by the canary."""


@dataclass(frozen=True, slots=True)
class CanaryPut:
    """One scheduled put: who (the run id), when (UTC) and how often the canary runs."""

    run_id: str
    put_at: datetime
    interval_minutes: int

    def __post_init__(self) -> None:
        if not RUN_ID_PATTERN.fullmatch(self.run_id):
            raise ValueError(f"run id {self.run_id!r}: expected 1-64 letters, digits or '-'")
        if self.put_at.tzinfo is None:
            raise ValueError("put_at must be timezone-aware (UTC)")

    @property
    def key(self) -> str:
        moment = self.put_at.astimezone(UTC)
        return f"{CANARY_ROOT}{moment:%Y/%m/%d/%H%M%S}Z-{self.run_id}.json"

    @property
    def body(self) -> bytes:
        document = {
            "format": FORMAT,
            "run_id": self.run_id,
            "put_at": self.put_at.astimezone(UTC).isoformat(timespec="milliseconds"),
            "interval_minutes": self.interval_minutes,
        }
        return json.dumps(document, sort_keys=True).encode("utf-8")


def _document(body: bytes) -> dict[str, object]:
    try:
        document = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CanaryBodyError(f"not a canary body: {error}") from error
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise CanaryBodyError(f"not a canary body (expected format {FORMAT!r})")
    return document


def parse_body(body: bytes) -> CanaryPut:
    """The put a canary body describes; :class:`CanaryBodyError` when it is not one."""
    document = _document(body)
    interval = document.get("interval_minutes")
    if not isinstance(interval, int) or isinstance(interval, bool):
        raise CanaryBodyError(f"interval_minutes is not an integer: {interval!r}")
    try:
        return CanaryPut(
            run_id=str(document["run_id"]),
            put_at=datetime.fromisoformat(str(document["put_at"])),
            interval_minutes=interval,
        )
    except (KeyError, ValueError) as error:
        raise CanaryBodyError(f"not a canary body: {error}") from error
