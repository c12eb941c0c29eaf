"""packaging/systemd/aggregator-consumer.service: verified by systemd, and held to the consumer it
starts — every ExecStart flag is one of `aggregator consume`'s (its own parser), the only writable
folders are the ones passed to it, the restart policy follows the CLI's exit-code table, and the
stop timeout covers the consumer's SIGTERM bound (issue 23)."""

from __future__ import annotations

import argparse
import re
import shlex
import shutil
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import Final

import pytest

from scripts import consume
from scripts.cli import (
    EXIT_CODES,
    EXIT_LOCKED,
    EXIT_OK,
    EXIT_TEMPORARY,
    EXIT_USAGE,
    add_target_options,
)
from scripts.session import CLIENT_CONFIG

pytestmark = pytest.mark.packaging

FOLDER: Final = Path(__file__).resolve().parents[2] / "packaging" / "systemd"
UNIT: Final = FOLDER / "aggregator-consumer.service"
ENV_EXAMPLE: Final = FOLDER / "aggregator-consumer.env.example"
VARIABLE: Final = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)\}")

Unit = dict[str, dict[str, list[str]]]


def parse_unit(text: str) -> Unit:
    """Sections -> key -> values (a key may repeat), continuation lines joined as systemd does."""
    unit: Unit = defaultdict(lambda: defaultdict(list))
    section, pending = "", ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith(("#", ";"))):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line, pending = pending + line, ""
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            continue
        key, _, value = line.partition("=")
        unit[section][key.strip()].append(value.strip())
    return unit


def parse_environment_file(text: str) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in text.splitlines() if "=" in line)
    return {key.strip(): value.strip() for key, value in pairs if not key.startswith("#")}


def one(unit: Unit, key: str, section: str = "Service") -> str:
    values = unit[section][key]
    assert len(values) == 1, f"{key}= is set {len(values)} times"
    return values[0]


def consume_parser() -> argparse.ArgumentParser:
    """`aggregator consume`'s parser as the CLI builds it (with --region and --profile)."""
    parser = argparse.ArgumentParser(prog="aggregator consume", exit_on_error=False)
    consume.add_arguments(parser)
    add_target_options(parser)
    return parser


@pytest.fixture(scope="module")
def unit() -> Unit:
    return parse_unit(UNIT.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def started(unit: Unit) -> tuple[list[str], argparse.Namespace]:
    """ExecStart with the example environment file's values, and consume's parse of it."""
    example = parse_environment_file(ENV_EXAMPLE.read_text(encoding="utf-8"))
    line = one(unit, "ExecStart")
    missing = {m["name"] for m in VARIABLE.finditer(line)} - set(example)
    assert not missing, f"ExecStart uses {missing}, which the example environment file lacks"
    argv = shlex.split(VARIABLE.sub(lambda m: shlex.quote(example[m["name"]]), line))
    assert Path(argv[0]).name == "aggregator" and argv[1] == "consume", argv[:2]
    return argv, consume_parser().parse_args(argv[2:])


def test_systemd_analyze_verify_finds_nothing(tmp_path: Path) -> None:
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip("systemd-analyze is not installed (Debian: apt-get install systemd)")
    # verify insists that ExecStart's program exists: point it at this checkout's console script
    aggregator = Path(sys.executable).parent / "aggregator"
    text = UNIT.read_text(encoding="utf-8").replace("/usr/local/bin/aggregator", str(aggregator))
    copy = tmp_path / UNIT.name
    copy.write_text(text, encoding="utf-8")
    done = subprocess.run(
        [tool, "verify", str(copy)], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout + done.stderr == "", "systemd-analyze verify complained (unknown key?)"


def test_the_unit_is_hardened(unit: Unit) -> None:
    service = unit["Service"]
    assert one(unit, "User") not in ("", "root", "0")
    assert one(unit, "NoNewPrivileges") == "yes"
    assert one(unit, "ProtectSystem") == "strict"
    assert one(unit, "ProtectHome") == "yes"
    assert one(unit, "PrivateTmp") == "yes"
    assert one(unit, "CapabilityBoundingSet") == ""
    assert "@system-service" in service["SystemCallFilter"]
    assert "EnvironmentFile" in service


def test_every_execstart_flag_is_a_consume_flag(
    started: tuple[list[str], argparse.Namespace],
) -> None:
    argv, args = started
    options = {arg.split("=", 1)[0] for arg in argv[2:] if arg.startswith("--")}
    known = {o for action in consume_parser()._actions for o in action.option_strings}
    assert options <= known, f"not consume flags: {options - known}"
    assert args.env != "local", "the local environment uses LocalStack's dummy credentials"
    assert not args.once, "a service polls; --once would end it after one pass"
    assert args.no_progress


def test_the_writable_folders_are_exactly_the_output_and_the_ledger_folder(
    unit: Unit, started: tuple[list[str], argparse.Namespace]
) -> None:
    _, args = started
    writable = {Path(p) for value in unit["Service"]["ReadWritePaths"] for p in value.split()}
    assert args.ledger is not None, "keep the ledger outside the output folder the downstream reads"
    assert writable == {args.output, args.ledger.parent}


def test_restart_policy_follows_the_exit_code_table(unit: Unit) -> None:
    assert one(unit, "Restart") == "on-failure"
    prevented = {int(code) for code in one(unit, "RestartPreventExitStatus").split()}
    assert prevented <= set(EXIT_CODES), "every code is one of scripts/cli.py's table"
    assert prevented == {EXIT_USAGE, EXIT_LOCKED}  # permanent: an operator must act
    assert EXIT_TEMPORARY not in prevented and EXIT_OK not in prevented


def test_the_stop_timeout_covers_the_consumers_sigterm_bound(unit: Unit) -> None:
    timeout = one(unit, "TimeoutStopSec")
    seconds = int(timeout.removesuffix("s"))
    # one stalled S3 read (the client's read timeout) plus the file in hand and its barrier
    read_timeout = vars(CLIENT_CONFIG)["read_timeout"]  # botocore Config sets it as an attribute
    assert read_timeout == 120, "the unit and the docs name 120 s: update them"
    assert seconds >= read_timeout + 30, timeout
