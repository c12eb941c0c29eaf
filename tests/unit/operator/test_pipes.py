"""No traceback when the reader of stdout goes away (``aggregator … | head -1``).

Each command runs in its own process (the interpreter's last flush is part of what is tested)
with stdout on a pipe whose reading end is already closed: the worst case of ``| head -1``, where
every write fails, and deterministic, unlike a real ``head`` racing the writer. The commands are
those that print without a stack: ``--help`` of every command, ``capacity``, ``template``,
``local status`` and every AWS command against an endpoint nothing listens on (its error, and
with ``--json`` its error document on stdout).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from scripts import cli
from scripts.local import free_port

ROOT = Path(__file__).resolve().parents[3]
DEAD = f"http://127.0.0.1:{free_port()}"


def _environment(tmp_path: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    env.pop("AGGREGATOR_ENDPOINT_URL", None)
    env["HOME"] = str(tmp_path)  # no ~/.aws of the machine
    return env


def run_into_closed_pipe(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """``aggregator args`` with stdout on a pipe nobody reads any more."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return subprocess.run(
            [sys.executable, "-m", "scripts.cli", *args],
            cwd=ROOT,
            env=_environment(tmp_path),
            stdin=subprocess.DEVNULL,
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        os.close(write_end)


def _help_commands() -> list[list[str]]:
    found: list[list[str]] = [["--help"]]
    for name in cli.COMMANDS:
        found.append([name, "--help"])
    found.append(["redrive", "errors", "--help"])
    return found


def _dead_endpoint_commands() -> list[list[str]]:
    local = ["--env", "local", "--endpoint-url", DEAD]
    return [
        ["status", *local],
        ["status", *local, "--json"],
        ["logs", "ingest", *local, "--since", "1h"],
        ["logs", "ingest", *local, "--since", "1h", "--json"],
        ["diff", *local, "--json"],
        ["destroy", *local, "--yes", "--json"],
        ["loadgen", *local, "--files", "1", "--quiet", "--json"],
        ["replay", *local, "--dry-run", "--json"],
        ["redrive", "errors", *local, "--dry-run", "--json"],
    ]


COMMANDS = [
    *_help_commands(),
    ["--version"],
    ["capacity"],
    ["capacity", "--json"],
    *_dead_endpoint_commands(),
]


@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_a_closed_pipe_ends_the_command_quietly(args: list[str], tmp_path: Path) -> None:
    done = run_into_closed_pipe(args, tmp_path)
    assert "Traceback" not in done.stderr, done.stderr
    assert "BrokenPipe" not in done.stderr and "Exception ignored" not in done.stderr, done.stderr
    # a command that wrote to stdout stops with the table's code; one that only had an error to
    # report on stderr keeps the error's code; argparse's --help/--version ignore the failed write
    assert done.returncode in {
        cli.EXIT_BROKEN_PIPE,
        cli.EXIT_PROBLEM,
        cli.EXIT_USAGE,
        cli.EXIT_OK if args[-1] in {"--help", "--version"} else cli.EXIT_BROKEN_PIPE,
    }, done


@pytest.mark.parametrize(
    "args",
    [["capacity"], ["capacity", "--json"], ["template", "--env", "local", "--json"]],
    ids=" ".join,
)
def test_output_to_a_closed_pipe_exits_141(args: list[str], tmp_path: Path) -> None:
    if args[0] == "template":
        args = [*args, "--build-dir", str(tmp_path / "build")]
    done = run_into_closed_pipe(args, tmp_path)
    assert (done.returncode, done.stderr) == (cli.EXIT_BROKEN_PIPE, "")


def test_head_minus_one_in_a_real_shell(tmp_path: Path) -> None:
    """The issue's own reproduction, under ``pipefail`` so the command's code is what we see."""
    command = f"{sys.executable} -m scripts.cli capacity --json | head -1 >/dev/null"
    done = subprocess.run(
        ["bash", "-o", "pipefail", "-c", command],
        cwd=ROOT,
        env=_environment(tmp_path),
        stderr=subprocess.PIPE,
        text=True,
        timeout=60,
        check=False,
    )
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode in {0, cli.EXIT_BROKEN_PIPE}  # 0 when head read it all in time


def test_ctrl_c_anywhere_exits_130_without_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import scripts.capacity

    def interrupted(_args: object) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(scripts.capacity, "run", interrupted)
    assert cli.main(["capacity"]) == cli.EXIT_INTERRUPTED
    assert capsys.readouterr().err == "aggregator: interrupted\n"


def test_ctrl_c_while_the_commands_load_exits_130(monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(_name: str) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "_load", interrupted)
    assert cli.main(["capacity"]) == cli.EXIT_INTERRUPTED
