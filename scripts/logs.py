"""`aggregator logs FUNCTION`: a function's CloudWatch Logs, like `aws logs tail`.

The log group of function F in environment E is ``/aws/lambda/s3-aggregator-E-F``. ``--since``
takes ``30s``, ``10m``, ``2h``, ``1d`` or an ISO time; ``--filter`` keeps the events containing
TEXT (sent to CloudWatch Logs as a quoted filter-pattern term, so only matching events travel);
``--follow`` keeps polling until Ctrl-C. Works the same against the local stack.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

from botocore.exceptions import ClientError

from pipeline.errors import AggregatorError
from scripts.cli import iso_timestamp
from scripts.session import EnvSession, error_code
from templates.config import FUNCTION_NAMES
from templates.names import log_group_name_of

HELP = "print a function's CloudWatch Logs (--since 10m, --follow, --filter TEXT)"
FOLLOW_POLL_SECONDS = 2.0
DURATION = re.compile(r"^(\d+)([smhd])$")
UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


class LogGroupMissingError(AggregatorError, RuntimeError):
    """The function has not logged anything yet, or the stack is not deployed."""


@dataclass(frozen=True)
class LogLine:
    timestamp: str
    stream: str
    message: str


def since_time(text: str, now: datetime | None = None) -> datetime:
    """``10m``-style durations back from ``now``, or an ISO time (argparse type)."""
    now = now or datetime.now(UTC)
    match = DURATION.fullmatch(text.strip())
    if match:
        return now - timedelta(**{UNITS[match.group(2)]: int(match.group(1))})
    try:
        return iso_timestamp(text)
    except (ValueError, argparse.ArgumentTypeError) as error:
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected a duration like 30s, 10m, 2h, 1d or an ISO time"
        ) from error


def filter_pattern(text: str | None) -> str | None:
    """A CloudWatch Logs filter pattern matching events that contain ``text`` literally."""
    if not text:
        return None
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def fetch(
    logs: Any, group: str, start_ms: int, text: str | None, seen: set[str]
) -> Iterator[dict[str, Any]]:
    """Events of ``group`` from ``start_ms`` on that contain ``text``, each once (``seen``)."""
    arguments: dict[str, Any] = {"logGroupName": group, "startTime": start_ms}
    pattern = filter_pattern(text)
    if pattern:
        arguments["filterPattern"] = pattern
    try:
        pages = list(logs.get_paginator("filter_log_events").paginate(**arguments))
    except ClientError as error:
        if error_code(error) == "ResourceNotFoundException":
            raise LogGroupMissingError(
                f"log group {group} not found: is the stack deployed, and has the function run?"
            ) from error
        raise
    events = [event for page in pages for event in page.get("events", [])]
    for event in sorted(events, key=lambda event: (event["timestamp"], event["eventId"])):
        if event["eventId"] in seen or (text and text not in event.get("message", "")):
            continue
        seen.add(event["eventId"])
        yield event


def line_of(event: dict[str, Any]) -> LogLine:
    when = datetime.fromtimestamp(event["timestamp"] / 1000, tz=UTC)
    return LogLine(
        timestamp=when.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        stream=str(event.get("logStreamName", "")),
        message=str(event.get("message", "")).rstrip("\n"),
    )


def show(line: LogLine, as_json: bool, out: TextIO) -> None:
    if as_json:
        out.write(json.dumps(asdict(line)) + "\n")
    else:
        out.write(f"{line.timestamp} {line.message}\n")
    out.flush()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("function", choices=FUNCTION_NAMES, help="whose logs")
    parser.add_argument("--env", default="local", help="environment")
    parser.add_argument(
        "--endpoint-url", help="AWS API endpoint (default: AWS_ENDPOINT_URL; LocalStack for local)"
    )
    parser.add_argument(
        "--since", type=since_time, default="10m", help="how far back: 30s, 10m, 2h, 1d or ISO"
    )
    parser.add_argument("--follow", action="store_true", help="keep printing new events")
    parser.add_argument("--filter", metavar="TEXT", help="only events containing TEXT")
    parser.add_argument("--json", action="store_true", help="one JSON object per event")


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    session = EnvSession.from_args(args, interactive=True)
    logs = session.client("logs")
    group = log_group_name_of(args.env, args.function)
    since: datetime = args.since if isinstance(args.since, datetime) else since_time(args.since)
    start_ms = int(since.timestamp() * 1000)
    seen: set[str] = set()
    try:
        while True:
            for event in fetch(logs, group, start_ms, args.filter, seen):
                show(line_of(event), args.json, out)
                start_ms = max(start_ms, int(event["timestamp"]) - 1_000)  # late arrivals
            if not args.follow:
                return 0
            time.sleep(FOLLOW_POLL_SECONDS)  # polling interval of --follow
    except LogGroupMissingError as error:
        print(f"aggregator logs: {error}", file=sys.stderr)
        return 1
