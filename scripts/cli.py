"""The `aggregator` console command.

Each subcommand lives in its own module exposing::

    HELP: str                                   # one line for `aggregator --help`
    def add_arguments(parser: argparse.ArgumentParser) -> None
    def run(args: argparse.Namespace) -> int    # the process exit code

Modules are imported only when their subcommand runs, so `aggregator --help` stays fast and one
broken subcommand cannot take the others down.

The contract every subcommand keeps (docs/operations.md, "CLI contract"): defaults shown in
``--help``, ``--json`` for machine-readable output, errors on stderr as ``aggregator <command>:
<what went wrong>: <what to do>``, and these exit codes. An error a command raises on purpose
derives from ``pipeline.errors``; its kind decides the code (:func:`exit_code_of`): ``ConfigError``
and ``UsageError`` 2, ``TransientError`` 75, any other ``AggregatorError`` 1.

====  =====================================================================================
code  meaning
====  =====================================================================================
0     success (for checks: nothing wrong found)
1     a problem was found or an operation failed (unhealthy pipeline, failed deploy,
      unreachable endpoint, missing stack, AWS error, refused confirmation)
2     usage or configuration error (bad arguments, invalid environment file, no region,
      missing AWS profile, unreadable AWS config, a LocalStack this project did not start)
75    temporary: run the same command again later (replay: Deep Archive restores pending)
130   interrupted (Ctrl-C)
141   the reader of stdout went away (``| head``): output stops quietly, no traceback
====  =====================================================================================

141 is 128 + SIGPIPE, the status a shell reports for any Unix tool stopped by a closed pipe
(``yes | head -1``): a script under ``set -o pipefail`` sees it as it sees any other tool's, and it
never claims the output was complete (the AWS CLI v1 swallows the error and exits 0, which hides a
truncated ``--json``).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from types import FrameType, ModuleType
from typing import Any

from pipeline.contract.naming import PROJECT
from pipeline.errors import AggregatorError, ConfigError, TransientError, UsageError

#: subcommand -> module implementing it
COMMANDS: dict[str, str] = {
    "template": "scripts.template",
    "deploy": "scripts.deploy",
    "diff": "scripts.diff",
    "destroy": "scripts.destroy",
    "local": "scripts.local",
    "demo": "scripts.demo",
    "consume": "scripts.consume",
    "replay": "scripts.replay",
    "status": "scripts.status",
    "logs": "scripts.logs",
    "loadgen": "scripts.loadgen",
    "redrive": "scripts.redrive",
    "capacity": "scripts.capacity",
    "acceptance": "scripts.acceptance.command",
}

EXIT_OK, EXIT_PROBLEM, EXIT_USAGE, EXIT_LOCKED, EXIT_TEMPORARY, EXIT_INTERRUPTED = (
    0,
    1,
    2,
    3,
    75,
    130,
)
#: 128 + SIGPIPE: what a shell reports for a tool stopped by a closed pipe (see the module)
EXIT_BROKEN_PIPE = 141
#: the exit-code table of the CLI contract (also printed by `aggregator --help`)
EXIT_CODES: dict[int, str] = {
    EXIT_OK: "success (for checks: nothing wrong found)",
    EXIT_PROBLEM: "a problem was found or an operation failed",
    EXIT_USAGE: "usage or configuration error",
    EXIT_LOCKED: "another consumer holds this output folder or ledger (consume); nothing touched",
    EXIT_TEMPORARY: "temporary: run the same command again later",
    EXIT_INTERRUPTED: "interrupted",
    EXIT_BROKEN_PIPE: "the reader of stdout went away (e.g. `head`); output stopped, no traceback",
}
#: the installed distribution (pyproject.toml ``name``): the project's name
DISTRIBUTION = PROJECT
#: top-level modules of the ``deploy`` extra (pyproject.toml): absent from the slim consumer install
DEPLOY_PACKAGES = frozenset({"troposphere", "localstack_client"})
DEPLOY_EXTRA_HINT = f"needs the deploy tools: pip install '{DISTRIBUTION}[deploy]'"


class NeedsDeployExtra:
    """A command whose module imports a package of the ``deploy`` extra that is not installed."""

    HELP = f"({DEPLOY_EXTRA_HINT})"

    def __init__(self, missing: str) -> None:
        self.missing = missing


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Appends "(default: X)" to every option whose help does not state its default already."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default
        if (
            "default" in text.lower()
            or default is None
            or default is False
            or default == []
            or default is argparse.SUPPRESS
            or not action.option_strings
        ):
            return text
        return f"{text} (default: {default})"


def version() -> str:
    from importlib import metadata  # ~50 ms: only for --version, not before every command

    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:  # running from a source tree without installing
        return "unknown"


def iso_timestamp(text: str) -> datetime:
    """argparse type for times such as ``2026-01-31T08:00Z`` (UTC when no zone is given)."""
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as error:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a time ({error}): give it like 2026-01-31T08:00Z "
            "(ISO 8601; UTC when no zone is given)"
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _load(module_name: str) -> ModuleType | NeedsDeployExtra | None:
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name == module_name:
            return None
        missing = _deploy_package(error)
        if missing is not None:  # the slim install: the command needs the `deploy` extra
            return NeedsDeployExtra(missing)
        raise


def _deploy_package(error: ModuleNotFoundError) -> str | None:
    """The package of the ``deploy`` extra whose absence ``error`` reports, else None."""
    top = (error.name or "").partition(".")[0]
    return top if top in DEPLOY_PACKAGES else None


def _option_strings(parser: argparse.ArgumentParser) -> set[str]:
    return {option for action in parser._actions for option in action.option_strings}


def _nested(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    """``parser`` and every parser of its (nested) subcommands."""
    found = [parser]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                found.extend(_nested(child))
    return found


def add_target_options(parser: argparse.ArgumentParser) -> None:
    """``--region``/``--profile`` for every (sub)parser that talks to AWS (has --endpoint-url)."""
    for each in _nested(parser):
        options = _option_strings(each)
        if "--endpoint-url" not in options or "--region" in options:
            continue
        each.formatter_class = HelpFormatter
        each.add_argument(
            "--region", help="AWS region (default: AWS_REGION, then AWS_DEFAULT_REGION, profile)"
        )
        each.add_argument("--profile", help="AWS profile (default: AWS_PROFILE, default chain)")


def _exit_code_epilog() -> str:
    lines = ["exit codes:"] + [f"  {code:<4} {meaning}" for code, meaning in EXIT_CODES.items()]
    return "\n".join(lines)


def build_parser(load_all: bool = True) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aggregator",
        description="Operate the S3 -> Firehose -> S3 aggregation pipeline.",
        epilog=_exit_code_epilog(),
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, module_name in COMMANDS.items():
        module = _load(module_name) if load_all else None
        if module is None:
            continue
        if isinstance(module, NeedsDeployExtra):
            _add_unavailable(subparsers, name, module)
            continue
        sub = subparsers.add_parser(
            name,
            help=module.HELP,
            description=module.HELP,
            epilog=_exit_code_epilog(),
            formatter_class=HelpFormatter,
        )
        module.add_arguments(sub)
        for each in _nested(sub):
            each.formatter_class = HelpFormatter
        add_target_options(sub)
        sub.set_defaults(_module=module)
    return parser


def _add_unavailable(subparsers: Any, name: str, missing: NeedsDeployExtra) -> None:
    """A command that cannot run here: it takes any arguments (``--help`` included), so running
    it always ends in the one-line hint of :func:`_run`, never in argparse's usage text."""
    sub = subparsers.add_parser(name, help=missing.HELP, add_help=False, prefix_chars="\0")
    sub.add_argument("arguments", nargs="*")
    sub.set_defaults(_needs_extra=missing)


