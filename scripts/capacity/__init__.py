"""`aggregator capacity`: how far one deployment goes, what breaks first, and what it costs.

Pure model (:mod:`scripts.capacity.model`) fed by an environment's config and a load profile;
quotas and prices are documented constants (:mod:`scripts.capacity.constants`) that the config's
optional ``[capacity]`` section overrides. No AWS call is made. See docs/capacity.md.

Exit code: 0 when every limit holds at the given load and the worst case meets the SLO; 1 when a
limit is exceeded or the worst case misses it; 2 for a bad argument or config.
"""

from __future__ import annotations

import argparse
import re
import sys

from pipeline.contract.naming import DEFAULT_REGION

HELP = "capacity and cost model: use vs limit per resource, first limit to break, monthly cost"

#: the brief's load (docs/SPEC): 864,000 files/day = 10 files/s, bursts of 100/s, ~27 KB each
DEFAULT_FILES_PER_SECOND = 10.0
DEFAULT_BURST_FILES_PER_SECOND = 100.0
DEFAULT_MEAN_SIZE = "27KB"

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(B|KB|KIB|MB|MIB|GB|GIB)?\s*$", re.IGNORECASE)
_UNITS = {
    "B": 1,
    "KB": 1000,
    "KIB": 1024,
    "MB": 1000**2,
    "MIB": 1024**2,
    "GB": 1000**3,
    "GIB": 1024**3,
}


def parse_size(text: str) -> int:
    """argparse type for sizes such as ``27KB``, ``1.5MiB``, ``512`` (bytes)."""
    match = _SIZE.fullmatch(text)
    if match is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size like 27KB, 1.5MiB or 512")
    number, unit = match.groups()
    return int(float(number) * _UNITS[(unit or "B").upper()])


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number")
    return value


def _streams(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 50:
        raise argparse.ArgumentTypeError(f"{text!r} is not a stream count from 1 to 50")
    return int(text)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--env", default="prod", help="environment whose config to model")
    parser.add_argument(
        "--files-per-second",
        type=_positive,
        default=DEFAULT_FILES_PER_SECOND,
        help=f"sustained baseline (default {DEFAULT_FILES_PER_SECOND:g})",
    )
    parser.add_argument(
        "--burst",
        type=_positive,
        default=DEFAULT_BURST_FILES_PER_SECOND,
        help="peak files/s the rate limits must carry "
        f"(default {DEFAULT_BURST_FILES_PER_SECOND:g})",
    )
    parser.add_argument(
        "--mean-size",
        type=parse_size,
        default=parse_size(DEFAULT_MEAN_SIZE),
        help=f"mean file size, e.g. 27KB, 1MiB (default {DEFAULT_MEAN_SIZE})",
    )
    parser.add_argument(
        "--region", help="AWS region (default: the config's [capacity] region, else eu-west-2)"
    )
    parser.add_argument(
        "--streams",
        type=_streams,
        help="model N Firehose streams (default: the config's firehose.streams)",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")


def run(args: argparse.Namespace) -> int:
    from scripts.capacity.model import SLO_P95_SECONDS, LoadProfile, capacity_report
    from scripts.capacity.report import render_json, render_text
    from templates.config import ConfigError, load_config

    try:
        config = load_config(args.env, deployable=False)
        region = args.region or (config.capacity.region if config.capacity else DEFAULT_REGION)
        load = LoadProfile(
            files_per_second=args.files_per_second,
            burst_files_per_second=max(args.burst, args.files_per_second),
            mean_size_bytes=args.mean_size,
            region=region,
            streams=args.streams or config.firehose.streams,
        )
        report = capacity_report(config, load)
    except ConfigError as error:
        print(f"aggregator capacity: {error}", file=sys.stderr)
        return 2
    print(render_json(report) if args.json else render_text(report))
    exceeded = any(item.exceeded for item in report.resources)
    return 1 if exceeded or report.latency_burst.total > SLO_P95_SECONDS else 0
