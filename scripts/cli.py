"""The `aggregator` console command.

Each subcommand lives in its own module exposing::

    HELP: str                                   # one line for `aggregator --help`
    def add_arguments(parser: argparse.ArgumentParser) -> None
    def run(args: argparse.Namespace) -> int    # the process exit code

Modules are imported only when their subcommand runs, so `aggregator --help` stays fast and one
broken subcommand cannot take the others down.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from types import ModuleType

#: subcommand -> module implementing it
COMMANDS: dict[str, str] = {
    "template": "scripts.template",
    "deploy": "scripts.deploy",
    "local": "scripts.local",
    "demo": "scripts.demo",
    "consume": "scripts.consume",
    "replay": "scripts.replay",
    "status": "scripts.status",
    "loadgen": "scripts.loadgen",
    "redrive": "scripts.redrive",
    "capacity": "scripts.capacity",
}


def iso_timestamp(text: str) -> datetime:
    """argparse type for times such as ``2026-01-31T08:00Z`` (UTC when no zone is given)."""
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _load(module_name: str) -> ModuleType | None:
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name == module_name:
            return None
        raise


def build_parser(load_all: bool = True) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aggregator",
        description="Operate the S3 -> Firehose -> S3 aggregation pipeline.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, module_name in COMMANDS.items():
        module = _load(module_name) if load_all else None
        if module is None:
            continue
        sub = subparsers.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(sub)
        sub.set_defaults(_module=module)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args._module.run(args))
    except KeyboardInterrupt:
        print("aggregator: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