def exit_code_of(error: AggregatorError) -> int:
    """The exit code of an error kind: the one mapping of ``pipeline.errors`` to the table."""
    if isinstance(error, ConfigError | UsageError):
        return EXIT_USAGE
    if isinstance(error, TransientError):
        return EXIT_TEMPORARY
    return EXIT_PROBLEM


def classify(error: Exception) -> tuple[int, str] | None:
    """Exit code and message for the errors every command can meet; None for a real bug."""
    from botocore.exceptions import BotoCoreError, ClientError
    from botocore.parsers import ResponseParserError

    from templates.config import ConfigError as TemplateConfigError

    if isinstance(error, AggregatorError):
        return exit_code_of(error), str(error)
    if isinstance(error, TemplateConfigError):  # until it derives from pipeline.errors.ConfigError
        return EXIT_USAGE, str(error)
    if isinstance(error, ClientError | BotoCoreError | ResponseParserError):
        return EXIT_PROBLEM, (
            f"{error}: check the credentials, --profile and --region "
            "(for env local: is the local stack running? `make local-up`)"
        )
    return None


def fail(command: str, message: str, code: int, as_json: bool = False) -> int:
    """Report an error the one way every command does; returns ``code``."""
    print(f"aggregator {command}: {message}", file=sys.stderr)
    if as_json:
        print(json.dumps({"error": message, "exit_code": code}))
    return code


def _run(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "_needs_extra", None) is not None:
        return fail(args.command, DEPLOY_EXTRA_HINT, EXIT_USAGE)
    try:
        return int(args._module.run(args))
    except (KeyboardInterrupt, BrokenPipeError):
        raise
    except ModuleNotFoundError as error:  # a lazy import of the `deploy` extra, in the slim install
        if _deploy_package(error) is None:
            raise
        return fail(args.command, DEPLOY_EXTRA_HINT, EXIT_USAGE, getattr(args, "json", False))
    except Exception as error:
        known = classify(error)
        if known is None:
            raise
        code, message = known
        return fail(args.command, message, code, getattr(args, "json", False))


#: commands for which a SIGTERM while they are still starting means "stop, nothing done": exit 0
STOP_CLEANLY_ON_SIGTERM = frozenset({"consume"})


class StopRequested(BaseException):
    """SIGTERM (or SIGINT) while a command is still starting, before it has touched anything:
    it ends with :data:`EXIT_OK`. A ``BaseException``, so no ``except Exception`` swallows it."""


def raise_stop_requested(signum: int, _frame: FrameType | None) -> None:
    """Signal handler: end a command that has not started its work yet (see StopRequested)."""
    raise StopRequested(signal.Signals(signum).name)


def _command_of(argv: Sequence[str]) -> str | None:
    return next((arg for arg in argv if not arg.startswith("-")), None)


@contextmanager
def _stop_cleanly_while_starting(argv: Sequence[str]) -> Iterator[None]:
    """For the commands of :data:`STOP_CLEANLY_ON_SIGTERM`: from main's first line until the
    command installs its own handler, SIGTERM ends it with 0 instead of killing it by signal."""
    wanted = _command_of(argv) in STOP_CLEANLY_ON_SIGTERM
    if not wanted or threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, raise_stop_requested)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _stdout_to_devnull() -> None:
    """Point stdout at /dev/null, so the interpreter's last flush cannot fail a second time."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (AttributeError, OSError, ValueError):  # stdout is not a real file (a test's capture)
        pass
    finally:
        os.close(devnull)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; a closed stdout pipe or Ctrl-C ends it quietly with its table code."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    try:
        with _stop_cleanly_while_starting(arguments):
            try:
                return _run(arguments)
            finally:
                sys.stdout.flush()  # a closed pipe shows here rather than at interpreter exit
    except StopRequested as stop:
        print(f"aggregator: stopped ({stop}) while starting; nothing was done", file=sys.stderr)
        return EXIT_OK
    except BrokenPipeError:  # raised by a print, or by the flush above (argparse's --help too)
        _stdout_to_devnull()
        return EXIT_BROKEN_PIPE
    except KeyboardInterrupt:
        print("aggregator: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
